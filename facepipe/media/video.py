"""Clips to frames with OpenCV: validate, decode, pick the sharpest frame of each part of the clip."""

from __future__ import annotations

import itertools
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

from facepipe.core.errors import ClipTooLargeError, ClipTooLongError, ClipTooManyFramesError, UndecodableClipError
from facepipe.core.settings import Settings

FALLBACK_FPS = 30.0
# Frames read in a clip at most unless told (the settings' max_clip_frames: 5 s at 60 fps).
DEFAULT_MAX_FRAMES = 300


def sharpness(frame: np.ndarray, *, width: int = 320) -> float:
    """Variance of the Laplacian of a BGR frame on a copy ``width`` px wide: motion and focus blur lower it."""
    scale = width / frame.shape[1]
    small = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1.0 else frame
    return float(cv2.Laplacian(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


def choose_frames(scores: list[float | None], count: int) -> list[int]:
    """The best-scoring frame of each of ``count`` equal parts of the clip (``None``: did not decode); ties
    go to the frame nearest the part's middle. Spread over the clip (people enter and leave) and sharp (a
    blurred frame costs as much to search and names nobody)."""
    total = len(scores)
    bounds = np.linspace(0, total, min(count, total) + 1)
    picked: list[int] = []
    for start, stop in itertools.pairwise(bounds):
        part = [i for i in range(round(start), round(stop)) if scores[i] is not None]
        if part:
            middle = (start + stop - 1) / 2
            picked.append(max(part, key=lambda i: (scores[i], -abs(i - middle))))
    return picked


@dataclass
class DecodedClip:
    frames: list[tuple[int, float, np.ndarray]]  # (index, t_ms, BGR frame)
    sharpness: list[float]  # of each chosen frame
    total: int
    skipped: int
    fps: float

    def rgb(self) -> list[np.ndarray]:
        """The chosen frames in RGB, as face detection and the encoder take them."""
        return [cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) for _, _, frame in self.frames]

    @property
    def indexes(self) -> list[int]:
        return [index for index, _, _ in self.frames]


class _Capture:
    """An opened clip with its limits checked as it is read (frame size, length)."""

    def __init__(
        self, path: Path, *, max_seconds: float, max_pixels: int, label: str, max_frames: int = DEFAULT_MAX_FRAMES
    ) -> None:
        self.label, self.max_seconds, self.max_pixels, self.max_frames = label, max_seconds, max_pixels, max_frames
        self.capture = cv2.VideoCapture(str(path))
        if not self.capture.isOpened():
            self.capture.release()
            raise UndecodableClipError(f"{label}: not a video OpenCV can open (corrupt or unsupported)")
        fps = self.capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 1.0 <= fps <= 240.0 else FALLBACK_FPS
        # The header's word, checked before a frame is decoded (a lying header is caught again while decoding).
        declared = int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self.declared = max(declared, 0)
        width, height = (
            int(self.capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(self.capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )
        if width * height > max_pixels:
            self.capture.release()
            raise ClipTooLargeError(
                f"{label}: frames are {width}x{height}, larger than the limit of {max_pixels} pixels"
            )
        if declared > 0 and declared / self.fps > max_seconds + 1.0 / self.fps:
            self.capture.release()
            raise ClipTooLongError(f"{label}: clip is {declared / self.fps:.1f} s long, limit {max_seconds:g} s")
        if declared > max_frames:
            self.capture.release()
            raise ClipTooManyFramesError(f"{label}: {declared} frames, more than the limit of {max_frames}")

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
                if index >= self.max_frames:
                    raise ClipTooManyFramesError(f"{self.label}: more frames than the limit of {self.max_frames}")
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
    path: Path,
    *,
    frames_wanted: int,
    max_seconds: float,
    max_pixels: int,
    name: str | None = None,
    max_frames: int = DEFAULT_MAX_FRAMES,
) -> DecodedClip:
    """Decode a clip file and keep ``frames_wanted`` frames: the sharpest of each equal part of it.

    Every frame is read in order (a 0.5 s clip is ~15 frames; raw H.264 has no reliable frame count to
    seek by) and scored as it streams; only the best frame so far of each part is kept (parts by the header's
    frame count), so memory stays at a few frames whatever the clip's length (a 1080p 5 s clip held whole was
    ~1 GB). Where the header's count was wrong or missing, the chosen frames are read again (a second pass).
    Frames that fail to decode are skipped, and the limits are checked as early as possible.
    """
    label = name or path.name
    capture = _Capture(path, max_seconds=max_seconds, max_pixels=max_pixels, label=label, max_frames=max_frames)
    fps, declared = capture.fps, capture.declared
    bounds = np.linspace(0, declared, min(frames_wanted, declared) + 1) if declared else np.array([])
    kept: dict[int, tuple[float, int, np.ndarray]] = {}  # part -> (score, index, frame): the best so far
    scores: list[float | None] = []
    for index, frame in capture.frames():
        if frame is None:
            scores.append(None)
            continue
        score = sharpness(frame)
        scores.append(score)
        part = int(np.searchsorted(bounds, index, side="right")) - 1 if declared else -1
        if 0 <= part < len(bounds) - 1:
            middle = (bounds[part] + bounds[part + 1] - 1) / 2
            best = kept.get(part)
            if best is None or (score, -abs(index - middle)) > (best[0], -abs(best[1] - middle)):
                kept[part] = (score, index, frame)
    misses = sum(1 for score in scores if score is None)
    if not scores or misses == len(scores):
        raise UndecodableClipError(f"{label}: no decodable frames (empty, truncated or corrupt clip)")
    picked = choose_frames(scores, frames_wanted)
    have = {index: frame for _, index, frame in kept.values()}
    if not set(picked) <= set(have):  # the header's count was off: read the chosen frames again
        have = dict(read_frames(path, picked, max_seconds=max_seconds, max_pixels=max_pixels, name=label))
    return DecodedClip(
        frames=[(i, frame_time_ms(i, fps), have[i]) for i in picked],
        sharpness=[round(scores[i] or 0.0, 1) for i in picked],
        total=len(scores),
        skipped=misses,
        fps=fps,
    )


def decode_chosen(path: Path, settings: Settings, *, name: str | None = None) -> DecodedClip:
    """The frames extract chooses from a clip, under the settings' limits (extract, erase and corrections
    all read a clip so: what they look at is what the pipeline looked at)."""
    return decode_clip(
        path,
        frames_wanted=settings.frames_per_clip,
        max_seconds=settings.max_clip_seconds,
        max_pixels=settings.max_frame_pixels,
        name=name,
        max_frames=settings.max_clip_frames,
    )


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


def read_others(
    path: Path, skip: set[int], *, max_seconds: float, max_pixels: int, name: str | None = None
) -> Iterator[tuple[int, float, np.ndarray]]:
    """(index, t_ms, RGB frame) of each decodable frame of a clip not in ``skip``, one at a time: a second pass
    over a clip, made only when recognition wants more of it than the chosen frames
    (facepipe.vision.frame_choice.choose_by_faces)."""
    capture = _Capture(path, max_seconds=max_seconds, max_pixels=max_pixels, label=name or path.name)
    for index, frame in capture.frames():
        if frame is not None and index not in skip:
            yield index, frame_time_ms(index, capture.fps), cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


@contextmanager
def clip_file(data: bytes, key: str) -> Iterator[Path]:
    """A clip's bytes in a temporary file with the key's suffix (OpenCV reads files, not buffers)."""
    with tempfile.NamedTemporaryFile(suffix=Path(key).suffix) as handle:
        handle.write(data)
        handle.flush()
        yield Path(handle.name)
