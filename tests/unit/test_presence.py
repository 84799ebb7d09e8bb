"""Who is in a camera's view, for events on change: entered once, however the clips arrive; left once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from facepipe.aws import presence


@pytest.fixture()
def devices(aws_env):
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        dynamodb.create_table(
            TableName="devices",
            AttributeDefinitions=[{"AttributeName": "device_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "device_id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.put_item(TableName="devices", Item={"device_id": {"S": "cam"}, "registered_at": {"S": "x"}})
        yield dynamodb


def test_a_person_enters_once_whatever_order_the_clips_are_answered_in_and_leaves_once(devices):
    t0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def enter(ids: set[str], at: datetime) -> list[str]:
        came, _ = presence.entered("devices", "cam", ids, at, dynamodb=devices, gap_s=60)
        return came

    assert enter({"obama"}, t0 + timedelta(seconds=2)) == ["obama"]
    assert enter({"obama"}, t0) == []  # an earlier clip answered late: not a second entry
    assert enter({"obama", "biden"}, t0 + timedelta(seconds=30)) == ["biden"]
    assert presence.left("devices", "cam", t0 + timedelta(seconds=10), dynamodb=devices) == []  # seen at 0:30
    # Who left, from the item a clip's write returned: the same as from a read of it.
    _, written = presence.entered("devices", "cam", {"biden"}, t0 + timedelta(seconds=31), dynamodb=devices, gap_s=60)
    assert written is not None and "in_view#obama" in written  # the whole item as written, for `left`
    gone = presence.left("devices", "cam", t0 + timedelta(seconds=30.5), dynamodb=devices, item=written)
    assert [g[0] for g in gone] == ["obama"]  # last named at 0:30; biden at 0:31
    # Unseen for the gap: both leave, each reported once however many look.
    gone = presence.left("devices", "cam", t0 + timedelta(minutes=5), dynamodb=devices)
    assert [g[0] for g in gone] == ["biden"]  # obama was reported above
    assert presence.left("devices", "cam", t0 + timedelta(minutes=6), dynamodb=devices) == []
    assert enter({"obama"}, t0 + timedelta(minutes=7)) == ["obama"]  # back: entered again


def test_an_unregistered_device_keeps_no_one_in_view_and_silence_is_reported_once(devices):
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert presence.entered("devices", "typo-cam", {"obama"}, now, dynamodb=devices, gap_s=60) == ([], None)
    assert "Item" not in devices.get_item(TableName="devices", Key={"device_id": {"S": "typo-cam"}})
    devices.update_item(
        TableName="devices",
        Key={"device_id": {"S": "cam"}},
        UpdateExpression="SET last_seen = :t",
        ExpressionAttributeValues={":t": {"S": "2026-12-01T08:40:00+00:00"}},
    )
    assert presence.silent("devices", now, 600, dynamodb=devices) == [("cam", "2026-12-01T08:40:00+00:00")]
    assert presence.silent("devices", now + timedelta(minutes=5), 600, dynamodb=devices) == []  # once a silence
