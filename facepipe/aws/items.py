"""DynamoDB items to and from plain Python, by boto3's own TypeSerializer/TypeDeserializer: the stores build
dicts of str, int, float, bytes, bool, lists, dicts and sets, and read the same back.

Two differences from the raw types are smoothed here: DynamoDB numbers are Decimal (a float goes in through
its shortest repr, so 0.4123 stays 0.4123; an integral one comes back as int), and binary comes back wrapped in
``Binary`` (unwrapped to bytes). Pure Python: it runs in the enrich zip.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return Decimal(str(value))  # its shortest repr; numpy floats too
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Binary):
        return bytes(value.value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    if isinstance(value, set):
        return {_from_dynamo(v) for v in value}
    return value


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    """An item in DynamoDB's typed form; attributes (and map entries) that are None are left out."""
    return {k: _serializer.serialize(_to_dynamo(v)) for k, v in values.items() if v is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    """A typed DynamoDB item as plain Python (numbers int or float, binary as bytes, string sets as sets)."""
    return {k: _from_dynamo(_deserializer.deserialize(v)) for k, v in item.items()}


def write_batches(dynamodb: Any, table: str, requests: list[dict[str, Any]], attempts: int = 8) -> None:
    """Put and delete requests in BatchWriteItem calls of 25, unprocessed ones sent again with backoff."""
    for start in range(0, len(requests), 25):
        pending = {table: requests[start : start + 25]}
        for attempt in range(attempts):
            pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if not pending:
                break
            time.sleep(min(1.0, 0.05 * 2**attempt))
        else:
            raise RuntimeError(f"{table}: DynamoDB left {len(pending[table])} writes unprocessed")
