"""Results: long-poll the FIFO queue, show results in capture order, report what never came."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facepipe_protocol import result_schema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from facepipe_device.spool import write_durably

log = logging.getLogger("facepipe_device.results")

# The result contract: generated from facepipe's ResultMessage (`facepipe schema`), kept here because the
# device is who consumes it (a facepipe test keeps the two equal).
RESULT_SCHEMA = result_schema()  # the protocol's (facepipe_protocol/schemas/result.schema.json)
_validator = Draft202012Validator(RESULT_SCHEMA)


def parse_result(body: str) -> dict[str, Any]:
    """A result message, or ValueError naming what is wrong with it (the first schema violation)."""
    try:
        message = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg})") from exc
    error = best_match(_validator.iter_errors(message))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "message"
        raise ValueError(f"{where}: {error.message}")
    return dict(message)


@dataclass
class Shown:
    seq: int
    message: dict[str, Any] | None  # None: reported missing
    latency_s: float | None
    stale: bool = False
    late: bool = False  # nobody was waiting for it: its clip was sent before a restart, or was reported missing
    after_missing: bool = False  # late because its clip had been reported missing (the cloud started it again)


@dataclass
class ResultBoard:
    """Puts results in capture order: a result waits for earlier clips, which wait at most ``timeout_s``.

    ``expect(seq, capture_end)`` is called for every clip uploaded; ``offer(message)`` for every result.
    ``ready()`` returns what can be shown now, in order.

    Deadlines and latency run on ``clock`` (monotonic): a Pi has no real-time clock, and NTP stepping its wall
    clock an hour back would hold every result an hour, a step forward drop real ones as missing. A capture's end
    (wall time, as the clip carries it) is placed on that clock once, when the clip is expected.
    """

    timeout_s: float
    stale_after_s: float
    expected: dict[int, float] = field(default_factory=dict)  # seq -> capture end, on ``clock``
    arrived: dict[int, tuple[dict[str, Any], float]] = field(default_factory=dict)
    # Results received but not yet shown are kept here, so a crash between receiving and showing loses none.
    store_dir: Path | None = None
    shown_seqs: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    late: int = 0
    missing: set[int] = field(default_factory=set)  # reported missing: a result that comes after is still shown
    came_late: set[int] = field(default_factory=set)  # results that came after their clip was reported missing
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time

    def expect(self, seq: int, capture_end: float) -> None:
        """``capture_end``: epoch seconds (wall clock), placed on ``clock`` now (a capture cannot end later than
        now: a wall clock stepped back since counts as now)."""
        with self.lock:
            self.expected[seq] = self.clock() - max(0.0, self.wall() - capture_end)

    def forget(self, seq: int) -> None:
        """A clip that will never have a result (dropped from the spool, skipped by the gate)."""
        with self.lock:
            self.expected.pop(seq, None)

    def __post_init__(self) -> None:
        if self.store_dir is not None:
            self.store_dir.mkdir(parents=True, exist_ok=True)
            for path in sorted(self.store_dir.glob("*.json")):
                try:
                    kept = json.loads(path.read_text())
                    # Kept on ``clock`` by the run before; after a reboot that clock started again: now at most.
                    at = min(float(kept["at"]), self.clock())
                    self.arrived[int(kept["message"]["clip"]["seq"])] = (kept["message"], at)
                except (ValueError, KeyError, TypeError):
                    path.unlink(missing_ok=True)

    def offer(self, message: dict[str, Any], now: float | None = None) -> None:
        """Take a result and keep it on disk until shown, so its queue message can be deleted at once.

        Holding the message in flight instead would block its FIFO group: results of one device arrive in the order
        they were published, not captured, and a later clip's result held unshown would keep the earlier
        one from ever being delivered until the visibility timeout.
        """
        seq = message.get("clip", {}).get("seq")
        if not isinstance(seq, int):
            return
        with self.lock:
            if seq in self.missing:
                # Reported missing, and here after all (a throttled clip the cloud started again later): shown, marked
                # late, rather than dropped: who was in the room still matters.
                self.missing.discard(seq)
                self.shown_seqs.discard(seq)
                self.came_late.add(seq)
            if seq in self.shown_seqs or (seq in self.arrived and not _supersedes(message, self.arrived[seq][0])):
                self.late += 1  # a redelivery, or already shown or reported missing
                return
            at = now if now is not None else self.clock()
            if self.store_dir is not None:
                # Durable as the spool's clips are (the bytes, then the name): the queue message is deleted next,
                # so a power cut must not lose what only this file then holds.
                write_durably(self.store_dir / f"{seq:012d}.json", json.dumps({"message": message, "at": at}).encode())
            self.arrived[seq] = (message, at)

    def ready(self, now: float | None = None) -> list[Shown]:
        now = now if now is not None else self.clock()
        out: list[Shown] = []
        with self.lock:
            for seq in sorted(self.expected):
                capture_end = self.expected[seq]
                if seq in self.arrived:
                    message, at = self.arrived.pop(seq)
                    latency = at - capture_end
                    out.append(Shown(seq, message, latency, stale=latency > self.stale_after_s))
                    if self.store_dir is not None:
                        (self.store_dir / f"{seq:012d}.json").unlink(missing_ok=True)
                elif now - capture_end > self.timeout_s:
                    out.append(Shown(seq, None, None))
                    self.missing.add(seq)
                else:
                    break  # an earlier clip is still on its way: keep capture order
                del self.expected[seq]
                self.shown_seqs.add(seq)
            # Results nobody waits for (their clips were uploaded before a restart, so no expectation exists):
            # shown once, marked late, and deleted, never kept on the SD card with names in them.
            for seq in sorted(set(self.arrived) - set(self.expected)):
                message, _ = self.arrived.pop(seq)
                out.append(Shown(seq, message, None, late=True, after_missing=seq in self.came_late))
                self.came_late.discard(seq)
                if self.store_dir is not None:
                    (self.store_dir / f"{seq:012d}.json").unlink(missing_ok=True)
                self.shown_seqs.add(seq)
        return out

    def outstanding(self) -> int:
        with self.lock:
            return len(self.expected)


class ResultPoller:
    """Long-polls the device's own results queue (20 s waits, batches of 10); each message is deleted once
    handled."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        device_id: str,
        on_result: Callable[[dict[str, Any]], None],
        wait_s: int = 20,
    ) -> None:
        self.sqs, self.queue_url, self.device_id, self.on_result = sqs, queue_url, device_id, on_result
        self.wait_s = wait_s
        self.malformed = 0
        self.misrouted = 0
        self.received = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="results", daemon=True)

    def start(self) -> ResultPoller:
        self._thread.start()
        return self

    def stop(self, join: bool = False) -> None:
        self._stop.set()
        if join and self._thread.is_alive():
            self._thread.join(timeout=self.wait_s + 5)

    def poll_once(self, wait_s: int = 20) -> int:
        response = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_s)
        handled = 0
        for raw in response.get("Messages", []):
            try:
                message = parse_result(raw["Body"])
            except ValueError as exc:
                # Logged and deleted: a poison message must never crash-loop the device.
                self.malformed += 1
                log.warning("malformed result message %s deleted: %s", raw.get("MessageId"), exc)
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=raw["ReceiptHandle"])
                continue
            if message["device_id"] != self.device_id:
                # The queue is this device's own: another device's result here is misrouted (a queue URL
                # copied between devices). Counted, logged and deleted, never shown, never handed back.
                self.misrouted += 1
                log.warning(
                    "result of device %s on this device's queue deleted (check FACEPIPE_QUEUE_URL)",
                    message["device_id"],
                )
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=raw["ReceiptHandle"])
                continue
            self.received += 1
            self.on_result(message)  # kept (on disk) by the board before the message goes
            self.delete(raw["ReceiptHandle"])
            handled += 1
        return handled

    def delete(self, receipt_handle: str) -> None:
        """Delete a handled result (a failure only means SQS delivers it again: it is then ignored as late)."""
        try:
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=receipt_handle)
        except Exception as exc:
            log.warning("could not delete a shown result (%s); it will come back and be ignored", type(exc).__name__)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once(wait_s=self.wait_s)
            except Exception as exc:  # the network comes and goes: keep polling
                log.warning("polling results failed (%s); retrying", type(exc).__name__)
                self._stop.wait(1.0)


def _supersedes(new: dict[str, Any], held: dict[str, Any]) -> bool:
    """A real result replaces an error result of the same clip not yet shown: the error came from a
    failed duplicate execution (results and errors are published under different deduplication ids)."""
    return held.get("status") == "error" and new.get("status") in ("ok", "no_face")
