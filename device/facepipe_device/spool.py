"""The spool: every clip is on disk before it is uploaded, and removed only once S3 has it.

Layout: ``<seq>.<ext>`` (the clip) and ``<seq>.json`` (its metadata), the JSON written last and atomically,
so a clip whose JSON exists is complete. ``state.json`` keeps the next sequence number across restarts
(also after ``kill -9``). When the spool is over its size bound, the oldest clips are dropped, with a
warning and a counter, never silently.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger("facepipe_device.spool")
# Unreadable clips are moved here (and removed at the next start).
BAD = "bad"


@dataclass(frozen=True)
class SpooledClip:
    seq: int
    ext: str
    captured_at: str  # ISO 8601 UTC, start of capture
    capture_end: float  # epoch seconds, end of capture (latency is measured from here)
    size: int
    # A heartbeat of an unchanged room: the capture time since when it is so (facepipe_device.gate.ChangeGate).
    unchanged_since: str | None = None

    def stem(self) -> str:
        return f"{self.seq:012d}"


def write_durably(path: Path, data: bytes) -> None:
    """The file's bytes and then its name made durable: a power cut after this returns loses neither (the rename
    lives in the directory, which is synced too)."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class Spool:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.dropped = 0
        self.set_aside_count = 0
        self._lock = threading.Lock()
        self._busy: set[int] = set()  # clips being uploaded right now are never dropped
        self._handed_out = 0  # the last sequence number handed out (state.json may lag it on a full disk)
        root.mkdir(parents=True, exist_ok=True)
        self._recover()

    def _recover(self) -> None:
        """Remove half-written clips (no metadata) left by a crash, and what the last run set aside."""
        aside = self.root / BAD
        if aside.is_dir():
            gone = list(aside.iterdir())
            for path in gone:
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
            if gone:
                log.warning("removed %d file(s) the last run set aside as unreadable", len(gone))
        for path in self.root.iterdir():
            if path.is_dir():
                continue  # results/ (received, not yet shown) lives here too
            if path.name.startswith(".") and path.name.endswith(".tmp"):
                path.unlink(missing_ok=True)
            elif path.suffix not in (".json",) and path.name != "state.json" and not path.with_suffix(".json").exists():
                log.warning("removing incomplete clip %s left by an interrupted run", path.name)
                path.unlink(missing_ok=True)

    def next_seq(self) -> int:
        """A sequence number never used before on this device (persisted before it is handed out).

        A full card must not stop the camera: when state.json cannot be written (ENOSPC), the oldest queued clip is
        dropped to make room, as :meth:`add` does; with nothing left to drop the number is handed out all the same
        and persisted at the next chance (a restart before then may reuse it: the clip's key still differs, as it
        carries the capture time)."""
        with self._lock:
            state_path = self.root / "state.json"
            state = json.loads(state_path.read_text()) if state_path.exists() else {"next_seq": 1}
            seq = max(int(state["next_seq"]), self._handed_out + 1)
            self._handed_out = seq
            while True:
                try:
                    write_durably(state_path, json.dumps({"next_seq": seq + 1}).encode())
                    return seq
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    queued = [c for c in self.pending() if c.seq not in self._busy]
                    if not queued:
                        log.warning("disk full: sequence number %d not persisted yet; capture goes on", seq)
                        return seq
                    self._remove(queued[0])
                    self.dropped += 1
                    log.warning("disk full: dropped clip %d, never uploaded, to go on capturing", queued[0].seq)

    def pending(self) -> list[SpooledClip]:
        """Complete clips not yet uploaded, oldest first."""
        clips = []
        for meta in sorted(self.root.glob("*.json")):
            if meta.name == "state.json":
                continue
            try:
                clips.append(SpooledClip(**json.loads(meta.read_text())))
            except (ValueError, TypeError):
                log.warning("unreadable spool entry %s; removing it", meta.name)
                meta.unlink(missing_ok=True)
        return sorted(clips, key=lambda c: c.seq)

    def used_bytes(self) -> int:
        return sum(c.size for c in self.pending())

    def add(
        self,
        data: bytes,
        *,
        seq: int,
        ext: str,
        captured_at: str,
        capture_end: float,
        unchanged_since: str | None = None,
    ) -> tuple[SpooledClip, list[SpooledClip]]:
        """Store a clip; returns it and the clips dropped to stay under the bound (oldest first)."""
        clip = SpooledClip(
            seq=seq,
            ext=ext,
            captured_at=captured_at,
            capture_end=capture_end,
            size=len(data),
            unchanged_since=unchanged_since,
        )
        with self._lock:
            dropped = []
            queued = [c for c in self.pending() if c.seq not in self._busy]
            used = sum(c.size for c in self.pending())
            while queued and used + clip.size > self.max_bytes:
                oldest = queued.pop(0)
                self._remove(oldest)
                used -= oldest.size
                dropped.append(oldest)
            self.dropped += len(dropped)
            for old in dropped:
                log.warning(
                    "spool full (%d bytes, bound %d): dropped clip %d, never uploaded", used, self.max_bytes, old.seq
                )
            while True:
                try:
                    write_durably(self.root / f"{clip.stem()}.{ext}", data)
                    write_durably(self.root / f"{clip.stem()}.json", json.dumps(asdict(clip)).encode())
                    break
                except OSError as exc:
                    # The disk filled before the spool's own bound (other files on the card): drop the oldest
                    # queued clip and try again, as when the bound is reached; capture never stops for it.
                    if exc.errno != errno.ENOSPC:
                        raise
                    self._remove(clip)
                    queued = [c for c in self.pending() if c.seq not in self._busy]
                    if not queued:
                        self.dropped += 1
                        log.warning("disk full and nothing left to drop: clip %d not spooled", clip.seq)
                        return clip, [*dropped, clip]
                    oldest = queued[0]
                    self._remove(oldest)
                    self.dropped += 1
                    dropped.append(oldest)
                    log.warning("disk full: dropped clip %d, never uploaded", oldest.seq)
        return clip, dropped

    def read(self, clip: SpooledClip) -> bytes:
        return (self.root / f"{clip.stem()}.{clip.ext}").read_bytes()

    def exists(self, clip: SpooledClip) -> bool:
        return (self.root / f"{clip.stem()}.json").exists()

    def claim(self, clip: SpooledClip) -> bool:
        """Mark a clip as being uploaded; False if it was dropped meanwhile."""
        with self._lock:
            if not self.exists(clip):
                return False
            self._busy.add(clip.seq)
            return True

    def done(self, clip: SpooledClip) -> None:
        """S3 confirmed the clip: forget it."""
        with self._lock:
            self._remove(clip)
            self._busy.discard(clip.seq)

    def release(self, clip: SpooledClip) -> None:
        with self._lock:
            self._busy.discard(clip.seq)

    def set_aside(self, clip: SpooledClip, reason: str) -> None:
        """A clip that cannot be read (a bad block, a truncated file): moved out of the queue into ``bad/``, logged,
        counted, and removed at the next start. One bad file never stops the uploads or holds a clip busy."""
        with self._lock:
            aside = self.root / BAD
            aside.mkdir(exist_ok=True)
            for name in (f"{clip.stem()}.json", f"{clip.stem()}.{clip.ext}"):
                with contextlib.suppress(OSError):
                    os.replace(self.root / name, aside / name)
            self._remove(clip)  # whatever could not be moved
            self._busy.discard(clip.seq)
            self.set_aside_count += 1
        log.error("spooled clip %d is unreadable (%s): set aside, never uploaded", clip.seq, reason)

    def _remove(self, clip: SpooledClip) -> None:
        (self.root / f"{clip.stem()}.json").unlink(missing_ok=True)
        (self.root / f"{clip.stem()}.{clip.ext}").unlink(missing_ok=True)
