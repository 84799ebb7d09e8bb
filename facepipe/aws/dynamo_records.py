"""DynamoDB: the students table (batch reads for enrich, writes for `facepipe students import`)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import Binary, TypeDeserializer

from facepipe.aws.clients import client, resource
from facepipe.identity.records import StudentRecord

_deserializer = TypeDeserializer()
BATCH_GET_LIMIT = 100


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; results are JSON, so make them int or float."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Binary | bytes | bytearray):
        # Records are shown on a screen and travel as JSON: binary attributes have no place there.
        return f"<{len(bytes(value.value if isinstance(value, Binary) else value))} bytes>"
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_plain(v) for v in value]
    return value


def get_records(table: str, ids: Iterable[str], *, max_rounds: int = 8) -> dict[str, dict[str, Any]]:
    """Records for ``ids`` in as few BatchGetItem calls as possible; unprocessed keys are retried with backoff."""
    wanted = sorted(set(ids))
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), BATCH_GET_LIMIT):
        request: dict[str, Any] = {table: {"Keys": [{"id": {"S": i}} for i in wanted[start : start + BATCH_GET_LIMIT]]}}
        for attempt in range(max_rounds):
            response = client("dynamodb").batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(table, []):
                record = _plain({k: _deserializer.deserialize(v) for k, v in item.items()})
                found[str(record.get("id"))] = record
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(min(1.0, 0.05 * 2**attempt))
        else:
            raise RuntimeError(f"DynamoDB kept {len(request.get(table, {}).get('Keys', []))} keys unprocessed")
    return found


def put_records(records: Iterable[StudentRecord], *, table: str, dynamodb: Any = None) -> int:
    """Write records (replacing any with the same id); returns how many were written.

    boto3's batch writer sends them 25 at a time and resends what DynamoDB left unprocessed. ``dynamodb``: a
    DynamoDB resource of your own, else the default.
    """
    count = 0
    with (dynamodb or resource("dynamodb")).Table(table).batch_writer(overwrite_by_pkeys=["id"]) as batch:
        for record in records:
            # DynamoDB takes Decimal, never float: go through JSON with Decimal floats.
            plain = json.loads(record.model_dump_json(), parse_float=Decimal)
            batch.put_item(Item={k: v for k, v in plain.items() if v is not None})
            count += 1
    return count


def set_name(table: str, person_id: str, name: str, *, dynamodb: Any = None) -> None:
    """Give ``person_id``'s record this name, keeping every other field of it (an ``UpdateItem``: enroll and
    label name people; the record's major, year and the rest come from `facepipe students import`)."""
    (dynamodb or client("dynamodb")).update_item(
        TableName=table,
        Key={"id": {"S": person_id}},
        UpdateExpression="SET #name = :name",
        ExpressionAttributeNames={"#name": "name"},
        ExpressionAttributeValues={":name": {"S": name}},
    )
