"""Gallery health (facepipe.identity.health): a photo unlike its person or too like someone else is held back
before it joins; people the decision cannot tell apart are listed. Real photos of ../shared/samples and videos."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from facepipe.cli.main import main
from facepipe.identity.enroll import enroll
from facepipe.identity.gallery import Gallery
from facepipe.identity.health import lookalikes, photo_concerns


def _person(root: Path, person: str, *photos: Path) -> None:
    (root / person).mkdir(parents=True, exist_ok=True)
    for n, photo in enumerate(photos, 1):
        shutil.copy(photo, root / person / f"{n}{photo.suffix}")


def test_a_photo_of_someone_else_in_a_persons_folder_is_held_back_by_name(samples: Path, settings, tmp_path: Path):
    people = tmp_path / "people"
    biden = sorted((samples / "people" / "biden").glob("*.jpg"))
    _person(people, "biden", *biden, samples / "people" / "obama" / "1.jpg")
    _person(people, "obama", *sorted((samples / "people" / "obama").glob("*.jpg"))[1:])
    gallery, report = enroll(people, settings)
    held = dict(report.held)
    wrong = f"biden/{len(biden) + 1}.jpg"
    assert list(held) == [wrong]
    assert held[wrong].startswith("far from biden's other photos") or "nearer obama" in held[wrong]
    assert [p.source for p in gallery.person("biden").photos] == [f"biden/{n}.jpg" for n in range(1, len(biden) + 1)]
    assert "nearer obama" in held[wrong]  # whichever folder is read first
    again, report = enroll(people, settings, accept_flagged=True)  # the operator says it is right
    assert wrong in [p.source for p in again.person("biden").photos] and again.ids() == ["biden", "obama"]
    assert dict(report.held)[wrong] == held[wrong]  # still reported; and obama now looks like "biden"
    assert dict(report.held)["obama/1.jpg"].startswith("as near biden")


def test_one_person_enrolled_twice_is_held_then_listed_as_lookalikes(samples: Path, tmp_path: Path, capsys):
    people = tmp_path / "people"
    _person(people, "obama", samples / "people" / "obama" / "1.jpg")
    _person(people, "president", samples / "probes" / "obama1.jpg")
    out = tmp_path / "g.json"
    assert main(["enroll", str(people), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "president/1.jpg: not enrolled (--accept-flagged adds it): as near obama (" in err
    assert Gallery.load(out).ids() == ["obama"]
    assert main(["enroll", str(people), "--out", str(out), "--accept-flagged"]) == 0
    capsys.readouterr()
    assert main(["people", "list", "--gallery", str(out)]) == 0
    assert "  lookalike of president (0." in capsys.readouterr().out
    assert main(["people", "list", "--gallery", str(out), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0]["id"] == "obama" and rows[0]["lookalikes"][0]["id"] == "president"


def test_real_people_are_neither_held_nor_lookalikes(samples: Path, videos: Path, settings):
    """The six sample people and the four portraits: every photo joins, nobody is anybody's lookalike."""
    gallery, report = enroll(samples / "people", settings)
    portraits, more = enroll(videos / "people", settings, gallery=gallery, update=True)
    assert report.held == [] and more.held == []
    assert lookalikes(portraits) == []
    # A stranger's face (a portrait of someone not enrolled) raises no concern as a new person.
    stranger = portraits.person("markey").photos[0].encoding
    portraits.remove("markey")
    assert photo_concerns(portraits, "markey", stranger) == []
