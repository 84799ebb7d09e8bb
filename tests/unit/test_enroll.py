"""Enrollment: bad photos are named with their reason and the rest still enroll; --update and remove."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from facepipe.cli.main import main
from facepipe.identity.enroll import enroll
from facepipe.identity.gallery import Gallery
from tests.conftest import png_bomb


def _person(root: Path, person_id: str, *photos: Path) -> Path:
    folder = root / person_id
    folder.mkdir(parents=True)
    for photo in photos:
        shutil.copy(photo, folder / photo.name)
    return folder


def test_bad_photos_are_reported_and_the_rest_enroll(samples, settings, tmp_path):
    people = tmp_path / "people"
    _person(people, "biden", samples / "people" / "biden" / "1.jpg")
    crowd = _person(people, "crowd", samples / "probes" / "two_people.jpg")
    blank = _person(people, "blank")
    Image.fromarray(np.full((300, 300, 3), 128, dtype=np.uint8)).save(blank / "grey.jpg")
    (blank / "notes.txt").write_text("not a photo")
    (blank / "fake.jpg").write_text("not a photo either")
    (blank / "bomb.png").write_bytes(png_bomb(50_000, 50_000))

    gallery, report = enroll(people, settings)

    assert gallery.ids() == ["biden"]
    reasons = {Path(path).name: reason for path, reason in report.errors}
    assert reasons["two_people.jpg"] == "2 faces found, expected exactly one"
    assert reasons["grey.jpg"] == "no face found"
    assert reasons["notes.txt"] == "not an image (expected .jpg, .jpeg or .png)"
    assert reasons["fake.jpg"].startswith("not an image")
    assert reasons["bomb.png"].startswith("too large (50000x50000 pixels")
    assert crowd.exists()


def test_gallery_round_trip_keeps_everything(gallery_path):
    first = Gallery.load(gallery_path)
    again = Gallery.loads(first.dumps())
    assert again == first
    assert again.ids() == ["alex_lacamoire", "biden", "kit_harington", "lin_manuel_miranda", "obama", "rose_leslie"]
    assert sum(len(p.photos) for p in again.people) == 11
    assert set(again.library_versions) == {"dlib", "face_recognition", "face_recognition_models", "onnxruntime"}
    assert again.model.encoder == "dlib_face_recognition_resnet_model_v1"
    matrix, owners = again.matrix()
    assert matrix.shape == (11, 128) and owners.count("obama") == 2


def test_update_adds_and_replaces_without_reencoding_everyone(samples, videos, settings, gallery_path, tmp_path):
    gallery = Gallery.load(gallery_path)
    people = tmp_path / "people"
    _person(people, "biden", samples / "people" / "biden" / "1.jpg", samples / "people" / "biden" / "2.jpg")
    _person(people, "newcomer", videos / "people" / "markey" / "1.jpg")  # nobody enrolled yet

    updated, report = enroll(people, settings, gallery=gallery, update=True)

    assert report.unchanged == ["biden"]  # same photos, same hashes: not re-encoded
    assert report.enrolled == ["newcomer"]
    assert report.encoded_photos == 1
    assert len(updated.ids()) == 7

    # Replacing: biden now has one photo only, so he is re-encoded from it.
    (people / "biden" / "2.jpg").unlink()
    shutil.rmtree(people / "newcomer")
    replaced, report = enroll(people, settings, gallery=updated, update=True)
    assert report.enrolled == ["biden"] and report.encoded_photos == 1
    biden = replaced.person("biden")
    assert biden is not None and [p.source for p in biden.photos] == ["biden/1.jpg"]
    assert "newcomer" in replaced.ids()  # --update never drops people who are not in PEOPLE_DIR


def test_cli_enroll_update_list_and_remove(samples, tmp_path, capsys):
    people = tmp_path / "people"
    _person(people, "rose_leslie", samples / "people" / "rose_leslie" / "1.jpg")
    out = tmp_path / "g.json"
    assert main(["enroll", str(people), "--out", str(out)]) == 0
    _person(people, "kit_harington", samples / "people" / "kit_harington" / "1.jpg")
    assert main(["enroll", str(people), "--out", str(out), "--update"]) == 0
    assert "Enrolled 1 people (1 photos encoded, 1 unchanged)" in capsys.readouterr().out
    assert main(["people", "list", "--gallery", str(out)]) == 0
    assert "2 people in" in capsys.readouterr().out
    assert main(["people", "remove", "rose_leslie", "--gallery", str(out)]) == 0
    assert Gallery.load(out).ids() == ["kit_harington"]
    assert main(["people", "remove", "rose_leslie", "--gallery", str(out)]) == 1
    assert "rose_leslie: not in" in capsys.readouterr().err


def test_cli_enroll_exit_code_when_a_photo_is_bad(samples, tmp_path, capsys):
    people = tmp_path / "people"
    _person(people, "obama", samples / "people" / "obama" / "1.jpg")
    (people / "obama" / "broken.png").write_bytes(b"garbage")
    out = tmp_path / "g.json"
    assert main(["enroll", str(people), "--out", str(out)]) == 1
    assert "broken.png: not an image" in capsys.readouterr().err
    assert Gallery.load(out).ids() == ["obama"]  # the good photo still enrolled
