"""The stack's gallery edited by the CLI and the operator (console) as users do, on moto: `enroll --bucket`
merges into the stack's gallery (a console label survives, an erased person stays out unless asked), and
naming someone keeps the rest of their record (an UpdateItem)."""

from __future__ import annotations

from pathlib import Path

import pytest

from facepipe.aws import gallery_store, s3_objects
from facepipe.aws.clients import client
from facepipe.cli.main import main
from facepipe.core.settings import explicit_settings, get_settings
from facepipe.identity.gallery import Gallery
from facepipe.ops.erase import EraseJobs
from facepipe.ops.operator import Operator
from tests.unit.test_erase import BUCKET, OBAMA, _photo, stack  # noqa: F401 (the fixture)


def _people(samples: Path, tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "people"
    for name in names:
        (folder / name).mkdir(parents=True)
        for photo in (samples / "people" / name).iterdir():
            (folder / name / photo.name).write_bytes(photo.read_bytes())
    return folder


def test_enroll_bucket_after_a_console_label_keeps_the_label(stack, samples, tmp_path, capsys):  # noqa: F811
    """On the old main `enroll --bucket` uploaded its own gallery over the stack's: Markey, labelled in the
    console from the camera's view, was gone."""
    gallery_store.update_gallery(BUCKET, stack.gallery_key, lambda g: g.add_photos("markey", [_photo("markey", OBAMA)]))
    folder = _people(samples, tmp_path, "biden")
    code = main(["enroll", str(folder), "--out", str(tmp_path / "g.json"), "--bucket", BUCKET])
    assert code == 0, capsys.readouterr().err
    gallery, _ = gallery_store.get_gallery(BUCKET, stack.gallery_key)
    assert gallery.ids() == ["biden", "markey"]
    assert "Merged into" in capsys.readouterr().out


def test_enroll_bucket_after_an_erase_keeps_them_out_unless_asked(stack, samples, tmp_path, capsys):  # noqa: F811
    folder = _people(samples, tmp_path, "obama", "biden")
    assert main(["enroll", str(folder), "--out", str(tmp_path / "g.json"), "--bucket", BUCKET]) == 0
    EraseJobs(stack).erase("obama")
    before = s3_objects.versions(BUCKET, stack.gallery_key)
    capsys.readouterr()

    assert main(["enroll", str(folder), "--out", str(tmp_path / "g.json"), "--bucket", BUCKET]) == 1
    assert "obama (erased " in capsys.readouterr().err  # named, with when, before anything is written
    assert s3_objects.versions(BUCKET, stack.gallery_key) == before  # nothing written

    assert main(["enroll", str(folder), "--out", str(tmp_path / "g.json"), "--bucket", BUCKET, "--allow-erased"]) == 0
    gallery, _ = gallery_store.get_gallery(BUCKET, stack.gallery_key)
    assert gallery.ids() == ["biden", "obama"] and gallery.erased_ids() == set()


def test_naming_someone_keeps_the_rest_of_their_record(stack, samples, monkeypatch):  # noqa: F811
    """On the old main add_person and label wrote the whole record (PutItem): the major and year imported by
    `facepipe students import` were lost."""
    monkeypatch.setenv("FACEPIPE_BUCKET", BUCKET)
    settings = stack.model_copy(update={"devices_table": "devices"})
    dynamodb = client("dynamodb")
    dynamodb.put_item(
        TableName=settings.students_table,
        Item={"id": {"S": "obama"}, "name": {"S": "B. Obama"}, "major": {"S": "Law"}, "year": {"S": "Senior"}},
    )
    photo = next((samples / "people" / "obama").iterdir())
    Operator(settings).add_person("obama", "Barack Obama", [(photo.name, photo.read_bytes())])
    item = dynamodb.get_item(TableName=settings.students_table, Key={"id": {"S": "obama"}})["Item"]
    assert item == {
        "id": {"S": "obama"},
        "name": {"S": "Barack Obama"},
        "major": {"S": "Law"},
        "year": {"S": "Senior"},
    }


def test_the_console_refuses_to_enroll_someone_erased_and_stores_nothing(stack, samples):  # noqa: F811
    settings = stack.model_copy(update={"devices_table": "devices"})
    gallery_store.update_gallery(BUCKET, stack.gallery_key, lambda g: g.bury("obama", "2026-12-01T00:00:00+00:00"))
    photo = next((samples / "people" / "obama").iterdir())
    from facepipe.core.errors import GalleryError

    with pytest.raises(GalleryError, match="obama: erased before"):
        Operator(settings).add_person("obama", "Barack Obama", [(photo.name, photo.read_bytes())])
    assert client("s3").list_objects_v2(Bucket=BUCKET, Prefix="people/obama/").get("KeyCount", 0) == 0
    assert Gallery.loads(s3_objects.get_bytes(BUCKET, stack.gallery_key)).ids() == []


def test_a_refused_enroll_writes_no_local_gallery_either(stack, samples, tmp_path, capsys):  # noqa: F811
    """On the old main the local gallery was saved before the stack's merge refused: the erased person was back in
    it. Now the tombstone is checked first, and nothing is written anywhere."""
    folder = _people(samples, tmp_path, "obama", "biden")
    out = tmp_path / "g.json"
    assert main(["enroll", str(folder), "--out", str(out), "--bucket", BUCKET]) == 0
    EraseJobs(stack).erase("obama")
    out.unlink()
    capsys.readouterr()

    assert main(["enroll", str(folder), "--out", str(out), "--bucket", BUCKET]) == 1
    assert "obama (erased " in capsys.readouterr().err
    assert not out.exists()


def test_a_fresh_local_enroll_keeps_the_files_tombstones(samples, tmp_path, capsys):
    """Erased from a gallery file, then everyone enrolled again into a new gallery at the same path: the old main
    dropped the tombstone and brought them back. They stay out, and stay erased, unless asked."""
    from facepipe.ops.erase import erase_from_file

    folder = _people(samples, tmp_path, "obama", "biden")
    out = tmp_path / "g.json"
    assert main(["enroll", str(folder), "--out", str(out)]) == 0
    erase_from_file("obama", out, explicit_settings())
    capsys.readouterr()

    assert main(["enroll", str(folder), "--out", str(out)]) == 1
    assert "obama (erased " in capsys.readouterr().err
    assert Gallery.load(out).ids() == ["biden"] and Gallery.load(out).erased_ids() == {"obama"}
    (folder / "obama").rename(tmp_path / "aside")
    assert main(["enroll", str(folder), "--out", str(out)]) == 0  # the others again: the tombstone is kept
    assert Gallery.load(out).erased_ids() == {"obama"}
    (tmp_path / "aside").rename(folder / "obama")
    assert main(["enroll", str(folder), "--out", str(out), "--allow-erased"]) == 0
    assert Gallery.load(out).ids() == ["biden", "obama"] and Gallery.load(out).erased_ids() == set()


def test_student_records_and_rosters_do_not_bring_an_erased_student_back(stack, tmp_path, capsys, monkeypatch):  # noqa: F811
    """`students import` and `attendance import` are ways back in too: an erased id is refused by name, nothing is
    imported, unless asked."""
    from tests.unit.test_erase import _enroll

    _enroll(stack, {"obama": OBAMA})
    EraseJobs(stack).erase("obama")
    records = tmp_path / "students.csv"
    records.write_text("id,name\nobama,Barack Obama\nbiden,Joe Biden\n")
    capsys.readouterr()
    table = stack.students_table
    assert main(["students", "import", str(records), "--table", table, "--bucket", BUCKET]) == 1
    assert "obama (erased " in capsys.readouterr().err
    assert "Item" not in client("dynamodb").get_item(TableName=table, Key={"id": {"S": "biden"}})  # nothing at all
    assert main(["students", "import", str(records), "--table", table, "--bucket", BUCKET, "--allow-erased"]) == 0

    timetable, roster = tmp_path / "t.csv", tmp_path / "r.csv"
    timetable.write_text("course,rooms,weekdays,start,end,timezone\nbio,cam,Mon,09:00,10:00,UTC\n")
    roster.write_text("course,student_id\nbio,obama\nbio,biden\n")
    monkeypatch.setenv("FACEPIPE_BUCKET", BUCKET)  # the stack's settings, as the env file gives them
    get_settings.cache_clear()
    try:
        assert main(["attendance", "import", "--timetable", str(timetable), "--roster", str(roster)]) == 1
        assert "obama (erased " in capsys.readouterr().err
    finally:
        get_settings.cache_clear()
