"""Student records: reading and validating the files that feed the students table.

A file is a JSON list of objects or a CSV with a header row. ``id`` and ``name`` are required; every
other field is free. Problems are reported per row with the line number a person finds them at.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from facepipe.core.contracts import PERSON_ID_PATTERN
from facepipe.core.errors import RecordsError

MAX_RECORD_FIELDS = 50


class StudentRecord(BaseModel):
    """One person's record as stored in the students table (``id`` is the person id of the gallery)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str = Field(pattern=PERSON_ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)


@dataclass
class RecordsReport:
    """Valid records, and the problems found, each as (line number, message)."""

    records: list[StudentRecord] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _json_rows(text: str, source: str) -> list[tuple[int, Any]]:
    """Decode a JSON list element by element, so each record keeps the line it starts on."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordsError(f"{source}: line {exc.lineno}: not valid JSON ({exc.msg})") from exc
    if not isinstance(data, list):
        raise RecordsError(f"{source}: expected a JSON list of records, got {type(data).__name__}")
    decoder = json.JSONDecoder()
    rows: list[tuple[int, Any]] = []
    pos = text.index("[") + 1
    while len(rows) < len(data):
        while text[pos] in " \t\r\n,":
            pos += 1
        value, end = decoder.raw_decode(text, pos)
        rows.append((text.count("\n", 0, pos) + 1, value))
        pos = end
    return rows


def _csv_rows(text: str) -> list[tuple[int, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    rows: list[tuple[int, Any]] = []
    for row in reader:
        extra = row.pop(None, None)  # type: ignore[call-overload]
        if extra:
            row["__extra__"] = extra
        rows.append((reader.line_num, row))
    return rows


def validate_records(path: Path) -> RecordsReport:
    """Read a JSON or CSV students file and report every bad row with its line number."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise RecordsError(f"{path}: no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordsError(f"{path}: unreadable ({exc})") from exc
    if not text.strip():
        raise RecordsError(f"{path}: empty file")
    rows = _json_rows(text, str(path)) if text.lstrip()[0] in "[{" else _csv_rows(text)
    report = RecordsReport()
    seen: dict[str, int] = {}
    for line, row in rows:
        where = f"line {line}" if line else "record"
        if not isinstance(row, dict):
            report.problems.append((line, f"{where}: not an object"))
            continue
        if "__extra__" in row:
            report.problems.append((line, f"{where}: more values than header columns"))
            continue
        row = {k: v for k, v in row.items() if v not in (None, "")}
        missing = [name for name in ("id", "name") if name not in row]
        if missing:
            report.problems.append((line, f"{where}: missing {' and '.join(missing)}"))
            continue
        if len(row) > MAX_RECORD_FIELDS:
            report.problems.append((line, f"{where}: {len(row)} fields, at most {MAX_RECORD_FIELDS}"))
            continue
        try:
            record = StudentRecord.model_validate(row)
        except ValueError as exc:
            first = exc.errors()[0] if hasattr(exc, "errors") else {"loc": ("?",), "msg": str(exc)}
            report.problems.append((line, f"{where}: {first['loc'][0]}: {first['msg']}"))
            continue
        if record.id in seen:
            report.problems.append((line, f"{where}: duplicate id {record.id!r} (first on line {seen[record.id]})"))
            continue
        seen[record.id] = line
        report.records.append(record)
    return report
