"""Loading images safely: size and pixel limits are checked before anything is decoded."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from facepipe.core.errors import ImageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

# Every image facepipe opens goes through load_rgb, which checks the declared size against its own,
# configurable limit before decoding; Pillow's global check would only pre-empt it with a vaguer message.
Image.MAX_IMAGE_PIXELS = None


def load_rgb(source: Path | bytes, *, name: str | None = None, max_bytes: int, max_pixels: int) -> np.ndarray:
    """Decode an image file (path or bytes) into an RGB ``uint8`` array of shape (h, w, 3).

    The file size and the dimensions declared in the header are checked first, so a decompression bomb
    (a small PNG declaring a huge canvas) is refused before a single pixel is decoded. An alpha channel
    or a palette is flattened to RGB.
    """
    label = name or (str(source) if isinstance(source, Path) else "<bytes>")
    if isinstance(source, Path):
        if not source.is_file():
            raise ImageError(f"{label}: unreadable (no such file)", code="unreadable")
        size = source.stat().st_size
        if size > max_bytes:
            raise ImageError(f"{label}: too large ({size} bytes, limit {max_bytes})", code="too_large")
        try:
            data = source.read_bytes()
        except OSError as exc:
            raise ImageError(f"{label}: unreadable ({exc.strerror})", code="unreadable") from exc
    else:
        data = source
        if len(data) > max_bytes:
            raise ImageError(f"{label}: too large ({len(data)} bytes, limit {max_bytes})", code="too_large")
    if not data:
        raise ImageError(f"{label}: not an image (empty file)", code="not_an_image")
    try:
        image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ImageError(f"{label}: not an image ({type(exc).__name__})", code="not_an_image") from exc
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(
            f"{label}: too large ({width}x{height} pixels, limit {max_pixels} pixels); refused before decoding",
            code="too_large",
        )
    try:
        rgb = image.convert("RGB")
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"{label}: unreadable (truncated or corrupt image data: {exc})", code="unreadable") from exc
    return np.asarray(rgb, dtype=np.uint8)
