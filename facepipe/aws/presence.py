"""Who is in each camera's view, kept on the devices table: an attribute ``in_view#<id>`` per person (or
unknown face) on the device's item, holding the capture time they were last named. Events are sent on change
(facepipe.core.events): an id **entered** when it is named after ``gap`` unseen; it **left** once unseen for
``gap``, found when the camera's next clip arrives or by the scheduled sweep (AttendanceFunction).

One conditional write per id named in a clip (the condition is what makes "entered" exact when clips of one
camera are answered at once, out of order); who left is read from the item those writes return, so a clip
with someone in it costs no read (a clip with nobody, one). The ids are data about people:
erase removes a person's from every device item (:func:`forget`: a scan of the devices table, dozens of items).
Pure Python: it runs in the enrich zip.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from facepipe.aws.items import from_item, to_item

IN_VIEW = "in_view#"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _conditional(dynamodb: Any, **kwargs: Any) -> dict[str, Any] | None:
    """The item after a conditional update (its new image), or None when the condition did not hold."""
    try:
        return dict(dynamodb.update_item(ReturnValues="ALL_NEW", **kwargs).get("Attributes", {}))
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        return None


def entered(
    table: str, device_id: str, ids: set[str], at: datetime, *, dynamodb: Any, gap_s: float
) -> tuple[list[str], dict[str, Any] | None]:
    """Mark ``ids`` in view of a registered device as of ``at``; returns those that entered, and the device's
    item as the last write left it (None when nothing was written), for :func:`left` to read."""
    came, item = [], None
    key = to_item({"device_id": device_id})
    for face_id in sorted(ids):
        names = {"#a": IN_VIEW + face_id}
        written = _conditional(
            dynamodb,
            TableName=table,
            Key=key,
            UpdateExpression="SET #a = :t",
            ConditionExpression="attribute_exists(registered_at) AND (attribute_not_exists(#a) OR #a < :gap)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=to_item({":t": _iso(at), ":gap": _iso(at - timedelta(seconds=gap_s))}),
        )
        if written is not None:
            came.append(face_id)
        else:  # still in view: keep the latest time (a clip answered late must not move it back)
            written = _conditional(
                dynamodb,
                TableName=table,
                Key=key,
                UpdateExpression="SET #a = :t",
                ConditionExpression="attribute_exists(registered_at) AND #a < :t",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_item({":t": _iso(at)}),
            )
        item = written if written is not None else item
    return came, item


def left(
    table: str, device_id: str, before: datetime, *, dynamodb: Any, item: dict[str, Any] | None = None
) -> list[tuple[str, str]]:
    """The ids of a device last named before ``before``, removed; each (id, last seen). ``item``: the device's
    item as just written (else it is read). A removal is conditional on the time read, so an id named meanwhile
    stays and two sweeps never both report it."""
    if item is None:
        item = dynamodb.get_item(TableName=table, Key=to_item({"device_id": device_id})).get("Item")
    gone = []
    for name, value in sorted(from_item(item or {}).items()):
        if not name.startswith(IN_VIEW) or not isinstance(value, str) or value >= _iso(before):
            continue
        removed = _conditional(
            dynamodb,
            TableName=table,
            Key=to_item({"device_id": device_id}),
            UpdateExpression="REMOVE #a",
            ConditionExpression="#a = :seen",
            ExpressionAttributeNames={"#a": name},
            ExpressionAttributeValues=to_item({":seen": value}),
        )
        if removed is not None:
            gone.append((name.removeprefix(IN_VIEW), value))
    return gone


def devices(table: str, *, dynamodb: Any) -> list[dict[str, Any]]:
    """Every item of the devices table (registered or refused): dozens, one scan."""
    pages = dynamodb.get_paginator("scan").paginate(TableName=table)
    return [from_item(item) for page in pages for item in page["Items"]]


def silent(table: str, now: datetime, after_s: float, *, dynamodb: Any) -> list[tuple[str, str]]:
    """Registered devices that sent nothing for ``after_s``, each reported once per silence: (device, last seen).
    ``silent_since`` marks the report; a clip after it (a newer ``last_seen``) starts a new silence."""
    quiet = []
    for item in devices(table, dynamodb=dynamodb):
        last = item.get("last_seen")
        if "registered_at" not in item or not last:
            continue
        seen = datetime.fromisoformat(last)
        if (now - seen).total_seconds() < after_s or str(item.get("silent_since", "")) >= last:
            continue
        marked = _conditional(
            dynamodb,
            TableName=table,
            Key=to_item({"device_id": item["device_id"]}),
            UpdateExpression="SET silent_since = :last",
            ConditionExpression="last_seen = :last AND (attribute_not_exists(silent_since) OR silent_since < :last)",
            ExpressionAttributeValues=to_item({":last": last}),
        )
        if marked is not None:
            quiet.append((item["device_id"], last))
    return quiet


def forget(table: str, face_id: str, *, dynamodb: Any) -> int:
    """Erase: ``face_id`` out of every device's view. Returns the devices changed."""
    changed = 0
    for item in devices(table, dynamodb=dynamodb):
        if IN_VIEW + face_id in item:
            dynamodb.update_item(
                TableName=table,
                Key=to_item({"device_id": item["device_id"]}),
                UpdateExpression="REMOVE #a",
                ExpressionAttributeNames={"#a": IN_VIEW + face_id},
            )
            changed += 1
    return changed
