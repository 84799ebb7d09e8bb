"""The devices a stack serves: a registry in DynamoDB, a FIFO results queue and an IAM principal each.

A device is registered with `facepipe devices add` (the operator's credentials): its item in the devices
table, its own results queue ``<stack>-<device_id>.fifo`` (ordered, deduplicated per clip version,
dead letters to the stack's one alarmed dead-letter queue) and, unless the fleet brings its own credentials,
an IAM user tagged ``facepipe-device-id=<device_id>`` holding the stack's ``DevicePolicy``, which grants by
that tag its own upload prefix and its own queue, nothing else. The state machine publishes a clip's result
to the queue of the clip's device; enrich counts each clip on the device's item (last seen, clips today)
and refuses, counted on an item of its own, a clip from a device that is not registered.

Against the local stack (``render_policy``) the policy's ``${aws:PrincipalTag/...}`` is written out per
device, because moto cannot substitute policy variables; AWS substitutes them itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError
from facepipe_protocol import DEVICE_ID, DEVICE_ID_RULE, DEVICE_TAG, results_queue_name

from facepipe.aws.items import from_item, to_item
from facepipe.aws.stack import StackOutputs
from facepipe.core.errors import FacepipeError

TAG_VARIABLE = "${aws:PrincipalTag/" + DEVICE_TAG + "}"
# SQS queue names: at most 80 characters, ".fifo" included.
MAX_QUEUE_NAME = 80
# Each device's results queue: as the one shared queue was (one result per clip, ordered per device).
QUEUE_ATTRIBUTES = {
    "FifoQueue": "true",
    "ContentBasedDeduplication": "false",
    "VisibilityTimeout": "30",
    "MessageRetentionPeriod": "3600",
    "SqsManagedSseEnabled": "true",
}
MAX_RECEIVE_COUNT = 5


class DeviceError(FacepipeError):
    code = "device"


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d")


def _now() -> datetime:
    return datetime.now(UTC)


def record_clip(table: str, device_id: str, *, dynamodb: Any, now: datetime | None = None) -> bool:
    """Count a clip on its device's item (last seen, clips today); False, and the clip counted as refused on
    an item without registration, when the device is not registered. One write a clip."""
    moment = now or _now()
    today, yesterday = _day(moment), _day(moment - timedelta(days=1))
    values = {":now": moment.isoformat(timespec="seconds"), ":zero": 0, ":one": 1}
    try:
        dynamodb.update_item(
            TableName=table,
            Key=to_item({"device_id": device_id}),
            UpdateExpression="SET last_seen = :now, #today = if_not_exists(#today, :zero) + :one REMOVE #yesterday",
            ConditionExpression="attribute_exists(registered_at)",
            ExpressionAttributeNames={"#today": f"clips_{today}", "#yesterday": f"clips_{yesterday}"},
            ExpressionAttributeValues=to_item(values),
        )
        return True
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
    dynamodb.update_item(
        TableName=table,
        Key=to_item({"device_id": device_id}),
        UpdateExpression="SET last_refused = :now, #today = if_not_exists(#today, :zero) + :one REMOVE #yesterday",
        ExpressionAttributeNames={"#today": f"refused_{today}", "#yesterday": f"refused_{yesterday}"},
        ExpressionAttributeValues=to_item(values),
    )
    return False


def queue_url(url_prefix: str, device_id: str) -> str:
    """A device's results queue URL from the stack's prefix (``https://sqs.<region>.../<account>/<stack>-``)."""
    return f"{url_prefix}{device_id}.fifo"


class Devices:
    """The operator's view of a stack's devices (``clients``: a function from service name to client)."""

    def __init__(self, ref: StackOutputs, clients: Any) -> None:
        self.ref = ref
        self.sqs, self.dynamodb, self.iam = clients("sqs"), clients("dynamodb"), clients("iam")

    def queue_name(self, device_id: str) -> str:
        if not DEVICE_ID.fullmatch(device_id):
            raise DeviceError(f"device id {device_id!r}: {DEVICE_ID_RULE}")
        name = results_queue_name(self.ref.queue_prefix, device_id)
        if len(name) > MAX_QUEUE_NAME:
            longest = MAX_QUEUE_NAME - len(self.ref.queue_prefix) - len(".fifo")
            raise DeviceError(
                f"device id {device_id!r} is too long for this stack's queue names: at most {longest} characters"
            )
        return name

    def _item(self, device_id: str) -> dict[str, Any] | None:
        got = self.dynamodb.get_item(TableName=self.ref.devices_table, Key=to_item({"device_id": device_id}))
        return from_item(got["Item"]) if "Item" in got else None

    def _dead_letter_arn(self) -> str:
        got = self.sqs.get_queue_attributes(QueueUrl=self.ref.dead_letter_queue_url, AttributeNames=["QueueArn"])
        return str(got["Attributes"]["QueueArn"])

    def add(self, device_id: str, *, credentials: bool = True) -> dict[str, str]:
        """Register ``device_id``: its item, its queue and (with ``credentials``) its IAM user and key. Returns
        every setting `facepipe-device` needs. Adding a registered device again is an error naming it."""
        name = self.queue_name(device_id)
        item = self._item(device_id)
        if item and "registered_at" in item:
            raise DeviceError(
                f"device {device_id!r} is already registered (`facepipe devices remove {device_id}` first)"
            )
        attributes = QUEUE_ATTRIBUTES | {
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": self._dead_letter_arn(), "maxReceiveCount": MAX_RECEIVE_COUNT}
            )
        }
        url = self.sqs.create_queue(QueueName=name, Attributes=attributes, tags={DEVICE_TAG: device_id})["QueueUrl"]
        env = {
            "FACEPIPE_DEVICE_ID": device_id,
            "FACEPIPE_BUCKET": self.ref.bucket,
            "FACEPIPE_QUEUE_URL": url,
            "AWS_DEFAULT_REGION": self.ref.region,
        }
        if self.ref.endpoint_url:
            env["AWS_ENDPOINT_URL"] = self.ref.endpoint_url
        if credentials:
            env |= self._add_user(device_id)
        self.dynamodb.put_item(
            TableName=self.ref.devices_table,
            Item=to_item(
                {
                    "device_id": device_id,
                    "registered_at": _now().isoformat(timespec="seconds"),
                    "queue_url": url,
                    "iam_user": self.user_name(device_id) if credentials else "",
                }
            ),
        )
        return env

    @staticmethod
    def user_name(device_id: str) -> str:
        return f"facepipe-device-{device_id}"

    def _add_user(self, device_id: str) -> dict[str, str]:
        user = self.user_name(device_id)
        self.iam.create_user(UserName=user, Tags=[{"Key": DEVICE_TAG, "Value": device_id}])
        if self.ref.local:
            policy = self.iam.get_policy(PolicyArn=self.ref.device_policy_arn)["Policy"]
            version = self.iam.get_policy_version(
                PolicyArn=self.ref.device_policy_arn, VersionId=policy["DefaultVersionId"]
            )["PolicyVersion"]["Document"]
            document = version if isinstance(version, str) else json.dumps(version)
            rendered = unquote(document).replace(TAG_VARIABLE, device_id)
            self.iam.put_user_policy(UserName=user, PolicyName="DevicePolicy", PolicyDocument=rendered)
        else:
            self.iam.attach_user_policy(UserName=user, PolicyArn=self.ref.device_policy_arn)
        key = self.iam.create_access_key(UserName=user)["AccessKey"]
        return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}

    def remove(self, device_id: str) -> None:
        """Retire a device: its queue (and any results in it), its IAM user and its registration. Later clips
        from it are refused and counted."""
        name = self.queue_name(device_id)
        item = self._item(device_id)
        if not item or "registered_at" not in item:
            raise DeviceError(f"device {device_id!r} is not registered")
        try:
            url = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
            self.sqs.delete_queue(QueueUrl=url)
        except ClientError as exc:
            if "NonExistentQueue" not in exc.response["Error"]["Code"]:
                raise
        user = item.get("iam_user")
        if user:
            self._remove_user(user)
        self.dynamodb.delete_item(TableName=self.ref.devices_table, Key=to_item({"device_id": device_id}))

    def _remove_user(self, user: str) -> None:
        try:
            for key in self.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
                self.iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
            for name in self.iam.list_user_policies(UserName=user)["PolicyNames"]:
                self.iam.delete_user_policy(UserName=user, PolicyName=name)
            for attached in self.iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]:
                self.iam.detach_user_policy(UserName=user, PolicyArn=attached["PolicyArn"])
            self.iam.delete_user(UserName=user)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "NoSuchEntity":
                raise

    def list(self, now: datetime | None = None) -> list[DeviceRow]:
        """Every registered device and every unregistered id that sent clips, with today's counts and the
        depth of each device's queue."""
        return [
            replace(row, queue_depth=self._depth(row.queue_url)) if row.queue_url else row
            for row in device_rows(self.ref.devices_table, dynamodb=self.dynamodb, now=now)
        ]

    def _depth(self, url: str) -> int | None:
        try:
            got = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        except ClientError:
            return None
        return int(got["Attributes"]["ApproximateNumberOfMessages"])


@dataclass(frozen=True)
class DeviceRow:
    device_id: str
    registered: bool
    last_seen: str | None
    clips_today: int
    refused_today: int
    queue_url: str | None = None  # None: unregistered
    queue_depth: int | None = None  # None: not asked (device_rows), no queue, or unreadable


def device_rows(table: str, *, dynamodb: Any, now: datetime | None = None) -> list[DeviceRow]:
    """The devices table as rows (registered first, then ids refused), from one scan: what `facepipe devices
    list` and the console's live view show."""
    today = f"_{_day(now or _now())}"
    rows = []
    pages = dynamodb.get_paginator("scan").paginate(TableName=table)
    for item in (from_item(item) for page in pages for item in page["Items"]):
        registered = "registered_at" in item
        rows.append(
            DeviceRow(
                device_id=item["device_id"],
                registered=registered,
                last_seen=item.get("last_seen", item.get("last_refused")),
                clips_today=item.get(f"clips{today}", 0),
                refused_today=item.get(f"refused{today}", 0),
                queue_url=item.get("queue_url") if registered else None,
            )
        )
    return sorted(rows, key=lambda r: (not r.registered, r.device_id))
