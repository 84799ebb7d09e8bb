"""OpenCV Zoo's YuNet as a face detector (facepipe.vision.yunet): its file checked, the small faces HOG cannot see
found on real footage, and the same encodings from its boxes as from HOG's (dlib stays the identity model)."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from facepipe.bench.devset import read_frames
from facepipe.core.errors import FacepipeError
from facepipe.core.settings import Settings, explicit_settings
from facepipe.identity.recognition import recognize_image
from facepipe.media.images import load_rgb
from facepipe.vision import encoder, faces, yunet


def test_the_model_file_is_checked_before_it_is_used(settings: Settings, tmp_path: Path):
    assert yunet.model_path(settings).name == yunet.MODEL_NAME  # baked at install, its SHA-256 matching
    elsewhere = explicit_settings(encoder_cache_dir=tmp_path)
    with pytest.raises(FacepipeError, match=r"YuNet face detector not installed \(run `python -m facepipe.vision"):
        yunet.model_path(elsewhere)
    altered = bytearray(yunet.model_path(settings).read_bytes())
    altered[1000] ^= 0xFF
    (tmp_path / yunet.MODEL_NAME).write_bytes(bytes(altered))
    with pytest.raises(FacepipeError, match=r"SHA-256 [0-9a-f]{64} is not YuNet 2023mar's .*: refused"):
        yunet.model_path(elsewhere)


def test_it_finds_the_corridor_faces_hog_cannot(videos: Path):
    """The walking footage (480x270, faces ~16-30 px): HOG even with an upsample finds few of them."""
    bgr, _ = read_frames(videos / "turning" / "face-demographics-walking.gif")
    frames = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in bgr]
    hog = [faces.detect_faces(f, max_side=960, upsample=1) for f in frames]
    found = [faces.detect_faces(f, model="yunet", max_side=960) for f in frames]
    heights = [b[2] - b[0] for boxes in found for b in boxes]
    assert sum(map(len, found)) >= 2 * sum(map(len, hog)) and sum(map(len, found)) >= 50
    assert min(heights) < 30  # faces under HOG's ~36 px floor


def test_encodings_from_its_boxes_match_hogs_on_the_same_faces(samples: Path):
    distances = []
    for photo in sorted((samples / "people").glob("*/*")):
        image = load_rgb(photo, max_bytes=10**8, max_pixels=10**8)
        (hog,) = faces.keep_largest(faces.detect_faces(image, max_side=1024, upsample=1), 1)
        (ours,) = faces.keep_largest(faces.detect_faces(image, model="yunet", max_side=1024), 1)
        a, b = (encoder.encode_chips(faces.face_chips(image, [box])) for box in (hog, ours))
        distances.append(float(np.linalg.norm(a - b)))
    assert len(distances) == 11 and max(distances) < 0.1 and float(np.median(distances)) < 0.06


def test_the_sample_probes_are_named_as_expected_with_it(samples: Path, gallery):
    rows = list(csv.DictReader((samples / "probes" / "expected.csv").open()))
    for row in rows:
        image = load_rgb(samples / "probes" / row["file"], max_bytes=10**8, max_pixels=10**8)
        found = recognize_image(image, gallery, tolerance=0.6, margin=0.05, model="yunet", max_side=1024)
        named = {f.id for f in found} - {"unknown"}
        assert named == {p for p in row["people"].split(";") if p}, row["file"]
