"""Optional gates on the Pi: clips not worth sending are not uploaded (each counted in the summary).

- :class:`FaceGate`: OpenCV's Haar cascade on a few downscaled frames (milliseconds on a Pi) skips clips with
  nobody in them. It can miss a face the cloud would find (profile, far away), which is why it is off by default.
- :class:`ChangeGate`: a clip of a room unchanged since the last clip sent is skipped, a heartbeat still sent.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from typing import Any


class FaceGate:
    def __init__(self, frames: int = 3, width: int = 320) -> None:
        import cv2

        # opencv-python 4.x ships the Haar cascades next to the module (cv2.data); 5.x no longer does.
        cascades = getattr(cv2, "data").haarcascades  # noqa: B009 - not in the type stubs
        self.cascade = cv2.CascadeClassifier(cascades + "haarcascade_frontalface_default.xml")
        self.frames, self.width = frames, width

    def has_face(self, data: bytes, ext: str) -> bool:
        import cv2

        frames = _read(data, ext)
        if not frames:
            return True  # undecodable here: let the pipeline give its clear error
        step = max(1, len(frames) // self.frames)
        for frame in frames[::step][: self.frames]:
            scale = self.width / frame.shape[1]
            small = cv2.resize(frame, None, fx=scale, fy=scale)
            gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
            if len(self.cascade.detectMultiScale(gray, 1.1, 4, minSize=(20, 20))):
                return True
        return False


class ChangeGate:
    """Send a clip only when the room changed since the last clip sent, or when a heartbeat is due.

    A classroom is still for minutes at a time: each 0.5 s clip of an unchanged room costs the cloud a whole
    pipeline run and tells it nothing new. The difference is cheap enough for a Pi (a few frames of the clip, grey,
    ``width`` px wide, blurred against sensor noise): the clip is *changed* when more than ``changed_share`` of
    the small copy's pixels differ by more than ``pixel_delta`` grey levels from the last clip sent, in any of the
    frames looked at. The heartbeat (``heartbeat_s``, well under the cloud's 60 s presence gap) keeps who is in
    view, "left" events and the live view right while nothing moves.
    """

    def __init__(
        self,
        *,
        heartbeat_s: float = 5.0,
        width: int = 160,
        pixel_delta: int = 18,
        changed_share: float = 0.002,
        frames: int = 3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.heartbeat_s, self.width, self.pixel_delta = heartbeat_s, width, pixel_delta
        self.changed_share, self.frames, self.clock = changed_share, frames, clock
        self._reference: Any = None
        self._sent_at = float("-inf")
        self._changed_at: str | None = None  # capture time of the last clip sent because the room changed
        # Set by the last ``should_send`` that sent a clip of an unchanged room (a heartbeat): since when it is so.
        self.unchanged_since: str | None = None

    def _small(self, data: bytes, ext: str) -> list[Any]:
        import cv2

        small = []
        for frame in _frames(data, ext, self.frames):
            scale = self.width / frame.shape[1]
            resized = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            grey = cv2.cvtColor(resized, cv2.COLOR_BGR2GRAY)
            small.append(cv2.GaussianBlur(grey, (5, 5), 0).astype("int16"))
        return small

    def changed_share_of(self, data: bytes, ext: str) -> float:
        """The largest share of changed pixels between a frame of this clip and the last clip sent (1.0: none
        sent yet, or a different size)."""
        import numpy as np

        frames = self._small(data, ext)
        if self._reference is None or not frames or frames[0].shape != self._reference.shape:
            return 1.0
        return max(float((np.abs(f - self._reference) > self.pixel_delta).mean()) for f in frames)

    def should_send(self, data: bytes, ext: str, captured_at: str | None = None) -> bool:
        """Whether to send this clip (and, if so, it becomes what the next ones are compared with). A heartbeat of a
        room that has not changed leaves ``unchanged_since`` set to the capture time of the last clip sent because
        it changed (the device puts it on the upload, and the result says it); a changed clip clears it."""
        frames = self._small(data, ext)
        self.unchanged_since = None
        if not frames:
            return True  # undecodable here: let the pipeline give its clear error
        now = self.clock()
        due = now - self._sent_at >= self.heartbeat_s
        changed = self.changed_share_of(data, ext) > self.changed_share
        if not due and not changed:
            return False
        if changed:
            self._changed_at = captured_at
        else:
            self.unchanged_since = self._changed_at
        self._reference, self._sent_at = frames[-1], now
        return True


def _frames(data: bytes, ext: str, count: int) -> list[Any]:
    """Up to ``count`` frames spread over a clip (BGR), its last one included."""
    frames = _read(data, ext)
    if len(frames) <= count:
        return frames
    picks = sorted({round(i * (len(frames) - 1) / (count - 1)) for i in range(count)}) if count > 1 else [-1]
    return [frames[i] for i in picks]


def _read(data: bytes, ext: str) -> list[Any]:
    """Every frame of a clip's bytes (BGR), decoded by OpenCV from a temporary file."""
    import cv2

    with tempfile.NamedTemporaryFile(suffix=f".{ext}") as handle:
        handle.write(data)
        handle.flush()
        capture = cv2.VideoCapture(handle.name)
        frames = []
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(frame)
        capture.release()
    return frames
