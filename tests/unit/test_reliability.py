"""Bad records, oversized results and throttling: each handled with a clear outcome, nothing lost."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from facepipe.aws.clients import client, reset_clients
from facepipe.aws.dynamo_records import get_records
from facepipe.core.contracts import MAX_RESULT_BYTES, ClipRef, EnrichRequest, Face, FrameFaces, SeenFace
from facepipe.core.settings import explicit_settings
from facepipe.pipeline.enrich import enrich_clip


@pytest.fixture()
def table(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    reset_clients()
    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName="students",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield "students"
    reset_clients()


def _request(*ids: str, faces_detected: int | None = None) -> EnrichRequest:
    """A clip of one frame in which each of ``ids`` is one track (no crops: as a crowd's smaller faces)."""
    box = [0, 10, 10, 0]
    faces = [Face(id=i, distance=0.3, box=box) for i in ids]
    frame = FrameFaces(index=0, t_ms=0, faces=faces, faces_detected=faces_detected or len(faces), ms=1.0)
    tracks = [
        SeenFace(
            id=i,
            distance=0.3,
            frames=[0],
            frame_index=0,
            box=box,
            height_px=10,
            sharpness=1,
            enrollable=False,
            crop_jpeg=None,
        )
        for i in ids
    ]
    return EnrichRequest(
        clip=ClipRef(bucket="b", key="clips/pi/000001.mp4", device_id="pi", seq=1, captured_at=None),
        frames=[frame],
        seen=tracks,
    )


def test_a_malformed_record_is_still_shown(table):
    boto3.client("dynamodb").put_item(
        TableName=table,
        Item={"id": {"S": "obama"}, "name": {"N": "44"}, "photo": {"B": b"\x00\x01"}, "tags": {"SS": ["a"]}},
    )
    message = enrich_clip(_request("obama", "ghost"), explicit_settings(students_table=table)).message
    obama, ghost = message.people
    assert obama.name == "44" and obama.record == {"id": "obama", "name": 44, "photo": "<2 bytes>", "tags": ["a"]}
    assert ghost.record is None and ghost.name is None  # no record: reported, record null
    json.dumps(message.model_dump(mode="json"))


def test_throttled_reads_are_retried(table):
    boto3.client("dynamodb").put_item(TableName=table, Item={"id": {"S": "obama"}, "name": {"S": "Barack Obama"}})
    dynamodb = client("dynamodb")
    throttled = []

    def throttle(request, **_):
        if len(throttled) < 2:
            throttled.append(request.url)
            body = json.dumps(
                {
                    "__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
                    "message": "Rate of requests exceeds the allowed throughput.",
                }
            ).encode()
            response = AWSResponse(request.url, 400, {"x-amzn-requestid": "t"}, None)
            response._content = body
            return response
        return None

    dynamodb.meta.events.register_first("before-send.dynamodb.BatchGetItem", throttle)
    try:
        assert get_records(table, ["obama"]) == {"obama": {"id": "obama", "name": "Barack Obama"}}
    finally:
        dynamodb.meta.events.unregister("before-send.dynamodb.BatchGetItem", throttle)
    assert len(throttled) == 2


def test_unprocessed_keys_are_asked_for_again(table):
    """DynamoDB may answer a BatchGetItem with some keys unprocessed (a 200, so botocore does not retry):
    get_records asks again for exactly those until none are left."""
    put = boto3.client("dynamodb").put_item
    for pid in ("obama", "biden"):
        put(TableName=table, Item={"id": {"S": pid}, "name": {"S": pid.title()}})
    dynamodb = client("dynamodb")
    asked: list[list[str]] = []

    def leave_biden_for_later(request, **_):
        keys = sorted(k["id"]["S"] for k in json.loads(request.body)["RequestItems"][table]["Keys"])
        asked.append(keys)
        if len(asked) == 1:
            body = {
                "Responses": {table: [{"id": {"S": "obama"}, "name": {"S": "Obama"}}]},
                "UnprocessedKeys": {table: {"Keys": [{"id": {"S": "biden"}}]}},
            }
            response = AWSResponse(request.url, 200, {"x-amzn-requestid": "u"}, None)
            response._content = json.dumps(body).encode()
            return response
        return None

    dynamodb.meta.events.register_first("before-send.dynamodb.BatchGetItem", leave_biden_for_later)
    try:
        found = get_records(table, ["obama", "biden"])
    finally:
        dynamodb.meta.events.unregister("before-send.dynamodb.BatchGetItem", leave_biden_for_later)
    assert asked == [["biden", "obama"], ["biden"]]
    assert found == {"obama": {"id": "obama", "name": "Obama"}, "biden": {"id": "biden", "name": "Biden"}}


def test_a_result_too_big_for_sqs_is_truncated_and_flagged(table):
    put = boto3.client("dynamodb").put_item
    ids = [f"person{i:04d}" for i in range(400)]
    for pid in ids:
        put(TableName=table, Item={"id": {"S": pid}, "name": {"S": pid}, "bio": {"S": "x" * 1000}})
    message = enrich_clip(_request(*ids), explicit_settings(students_table=table)).message
    assert message.truncated is True
    assert 0 < len(message.people) < 400
    assert len(message.model_dump_json()) <= MAX_RESULT_BYTES


def test_a_frame_over_the_face_cap_is_flagged(table):
    message = enrich_clip(_request("a", "b", faces_detected=30), explicit_settings(students_table=table)).message
    assert message.truncated is True and message.status == "ok"


def test_an_error_answer_never_shares_the_results_deduplication_id():
    """SQS drops a message whose deduplication id it saw in the last 5 minutes: if an error from a failed
    duplicate execution shared the real result's id, the real result would be dropped."""
    from facepipe.core.contracts import AnswerClaim, AnswerKind

    def claim(version: str, kind: AnswerKind, execution: str = "x1") -> AnswerClaim:
        return AnswerClaim(bucket="b", key="clips/pi/000001.mp4", version_id=version, kind=kind, execution_id=execution)

    result, error = claim("v1", AnswerKind.RESULT).dedup_id(), claim("v1", AnswerKind.ERROR).dedup_id()
    assert result != error and len(result) == len(error) == 64
    assert claim("v1", AnswerKind.RESULT, "x2").dedup_id() == result  # the same for every execution
    assert claim("v2", AnswerKind.RESULT).dedup_id() != result  # and per version


@pytest.mark.parametrize(
    ("caught", "code"),
    [
        ({"Error": "States.Timeout", "Cause": ""}, "timeout"),  # a state past its TimeoutSeconds
        ({"Error": "Lambda.TooManyRequestsException", "Cause": "Rate Exceeded."}, "throttled"),  # 20 times back in line
        ({"Error": "Lambda.Unknown", "Cause": "the runtime exited"}, "internal"),
        (
            {"Error": "ClipTooLongError", "Cause": json.dumps({"errorType": "ClipTooLongError", "errorMessage": "x"})},
            "too_long",
        ),
    ],
)
def test_a_failed_clips_error_result_names_what_failed(caught, code):
    """The error report's code says why no answer came: a timeout and a backlog past its patience are not
    `internal` errors, and a device (or an operator reading the dead-letter queue) can tell them apart."""
    from facepipe.core.contracts import ErrorRequest
    from facepipe.pipeline.enrich import report_error

    event = {"detail": {"bucket": {"name": "b"}, "object": {"key": "clips/pi-1/000007_20261202T060000000Z.mp4"}}}
    request = ErrorRequest.model_validate({"event": event, "error": caught, "execution_id": "x1"})
    message = report_error(request, explicit_settings(bucket_name="b")).message
    assert message.status == "error" and message.error is not None
    assert message.error.code == code and message.device_id == "pi-1"
