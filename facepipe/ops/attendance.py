"""The operator's attendance: import a timetable and rosters, close sessions on demand, and the reports (a
course's sessions on a day, one student over a term) as rows and as CSV.

A report's times are shown in the course's own time zone: a teacher reads "09:04", not UTC.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from facepipe.aws.attendance import AttendanceStore
from facepipe.aws.dynamo_records import get_records
from facepipe.core.errors import FacepipeError
from facepipe.core.moments import parse_moment
from facepipe.core.settings import Settings
from facepipe.identity.attendance import SessionAttendance
from facepipe.identity.timetable import Course, TimetableReport, validate_timetable
from facepipe.pipeline.attendance import close_sessions

CSV_COLUMNS = ("course", "date", "start", "student_id", "name", "status", "first_seen", "last_seen", "minutes")


class AttendanceError(FacepipeError):
    code = "attendance"


@dataclass(frozen=True)
class ReportRow:
    course: str
    date: str
    start: str
    student_id: str
    name: str
    status: str
    first_seen: str
    last_seen: str
    minutes: float


def _clock(text: str | None, zone: ZoneInfo | None) -> str:
    """A stored time as the course's wall clock (``HH:MM:SS``); as stored when its course is gone."""
    moment = parse_moment(text)
    if moment is None:
        return ""
    return moment.astimezone(zone).strftime("%H:%M:%S") if zone else text or ""


def read_timetable(timetable: Path, roster: Path) -> TimetableReport:
    texts = []
    for path in (timetable, roster):
        if not path.is_file():
            raise AttendanceError(f"{path}: no such file")
        data = path.read_bytes()
        try:
            texts.append(data.decode("utf-8-sig"))
        except UnicodeDecodeError as exc:
            # Guessing an encoding would mangle what it cannot tell apart; the school's spreadsheet can say.
            line = data[: exc.start].count(b"\n") + 1
            raise AttendanceError(
                f"{path}: line {line}: not UTF-8 (byte 0x{data[exc.start]:02X}; a Windows spreadsheet's plain "
                '"CSV" is cp1252): save it as "CSV UTF-8"'
            ) from None
    return validate_timetable(texts[0], texts[1], timetable_name=str(timetable), roster_name=str(roster))


class Attendance:
    """A stack's attendance, for the operator (CLI and console)."""

    def __init__(self, settings: Settings) -> None:
        if not settings.attendance_table:
            raise AttendanceError("no attendance table: this stack has none (ATTENDANCE_TABLE, or --stack NAME)")
        self.settings = settings
        self.store = AttendanceStore.from_settings(settings)

    def import_timetable(self, report: TimetableReport) -> list[str]:
        """The timetable replaced by ``report``'s courses (refused whole when it has a problem)."""
        if not report.ok:
            raise AttendanceError(f"the timetable was not imported:\n{report.describe()}")
        return self.store.replace_courses(report.courses)

    def courses(self) -> list[Course]:
        return sorted(self.store.courses(), key=lambda c: c.id)

    def close(self, now: datetime) -> list[SessionAttendance]:
        return close_sessions(now, self.settings)

    def _course(self, course_id: str) -> Course:
        for course in self.store.courses():
            if course.id == course_id:
                return course
        raise AttendanceError(f"course {course_id!r} is not in the timetable (facepipe attendance import)")

    def _names(self, ids: set[str]) -> dict[str, str]:
        if not ids or not self.settings.students_table:
            return {}
        records = get_records(self.settings.students_table, ids)
        return {i: str(r.get("name") or "") for i, r in records.items() if r}

    def sessions(self, course_id: str, day: str = "") -> list[dict[str, Any]]:
        """A course's closed sessions (on ``day``, or all), each with its rows in the course's time zone."""
        course = self._course(course_id)
        zone = ZoneInfo(course.timezone)
        found = self.store.sessions(course_id, day)
        names = self._names({p["person_id"] for s in found for p in s["people"]})

        for session in found:
            start = _clock(session["starts"], zone)[:5]
            session["start"] = start
            session["rows"] = [
                ReportRow(
                    course=course_id,
                    date=session["day"],
                    start=start,
                    student_id=p["person_id"],
                    name=names.get(p["person_id"], ""),
                    status=p["status"],
                    first_seen=_clock(p.get("first_seen"), zone),
                    last_seen=_clock(p.get("last_seen"), zone),
                    minutes=float(p.get("minutes", 0)),
                )
                # The roster first, then visitors: as the teacher's list reads.
                for p in sorted(session["people"], key=lambda p: (p["status"] == "visitor", p["person_id"]))
            ]
        return found

    def student(self, person_id: str) -> list[ReportRow]:
        """One student's sessions over the retention (a term), oldest first."""
        items = self.store.person_sessions(person_id)
        zones = {c.id: ZoneInfo(c.timezone) for c in self.store.courses()}
        names = self._names({person_id})
        rows = []
        for item in items:
            course = item["pk"].removeprefix("c#")
            day, start, _ = item["sk"].split("#", 2)
            zone = zones.get(course)

            rows.append(
                ReportRow(
                    course=course,
                    date=day,
                    start=f"{start[:2]}:{start[2:]}",
                    student_id=person_id,
                    name=names.get(person_id, ""),
                    status=item["status"],
                    first_seen=_clock(item.get("first_seen"), zone),
                    last_seen=_clock(item.get("last_seen"), zone),
                    minutes=float(item.get("minutes", 0)),
                )
            )
        return rows


# A cell a spreadsheet would read as a formula (OWASP's CSV injection): a name like "=HYPERLINK(...)" in a record.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """A text cell that would start a formula, quoted with a leading apostrophe (shown as text, not run)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def to_csv(rows: list[ReportRow]) -> str:
    """Rows as CSV with a header (a spreadsheet opens it as is: UTF-8, comma separated, CRLF lines); no cell can
    run as a formula (:func:`safe_cell`)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([safe_cell(getattr(row, c)) for c in CSV_COLUMNS])
    return out.getvalue()
