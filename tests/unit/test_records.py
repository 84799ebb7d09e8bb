"""Students files: every bad row is reported with its line number."""

from __future__ import annotations

import pytest

from facepipe.cli.main import main
from facepipe.core.errors import RecordsError
from facepipe.identity.records import validate_records


def test_sample_records_are_valid(samples):
    report = validate_records(samples / "students.json")
    assert report.ok
    assert [r.id for r in report.records][:2] == ["obama", "biden"]
    assert report.records[0].model_dump()["major"] == "Political Science"


def test_json_problems_have_line_numbers(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(
        '[\n  {"id": "a", "name": "A"},\n  {"id": "a", "name": "Again"},\n  {"name": "No id"},\n'
        '  "text",\n  {"id": "b c", "name": "B"},\n  {"id": "d", "name": "D", "year": 2}\n]\n'
    )
    report = validate_records(path)
    assert [r.id for r in report.records] == ["a", "d"]
    assert report.problems == [
        (3, "line 3: duplicate id 'a' (first on line 2)"),
        (4, "line 4: missing id"),
        (5, "line 5: not an object"),
        (6, "line 6: id: String should match pattern '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'"),
    ]


def test_csv_problems_have_line_numbers(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("id,name,major\nx,X,Art\ny,,Law\nz,Z,Art,extra\nx,X2,Art\n")
    report = validate_records(path)
    assert [r.id for r in report.records] == ["x"]
    assert report.problems == [
        (3, "line 3: missing name"),
        (4, "line 4: more values than header columns"),
        (5, "line 5: duplicate id 'x' (first on line 2)"),
    ]


def test_unreadable_files(tmp_path):
    with pytest.raises(RecordsError, match="no such file"):
        validate_records(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text('[{"id": "a",\n "name": }]')
    with pytest.raises(RecordsError, match=r"bad.json: line 2: not valid JSON"):
        validate_records(bad)
    obj = tmp_path / "obj.json"
    obj.write_text('{"id": "a"}')
    with pytest.raises(RecordsError, match="expected a JSON list of records, got dict"):
        validate_records(obj)


def test_cli_validate_exit_codes(samples, tmp_path, capsys):
    assert main(["students", "validate", str(samples / "students.json")]) == 0
    bad = tmp_path / "s.csv"
    bad.write_text("id,name\n,Nobody\n")
    assert main(["students", "validate", str(bad)]) == 1
    assert "s.csv: line 2: missing id" in capsys.readouterr().out
