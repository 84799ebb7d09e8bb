"""Talk to a running stack as a device does: upload clips, receive results."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from facepipe.aws_clients import client
from facepipe.errors import ClipKeyError
from facepipe.video import CLIP_SUFFIXES, compact_time


@dataclass
class Upload:
    key: str
    seq: int
    started: float  # time.monotonic() when the upload began


def clip_key(device_id: str, seq: int, captured: datetime, suffix: str) -> str:
    ext = suffix.lstrip(".").lower()
    if ext not in CLIP_SUFFIXES:
        raise ClipKeyError(f"clip type .{ext} is not one of {', '.join(CLIP_SUFFIXES)}")
    return f"clips/{device_id}/{seq:06d}_{compact_time(captured)}.{ext}"


def upload_clip(
    path_or_bytes: Path | bytes,
    *,
    bucket: str,
    device_id: str,
    seq: int,
    suffix: str = ".mp4",
    captured: datetime | None = None,
) -> Upload:
    """Upload one clip the way the device does: key and S3 metadata carry device, sequence and capture time."""
    captured = captured or datetime.now(UTC)
    if isinstance(path_or_bytes, Path):
        suffix = path_or_bytes.suffix
        data = path_or_bytes.read_bytes()
    else:
        data = path_or_bytes
    key = clip_key(device_id, seq, captured, suffix)
    started = time.monotonic()
    client("s3").put_object(
        Bucket=bucket,
        Key=key,
        Body=data,
        Metadata={
            "device-id": device_id,
            "seq": str(seq),
            "captured-at": captured.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        },
    )
    return Upload(key=key, seq=seq, started=started)


def receive_results(
    queue_url: str, wanted: dict[str, Upload], *, timeout_s: float
) -> dict[str, tuple[dict[str, Any], float]]:
    """Wait for the results of ``wanted`` (key -> upload); returns key -> (message, latency in seconds).

    Messages are deleted once received. Results for other keys are left alone (they are someone else's).
    """
    sqs = client("sqs")
    got: dict[str, tuple[dict[str, Any], float]] = {}
    deadline = time.monotonic() + timeout_s
    while len(got) < len(wanted) and time.monotonic() < deadline:
        wait = max(1, min(20, int(deadline - time.monotonic())))
        response = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait, VisibilityTimeout=30
        )
        now = time.monotonic()
        for message in response.get("Messages", []):
            body = json.loads(message["Body"])
            key = body.get("clip", {}).get("key")
            if key in wanted:
                if key not in got:
                    got[key] = (body, now - wanted[key].started)
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            else:
                sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
    return got
