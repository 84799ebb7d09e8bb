"""The gallery file: versioned JSON, refused with a clear error when missing or corrupt."""

from __future__ import annotations

import json

import numpy as np
import pytest

from facepipe.core.errors import GalleryError
from facepipe.identity.gallery import Gallery


def test_missing_gallery(tmp_path):
    with pytest.raises(GalleryError, match=r"g.json: gallery not found \(run `facepipe enroll` first\)"):
        Gallery.load(tmp_path / "g.json")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x80\x81 not json", "corrupt gallery"),
        (b"[1, 2]", "not a facepipe gallery"),
        (b'{"format": "facepipe-gallery", "schema_version": 99}', "schema_version 99 is not supported"),
        (
            b'{"format": "facepipe-gallery", "schema_version": 1, "people": [{"id": "a", "photos": '
            b'[{"source": "a/1.jpg", "sha256": "' + b"0" * 64 + b'", "encoding": [0.1, 0.2]}]}]}',
            r"corrupt gallery \(people.0.photos.0.encoding: Value should have at least 128 items",
        ),
    ],
)
def test_corrupt_gallery(content, message):
    with pytest.raises(GalleryError, match=message):
        Gallery.loads(content, source="s3://b/gallery.json")


def test_duplicate_person_is_corrupt(gallery):
    raw = json.loads(gallery.dumps())
    raw["people"].append(raw["people"][0])
    with pytest.raises(GalleryError, match="a person id appears twice"):
        Gallery.loads(json.dumps(raw))


def test_a_pickled_gallery_is_refused_not_loaded(tmp_path):
    """The gallery is JSON so that loading one can never run code: a pickle is refused with a clear error."""
    import pickle

    path = tmp_path / "gallery.json"
    path.write_bytes(pickle.dumps({"format": "facepipe-gallery", "people": []}))
    with pytest.raises(GalleryError, match="not valid JSON|corrupt"):
        Gallery.load(path)


def test_a_bad_compact_encoding_is_refused_by_name():
    doc = (
        b'{"format": "facepipe-gallery", "schema_version": 2, "people": [{"id": "a", "photos": '
        b'[{"source": "a/1.jpg", "sha256": "' + b"0" * 64 + b'", "encoding": "AAAA"}]}]}'
    )
    with pytest.raises(
        GalleryError, match=r"people.0.photos.0.encoding: Value error, an encoding must be 128 float32s"
    ):
        Gallery.loads(doc, source="g.json")
    with pytest.raises(GalleryError, match="an encoding must be base64 of 128 float32s"):
        Gallery.loads(doc.replace(b'"AAAA"', b'"not base64!"'), source="g.json")


def test_a_schema_1_gallery_loads_matches_the_same_and_is_saved_as_schema_2(gallery, tmp_path):
    """Galleries enrolled before stay valid: schema 1 (decimal encodings) loads, names the same people at the same
    distances (float32 keeps them within 1e-6), and is written back compact at its next save."""
    from facepipe.identity.matching import person_distances

    old = json.loads(gallery.dumps())
    old["schema_version"] = 1
    for person, raw in zip(gallery.people, old["people"], strict=True):
        for photo, out in zip(person.photos, raw["photos"], strict=True):
            out["encoding"] = photo.encoding  # as schema 1 wrote them: 128 decimals
    text = json.dumps(old).encode()
    migrated = Gallery.loads(text)
    assert migrated.schema_version == 1 and migrated.ids() == gallery.ids()
    probes = np.asarray([p.encoding for p in gallery.people[0].photos]) + 0.01
    before = person_distances(probes, migrated)[1]
    path = tmp_path / "g.json"
    migrated.save(path)
    saved = json.loads(path.read_bytes())
    assert saved["schema_version"] == 2 and isinstance(saved["people"][0]["photos"][0]["encoding"], str)
    assert path.stat().st_size < len(text) / 2.5
    after = person_distances(probes, Gallery.load(path))[1]
    assert np.abs(after - before).max() < 1e-6


def test_a_face_is_matched_to_each_person_by_their_nearest_photo(gallery):
    """The search (one product and a reduceat over each person's block of photos) is the plain per-person
    minimum over photos."""
    from facepipe.identity.matching import person_distances

    rng = np.random.default_rng(0)
    faces = np.asarray([p.encoding for person in gallery.people for p in person.photos]) + rng.normal(0, 0.02, 128)
    people, fast = person_distances(faces, gallery)
    matrix, owners = gallery.matrix()
    plain = np.linalg.norm(faces[:, None, :] - matrix[None, :, :], axis=2) + gallery.penalties()
    for column, person in enumerate(people):
        rows = [i for i, owner in enumerate(owners) if owner == person]
        assert np.abs(fast[:, column] - plain[:, rows].min(axis=1)).max() < 1e-9
