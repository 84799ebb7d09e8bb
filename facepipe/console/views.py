"""What the console's pages show, read from the stack: device cards, history rows, plot series.

Plain functions over :class:`facepipe.ops.operator.Operator` (blocking boto3 calls: the app runs them in a worker
thread), so the pages stay templates and the logic stays testable without a browser.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from facepipe.aws.clients import client
from facepipe.aws.devices import DeviceRow, device_rows
from facepipe.aws.dynamo_records import get_records
from facepipe.aws.sightings import Sighting
from facepipe.core.moments import parse_moment
from facepipe.ops.operator import Operator

# Cameras upload a clip every 0.5 s: one silent for this long is marked stale.
STALE_AFTER_S = 10.0
# Sightings a device card looks back over (for its latest answer and for clips that never arrived).
RECENT = 20


def data_uri(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()


@dataclass
class DeviceCard:
    device_id: str
    registered: bool
    last_seen: str | None
    stale: bool
    latest: Sighting | None
    missing: list[int] = field(default_factory=list)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def dom_id(self) -> str:
        return "device-" + "".join(c if c.isalnum() else "_" for c in self.device_id)


def registered_devices(operator: Operator) -> list[str]:
    """The registered devices' ids (the devices table's ids of refused clips are not cameras to show)."""
    return [row.device_id for row in _rows(operator) if row.registered]


def _rows(operator: Operator) -> list[DeviceRow]:
    return device_rows(operator.settings.devices_table, dynamodb=client("dynamodb"))


def device_cards(operator: Operator, now: datetime | None = None) -> list[DeviceCard]:
    """One card per registered device: its latest answered clip, whether it went quiet, clips missing."""
    now = now or datetime.now(UTC)
    cards = []
    for device in _rows(operator):
        if not device.registered:
            continue
        recent = operator.sightings.query(device.device_id, limit=RECENT)
        seqs = sorted({s.seq for s in recent if s.seq is not None})
        missing = sorted(set(range(seqs[0], seqs[-1] + 1)) - set(seqs)) if seqs else []
        last = parse_moment(device.last_seen)
        cards.append(
            DeviceCard(
                device_id=device.device_id,
                registered=True,
                last_seen=device.last_seen,
                stale=last is None or (now - last).total_seconds() > STALE_AFTER_S,
                latest=recent[0] if recent else None,
                missing=missing,
            )
        )
    people = sorted({f.id for c in cards if c.latest for f in c.latest.faces if not f.id.startswith("unknown")})
    records = get_records(operator.settings.students_table, people) if people else {}
    for card in cards:
        card.records = records
    return cards


def history(
    operator: Operator,
    *,
    person: str = "",
    device: str = "",
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 200,
) -> list[Sighting]:
    """Sightings within retention, newest first: of ``device`` (or every device), between ``start`` and
    ``end``, naming ``person`` (an id, an unknown-<n>, or part of a name; case-insensitive) when given."""
    devices = [device] if device else registered_devices(operator)
    after = start.astimezone(UTC).isoformat(timespec="milliseconds") if start else ""
    before = end.astimezone(UTC).isoformat(timespec="milliseconds") if end else "\uffff"
    wanted = person.strip().lower()
    rows: list[Sighting] = []
    for device_id in devices:
        scan_limit = limit if not wanted else 2000
        for sighting in operator.sightings.query(device_id, after=after, before=before, limit=scan_limit):
            if wanted and not any(
                wanted == f.id.lower() or (f.name and wanted in f.name.lower()) for f in sighting.faces
            ):
                continue
            rows.append(sighting)
    rows.sort(key=lambda s: s.at, reverse=True)
    return rows[:limit]


@dataclass(frozen=True)
class Series:
    name: str
    points: list[tuple[datetime, float]]


def latency_series(operator: Operator, now: datetime | None = None, hours: float = 1.0) -> list[Series]:
    """Capture-to-answer latency of each device's clips over the last ``hours``."""
    now = now or datetime.now(UTC)
    after = (now - timedelta(hours=hours)).isoformat(timespec="milliseconds")
    series = []
    for device_id in registered_devices(operator):
        points = [
            (when, latency_ms / 1000)
            for at, latency_ms in operator.sightings.latencies(device_id, after=after)
            if (when := parse_moment(at)) is not None
        ]
        series.append(Series(device_id, points))
    return series


def per_minute(series: list[Series], now: datetime | None = None, hours: float = 1.0) -> list[tuple[datetime, int]]:
    """Results per minute over the last ``hours``, every device together (minutes with none included)."""
    now = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
    minutes = [now - timedelta(minutes=m) for m in range(int(hours * 60) - 1, -1, -1)]
    counts = dict.fromkeys(minutes, 0)
    for s in series:
        for when, _ in s.points:
            minute = when.astimezone(UTC).replace(second=0, microsecond=0)
            if minute in counts:
                counts[minute] += 1
    return list(counts.items())
