"""Who a clip named, on real boto3 calls to moto: every named face gets its mention whether or not its crop was
kept (a full classroom names more than the 16 largest), and a sighting that cannot be written loses no mention
(issue 32 item 2: attendance counts mentions, erase finds clips by them)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from facepipe.aws.sightings import Sightings, build
from facepipe.core.contracts import SeenFace
from facepipe.local.template import StackTemplate

TABLE = "sightings"
AT = datetime(2026, 12, 7, 9, 5, tzinfo=UTC)


@pytest.fixture()
def table(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        props = StackTemplate.load().properties("SightingsTable")
        dynamodb.create_table(
            TableName=TABLE,
            **{k: props[k] for k in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes") if k in props},
            BillingMode="PAY_PER_REQUEST",
        )
        yield Sightings(TABLE, dynamodb=dynamodb, retention_days=1, clips_retention_days=7)


def _classroom(count: int, cropped: int, crop: bytes = b"jpeg") -> tuple[list[SeenFace], list[str]]:
    """``count`` named students in one clip, the ``cropped`` largest carrying a crop (as face_crops keeps them)."""
    seen = [
        SeenFace(
            id=f"s{n:02d}", distance=0.4, frames=[0, 1, 2], frame_index=0, box=[0, 40, 40, 0], height_px=40,
            sharpness=100.0, enrollable=False, crop_jpeg=base64.b64encode(crop).decode() if n < cropped else None,
        )
        for n in range(count)
    ]  # fmt: skip
    return seen, [face.id for face in seen]


def _message(key: str):  # type: ignore[no-untyped-def]
    from facepipe.core.contracts import ResultMessage

    return ResultMessage.model_validate(
        {
            "schema_version": 3,
            "device_id": "room-12",
            "clip": {"bucket": "b", "key": key, "seq": 7, "captured_at": AT.isoformat(timespec="milliseconds")},
            "status": "ok",
            "people": [],
            "unknown_faces": 0,
            "frames": [],
            "frames_analyzed": 3,
            "timings_ms": {},
            "error": None,
            "execution_id": None,
        }
    )


def test_every_named_student_gets_a_mention_however_many_carry_a_crop(table: Sightings):
    seen, ids = _classroom(30, cropped=16)
    key = "clips/room-12/000007_20261207T090500000Z.mp4"
    sighting = build(seen, _message(key), ids, AT)
    assert len(sighting.faces) == 16 and len(sighting.uncropped) == 14 and len(sighting.person_ids) == 30
    table.put(sighting, AT)
    for student in ids:
        assert [m.key for m in table.mentions(student)] == [key], student
    (stored,) = table.query("room-12", after="2026-12-07")
    assert sorted(stored.person_ids) == sorted(ids)


def test_a_sighting_that_cannot_be_written_loses_no_mention(table: Sightings):
    seen, ids = _classroom(20, cropped=16, crop=b"x" * 40_000)  # 16 crops of 40 KB: over DynamoDB's 400 KB item
    key = "clips/room-12/000008_20261207T090500500Z.mp4"
    with pytest.raises(Exception, match="Item size"):
        table.put(build(seen, _message(key), ids, AT), AT)
    for student in ids:
        assert [m.key for m in table.mentions(student)] == [key], student
