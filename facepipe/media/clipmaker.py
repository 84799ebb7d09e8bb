"""Make realistic test clips from still photos: a slow pan or zoom, sensor noise, video compression.

Used by the tests, the demo and the benchmark (the samples hold photos only, no video).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

FOURCC = {".mp4": "mp4v", ".avi": "MJPG"}


def make_clip(
    image_rgb: np.ndarray | None,
    out: Path,
    *,
    seconds: float = 0.5,
    fps: int = 30,
    size: tuple[int, int] = (640, 480),
    motion: str = "pan",
    noise: float = 4.0,
    seed: int = 0,
) -> Path:
    """Write a clip of ``seconds`` at ``fps`` and ``size`` (width, height) that moves over ``image_rgb``.

    ``motion`` is ``pan`` (a slow sideways drift), ``zoom`` (a slow push in) or ``still``. Gaussian
    sensor noise of ``noise`` grey levels is added per frame, and the codec compresses it as a camera
    would. With ``image_rgb=None`` the clip shows an empty, textured room (nobody in it).
    """
    width, height = size
    rng = np.random.default_rng(seed)
    base = _empty_room(width * 2, height * 2, rng) if image_rgb is None else cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR)
    frames = max(1, round(seconds * fps))
    # Letterbox the photo to the frame's aspect (edges replicated), so nobody in it is cropped away;
    # the camera then moves within 8% of it.
    base = _to_aspect(base, width / height)
    src_h, src_w = base.shape[:2]
    crop_w, crop_h = src_w * 0.96, src_h * 0.96
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*FOURCC.get(out.suffix, "mp4v")), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {out}")
    try:
        for i in range(frames):
            t = i / max(1, frames - 1)
            scale = 1.0 - 0.08 * t if motion == "zoom" else 1.0
            w, h = crop_w * scale, crop_h * scale
            cx = src_w / 2 + ((t - 0.5) * 0.08 * src_w if motion == "pan" else 0.0)
            cy = src_h / 2
            x0 = int(np.clip(cx - w / 2, 0, src_w - w))
            y0 = int(np.clip(cy - h / 2, 0, src_h - h))
            crop = base[y0 : y0 + int(h), x0 : x0 + int(w)]
            frame = cv2.resize(crop, size, interpolation=cv2.INTER_AREA).astype(np.float32)
            frame += rng.normal(0.0, noise, frame.shape)
            writer.write(np.clip(frame, 0, 255).astype(np.uint8))
    finally:
        writer.release()
    return out


def _to_aspect(image: np.ndarray, aspect: float) -> np.ndarray:
    height, width = image.shape[:2]
    if width / height < aspect:
        pad = round(height * aspect) - width
        return cv2.copyMakeBorder(image, 0, 0, pad // 2, pad - pad // 2, cv2.BORDER_REPLICATE)
    pad = round(width / aspect) - height
    return cv2.copyMakeBorder(image, pad // 2, pad - pad // 2, 0, 0, cv2.BORDER_REPLICATE)


def _empty_room(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A plain wall with a window and a shelf: structure for the codec, and no face."""
    room = np.full((height, width, 3), (170, 180, 190), dtype=np.uint8)
    cv2.rectangle(room, (width // 8, height // 6), (width // 3, height // 2), (235, 225, 200), -1)
    cv2.rectangle(room, (width // 2, height // 2), (width - width // 8, height // 2 + 20), (60, 80, 110), -1)
    return cv2.GaussianBlur(room + rng.integers(0, 6, room.shape, dtype=np.uint8), (5, 5), 0)
