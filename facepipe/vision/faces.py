"""Detect and encode faces.

A flat set of functions in the manner of face_recognition's ``api.py``: models load once per process
(on first use), dlib types stay inside this module, and every box is ``(top, right, bottom, left)`` in
the pixels of the frame that was passed in.
"""

from __future__ import annotations

import os
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facepipe.core.settings import Settings, get_settings
from facepipe.vision import cnn_detector, encoder, yunet

Box = tuple[int, int, int, int]

_models_lock = threading.Lock()
_models: Any = None
_dlib: dict[str, Any] = {}


def _dlib_model(name: str) -> Any:
    """dlib's HOG detector (``hog``), its own CNN detector (``cnn``: the reference the ONNX one is checked
    against) or its 5-point landmark predictor (``landmarks``), loaded once per process. Only these run in the
    pipeline: importing face_recognition would also load the 68-point predictor and dlib's encoder (1.5 s of
    every cold start)."""
    if name not in _dlib:
        import dlib

        with _models_lock:
            if name not in _dlib:
                if name == "hog":
                    _dlib[name] = dlib.fhog_object_detector(str(cache_detector()))
                elif name == "cnn":
                    _dlib[name] = dlib.cnn_face_detection_model_v1(
                        str(encoder.model_file("mmod_human_face_detector.dat"))
                    )
                elif name == "landmarks":
                    _dlib[name] = dlib.shape_predictor(str(encoder.model_file("shape_predictor_5_face_landmarks.dat")))
                else:
                    raise ValueError(f"no dlib model {name!r}")
    return _dlib[name]


def detector_path(settings: Settings | None = None) -> Path:
    """Where dlib's HOG face detector is cached in its binary form (named by the dlib version)."""
    import dlib

    return (settings or get_settings()).encoder_cache_dir / f"frontal_face_detector-dlib{dlib.__version__}.svm"


def cache_detector(settings: Settings | None = None) -> Path:
    """dlib's HOG face detector saved in binary form once: ``get_frontal_face_detector`` rebuilds it from
    text on every call (0.25-0.35 s of each cold start), loading the saved file takes 1 ms."""
    path = detector_path(settings)
    if not path.exists():
        import dlib

        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".detector-", delete=False) as handle:
            pass
        dlib.get_frontal_face_detector().save(handle.name)
        os.replace(handle.name, path)
    return path


def _face_recognition() -> Any:
    """Import face_recognition (which loads all of dlib's models) once per process: only the reference
    encoder and the plain library's defaults (tests, `facepipe bench`) use it."""
    global _models
    if _models is None:
        with _models_lock:
            if _models is None:
                with warnings.catch_warnings():
                    # face_recognition_models imports pkg_resources, which warns on import.
                    warnings.simplefilter("ignore", UserWarning)
                    import face_recognition
                from PIL import ImageFile

                # face_recognition turns on Pillow's LOAD_TRUNCATED_IMAGES for the whole process; a
                # truncated photo must be refused as corrupt (images.load_rgb), not half-decoded.
                ImageFile.LOAD_TRUNCATED_IMAGES = False
                _models = face_recognition
    return _models


def load_models() -> None:
    """Load the detector, landmarks and encoder now (cold start) rather than on the first frame, and run each
    once: their first call allocates what later calls reuse (ONNX Runtime's arena, dlib's HOG pyramid), a
    cost that belongs to the cold start (or provisioned concurrency's init), not to a person's first clip."""
    _dlib_model("hog")
    _dlib_model("landmarks")
    encoder.load()
    blank = np.zeros((480, 640, 3), dtype=np.uint8)
    detect_faces(blank)
    face_chips(blank, [(180, 380, 380, 180)])
    encoder.encode_chips(np.zeros((1, encoder.CHIP_SIZE, encoder.CHIP_SIZE, 3), dtype=np.uint8))
    if get_settings().follow_lost_faces:
        cnn_detector.load()
        cnn_detector.detect(blank[:270, :270], levels=5)  # a followed face's neighbourhood


def model_versions() -> dict[str, str]:
    """Versions of the libraries whose models produce the encodings (recorded in the gallery)."""
    from importlib.metadata import version

    import dlib

    return {
        "dlib": dlib.__version__,
        "face_recognition": version("face_recognition"),
        "face_recognition_models": version("face_recognition_models"),
        # Encodings come from dlib's network run by ONNX Runtime (same values within 1e-6).
        "onnxruntime": version("onnxruntime"),
    }


def _resize(image: np.ndarray, scale: float) -> np.ndarray:
    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def detect_faces(image: np.ndarray, *, model: str = "hog", max_side: int = 640, upsample: int = 0) -> list[Box]:
    """Find faces in an RGB image; boxes in the image's own pixels.

    Detection runs on a copy scaled so that its longest side is at most ``max_side``: HOG cost grows with
    the pixel count, and faces in a room camera's frame are large enough at 640 px. Boxes are scaled back
    and clipped to the image. ``model="cnn"``: dlib's CNN detector converted to ONNX
    (facepipe.vision.cnn_detector, 16x faster than dlib's own), on a copy doubled ``upsample`` times as dlib's is.
    ``model="yunet"``: OpenCV Zoo's YuNet (facepipe.vision.yunet), its boxes mapped to HOG's, on the same copy.
    """
    height, width = image.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    small = _resize(image, scale) if scale < 1.0 else image
    if model in ("cnn", "yunet"):
        scale *= 2**upsample
        if upsample:
            small = cv2.resize(small, None, fx=2**upsample, fy=2**upsample, interpolation=cv2.INTER_LINEAR)
        if model == "cnn":
            found = [d.box for d in cnn_detector.detect(small)]
        else:
            found = [box for box, _ in yunet.detect(small, get_settings())]
    else:
        found = [(r.top(), r.right(), r.bottom(), r.left()) for r in _dlib_model(model)(small, upsample)]
    return [
        (
            max(0, round(top / scale)),
            min(width, round(right / scale)),
            min(height, round(bottom / scale)),
            max(0, round(left / scale)),
        )
        for top, right, bottom, left in found
    ]


def small_face_upsample(model: str) -> int:
    """Upsamples the small-face search needs: HOG and the CNN find faces from ~40 px only on a doubled copy;
    YuNet finds them from ~10 px at the frame's own size."""
    return 0 if model == "yunet" else 1


def dlib_cnn(image: np.ndarray) -> Any:
    """dlib's own CNN detector on an RGB image, no upsample (seconds a frame here): mmod rectangles with their
    confidences, the reference for the ONNX one (tests, `facepipe bench`)."""
    return _dlib_model("cnn")(image, 0)


def _shapes(image: np.ndarray, boxes: list[Box]) -> Any:
    """dlib's five landmarks of each face (what face_recognition's ``model="small"`` encodes from)."""
    import dlib

    predictor = _dlib_model("landmarks")
    shapes = dlib.full_object_detections()
    for top, right, bottom, left in boxes:
        shapes.append(predictor(image, dlib.rectangle(left, top, right, bottom)))
    return shapes


def hog_scores(image: np.ndarray, *, floor: float) -> list[float]:
    """The HOG detector's scores of the faces it sees in an RGB image at its own size, down to ``floor``
    (below the detector's own threshold of 0): how face-like the clearest one is (facepipe.vision.quality)."""
    _, scores, _ = _dlib_model("hog").run(image, 0, floor)
    return [float(s) for s in scores]


def face_chips(image: np.ndarray, boxes: list[Box]) -> np.ndarray:
    """The aligned 150x150 chip of each face, as dlib cuts it for its encoder: (n, 150, 150, 3) uint8."""
    return chips_and_landmarks(image, boxes)[0]


def chips_and_landmarks(image: np.ndarray, boxes: list[Box]) -> tuple[np.ndarray, np.ndarray]:
    """Each face's aligned chip (as :func:`face_chips`) and its five landmarks, (n, 5, 2) as (x, y) pixels."""
    if not boxes:
        return np.empty((0, encoder.CHIP_SIZE, encoder.CHIP_SIZE, 3), dtype=np.uint8), np.empty((0, 5, 2))
    import dlib

    shapes = _shapes(image, boxes)
    chips = dlib.get_face_chips(image, shapes, size=encoder.CHIP_SIZE, padding=encoder.CHIP_PADDING)
    points = np.asarray([[(p.x, p.y) for p in shape.parts()] for shape in shapes], dtype=np.float64)
    return np.stack([np.asarray(chip) for chip in chips]), points


def encode_faces(image: np.ndarray, boxes: list[Box]) -> np.ndarray:
    """128-d encodings of the faces at ``boxes`` (shape (n, 128), float64), by the ONNX encoder."""
    return encoder.encode_chips(face_chips(image, boxes))


def encode_faces_reference(image: np.ndarray, boxes: list[Box]) -> np.ndarray:
    """The same encodings by dlib's own encoder (70-150 ms a face): the reference tests compare against."""
    if not boxes:
        return np.empty((0, 128))
    fr = _face_recognition()
    shapes = _shapes(image, boxes)
    return np.asarray([fr.api.face_encoder.compute_face_descriptor(image, shape, 1) for shape in shapes])


def pairwise_distances(encodings: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Euclidean distances between every encoding and every known one: shape (len(encodings), len(known))."""
    return np.asarray(np.linalg.norm(encodings[:, None, :] - known[None, :, :], axis=2))


def keep_largest(boxes: list[Box], limit: int) -> list[Box]:
    """At most ``limit`` boxes, the largest first kept: the nearest people are who a room camera is for."""
    if len(boxes) <= limit:
        return boxes
    return sorted(boxes, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]), reverse=True)[:limit]


def encode_with_library_defaults(image: np.ndarray) -> np.ndarray:
    """face_recognition's own defaults (HOG with one upsample on the full image, the default encoding): every
    face's encoding, for the baseline `facepipe bench` compares our path against."""
    fr = _face_recognition()
    boxes = fr.face_locations(image, number_of_times_to_upsample=1)
    return np.asarray(fr.face_encodings(image, boxes)).reshape(len(boxes), 128)
