"""Uploads clips through the running stack, as a device does, and measures each one."""

from __future__ import annotations

import threading
import time
from datetime import UTC
from pathlib import Path
from typing import Any

from facepipe.local.client import ResultCollector, upload_clip
from facepipe.local.stack import LocalStack


class Runner:
    """Uploads as devices do, each device registered on first use and its own queue collected."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.collectors: dict[str, ResultCollector] = {}
        self._s3, self._sfn = stack.client("s3"), stack.client("stepfunctions")
        self.seq = 0
        self.lock = threading.Lock()
        self._released_duplicates = 0

    def collector(self, device: str) -> ResultCollector:
        """The collector of ``device``'s queue (registering the device, as `facepipe devices add` does)."""
        with self.lock:
            if device not in self.collectors:
                self.stack.add_device(device)
                queue = self.stack.queue_url(device)
                self.collectors[device] = ResultCollector(queue, sqs=self.stack.client("sqs"))
            return self.collectors[device]

    def one(self, clip: Path, device: str) -> dict[str, Any]:
        """Upload ``clip`` and wait for its result: the message, the latency and where the time went."""
        with self.lock:
            self.seq += 1
            seq = self.seq
        collector = self.collector(device)
        start = time.monotonic()
        upload = upload_clip(clip, bucket=self.stack.outputs.bucket, device_id=device, seq=seq, s3=self._s3)
        uploaded = time.monotonic()
        if not collector.wait([upload.key], timeout_s=120):
            return {"key": upload.key, "missing": True}
        message, arrived = collector.results[upload.key]
        timings = message.get("timings_ms", {})
        started_at = None
        if message.get("execution_id"):
            try:
                described = self._sfn.describe_execution(executionArn=message["execution_id"])
                started_at = described["startDate"].astimezone(UTC).timestamp()
            except Exception:
                started_at = None
        latency = arrived - start
        row: dict[str, Any] = {
            "key": upload.key,
            "message": message,
            "latency_s": latency,
            "upload_s": uploaded - start,
        }
        if started_at is not None:
            # Wall clock: the execution's start against the moment the upload finished.
            row["trigger_s"] = max(0.0, started_at - (time.time() - (time.monotonic() - uploaded)))
        names = ("total", "extract", "recognize", "recognize_frames", "enrich")
        stage = {name: float(timings.get(name, float("nan"))) / 1000 for name in names}
        row["recognize_frames_s"] = stage["recognize_frames"]
        row["execution_s"] = stage["total"]
        row["extract_s"], row["recognize_s"], row["enrich_s"] = stage["extract"], stage["recognize"], stage["enrich"]
        trigger = float(row.get("trigger_s", 0.0))
        row["publish_receive_s"] = latency - (uploaded - start) - trigger - stage["total"]
        return row

    def release(self, device: str) -> None:
        """Stop collecting ``device``'s queue (its results, if any, stay there)."""
        with self.lock:
            collector = self.collectors.pop(device, None)
        if collector is not None:
            collector.stop()
            self._released_duplicates += collector.duplicates

    @property
    def duplicates(self) -> int:
        """Second results of a clip seen by every collector so far."""
        return self._released_duplicates + sum(c.duplicates for c in self.collectors.values())

    def close(self) -> None:
        for collector in self.collectors.values():
            collector.stop()
