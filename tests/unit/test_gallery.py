"""The gallery file: versioned JSON, refused with a clear error when missing or corrupt."""

from __future__ import annotations

import json

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
            r"corrupt gallery \(people.0.photos.0.encoding: List should have at least 128 items",
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
