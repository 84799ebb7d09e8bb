"""The device service: capture -> spool -> upload, and results -> display, with a running summary."""

from __future__ import annotations

import json
import logging
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

import boto3
from botocore.config import Config
from facepipe_protocol import iso_time

from facepipe_device.config import DeviceConfig
from facepipe_device.display import format_result
from facepipe_device.results import ResultBoard, ResultPoller, Shown
from facepipe_device.sources import Clip
from facepipe_device.spool import Spool
from facepipe_device.uploader import Uploader

log = logging.getLogger("facepipe_device")


def aws_clients(config: DeviceConfig) -> tuple[Any, Any]:
    """S3 and SQS clients for the configured region and endpoint (the local stack, or AWS)."""
    # Short timeouts: a dead network is noticed in seconds and the spool keeps everything meanwhile.
    boto_config = Config(connect_timeout=3, read_timeout=25, retries={"mode": "standard", "max_attempts": 2})
    session = boto3.session.Session(region_name=config.region)
    kwargs: dict[str, Any] = {"config": boto_config}
    if config.endpoint_url:
        kwargs["endpoint_url"] = config.endpoint_url
    return session.client("s3", **kwargs), session.client("sqs", **kwargs)


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile, interpolated between the nearest ranks (the definition `facepipe bench` uses)."""
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


@dataclass
class Summary:
    captured: int = 0
    gated: int = 0
    unchanged: int = 0  # skipped by the change gate: the room as in the last clip sent
    uploaded: int = 0
    results: int = 0
    missing: int = 0
    stale: int = 0
    late: int = 0  # results of clips sent before a restart (shown, then deleted)
    dropped: int = 0
    malformed: int = 0
    latencies: list[float] = field(default_factory=list)
    source_failed: str | None = None  # why capture stopped, when the source failed (the service then exits non-zero)

    def line(self) -> str:
        p50, p95 = percentile(self.latencies, 50), percentile(self.latencies, 95)
        return (
            f"summary: captured {self.captured}, skipped (no face) {self.gated}, skipped (unchanged) "
            f"{self.unchanged}, uploaded {self.uploaded}, "
            f"results {self.results}, missing {self.missing}, stale {self.stale}, late {self.late}, "
            f"dropped {self.dropped}, "
            f"malformed {self.malformed}; latency p50 {p50:.2f} s, p95 {p95:.2f} s"
        ) + (f"; capture stopped: {self.source_failed}" if self.source_failed else "")

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "latencies"}
        lat = sorted(self.latencies)
        data["latency_p50_s"] = round(statistics.median(lat), 3) if lat else None
        data["latency_p95_s"] = round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 3) if lat else None
        return data


class DeviceService:
    def __init__(
        self,
        config: DeviceConfig,
        *,
        out: TextIO = sys.stdout,
        json_lines: bool = False,
        s3: Any = None,
        sqs: Any = None,
        gate: Any = None,
        change_gate: Any = None,
        on_shown: Callable[[Shown], None] | None = None,
    ) -> None:
        self.config, self.out, self.json_lines = config, out, json_lines
        if s3 is None or sqs is None:
            s3, sqs = aws_clients(config)
        self.spool = Spool(config.spool_dir, int(config.spool_max_mb * 1024 * 1024))
        self.summary = Summary()
        self.board = ResultBoard(
            timeout_s=config.result_timeout_s,
            stale_after_s=config.stale_after_s,
            store_dir=config.spool_dir / "results",
        )
        self.gate = gate
        self.change_gate = change_gate
        self.on_shown = on_shown
        self.uploader = Uploader(
            s3,
            self.spool,
            bucket=config.bucket,
            device_id=config.device_id,
            workers=config.upload_workers,
            on_uploaded=self._uploaded,
        )
        self.poller = ResultPoller(sqs, config.queue_url, config.device_id, self.board.offer, wait_s=config.poll_wait_s)
        self._lock = threading.Lock()

    def _uploaded(self, clip: Any, key: str) -> None:
        with self._lock:
            self.summary.uploaded += 1

    def accept(self, clip: Clip) -> None:
        """Spool a captured clip and queue it for upload (or skip it at the face gate)."""
        self.summary.captured += 1
        if self.gate is not None and not self.gate.has_face(clip.data, clip.ext):
            self.summary.gated += 1
            return
        captured_at = iso_time(clip.captured_at)
        if self.change_gate is not None and not self.change_gate.should_send(clip.data, clip.ext, captured_at):
            self.summary.unchanged += 1
            return
        seq = self.spool.next_seq()
        spooled, dropped = self.spool.add(
            clip.data,
            seq=seq,
            ext=clip.ext,
            captured_at=captured_at,
            capture_end=clip.capture_end,
            unchanged_since=self.change_gate.unchanged_since if self.change_gate is not None else None,
        )
        for old in dropped:
            self.board.forget(old.seq)
        self.summary.dropped = self.spool.dropped
        if spooled in dropped:  # the disk was full and nothing older was left to drop
            return
        self.board.expect(seq, clip.capture_end)
        self.uploader.submit(spooled)

    def show(self, items: list[Shown]) -> None:
        for item in items:
            if item.message is None:
                self.summary.missing += 1
                text = (
                    json.dumps({"clip": {"seq": item.seq}, "status": "missing"})
                    if self.json_lines
                    else f"clip {item.seq:06d}: missing (no result within {self.config.result_timeout_s:g} s)"
                )
            elif item.late:
                # Its clip was sent before a restart, or reported missing and answered after all (throttled in the
                # cloud and started again): shown for the record, outside the latency figures.
                self.summary.late += 1
                why = "came after it was reported missing" if item.after_missing else "sent before a restart"
                text = (
                    json.dumps(item.message | {"latency_s": None, "late": True})
                    if self.json_lines
                    else format_result(item.message, None) + f" (late: {why})"
                )
            else:
                self.summary.results += 1
                assert item.latency_s is not None
                self.summary.latencies.append(item.latency_s)
                self.summary.stale += item.stale
                if self.json_lines:
                    text = json.dumps(item.message | {"latency_s": round(item.latency_s, 3), "stale": item.stale})
                else:
                    text = format_result(item.message, item.latency_s) + (" (stale)" if item.stale else "")
            print(text, file=self.out, flush=True)
            if self.on_shown is not None:
                self.on_shown(item)

    def run(self, clips: Iterator[Clip], *, max_clips: int | None = None, follow: bool = True) -> Summary:
        """Capture until the source ends (or ``max_clips``), then wait for every result or its timeout."""
        for left in self.uploader.resume():
            self.board.expect(left.seq, left.capture_end)
        self.poller.start()
        producer_done = threading.Event()

        def produce() -> None:
            try:
                if max_clips == 0:  # only finish what an earlier run left in the spool
                    return
                for i, clip in enumerate(clips):
                    self.accept(clip)
                    if max_clips is not None and i + 1 >= max_clips:
                        break
            except Exception as exc:
                log.error("the clip source failed: %s", exc)
                print(f"facepipe-device: source failed: {exc}", file=sys.stderr)
                self.summary.source_failed = str(exc) or type(exc).__name__
            finally:
                producer_done.set()

        threading.Thread(target=produce, name="capture", daemon=True).start()
        last_summary = time.monotonic()
        try:
            while True:
                self.summary.malformed = self.poller.malformed
                self.show(self.board.ready())
                if producer_done.is_set() and not self.board.outstanding():
                    break
                if time.monotonic() - last_summary > self.config.summary_every_s:
                    print(self.summary.line(), file=sys.stderr, flush=True)
                    last_summary = time.monotonic()
                time.sleep(0.05)
        finally:
            self.summary.malformed = self.poller.malformed
            # Wait for the poller's last long-poll, so no message stays in flight after we are gone.
            self.poller.stop(join=True)
            self.uploader.stop()
            print(self.summary.line(), file=sys.stderr, flush=True)
        return self.summary
