"""Image loading refuses bad input with a message naming the file and the reason."""

from __future__ import annotations

import re

import pytest

from facepipe.core.errors import ImageError
from facepipe.media.images import load_rgb
from tests.conftest import png_bomb

LIMITS = {"max_bytes": 10_000_000, "max_pixels": 40_000_000}


def test_alpha_png_is_flattened_to_rgb(samples):
    image = load_rgb(samples / "probes" / "32bit.png", **LIMITS)
    assert image.ndim == 3 and image.shape[2] == 3


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_bomb(100_000, 100_000))
    assert bomb.stat().st_size < 200
    with pytest.raises(ImageError, match=r"bomb.png: too large \(100000x100000 pixels.*refused before decoding"):
        load_rgb(bomb, **LIMITS)


def test_bomb_beyond_pillows_own_limit_is_still_too_large(tmp_path):
    bomb = tmp_path / "huge.png"
    bomb.write_bytes(png_bomb(2_000_000, 2_000_000))
    with pytest.raises(ImageError, match=r"huge.png: too large") as info:
        load_rgb(bomb, **LIMITS)
    assert info.value.code == "too_large"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not an image (empty file)"),
        (b"hello, this is text", "not an image"),
        (b"\x89PNG\r\n\x1a\nbroken", "not an image"),
    ],
)
def test_not_an_image(tmp_path, content, message):
    path = tmp_path / "photo.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=re.escape(f"photo.jpg: {message}")):
        load_rgb(path, **LIMITS)


def test_truncated_jpeg_is_unreadable(samples, tmp_path):
    data = (samples / "probes" / "obama1.jpg").read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageError, match=r"cut.jpg: unreadable \(truncated or corrupt"):
        load_rgb(path, **LIMITS)


def test_missing_file_and_file_size_limit(samples, tmp_path):
    with pytest.raises(ImageError, match=r"nope.jpg: unreadable \(no such file\)"):
        load_rgb(tmp_path / "nope.jpg", **LIMITS)
    with pytest.raises(ImageError, match=r"obama1.jpg: too large \(\d+ bytes, limit 1000\)"):
        load_rgb(samples / "probes" / "obama1.jpg", max_bytes=1000, max_pixels=10**8)
