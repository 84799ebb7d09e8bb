"""Recognition on the real sample photos: the probes give exactly probes/expected.csv."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facepipe.core.contracts import UNKNOWN
from facepipe.identity import plain_library, recognition
from facepipe.media.images import load_rgb
from facepipe.vision import faces


def test_every_probe_gives_exactly_the_expected_people(samples, expected_probes, gallery, settings):
    for name, (people, unknown) in expected_probes.items():
        image = load_rgb(
            samples / "probes" / name, max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels
        )
        found = recognition.recognize_image(
            image, gallery, tolerance=settings.match_tolerance, max_side=settings.photo_detect_max_side
        )
        named = [f.id for f in found if f.id != UNKNOWN]
        assert sorted(named) == sorted(people), name
        assert sum(f.id == UNKNOWN for f in found) == unknown, name


def test_boxes_are_in_original_pixels_whatever_the_detection_scale(samples, gallery, settings):
    image = load_rgb(samples / "probes" / "obama-1080p.jpg", max_bytes=10**8, max_pixels=10**8)
    small = recognition.recognize_image(image, gallery, tolerance=0.54, max_side=480)
    large = recognition.recognize_image(image, gallery, tolerance=0.54, max_side=1920)
    assert [f.id for f in small] == [f.id for f in large] == ["obama"]
    # Same face, found at two scales: boxes agree to within a few percent of the face size.
    size = small[0].box[2] - small[0].box[0]
    assert size > 150
    assert np.abs(np.subtract(small[0].box, large[0].box)).max() < 0.15 * size


def test_a_frame_with_no_face_gives_no_match(gallery):
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, size=(480, 640, 3), dtype=np.uint8)
    assert recognition.recognize_image(noise, gallery, tolerance=0.54) == []


def test_matching_beyond_tolerance_is_unknown(gallery):
    matrix, owners = gallery.matrix()
    probe = matrix[owners.index("biden")][None, :]
    assert plain_library.match_encodings(probe, gallery, tolerance=0.5) == [("biden", 0.0)]
    far = probe + 0.2  # 0.2 * sqrt(128) ≈ 2.26 from biden's photo
    assert plain_library.match_encodings(far, gallery, tolerance=0.5)[0][0] == UNKNOWN


def test_an_empty_gallery_makes_everyone_unknown(gallery):
    gallery.people = []
    assert plain_library.match_encodings(np.zeros((2, 128)), gallery, tolerance=0.5) == [(UNKNOWN, None)] * 2


@pytest.mark.parametrize("max_faces", [1])
def test_max_faces_keeps_the_largest(samples, gallery, max_faces):
    image = load_rgb(Path(samples / "probes" / "two_people.jpg"), max_bytes=10**8, max_pixels=10**8)
    every = recognition.recognize_image(image, gallery, tolerance=0.54, max_side=1024)
    capped = recognition.recognize_image(image, gallery, tolerance=0.54, max_side=1024, max_faces=max_faces)
    area = {f.id: (f.box[2] - f.box[0]) * (f.box[1] - f.box[3]) for f in every}
    assert [f.id for f in capped] == [max(area, key=area.__getitem__)]


def test_the_cached_detector_finds_what_dlibs_own_finds(samples):
    """The binary copy of dlib's HOG detector (loaded in 1 ms instead of rebuilt in 0.3 s) is the same model."""
    import dlib

    from facepipe.media.images import load_rgb

    fresh = dlib.get_frontal_face_detector()
    for probe in ("two_people.jpg", "obama_and_biden.jpg", "kit_with_rose.jpg"):
        image = load_rgb(samples / "probes" / probe, max_bytes=10**8, max_pixels=10**8)
        expected = [(r.top(), r.right(), r.bottom(), r.left()) for r in fresh(image, 1)]
        assert faces.detect_faces(image, max_side=10_000, upsample=1) == expected, probe
        assert expected
