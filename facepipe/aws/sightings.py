"""Who was seen, where and when: one item per answered clip in SightingsTable, for the console, and an index
of which clips named whom, for erase.

Written by the enrich stage with the first answer of each clip from a registered device (the crops, ~2 KB
each, ride in the item). Keyed by device and capture time, so the live view asks each device for what is newer
than it has shown and the history asks for a time range. Items expire with the table's TTL,
``FaceCropRetentionDays`` after the clip (they hold face crops).

Beside each sighting, one small *mention* item per id it names (a person or an ``unknown-<n>``): the clip's key
and S3 version and nothing else, kept as long as the clips are (``ClipsRetentionDays``), in the sparse index
``ByPerson`` (person id, time). Erasing a person reads their mentions, and their clusters', and deletes exactly those
clips and sightings: time proportional to *their* sightings, never to the bucket (:meth:`Sightings.forget`).
A mention's sort key is its sighting's followed by ``#@<id>``, so the device queries here skip them.

Longer than ~250 lines: one table's items (sightings and their mentions share its keys) and every read of
them.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from facepipe.aws.clients import client
from facepipe.aws.items import from_item, to_item, write_batches
from facepipe.aws.unknowns import NewFace, UnknownStore
from facepipe.core.contracts import UNKNOWN, ResultMessage, SeenFace
from facepipe.core.moments import parse_moment
from facepipe.core.settings import Settings


@dataclass(frozen=True)
class SeenEntry:
    """One face of a sighting: who (a person, ``unknown-<n>``, or ``unknown`` when too weak to keep)."""

    id: str
    name: str | None
    distance: float | None
    crop: bytes


@dataclass(frozen=True)
class Sighting:
    device_id: str
    at: str  # capture time (ISO), the sort key's first part
    seq: int | None
    key: str
    status: str
    latency_ms: float | None  # capture to answer
    faces: list[SeenEntry] = field(default_factory=list)
    error: str | None = None
    version_id: str | None = None  # the clip's S3 version: erase deletes exactly it, with no listing
    # The id of each face seen without a crop kept (a crowd beyond facepipe.identity.face_crops.MAX_SEEN_FACES):
    # not shown, but named all the same, so attendance counts them and erase finds the clip.
    uncropped: list[str] = field(default_factory=list)

    @property
    def sort_key(self) -> str:
        return f"{self.at}#{self.seq if self.seq is not None else ''}#{self.key}"

    @property
    def person_ids(self) -> list[str]:
        """Every id the clip's faces went by, with a crop kept or not."""
        return [f.id for f in self.faces] + self.uncropped


def assign_unknowns(
    seen: list[SeenFace], message: ResultMessage, store: UnknownStore | None, now: datetime
) -> list[str]:
    """The id each face seen in ``message``'s clip goes by: a person's, the ``unknown-<n>`` an enrollable
    unknown face joined, or ``unknown`` (too small or blurred to keep, or no store)."""
    ids = []
    for face in seen:
        crop = face.crop_jpeg
        if face.id != UNKNOWN or store is None or not face.enrollable or face.encoding is None or crop is None:
            ids.append(face.id)
            continue
        ids.append(
            store.assign(
                NewFace(
                    encoding=face.encoding,
                    jpeg=base64.b64decode(crop),
                    clip=message.clip.key,
                    device_id=message.device_id,
                    at=message.clip.captured_at or now.isoformat(timespec="milliseconds"),
                    height_px=face.height_px,
                    sharpness=face.sharpness,
                )
            )
        )
    return ids


def build(
    seen: list[SeenFace], message: ResultMessage, ids: list[str], now: datetime, version_id: str | None = None
) -> Sighting:
    captured = parse_moment(message.clip.captured_at)
    names = {p.id: (p.name, p.distance) for p in message.people}
    faces = [
        SeenEntry(
            id=face_id,
            name=names.get(face_id, (None, None))[0],
            distance=names.get(face_id, (None, None))[1],
            crop=base64.b64decode(face.crop_jpeg),
        )
        for face, face_id in zip(seen, ids, strict=True)
        if face.crop_jpeg is not None  # a crowd's smallest faces: named (uncropped), their crops not kept
    ]
    uncropped = [face_id for face, face_id in zip(seen, ids, strict=True) if face.crop_jpeg is None]
    return Sighting(
        device_id=message.device_id,
        at=(captured or now).isoformat(timespec="milliseconds"),
        seq=message.clip.seq,
        key=message.clip.key,
        status=message.status.value,
        latency_ms=round((now - captured).total_seconds() * 1000, 1) if captured else message.timings_ms.get("total"),
        faces=faces,
        error=message.error.message if message.error else None,
        version_id=version_id,
        uncropped=uncropped,
    )


BY_PERSON = "ByPerson"
_MENTION = "#@"


def _expiry(now: datetime, days: int) -> int:
    return int((now + timedelta(days=days)).timestamp())


def _mentions(sighting: Sighting, retention_days: int, now: datetime) -> list[dict[str, Any]]:
    """One item per id the sighting names (``unknown``, a face too weak to keep, names nobody)."""
    return [
        to_item(
            {
                "device_id": sighting.device_id,
                "at": f"{sighting.sort_key}{_MENTION}{face_id}",
                "person_id": face_id,
                "key": sighting.key,
                "version": sighting.version_id,
                "expires_at": _expiry(now, retention_days),
            }
        )
        for face_id in sorted(set(sighting.person_ids) - {UNKNOWN})
    ]


@dataclass(frozen=True)
class Mention:
    """A clip that named someone: where its sighting is (device, sort key) and the clip's key."""

    device_id: str
    at: str  # the mention's own sort key
    key: str
    version_id: str | None = None

    @property
    def sighting_key(self) -> dict[str, Any]:
        return to_item({"device_id": self.device_id, "at": self.at.rsplit(_MENTION, 1)[0]})

    @property
    def item_key(self) -> dict[str, Any]:
        return to_item({"device_id": self.device_id, "at": self.at})


def _item(sighting: Sighting, retention_days: int, now: datetime) -> dict[str, Any]:
    return to_item(
        {
            "device_id": sighting.device_id,
            "at": sighting.sort_key,
            "key": sighting.key,
            "status": sighting.status,
            "faces": [
                {"id": f.id, "name": f.name or None, "distance": f.distance, "crop": f.crop} for f in sighting.faces
            ],
            "expires_at": _expiry(now, retention_days),
            "ids": set(sighting.person_ids) or None,
            "uncropped": sighting.uncropped or None,
            "seq": sighting.seq,
            "latency_ms": sighting.latency_ms,
            "error": sighting.error[:500] if sighting.error else None,
        }
    )


def _sighting(values: dict[str, Any]) -> Sighting:
    """A sighting from its item, read by :func:`from_item`."""
    return Sighting(
        device_id=values["device_id"],
        at=values["at"].split("#", 1)[0],
        seq=values.get("seq"),
        key=values["key"],
        status=values["status"],
        latency_ms=float(values["latency_ms"]) if "latency_ms" in values else None,
        faces=[
            SeenEntry(
                id=f["id"],
                name=f.get("name"),
                distance=float(f["distance"]) if "distance" in f else None,
                crop=f["crop"],
            )
            for f in values.get("faces", [])
        ],
        error=values.get("error"),
        uncropped=list(values.get("uncropped", [])),
    )


class Sightings:
    """SightingsTable of one stack."""

    def __init__(self, table: str, *, dynamodb: Any, retention_days: int = 1, clips_retention_days: int = 7) -> None:
        self.table, self.dynamodb = table, dynamodb
        self.retention_days, self.clips_retention_days = retention_days, clips_retention_days

    @classmethod
    def from_settings(cls, settings: Settings, *, dynamodb: Any = None) -> Sightings:
        """The stack's store, with the stack's own retentions (crops: FaceCropRetentionDays; mentions, which erase
        finds clips by: ClipsRetentionDays): the one way every part builds it, so none writes another expiry."""
        return cls(
            settings.sightings_table,
            dynamodb=dynamodb or client("dynamodb"),
            retention_days=settings.face_crop_retention_days,
            clips_retention_days=settings.clips_retention_days,
        )

    def put(self, sighting: Sighting, now: datetime | None = None) -> None:
        """The sighting's mentions, then the sighting: who a clip named (what attendance counts and erase finds) is
        written first and on its own, so a sighting that cannot be written (its crops too large, a throttle that
        outlasts the retries) loses no mention."""
        now = now or datetime.now(UTC)
        self._write([{"PutRequest": {"Item": item}} for item in _mentions(sighting, self.clips_retention_days, now)])
        self._write([{"PutRequest": {"Item": _item(sighting, self.retention_days, now)}}])

    def _write(self, requests: list[dict[str, Any]]) -> None:
        write_batches(self.dynamodb, self.table, requests)

    def query(
        self, device_id: str, *, after: str = "", before: str = "\uffff", newest_first: bool = True, limit: int = 200
    ) -> list[Sighting]:
        """A device's sightings with ``after`` < capture time < ``before`` (ISO prefixes), within retention."""
        now = int(datetime.now(UTC).timestamp())
        found: list[Sighting] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "device_id = :d AND #at BETWEEN :a AND :b",
            "ExpressionAttributeNames": {"#at": "at"},
            "ExpressionAttributeValues": to_item({":d": device_id, ":a": after + "\u0000", ":b": before}),
            "FilterExpression": "attribute_not_exists(person_id)",  # sightings, not their mentions
            "ScanIndexForward": not newest_first,
            # A camera answers ~170,000 clips a day: read only as many as are wanted.
            "Limit": min(limit, 500),
        }
        while len(found) < limit:
            page = self.dynamodb.query(**kwargs)
            for item in page.get("Items", []):
                values = from_item(item)
                if values.get("expires_at", now) >= now:
                    found.append(_sighting(values))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found[:limit]

    def named_between(self, device_id: str, *, after: datetime, until: datetime) -> list[tuple[str, datetime]]:
        """(person id, capture time) of every clip of a device between two moments that named someone (an
        ``unknown-<n>`` included): the mention items only, so a class hour reads ids and times, never crops.
        Cost grows with the device's clips in the window (every item in the key range is read: ~7,200 an
        hour at two clips a second), not with the people enrolled."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "device_id = :d AND #at BETWEEN :a AND :b",
            "FilterExpression": "attribute_exists(person_id)",
            "ProjectionExpression": "#at, person_id",
            "ExpressionAttributeNames": {"#at": "at"},
            "ExpressionAttributeValues": to_item(
                {
                    ":d": device_id,
                    ":a": after.astimezone(UTC).isoformat(timespec="milliseconds"),
                    ":b": until.astimezone(UTC).isoformat(timespec="milliseconds") + "\uffff",
                }
            ),
        }
        found: list[tuple[str, datetime]] = []
        for page in self.dynamodb.get_paginator("query").paginate(**kwargs):
            for item in page.get("Items", []):
                values = from_item(item)
                moment = parse_moment(values["at"].split("#", 1)[0])
                if moment is not None:
                    found.append((values["person_id"], moment))
        return found

    def latencies(self, device_id: str, *, after: str) -> list[tuple[str, float]]:
        """(capture time, latency ms) of a device's clips since ``after``, oldest first: only those two
        attributes cross the wire (the plots read an hour of clips: ~7,200 a camera)."""
        points: list[tuple[str, float]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "device_id = :d AND #at > :a",
            "ProjectionExpression": "#at, latency_ms",
            "ExpressionAttributeNames": {"#at": "at"},
            "ExpressionAttributeValues": to_item({":d": device_id, ":a": after}),
        }
        while True:
            page = self.dynamodb.query(**kwargs)
            for item in map(from_item, page.get("Items", [])):
                if "latency_ms" in item:
                    points.append((item["at"].split("#", 1)[0], float(item["latency_ms"])))
            if "LastEvaluatedKey" not in page:
                return points
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def mentions(self, face_id: str) -> list[Mention]:
        """Every clip that named ``face_id`` within the clips' retention (the ``ByPerson`` index, every page)."""
        found: list[Mention] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": BY_PERSON,
            "KeyConditionExpression": "person_id = :p",
            "ExpressionAttributeValues": to_item({":p": face_id}),
        }
        while True:
            page = self.dynamodb.query(**kwargs)
            found.extend(
                Mention(item["device_id"], item["at"], item["key"], item.get("version"))
                for item in map(from_item, page.get("Items", []))
            )
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def relabel(self, unknown_id: str, person_id: str, name: str | None) -> int:
        """``unknown_id`` turned out to be ``person_id`` (`facepipe unknowns label`): their earlier sightings
        name them from now on (so history finds them, and erasing them erases these too)."""
        changed = 0
        now = datetime.now(UTC)
        for mention in self.mentions(unknown_id):
            found = self.dynamodb.get_item(TableName=self.table, Key=mention.sighting_key).get("Item")
            if found is not None:  # the sighting outlives its crops' retention only as the mention
                item = from_item(found)
                for face in item["faces"]:
                    if face["id"] == unknown_id:
                        face["id"] = person_id
                        if name:
                            face["name"] = name
                uncropped = [person_id if i == unknown_id else i for i in item.get("uncropped", [])]
                if uncropped:
                    item["uncropped"] = uncropped
                item["ids"] = {f["id"] for f in item["faces"]} | set(uncropped)
                self.dynamodb.put_item(TableName=self.table, Item=to_item(item))
                changed += 1
            renamed = to_item(
                {
                    "device_id": mention.device_id,
                    "at": f"{mention.at.rsplit(_MENTION, 1)[0]}{_MENTION}{person_id}",
                    "person_id": person_id,
                    "key": mention.key,
                    "version": mention.version_id,
                    "expires_at": _expiry(now, self.clips_retention_days),
                }
            )
            self._write([{"PutRequest": {"Item": renamed}}, {"DeleteRequest": {"Key": mention.item_key}}])
        return changed

    def forget(self, mentions: list[Mention]) -> int:
        """Delete the sightings these mentions point to (each holds the erased face's crop and name), then these
        mentions (erasure: the caller has deleted the clips first); returns how many sightings there were.
        Idempotent: one already gone counts as deleted.

        The other people's mentions of those clips stay: they are the other students' own record (attendance
        reads them, facepipe.pipeline.attendance), and erasing one student must not mark a classmate seen in the
        same clips absent. Such a mention outlives its clip: erasing that classmate later deletes the clip again
        (a version already gone counts as deleted) and finds no sighting."""
        sightings = {(m.device_id, m.at.rsplit(_MENTION, 1)[0]): m.sighting_key for m in mentions}
        deleted = 0
        for key in sightings.values():
            gone = self.dynamodb.delete_item(TableName=self.table, Key=key, ReturnValues="ALL_OLD")
            deleted += "Attributes" in gone
        doomed = sorted({(m.device_id, m.at) for m in mentions})
        self._write([{"DeleteRequest": {"Key": to_item({"device_id": d, "at": a})}} for d, a in doomed])
        return deleted
