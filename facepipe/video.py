"""Clips to frames with OpenCV: validate, decode, pick frames spread over the clip."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# FFmpeg's own console chatter ("moov atom not found") says nothing our ClipError does not say better.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

import cv2
import numpy as np

from facepipe.errors import ClipTooLargeError, ClipTooLongError, UndecodableClipError

FALLBACK_FPS = 30.0


def spread_indices(total: int, count: int) -> list[int]:
    """``count`` frame indices spread evenly over ``total`` frames, always including the middle one."""
    if total <= 0:
        return []
    if count >= total:
        return list(range(total))
    inner = np.linspace(0, total - 1, count + 2)[1:-1] if count > 1 else np.array([(total - 1) / 2])
    picked = sorted({round(x) for x in inner})
    middle = (total - 1) // 2
    if middle not in picked:
        nearest = min(range(len(picked)), key=lambda i: abs(picked[i] - middle))
        picked[nearest] = middle
    return sorted(set(picked))


@dataclass
class DecodedClip:
    frames: list[tuple[int, float, np.ndarray]]  # (index, t_ms, BGR frame)
    total: int
    skipped: int
    fps: float


class _Capture:
    """An opened clip with its limits checked as it is read (frame size, length)."""

    def __init__(self, path: Path, *, max_seconds: float, max_pixels: int, label: str) -> None:
        self.label, self.max_seconds, self.max_pixels = label, max_seconds, max_pixels
        self.capture = cv2.VideoCapture(str(path))
        if not self.capture.isOpened():
            self.capture.release()
            raise UndecodableClipError(f"{label}: not a video OpenCV can open (corrupt or unsupported)")
        fps = self.capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 1.0 <= fps <= 240.0 else FALLBACK_FPS
        declared = int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT))
        if declared > 0 and declared / self.fps > max_seconds + 1.0 / self.fps:
            self.capture.release()
            raise ClipTooLongError(f"{label}: clip is {declared / self.fps:.1f} s long, limit {max_seconds:g} s")

    def frames(self, wanted: set[int] | None = None) -> Iterator[tuple[int, np.ndarray | None]]:
        """(index, BGR frame or None where it failed to decode) for every frame in order; only the
        ``wanted`` ones are converted to pixels (the rest yield None without counting as failures)."""
        limit = int(self.max_seconds * self.fps) + 1
        index = -1
        try:
            while self.capture.grab():
                index += 1
                if index >= limit:
                    raise ClipTooLongError(f"{self.label}: clip is longer than the limit of {self.max_seconds:g} s")
                if wanted is not None and index not in wanted:
                    yield index, None
                    continue
                ok, frame = self.capture.retrieve()
                if ok and frame is not None and frame.size:
                    height, width = frame.shape[:2]
                    if width * height > self.max_pixels:
                        raise ClipTooLargeError(
                            f"{self.label}: frames are {width}x{height}, larger than the limit of "
                            f"{self.max_pixels} pixels"
                        )
                    yield index, frame
                else:
                    yield index, None
        finally:
            self.capture.release()


def decode_clip(
    path: Path, *, frames_wanted: int, max_seconds: float, max_pixels: int, name: str | None = None
) -> DecodedClip:
    """Decode a clip file and keep ``frames_wanted`` frames spread over it (the middle one included).

    Every frame is read in order (a 0.5 s clip is ~15 frames; raw H.264 has no reliable frame count to
    seek by), frames that fail to decode are skipped, and the limits are checked as early as possible.
    """
    label = name or path.name
    capture = _Capture(path, max_seconds=max_seconds, max_pixels=max_pixels, label=label)
    decoded = [frame for _, frame in capture.frames()]
    misses = sum(1 for frame in decoded if frame is None)
    if not decoded or misses == len(decoded):
        raise UndecodableClipError(f"{label}: no decodable frames (empty, truncated or corrupt clip)")
    picked = spread_indices(len(decoded), frames_wanted)
    frames: list[tuple[int, float, np.ndarray]] = []
    for wanted in picked:
        index = wanted
        if decoded[index] is None:
            # Fall back to the nearest decodable neighbour rather than losing the sample point.
            near = [i for i in range(len(decoded)) if decoded[i] is not None]
            index = min(near, key=lambda i: abs(i - wanted))
        chosen = decoded[index]
        if chosen is not None and all(index != f[0] for f in frames):
            frames.append((index, frame_time_ms(index, capture.fps), chosen))
    return DecodedClip(frames=frames, total=len(decoded), skipped=misses, fps=capture.fps)


def frame_time_ms(index: int, fps: float) -> float:
    return round(index * 1000.0 / fps, 1)


def read_frames(
    path: Path, indices: list[int], *, max_seconds: float, max_pixels: int, name: str | None = None
) -> list[tuple[int, np.ndarray]]:
    """The BGR frames at ``indices`` (as :func:`decode_clip` chose them), decoding no further than the
    last one; a frame that does not decode (or is past the end) is an :class:`UndecodableClipError`."""
    label = name or path.name
    wanted = set(indices)
    found: dict[int, np.ndarray] = {}
    capture = _Capture(path, max_seconds=max_seconds, max_pixels=max_pixels, label=label)
    for index, frame in capture.frames(wanted):
        if frame is not None:
            found[index] = frame
        if index >= max(wanted):
            break
    missing = sorted(wanted - set(found))
    if missing:
        raise UndecodableClipError(f"{label}: frame(s) {missing} do not decode (the clip changed or is corrupt)")
    return [(index, found[index]) for index in indices]


@contextmanager
def clip_file(data: bytes, key: str) -> Iterator[Path]:
    """A clip's bytes in a temporary file with the key's suffix (OpenCV reads files, not buffers)."""
    with tempfile.NamedTemporaryFile(suffix=Path(key).suffix) as handle:
        handle.write(data)
        handle.flush()
        yield Path(handle.name)
