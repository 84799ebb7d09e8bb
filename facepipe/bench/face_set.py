"""A folder of many people's photos read once into encodings and quality measures (`facepipe bench --scale`).

``DIR/<set>/<person>/<photos>`` (``../shared/faces``: ``lfw/`` and ``celeba/``). Each photo is read as
enrollment reads one (the settings' detector on a copy at most ``photo_detect_max_side``), and its face is the
one a person would mean: the only one, else the largest near the photo's centre (LFW's photos are centred on
their person; other faces may show at the edges). Each face keeps its 128-d encoding and the measures of
facepipe.vision.quality, so every rule can be re-scored without encoding again.

Encoding ~5,000 photos takes a minute or two: the result is cached under the settings' cache folder, keyed by the
files' names, sizes and times and by the encoder's version, so re-running the bench, or a new rule, costs seconds.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facepipe.core.settings import Settings
from facepipe.media.images import IMAGE_SUFFIXES

# Bump when what is measured per face changes: a cached set of another version is measured again.
FACE_SET_VERSION = 2
# Columns of FaceSet.measures.
MEASURES = ("height_px", "faceness", "sharpness", "yaw", "cut", "faces_in_photo", "width_px")


@dataclass(frozen=True)
class FaceSet:
    """One row per photo in which a face was found."""

    sets: np.ndarray  # (n,) str: the set (lfw, celeba)
    people: np.ndarray  # (n,) str: "<set>/<person>", unique across sets
    files: np.ndarray  # (n,) str: the photo's path under the folder
    encodings: np.ndarray  # (n, 128) float32
    measures: np.ndarray  # (n, len(MEASURES)) float32
    missed: int  # photos with no face found

    def measure(self, name: str) -> np.ndarray:
        return self.measures[:, MEASURES.index(name)]

    def subset(self, rows: np.ndarray) -> FaceSet:
        return FaceSet(
            self.sets[rows], self.people[rows], self.files[rows], self.encodings[rows], self.measures[rows], 0
        )


def photo_paths(root: Path) -> list[Path]:
    """Every photo of ``root/<set>/<person>/``, sorted."""
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a folder of <set>/<person>/<photos> (set FACEPIPE_FACES)")
    return sorted(
        path
        for path in root.glob("*/*/*")
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")
    )


def _chosen(boxes: list[tuple[int, int, int, int]], shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """The face a photo is of: the largest, each face's size discounted by its distance from the centre."""
    height, width = shape[:2]

    def weight(box: tuple[int, int, int, int]) -> float:
        top, right, bottom, left = box
        off = np.hypot((left + right) / 2 - width / 2, (top + bottom) / 2 - height / 2) / max(height, width)
        return (bottom - top) * (1.0 - off)

    return max(boxes, key=weight)


def as_room_camera(image: np.ndarray, seed: int) -> np.ndarray:
    """A photo as a room camera would show its person: scaled so the face (~0.45 of an LFW photo's height) is 40-70
    px tall, defocused (sigma 0.8-1.2 px), with sensor noise and JPEG compression (quality 60-80); ``seed`` makes
    each photo's degradation the same on every run."""
    import cv2

    rng = np.random.default_rng(seed)
    face_px = rng.uniform(40, 70)
    scale = face_px / (0.45 * image.shape[0])
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    blurred = cv2.GaussianBlur(small, (0, 0), rng.uniform(0.8, 1.2))
    noisy = np.clip(blurred + rng.normal(0, 3.0, blurred.shape), 0, 255).astype(np.uint8)
    ok, jpeg = cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(60, 81))])
    return np.asarray(cv2.imdecode(jpeg, cv2.IMREAD_UNCHANGED)) if ok else noisy


def _measure(path: Path, settings: Settings, room: bool = False) -> tuple[np.ndarray, np.ndarray] | None:
    from facepipe.identity.enroll import photo_faces
    from facepipe.media.images import load_rgb
    from facepipe.vision import encoder, faces, quality

    image = load_rgb(path, max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels)
    if room:
        image = as_room_camera(image, int(hashlib.sha256(path.name.encode()).hexdigest()[:8], 16))
    boxes = photo_faces(image, settings)
    if not boxes:
        return None
    box = _chosen(boxes, image.shape)
    chips, points = faces.chips_and_landmarks(image, [box])
    graded = quality.assess(chips[0], box, image.shape, points[0])
    measures = np.asarray(
        [
            graded.height_px,
            graded.faceness,
            graded.sharpness,
            graded.yaw,
            float(graded.cut),
            len(boxes),
            box[1] - box[3],
        ],
        dtype=np.float32,
    )
    return encoder.encode_chips(chips)[0].astype(np.float32), measures


def _measure_many(
    paths: list[Path], settings: Settings, room: bool = False
) -> list[tuple[np.ndarray, np.ndarray] | None]:
    return [_measure(path, settings, room) for path in paths]


def _cache_key(root: Path, paths: list[Path], room: bool, detector: str) -> str:
    from facepipe.vision import encoder

    # By the photos' names under the folder, sizes and times (not the folder's own path): the same photos linked
    # from another folder (the tests' subset) find the same cache.
    digest = hashlib.sha256(f"{FACE_SET_VERSION}:{encoder.CONVERTER_VERSION}:{room}:{detector}".encode())
    for path in paths:
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def read_face_set(
    root: Path, settings: Settings, *, workers: int | None = None, cache: bool = True, room: bool = False
) -> FaceSet:
    """Every photo of ``root`` encoded and measured (cached; see the module); with ``room``, each as a room camera
    would show it (:func:`as_room_camera`)."""
    paths = photo_paths(root)
    if not paths:
        raise FileNotFoundError(f"{root}: no photos under <set>/<person>/")
    cached = settings.encoder_cache_dir / "face-sets" / f"{_cache_key(root, paths, room, settings.detect_model)}.npz"
    if cache and cached.exists():
        with np.load(cached, allow_pickle=False) as data:
            return FaceSet(
                data["sets"], data["people"], data["files"], data["encodings"], data["measures"], int(data["missed"])
            )
    workers = workers or os.cpu_count() or 1
    chunks = [paths[i : i + 50] for i in range(0, len(paths), 50)]
    print(f"encoding {len(paths)} photos of {root} on {workers} processes (cached after)", file=sys.stderr)
    # Spawned, not forked: the calling process may hold threads (a test runner, ONNX Runtime) a fork would copy
    # mid-lock.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        runs = pool.map(_measure_many, chunks, [settings] * len(chunks), [room] * len(chunks))
        results = [r for chunk in runs for r in chunk]
    kept = [(path, r) for path, r in zip(paths, results, strict=True) if r is not None]
    relative = [path.relative_to(root) for path, _ in kept]
    found = FaceSet(
        sets=np.asarray([p.parts[0] for p in relative]),
        people=np.asarray([f"{p.parts[0]}/{p.parts[1]}" for p in relative]),
        files=np.asarray([str(p) for p in relative]),
        encodings=np.asarray([r[0] for _, r in kept], dtype=np.float32).reshape(len(kept), 128),
        measures=np.asarray([r[1] for _, r in kept], dtype=np.float32).reshape(len(kept), len(MEASURES)),
        missed=len(paths) - len(kept),
    )
    if cache:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp.npz")
        np.savez_compressed(
            tmp,
            sets=found.sets,
            people=found.people,
            files=found.files,
            encodings=found.encodings,
            measures=found.measures,
            missed=found.missed,
        )
        os.replace(tmp, cached)
    return found
