"""Events out, on change (facepipe.core.events): who entered or left a camera's view as each clip is answered,
and on the scheduled tick the sessions closed, who left a camera that fell silent, and which cameras did.

Sent after the device's result is built and never instead of it: a failure is logged and counted by the
caller (EventsNotSent). Cost: per clip one conditional write per id named, one read only when nobody is named
(facepipe.aws.presence), and a PutEvents only when something changed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from facepipe.aws import clients, presence
from facepipe.aws.event_bus import put_events
from facepipe.core.contracts import PublishRequest, is_unknown
from facepipe.core.events import (
    DEVICE_SILENT_AFTER_S,
    PRESENCE_GAP_S,
    AttendanceClosed,
    Detail,
    DeviceSilent,
    PersonSeen,
    UnknownSeen,
)
from facepipe.core.moments import parse_moment
from facepipe.core.settings import Settings
from facepipe.identity.attendance import SessionAttendance


def _hour(moment: datetime, settings: Settings) -> int:
    return moment.astimezone(ZoneInfo(settings.site_timezone)).hour


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def clip_events(published: PublishRequest, ids: list[str], settings: Settings) -> list[Detail]:
    """The changes one answered clip makes to its camera's view (``ids``: the id each seen face went by,
    facepipe.pipeline.enrich.record_sighting; the people of the result when the history is not kept)."""
    message = published.message
    if published.duplicate or published.refused or not settings.devices_table or not settings.event_bus_name:
        return []  # without a bus, nothing of who is in view is kept either
    at = parse_moment(message.clip.captured_at) or datetime.now(UTC)
    names = {p.id: p.name for p in message.people}
    seen = set(ids) | set(names)
    dynamodb = clients.client("dynamodb")
    table, device = settings.devices_table, message.device_id
    came, item = presence.entered(table, device, seen, at, dynamodb=dynamodb, gap_s=PRESENCE_GAP_S)
    gone = presence.left(table, device, at - timedelta(seconds=PRESENCE_GAP_S), dynamodb=dynamodb, item=item)
    details: list[Detail] = []
    for face_id in came:
        if is_unknown(face_id):
            details.append(
                UnknownSeen(
                    device_id=message.device_id, unknown_id=face_id, at=_iso(at), clip_key=message.clip.key,
                    local_hour=_hour(at, settings),
                )
            )  # fmt: skip
        else:
            details.append(
                PersonSeen(
                    device_id=message.device_id, person_id=face_id, name=names.get(face_id), change="entered",
                    at=_iso(at), clip_key=message.clip.key, local_hour=_hour(at, settings),
                )
            )  # fmt: skip
    details += _left(message.device_id, gone, settings)
    return details


def _left(device_id: str, gone: list[tuple[str, str]], settings: Settings) -> list[Detail]:
    details: list[Detail] = []
    for face_id, last in gone:
        if is_unknown(face_id):
            continue  # an unknown face leaving tells nobody anything
        moment = parse_moment(last) or datetime.now(UTC)
        details.append(
            PersonSeen(
                device_id=device_id, person_id=face_id, name=None, change="left", at=last, clip_key=None,
                local_hour=_hour(moment, settings),
            )
        )  # fmt: skip
    return details


def tick_events(now: datetime, closed: list[SessionAttendance], settings: Settings) -> list[Detail]:
    """The scheduled tick's events: sessions closed, people who left a camera that sends nothing more, and
    cameras gone silent."""
    details: list[Detail] = [
        AttendanceClosed(
            course=a.session.course, session=a.session.id, day=a.session.day.isoformat(),
            starts=_iso(a.session.starts), ends=_iso(a.session.ends), present=a.count("present"),
            late=a.count("late"), absent=a.count("absent"), visitors=a.count("visitor"),
            unknown_faces=a.unknown_faces,
        )
        for a in closed
    ]  # fmt: skip
    if not settings.devices_table or not settings.event_bus_name:
        return details
    dynamodb = clients.client("dynamodb")
    before = now - timedelta(seconds=PRESENCE_GAP_S)
    for item in presence.devices(settings.devices_table, dynamodb=dynamodb):
        if any(name.startswith(presence.IN_VIEW) for name in item):
            gone = presence.left(settings.devices_table, item["device_id"], before, dynamodb=dynamodb)
            details += _left(item["device_id"], gone, settings)
    for device_id, last in presence.silent(settings.devices_table, now, DEVICE_SILENT_AFTER_S, dynamodb=dynamodb):
        quiet = (now - datetime.fromisoformat(last)).total_seconds()
        details.append(DeviceSilent(device_id=device_id, last_seen=last, silent_for_s=round(quiet, 1)))
    return details


def send(details: list[Detail], settings: Settings) -> int:
    """Put ``details`` on the stack's bus; returns how many failed (none sent without a bus)."""
    if not details or not settings.event_bus_name:
        return 0
    return put_events(settings.event_bus_name, details, events=clients.client("events"))
