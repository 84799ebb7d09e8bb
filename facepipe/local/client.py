"""Talk to a running stack as a device does: upload clips, receive results."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from facepipe_protocol import clip_key as device_clip_key
from facepipe_protocol import clip_metadata, iso_time

from facepipe.aws.clients import client
from facepipe.core.clip_keys import CLIP_SUFFIXES
from facepipe.core.errors import ClipKeyError


@dataclass
class Upload:
    key: str
    seq: int
    started: float  # time.monotonic() when the upload began


def clip_key(device_id: str, seq: int, captured: datetime, suffix: str) -> str:
    """The device's key for a clip (one convention, facepipe_protocol's), refusing types the pipeline rejects."""
    ext = suffix.lstrip(".").lower()
    if ext not in CLIP_SUFFIXES:
        raise ClipKeyError(f"clip type .{ext} is not one of {', '.join(CLIP_SUFFIXES)}")
    return device_clip_key(device_id, seq, iso_time(captured), ext)


def upload_clip(
    path_or_bytes: Path | bytes,
    *,
    bucket: str,
    device_id: str,
    seq: int,
    suffix: str = ".mp4",
    captured: datetime | None = None,
    s3: Any = None,
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
    (s3 or client("s3")).put_object(
        Bucket=bucket,
        Key=key,
        Body=data,
        Metadata=clip_metadata(device_id, seq, iso_time(captured)),
    )
    return Upload(key=key, seq=seq, started=started)


def _receive(sqs: Any, queue_url: str, wait_s: int, **extra: Any) -> list[tuple[str, dict[str, Any], str, float]]:
    """One receive: (clip key, result, receipt handle, when it arrived) for each message."""
    response = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_s, **extra)
    now = time.monotonic()
    received = []
    for message in response.get("Messages", []):
        body = json.loads(message["Body"])
        received.append((str(body.get("clip", {}).get("key", "")), body, message["ReceiptHandle"], now))
    return received


def receive_results(
    queue_url: str, wanted: dict[str, Upload], *, timeout_s: float, sqs: Any = None
) -> dict[str, tuple[dict[str, Any], float]]:
    """Wait for the results of ``wanted`` (key -> upload); returns key -> (message, latency in seconds).

    Messages are deleted once received. Results for other keys are left alone (they are someone else's).
    ``sqs``: a client of your own (a stack's ``client("sqs")``), else the default.
    """
    sqs = sqs or client("sqs")
    got: dict[str, tuple[dict[str, Any], float]] = {}
    deadline = time.monotonic() + timeout_s
    while len(got) < len(wanted) and time.monotonic() < deadline:
        wait = max(1, min(20, int(deadline - time.monotonic())))
        for key, body, receipt, now in _receive(sqs, queue_url, wait, VisibilityTimeout=30):
            if key in wanted:
                got.setdefault(key, (body, now - wanted[key].started))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=receipt)
            else:
                sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=receipt, VisibilityTimeout=0)
    return got


class ResultCollector:
    """Receives every result on a queue in the background and records when each clip's arrived.

    One receiver for many concurrent uploaders (a device, the benchmark): nobody steals anybody's message.
    """

    def __init__(self, queue_url: str, sqs: Any = None) -> None:
        import threading

        self.queue_url = queue_url
        self._sqs = sqs or client("sqs")
        self.results: dict[str, tuple[dict[str, Any], float]] = {}
        self.duplicates = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="result-collector", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        sqs = self._sqs
        while not self._stop.is_set():
            try:
                received = _receive(sqs, self.queue_url, 1)
            except Exception:  # the endpoint is going away
                if self._stop.is_set():
                    return
                time.sleep(0.2)
                continue
            entries: list[dict[str, str]] = []
            for key, body, receipt, now in received:
                with self._cond:
                    if key in self.results:
                        self.duplicates += 1
                    else:
                        self.results[key] = (body, now)
                    self._cond.notify_all()
                entries.append({"Id": str(len(entries)), "ReceiptHandle": receipt})
            if entries:
                sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)

    def wait(self, keys: list[str], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not all(k in self.results for k in keys):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
