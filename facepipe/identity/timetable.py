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
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from facepipe.core.contracts import PERSON_ID_PATTERN

DEVICE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")  # as `facepipe devices add` takes them
COURSE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# How a weekday may be written: its three letters, its whole name, and the common four-letter forms ("Monkey" is
# not Monday: a prefix is not a name).
_DAY_NAMES = {
    name: n
    for n, names in enumerate(
        [
            ("mon", "monday"),
            ("tue", "tues", "tuesday"),
            ("wed", "weds", "wednesday"),
            ("thu", "thur", "thurs", "thursday"),
            ("fri", "friday"),
            ("sat", "saturday"),
            ("sun", "sunday"),
        ]
    )
    for name in names
}
# A cell longer than this is not a timetable's (a pasted document, a broken export): refused by line.
MAX_CELL_CHARS = 1000
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
        """The course's meeting on ``day``, as long as the timetable says on any day: on a day the clocks change,
        a start in the skipped hour begins when the clocks read it again (an hour later), and the end is the start
        plus the session's length (so a 01:00-02:00 session lasts an hour on both changeover nights)."""
        zone = ZoneInfo(self.timezone)
        starts = datetime.combine(day, self.start, zone).astimezone(UTC).astimezone(zone)
        length = datetime.combine(day, self.end) - datetime.combine(day, self.start)
        return Session(
            course=self.id,
            day=day,
            starts=starts,
            ends=(starts.astimezone(UTC) + length).astimezone(zone),
            grace=timedelta(minutes=self.grace_minutes),
        )


@dataclass(frozen=True)
class Session:
    """One meeting of a course: its day (in the course's time zone) and when it starts and ends (in that zone, for
    display and its id; compare and subtract them in UTC or against other zones' times: Python compares two times
    of one zone by their wall clocks, which the autumn changeover repeats)."""

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
    try:
        header = [h.strip().lower() for h in reader.fieldnames or []]
    except csv.Error as exc:
        report.problems.append((source, 1, f"not a CSV header ({exc})"))
        return []
    twice = sorted({h for h in header if h and header.count(h) > 1})
    if twice:
        # Which of the two would count is a guess: refused.
        report.problems.append((source, 1, f"column(s) {', '.join(twice)} appear more than once"))
        return []
    missing = [c for c in columns if c not in header]
    if missing:
        report.problems.append((source, 1, f"missing column(s) {', '.join(missing)} (expected {','.join(columns)})"))
        return []
    reader.fieldnames = header
    rows = []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # a field past csv's own limit, a stray quote
            report.problems.append((source, reader.line_num, f"unreadable CSV ({exc})"))
            return []
        values = {k: (v or "").strip() for k, v in row.items() if k is not None}
        long = [k for k, v in values.items() if len(v) > MAX_CELL_CHARS]
        if long:
            report.problems.append((source, reader.line_num, f"{long[0]}: longer than {MAX_CELL_CHARS} characters"))
            continue
        if any(values.values()):
            rows.append((reader.line_num, values))
    return rows


def _weekdays(text: str) -> tuple[int, ...]:
    days: set[int] = set()
    for part in re.split(r"[;,\s]+", text.lower()):
        if not part:
            continue
        first, _, last = part.partition("-")
        if first not in _DAY_NAMES or (last and last not in _DAY_NAMES):
            raise ValueError(f"weekday {part!r} is not one of Mon..Sun (or a range such as Mon-Fri)")
        a, b = _DAY_NAMES[first], _DAY_NAMES[last or first]
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
