"""Who attended one session of a course, from who the room's cameras named and when.

The input is the session's *mentions*: (person id, capture time) of every clip a camera of the course's rooms
named someone in, between the session's start and end. The rules, which a teacher can check by hand:

- A rostered student named at least once is **present**; **late** when first named after the start plus the
  course's grace minutes; never named, **absent**.
- Someone named who is not on the roster is listed apart (**visitor**), and each ``unknown-<n>`` (an unknown
  face the console keeps, facepipe.aws.unknowns) seen counts once as an unknown face.
- **Minutes in view**: a person's clips joined into stretches wherever consecutive clips are at most
  ``GAP_S`` apart (a student looking down for a few seconds is still in class), each stretch lasting from its
  first clip to the end of its last (``CLIP_S`` long).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from facepipe.core.contracts import is_unknown
from facepipe.identity.timetable import Session

GAP_S = 60.0
CLIP_S = 0.5


@dataclass(frozen=True)
class Presence:
    """One person's attendance of a session."""

    person_id: str
    status: str  # present | late | absent | visitor
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    minutes: float = 0.0
    clips: int = 0


@dataclass(frozen=True)
class SessionAttendance:
    session: Session
    people: list[Presence]  # the roster in id order, then visitors
    unknown_faces: int

    def count(self, status: str) -> int:
        return sum(1 for p in self.people if p.status == status)


def minutes_in_view(times: list[datetime]) -> float:
    """Total length of the stretches ``times`` (sorted) form, in minutes."""
    if not times:
        return 0.0
    total = 0.0
    first = last = times[0]
    for moment in times[1:]:
        if (moment - last).total_seconds() > GAP_S:
            total += (last - first).total_seconds() + CLIP_S
            first = moment
        last = moment
    total += (last - first).total_seconds() + CLIP_S
    return round(total / 60.0, 1)


def session_attendance(session: Session, roster: list[str], mentions: list[tuple[str, datetime]]) -> SessionAttendance:
    """The session's attendance from its mentions (those outside its start and end are ignored)."""
    seen: dict[str, list[datetime]] = {}
    unknown: set[str] = set()
    for person_id, at in mentions:
        if not session.starts <= at <= session.ends:
            continue
        if is_unknown(person_id):  # mentions name kept ones only: unknown-<n>
            unknown.add(person_id)
        else:
            seen.setdefault(person_id, []).append(at)
    late_after = session.starts + session.grace

    def presence(person_id: str, status: str) -> Presence:
        times = sorted(seen.get(person_id, []))
        if not times:
            return Presence(person_id, status)
        if status == "present" and times[0] > late_after:
            status = "late"
        return Presence(person_id, status, times[0], times[-1], minutes_in_view(times), len(times))

    members = sorted(set(roster))
    people = [presence(p, "present" if p in seen else "absent") for p in members]
    people += [presence(p, "visitor") for p in sorted(set(seen) - set(members))]
    return SessionAttendance(session, people, len(unknown))


def window(session: Session) -> tuple[datetime, datetime]:
    """The capture times to read for a session: its start to its end (a clip of the last half second included)."""
    return session.starts, session.ends + timedelta(seconds=CLIP_S)
