"""AttendanceTable: the timetable's courses (with rosters) and each closed session's attendance.

Items (``pk``, ``sk``), all small and without any face data:

- ``courses`` / ``<course>``: rooms, weekdays, times, time zone, grace, roster (student ids).
- ``c#<course>`` / ``<YYYY-MM-DD>#<HHMM>#``: a closed session's summary (counts only), written last, so a
  session with a summary is complete.
- ``c#<course>`` / ``<YYYY-MM-DD>#<HHMM>#<person id>``: one person's presence; ``person_id`` is set, so the
  ``ByPerson`` index lists a student's sessions over a term and erase finds every item naming them.
- ``closing`` / ``through``: the moment every session ending before it was closed (where the next run looks back
  from, so a long outage is caught up; facepipe.pipeline.attendance).

Session items expire ``AttendanceRetentionDays`` after the session (a term by default). Costs: closing a session
writes one item per rostered student and visitor; a course report reads one partition range; erase reads the
person's index entries and rewrites the rosters that name them (a few hundred courses at most).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from datetime import time as clock
from typing import Any

from facepipe.aws.clients import client
from facepipe.aws.items import from_item, to_item, write_batches
from facepipe.core.settings import Settings
from facepipe.identity.attendance import SessionAttendance
from facepipe.identity.timetable import Course, Session

COURSES = "courses"
BY_PERSON = "ByPerson"
CLOSING = {"pk": "closing", "sk": "through"}


def _course_item(course: Course) -> dict[str, Any]:
    return to_item(
        {
            "pk": COURSES,
            "sk": course.id,
            "rooms": list(course.rooms),
            "weekdays": list(course.weekdays),
            "start": course.start.strftime("%H:%M"),
            "end": course.end.strftime("%H:%M"),
            "timezone": course.timezone,
            "grace_minutes": course.grace_minutes,
            "roster": list(course.roster),
        }
    )


def _course(values: dict[str, Any]) -> Course:
    return Course(
        id=values["sk"],
        rooms=tuple(values["rooms"]),
        weekdays=tuple(int(d) for d in values["weekdays"]),
        start=clock.fromisoformat(values["start"]),
        end=clock.fromisoformat(values["end"]),
        timezone=values["timezone"],
        grace_minutes=int(values["grace_minutes"]),
        roster=tuple(values.get("roster") or ()),
    )


def _moment(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="milliseconds") if value else None


class AttendanceStore:
    def __init__(self, table: str, *, dynamodb: Any, retention_days: int = 120) -> None:
        self.table, self.dynamodb, self.retention_days = table, dynamodb, retention_days

    @classmethod
    def from_settings(cls, settings: Settings, *, dynamodb: Any = None) -> AttendanceStore:
        """The stack's store, sessions kept AttendanceRetentionDays: the one way every part builds it."""
        return cls(
            settings.attendance_table,
            dynamodb=dynamodb or client("dynamodb"),
            retention_days=settings.attendance_retention_days,
        )

    # --- the timetable ------------------------------------------------------------------------------
    def replace_courses(self, courses: list[Course]) -> list[str]:
        """The timetable becomes ``courses``: each written, and courses no longer in it removed (their closed
        sessions stay). Returns the removed courses' ids."""
        gone = sorted({c.id for c in self.courses()} - {c.id for c in courses})
        requests = [{"PutRequest": {"Item": _course_item(c)}} for c in courses]
        requests += [{"DeleteRequest": {"Key": to_item({"pk": COURSES, "sk": c})}} for c in gone]
        self._write(requests)
        return gone

    def courses(self) -> list[Course]:
        return [_course(v) for v in self._query({"pk": COURSES})]

    # --- sessions -----------------------------------------------------------------------------------
    def closed_through(self) -> datetime | None:
        """Every session ending before this was closed (None: never run)."""
        item = self.dynamodb.get_item(TableName=self.table, Key=to_item(CLOSING)).get("Item")
        return datetime.fromisoformat(from_item(item)["at"]) if item else None

    def mark_closed_through(self, moment: datetime) -> None:
        self.dynamodb.put_item(TableName=self.table, Item=to_item(CLOSING | {"at": moment.isoformat()}))

    def is_closed(self, session: Session) -> bool:
        key = to_item({"pk": f"c#{session.course}", "sk": self._sk(session, "")})
        return "Item" in self.dynamodb.get_item(TableName=self.table, Key=key, ProjectionExpression="pk")

    def put_session(self, attendance: SessionAttendance, now: datetime) -> None:
        """Every person's item, then the summary that marks the session closed."""
        session = attendance.session
        expires = int((session.ends + timedelta(days=self.retention_days)).timestamp())
        pk = f"c#{session.course}"
        items = [
            to_item(
                {
                    "pk": pk,
                    "sk": self._sk(session, p.person_id),
                    "person_id": p.person_id,
                    "status": p.status,
                    "first_seen": _moment(p.first_seen),
                    "last_seen": _moment(p.last_seen),
                    "minutes": p.minutes,
                    "clips": p.clips,
                    "expires_at": expires,
                }
            )
            for p in attendance.people
        ]
        self._write([{"PutRequest": {"Item": item}} for item in items])
        summary = {
            "pk": pk,
            "sk": self._sk(session, ""),
            "course": session.course,
            "day": session.day.isoformat(),
            "starts": _moment(session.starts),
            "ends": _moment(session.ends),
            "unknown_faces": attendance.unknown_faces,
            "closed_at": _moment(now),
            "expires_at": expires,
        }
        summary |= {status: attendance.count(status) for status in ("present", "late", "absent", "visitor")}
        self.dynamodb.put_item(TableName=self.table, Item=to_item(summary))

    def sessions(self, course: str, day: str = "") -> list[dict[str, Any]]:
        """Closed sessions of a course (``day``: ``YYYY-MM-DD``, a month ``YYYY-MM``, or every one), each a
        summary with its ``people``: the roster's presence, then visitors."""
        summaries: dict[str, dict[str, Any]] = {}
        people: dict[str, list[dict[str, Any]]] = {}
        for values in self._query({"pk": f"c#{course}"}, begins=day):
            prefix, _, person = values["sk"].rpartition("#")
            if person:
                people.setdefault(prefix, []).append(values)
            else:
                summaries[prefix] = values | {"id": f"{course}#{prefix}"}
        return [s | {"people": people.get(k, [])} for k, s in sorted(summaries.items())]

    def person_sessions(self, person_id: str) -> list[dict[str, Any]]:
        """Every session item naming ``person_id`` (any course), oldest first."""
        items = self._query({"person_id": person_id}, index=BY_PERSON)
        return sorted(items, key=lambda v: (v["sk"], v["pk"]))

    # --- erase --------------------------------------------------------------------------------------
    def erase_person(self, person_id: str) -> int:
        """Delete every session item naming ``person_id`` and take them off every roster; returns the items
        changed. Run again, it finds nothing left."""
        keys = [to_item({"pk": v["pk"], "sk": v["sk"]}) for v in self._query({"person_id": person_id}, index=BY_PERSON)]
        self._write([{"DeleteRequest": {"Key": key}} for key in keys])
        changed = len(keys)
        for course in self.courses():
            if person_id in course.roster:
                roster = [s for s in course.roster if s != person_id]
                self.dynamodb.update_item(
                    TableName=self.table,
                    Key=to_item({"pk": COURSES, "sk": course.id}),
                    UpdateExpression="SET roster = :r",
                    ExpressionAttributeValues=to_item({":r": roster}),
                )
                changed += 1
        return changed

    # --- plumbing -----------------------------------------------------------------------------------
    @staticmethod
    def _sk(session: Session, person_id: str) -> str:
        return f"{session.day.isoformat()}#{session.starts.strftime('%H%M')}#{person_id}"

    def _query(self, key: dict[str, str], *, begins: str = "", index: str | None = None) -> list[dict[str, Any]]:
        ((name, value),) = key.items()
        condition = "#k = :k" + (" AND begins_with(sk, :b)" if begins else "")
        values = {":k": value} | ({":b": begins} if begins else {})
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": {"#k": name},
            "ExpressionAttributeValues": to_item(values),
        }
        if index:
            kwargs["IndexName"] = index
        now = int(datetime.now(UTC).timestamp())
        pages = self.dynamodb.get_paginator("query").paginate(**kwargs)
        items = (from_item(item) for page in pages for item in page.get("Items", []))
        return [v for v in items if v.get("expires_at", now) >= now]

    def _write(self, requests: list[dict[str, Any]]) -> None:
        write_batches(self.dynamodb, self.table, requests)
