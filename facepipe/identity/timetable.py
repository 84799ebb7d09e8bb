"""A school's timetable and rosters: which course meets in which room (cameras), when, and who belongs in it.

Both are CSV files with a header row, as a school's spreadsheet exports them:

- timetable: ``course,rooms,weekdays,start,end,timezone`` and optionally ``grace_minutes`` (default 10).
  ``rooms`` are device ids separated by ``;`` (a room may have several cameras), ``weekdays`` are ``Mon;Wed``
  or a range ``Mon-Fri``, ``start`` and ``end`` are ``HH:MM`` in the ``timezone`` (an IANA name such as
  ``Europe/Berlin``), which keeps a session at 09:00 local across daylight saving.
- roster: ``course,student_id``, one row per student in a course.

Every problem is reported with the line a person finds it at (as `facepipe students validate` does); the good
rows are kept only when there are none, since a half-imported timetable would mark a whole class absent.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from facepipe.core.contracts import PERSON_ID_PATTERN

DEVICE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")  # as `facepipe devices add` takes them
COURSE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TIMETABLE_COLUMNS = ("course", "rooms", "weekdays", "start", "end", "timezone")
ROSTER_COLUMNS = ("course", "student_id")
DEFAULT_GRACE_MINUTES = 10


@dataclass(frozen=True)
class Course:
    """One course of the timetable, its roster filled in from the roster file."""

    id: str
    rooms: tuple[str, ...]
    weekdays: tuple[int, ...]  # Monday is 0
    start: time
    end: time
    timezone: str
    grace_minutes: int = DEFAULT_GRACE_MINUTES
    roster: tuple[str, ...] = ()

    def sessions_between(self, after: datetime, until: datetime) -> list[Session]:
        """The sessions that end in (``after``, ``until``] (aware datetimes), oldest first."""
        zone = ZoneInfo(self.timezone)
        found = []
        day = after.astimezone(zone).date() - timedelta(days=1)
        while day <= until.astimezone(zone).date():
            if day.weekday() in self.weekdays:
                session = self.session_on(day)
                if after < session.ends <= until:
                    found.append(session)
            day += timedelta(days=1)
        return found

    def session_on(self, day: date) -> Session:
        zone = ZoneInfo(self.timezone)
        return Session(
            course=self.id,
            day=day,
            starts=datetime.combine(day, self.start, zone),
            ends=datetime.combine(day, self.end, zone),
            grace=timedelta(minutes=self.grace_minutes),
        )


@dataclass(frozen=True)
class Session:
    """One meeting of a course: its day (in the course's time zone) and when it starts and ends."""

    course: str
    day: date
    starts: datetime
    ends: datetime
    grace: timedelta

    @property
    def id(self) -> str:
        """``<course>#<YYYY-MM-DD>#<HHMM>``: sorts by day, then start."""
        return f"{self.course}#{self.day.isoformat()}#{self.starts.strftime('%H%M')}"


@dataclass
class TimetableReport:
    courses: list[Course] = field(default_factory=list)
    problems: list[tuple[str, int, str]] = field(default_factory=list)  # (file, line, message)

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        return "\n".join(f"{source}: line {line}: {message}" for source, line, message in self.problems)


def _rows(
    text: str, source: str, columns: tuple[str, ...], report: TimetableReport
) -> list[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in columns if c not in header]
    if missing:
        report.problems.append((source, 1, f"missing column(s) {', '.join(missing)} (expected {','.join(columns)})"))
        return []
    reader.fieldnames = header
    rows = []
    for row in reader:
        values = {k: (v or "").strip() for k, v in row.items() if k is not None}
        if any(values.values()):
            rows.append((reader.line_num, values))
    return rows


def _weekdays(text: str) -> tuple[int, ...]:
    days: set[int] = set()
    for part in re.split(r"[;,\s]+", text.lower()):
        if not part:
            continue
        first, _, last = part.partition("-")
        if first[:3] not in WEEKDAYS or (last and last[:3] not in WEEKDAYS):
            raise ValueError(f"weekday {part!r} is not one of Mon..Sun (or a range such as Mon-Fri)")
        a, b = WEEKDAYS.index(first[:3]), WEEKDAYS.index((last or first)[:3])
        if b < a:
            raise ValueError(f"weekday range {part!r} runs backwards")
        days.update(range(a, b + 1))
    if not days:
        raise ValueError("no weekdays")
    return tuple(sorted(days))


def _clock(text: str, column: str) -> time:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError(f"{column} {text!r} is not a time HH:MM")
    return time(int(match[1]), int(match[2]))


def _course(row: dict[str, str]) -> Course:
    if not COURSE_ID.fullmatch(row["course"]):
        raise ValueError(f"course {row['course']!r}: letters, digits, '_', '.', '-' (at most 64)")
    rooms = tuple(r for r in re.split(r"[;,\s]+", row["rooms"]) if r)
    if not rooms:
        raise ValueError("no rooms (device ids, separated by ';')")
    for room in rooms:
        if not DEVICE_ID.fullmatch(room):
            raise ValueError(f"room {room!r} is not a device id (lower case letters, digits and '-')")
    start, end = _clock(row["start"], "start"), _clock(row["end"], "end")
    if end <= start:
        raise ValueError(f"end {row['end']} is not after start {row['start']}")
    try:
        ZoneInfo(row["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"timezone {row['timezone']!r} is not an IANA time zone (such as Europe/Berlin)") from None
    grace = row.get("grace_minutes") or str(DEFAULT_GRACE_MINUTES)
    if not grace.isdigit() or int(grace) > 240:
        raise ValueError(f"grace_minutes {grace!r} is not a whole number of minutes up to 240")
    return Course(row["course"], rooms, _weekdays(row["weekdays"]), start, end, row["timezone"], int(grace))


def validate_timetable(
    timetable: str, roster: str, *, timetable_name: str = "timetable", roster_name: str = "roster"
) -> TimetableReport:
    """Both files checked row by row; the courses (with their rosters) when nothing is wrong."""
    report = TimetableReport()
    courses: dict[str, Course] = {}
    for line, row in _rows(timetable, timetable_name, TIMETABLE_COLUMNS, report):
        try:
            course = _course(row)
        except ValueError as exc:
            report.problems.append((timetable_name, line, str(exc)))
            continue
        if course.id in courses:
            report.problems.append((timetable_name, line, f"course {course.id!r} appears twice"))
            continue
        courses[course.id] = course
    members: dict[str, list[str]] = {c: [] for c in courses}
    for line, row in _rows(roster, roster_name, ROSTER_COLUMNS, report):
        course_id, student = row["course"], row["student_id"]
        if course_id not in courses:
            report.problems.append((roster_name, line, f"course {course_id!r} is not in the timetable"))
        elif not re.fullmatch(PERSON_ID_PATTERN, student):
            report.problems.append((roster_name, line, f"student_id {student!r} is not a person id"))
        elif student in members[course_id]:
            report.problems.append((roster_name, line, f"{student} is on {course_id}'s roster twice"))
        else:
            members[course_id].append(student)
    if not report.problems:
        report.courses = [replace(c, roster=tuple(sorted(members[c.id]))) for c in courses.values()]
    return report
