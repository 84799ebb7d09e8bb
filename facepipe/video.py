"""Clips to frames with OpenCV: validate, decode, pick frames spread over the clip."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# FFmpeg's own console chatter ("moov atom not found") says nothing our ClipError does not say better.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

import cv2
import numpy as np

from facepipe.errors import ClipError, ClipTooLargeError, ClipTooLongError, UndecodableClipError

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


def decode_clip(
    path: Path, *, frames_wanted: int, max_seconds: float, max_pixels: int, name: str | None = None
) -> DecodedClip:
    """Decode a clip file and keep ``frames_wanted`` frames spread over it (the middle one included).

    Every frame is read in order (a 0.5 s clip is ~15 frames; raw H.264 has no reliable frame count to
    seek by), frames that fail to decode are skipped, and the limits are checked as early as possible.
    """
    label = name or path.name
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise UndecodableClipError(f"{label}: not a video OpenCV can open (corrupt or unsupported)")
        fps = capture.get(cv2.CAP_PROP_FPS)
        fps = fps if 1.0 <= fps <= 240.0 else FALLBACK_FPS
        declared = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        if declared > 0 and declared / fps > max_seconds + 1.0 / fps:
            raise ClipTooLongError(f"{label}: clip is {declared / fps:.1f} s long, limit {max_seconds:g} s")
        limit = int(max_seconds * fps) + 1
        decoded: list[np.ndarray | None] = []
        misses = 0
        while True:
            grabbed = capture.grab()
            if not grabbed:
                break
            ok, frame = capture.retrieve()
            if ok and frame is not None and frame.size:
                height, width = frame.shape[:2]
                if width * height > max_pixels:
                    raise ClipTooLargeError(
                        f"{label}: frames are {width}x{height}, larger than the limit of {max_pixels} pixels"
                    )
                decoded.append(frame)
            else:
                decoded.append(None)
                misses += 1
            if len(decoded) > limit:
                raise ClipTooLongError(f"{label}: clip is longer than the limit of {max_seconds:g} s")
    finally:
        capture.release()
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
            frames.append((index, round(index * 1000.0 / fps, 1), chosen))
    return DecodedClip(frames=frames, total=len(decoded), skipped=misses, fps=fps)


def encode_jpeg(frame_bgr: np.ndarray, quality: int = 90) -> bytes:
    ok, data = cv2.imencode(".jpg", frame_bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ClipError("could not encode a frame as JPEG", code="encode_failed")
    return data.tobytes()


def decode_jpeg_rgb(data: bytes, *, max_pixels: int, name: str) -> np.ndarray:
    """A stored frame back to RGB; refuses oversized frames before decoding the pixels."""
    from facepipe.images import load_rgb

    # Pillow reads the declared size from the header first, so the pixel limit holds before decoding.
    return load_rgb(data, name=name, max_bytes=len(data) + 1, max_pixels=max_pixels)
