"""Closing sessions: each course's sessions that ended since the last look, their attendance computed from
the sightings of the course's rooms and stored (facepipe.aws.attendance).

Run by AttendanceFunction every few minutes (EventBridge Scheduler in AWS, the local stack's timer locally),
with the time to close up to. It looks back from where the last run that finished left off (less ``OVERLAP``),
so a missed run, or days of them (the scheduler off, the function failing), is caught up; never further than the
clips' retention, past which the sightings a session is counted from are gone (such a session is left open and
logged: counting it would mark everyone absent). The first run looks back ``LOOKBACK``. A session already closed
is never closed twice: closing is idempotent.

Cost per run: one query of the courses, one GetItem per session ending since the last run (a few, at a run every
5 minutes), two for the mark; per session closed, one query per room of its mentions (grows with the room's clips
in the session) and one write per rostered student and visitor.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from facepipe.aws.attendance import AttendanceStore
from facepipe.aws.sightings import Sightings
from facepipe.core.errors import FacepipeError
from facepipe.core.settings import Settings
from facepipe.identity.attendance import SessionAttendance, session_attendance, window

LOOKBACK = timedelta(days=2)
OVERLAP = timedelta(hours=1)
log = logging.getLogger("facepipe.attendance")


def store(settings: Settings) -> AttendanceStore:
    if not settings.attendance_table:
        raise FacepipeError("no attendance table: ATTENDANCE_TABLE is not set", code="bad_config")
    return AttendanceStore.from_settings(settings)


def close_sessions(now: datetime, settings: Settings) -> list[SessionAttendance]:
    """Every session that ended in the look-back before ``now`` (aware) less ``attendance_close_after_s`` (clips
    on their way still count) and is not closed yet, closed."""
    attendance = store(settings)
    sightings = Sightings.from_settings(settings)
    closed = []
    until = now - timedelta(seconds=settings.attendance_close_after_s)
    oldest = until - timedelta(days=settings.clips_retention_days)  # older sessions' sightings are gone
    mark = attendance.closed_through()
    since = max(oldest, (mark - OVERLAP) if mark is not None else until - LOOKBACK)
    if mark is not None and mark - OVERLAP < oldest:
        log.error(
            "attendance: no session closed since %s, past the clips' retention (%d days): sessions that ended "
            "before %s cannot be counted and stay open",
            mark.isoformat(),
            settings.clips_retention_days,
            oldest.isoformat(),
        )
    for course in attendance.courses():
        for session in course.sessions_between(since, until):
            if attendance.is_closed(session):
                continue
            start, end = window(session)
            mentions = [m for room in course.rooms for m in sightings.named_between(room, after=start, until=end)]
            result = session_attendance(session, list(course.roster), mentions)
            attendance.put_session(result, now)
            closed.append(result)
    if mark is None or until > mark:  # only forward (`attendance close --now` may look at a past moment)
        attendance.mark_closed_through(until)  # only once every session before it is closed
    return closed
