"""Faces HOG cannot see: dlib's CNN face detector (``mmod_human_face_detector.dat``), converted to ONNX
(:mod:`facepipe.vision.onnx_export`) and run by ONNX Runtime.

Why: dlib's HOG detector is frontal; a head turned past ~30 degrees, or tilted, is not a face to it, so a
person who turns away in the frames a clip was read on is lost there. The CNN detector holds to three-quarter
views and half profiles. dlib runs it at ~4 s a 854x480 frame in the BLAS-less ``dlib-bin``; the same network
in ONNX Runtime costs ~25 ms on a face's neighbourhood (what following a face needs) and ~120 ms on a 640x360
frame, 16x less than dlib's own (``facepipe bench`` and docs/PERFORMANCE.md have the figures).

Faces are found as dlib's ``loss_mmod`` finds them: the image and a pyramid of copies, each 5/6 the size of the
one before, go through the network; an output cell scoring over 0 is a face centred where that cell looks
(``stride * cell + offset`` in the level's pixels, from the convolutions) in the 80x80 detection window, scaled
back by the level's size; of detections that overlap (their intersection over the rectangle bounding both above
the file's 0.34) the highest scoring is kept. Two things differ from dlib: each level runs alone, padded with
dlib's 11 black pixels, instead of tiled into one image, and OpenCV resizes the levels instead of dlib's pyramid
filter. Boxes and scores agree with dlib's own (tests/unit/test_cnn_detector.py).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facepipe.core.settings import Settings
from facepipe.vision import encoder

# (top, right, bottom, left), as facepipe.vision.faces.Box (faces loads this module at cold start).
Box = tuple[int, int, int, int]

# Bump when onnx_export changes what it builds for the detector: the cached file's name changes with it.
CONVERTER_VERSION = 2
# Black pixels around each level, as dlib's tiled pyramid has around each of its levels.
_PADDING = 11


@dataclass(frozen=True)
class Detection:
    box: Box  # (top, right, bottom, left) in the image's own pixels
    score: float  # the network's score; a face is over 0


def source_model() -> Path:
    return encoder.model_file("mmod_human_face_detector.dat")


def model_path(settings: Settings) -> Path:
    return encoder.cached_model_path(settings, source_model(), CONVERTER_VERSION)


def convert(settings: Settings) -> Path:
    """Convert the detector to ONNX into the cache, unless it is there already; returns its path."""

    def build() -> Any:
        from facepipe.vision.dlib_net import read_detector
        from facepipe.vision.onnx_export import build_detector_model

        return build_detector_model(read_detector(source_model()))

    return encoder.convert_cached(model_path(settings), build)


_model = encoder.OnnxModel(convert)


def load(settings: Settings | None = None) -> None:
    """Convert (if needed) and open the detector now: at cold start, not on the first face followed."""
    _model.load(settings)


@functools.cache
def _properties() -> dict[str, float]:
    """What the converted file says of the network: its window, stride and offset, NMS overlap, smallest input."""
    return {k: float(v) for k, v in _model.load().get_modelmeta().custom_metadata_map.items()}


def _overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float], iou: float) -> bool:
    """dlib's test_box_overlap: the intersection's area over that of the rectangle bounding both (l, t, r, b)."""
    inner_w = min(a[2], b[2]) - max(a[0], b[0])
    inner_h = min(a[3], b[3]) - max(a[1], b[1])
    if inner_w <= 0 or inner_h <= 0:
        return False
    outer = (max(a[2], b[2]) - min(a[0], b[0])) * (max(a[3], b[3]) - min(a[1], b[1]))
    return inner_w * inner_h / outer > iou


def level_sizes(rows: int, cols: int, levels: int | None = None, smallest: int = 0) -> list[tuple[int, int]]:
    """The pyramid's level sizes (rows, cols), the image's own first, each 5/6 of the one before (dlib's
    pyramid_down<6>), down to ``smallest`` a side; at most ``levels`` of them."""
    sizes = [(rows, cols)]
    while levels is None or len(sizes) < levels:
        rows, cols = rows * 5 // 6, cols * 5 // 6
        if min(rows, cols) < smallest:
            break
        sizes.append((rows, cols))
    return sizes


def detect(image: np.ndarray, *, levels: int | None = None) -> list[Detection]:
    """Faces in an RGB image (uint8, rows x cols x 3), highest score first. ``levels`` limits the pyramid: level
    k finds faces about 80 / (5/6)**k px tall (the first level's faces are ~80 px; every level: 80 px and up)."""
    session, props = _model.load(), _properties()
    rows, cols = image.shape[:2]
    width, height = props["window_width"], props["window_height"]
    stride, offset = props["stride"], props["offset"]
    found: list[tuple[float, tuple[float, float, float, float]]] = []
    smallest = max(0, int(props["smallest_input"]) - 2 * _PADDING)
    if min(rows, cols) < smallest:
        return []
    for level_rows, level_cols in level_sizes(rows, cols, levels, smallest):
        level = image
        if level_rows != rows:
            level = cv2.resize(image, (level_cols, level_rows), interpolation=cv2.INTER_AREA)
        padded = cv2.copyMakeBorder(level, _PADDING, _PADDING, _PADDING, _PADDING, cv2.BORDER_CONSTANT, value=0)
        (scores,) = session.run(None, {"image": np.ascontiguousarray(padded[None])})
        sy, sx = level_rows / rows, level_cols / cols
        for r, c in zip(*np.nonzero(scores[0, 0] > 0), strict=True):
            x, y = stride * c + offset - _PADDING, stride * r + offset - _PADDING
            found.append(
                (
                    float(scores[0, 0, r, c]),
                    ((x - width / 2) / sx, (y - height / 2) / sy, (x + width / 2) / sx, (y + height / 2) / sy),
                )
            )
    found.sort(key=lambda d: d[0], reverse=True)
    kept: list[tuple[float, tuple[float, float, float, float]]] = []
    for score, rect in found:
        if not any(_overlaps(rect, other, props["nms_iou"]) for _, other in kept):
            kept.append((score, rect))
    return [
        Detection(
            (max(0, round(t)), min(cols, round(r)), min(rows, round(b)), max(0, round(lft))),
            round(score, 3),
        )
        for score, (lft, t, r, b) in kept
    ]
