"""Closing sessions: each course's sessions that ended since the last look, their attendance computed from
the sightings of the course's rooms and stored (facepipe.aws.attendance).

Run by AttendanceFunction every few minutes (EventBridge Scheduler in AWS, the local stack's timer locally),
with the time to close up to. It looks back ``LOOKBACK`` so a missed run (the scheduler late, the function
throttled) is caught up, and a session already closed is never closed twice: closing is idempotent.

Cost per run: one query of the courses, one GetItem per session ending in the look-back; per session closed,
one query per room of its mentions (grows with the room's clips in the session) and one write per rostered
student and visitor.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from facepipe.aws import clients
from facepipe.aws.attendance import AttendanceStore
from facepipe.aws.sightings import Sightings
from facepipe.core.errors import FacepipeError
from facepipe.core.settings import Settings
from facepipe.identity.attendance import SessionAttendance, session_attendance, window

LOOKBACK = timedelta(days=2)


def store(settings: Settings) -> AttendanceStore:
    if not settings.attendance_table:
        raise FacepipeError("no attendance table: ATTENDANCE_TABLE is not set", code="bad_config")
    return AttendanceStore(
        settings.attendance_table,
        dynamodb=clients.client("dynamodb"),
        retention_days=settings.attendance_retention_days,
    )


def close_sessions(now: datetime, settings: Settings) -> list[SessionAttendance]:
    """Every session that ended in the look-back before ``now`` (aware) less ``attendance_close_after_s`` (clips
    on their way still count) and is not closed yet, closed."""
    attendance = store(settings)
    sightings = Sightings(settings.sightings_table, dynamodb=clients.client("dynamodb"))
    closed = []
    until = now - timedelta(seconds=settings.attendance_close_after_s)
    for course in attendance.courses():
        for session in course.sessions_between(until - LOOKBACK, until):
            if attendance.is_closed(session):
                continue
            start, end = window(session)
            mentions = [m for room in course.rooms for m in sightings.named_between(room, after=start, until=end)]
            result = session_attendance(session, list(course.roster), mentions)
            attendance.put_session(result, now)
            closed.append(result)
    return closed
