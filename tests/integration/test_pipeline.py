"""The real ASL, executed by moto, with the real handlers: from an S3 upload to the message on the queue."""

from __future__ import annotations

import json

import pytest

from facepipe.local.lambdas import ServiceError
from tests.integration.conftest import clip_event, run_clips

RECORDS = {
    "obama": {"name": "Barack Obama", "major": "Political Science", "year": "Senior"},
    "biden": {"name": "Joe Biden", "major": "History", "year": "Senior"},
    "kit_harington": {"name": "Kit Harington", "major": "Drama", "year": "Freshman"},
    "rose_leslie": {"name": "Rose Leslie", "major": "Drama", "year": "Junior"},
    "alex_lacamoire": {"name": "Alex Lacamoire", "major": "Music", "year": "Junior"},
}
# Probes whose faces are big enough to find in a 640x480 frame (the stranger in obama_and_biden.jpg is not).
CLIP_PROBES = ["obama-480p.jpg", "two_people.jpg", "kit_with_rose.jpg", "alex_lacamoire1.jpg", "johnsnow_test1.jpg"]


def test_clips_of_the_probes_name_the_expected_people_with_records(
    stack, device_id, clip_factory, expected_probes, result_validator
):
    clips = [clip_factory(probe, motion=motion) for probe in CLIP_PROBES for motion in ("pan", "zoom")]
    results = run_clips(stack, clips, device_id)
    for clip, message in zip(clips, results, strict=True):
        result_validator.validate(message)
        probe = next(p for p in CLIP_PROBES if clip.name.startswith(p.rsplit(".", 1)[0]))
        assert message["status"] == "ok", clip.name
        assert message["device_id"] == device_id
        assert sorted(p["id"] for p in message["people"]) == sorted(expected_probes[probe][0]), clip.name
        for person in message["people"]:
            assert person["record"] == {"id": person["id"], **RECORDS[person["id"]]}
            assert person["frames_seen"] >= 2 and person["distance"] < 0.54
        assert message["frames_analyzed"] == 3
        assert {"extract", "recognize", "enrich", "total"} <= message["timings_ms"].keys()
        assert message["execution_id"].startswith("arn:aws:states:")


def test_a_clip_with_nobody_gives_no_face(stack, device_id, clip_factory, result_validator):
    (message,) = run_clips(stack, [clip_factory(None)], device_id)
    result_validator.validate(message)
    assert (message["status"], message["people"], message["unknown_faces"], message["error"]) == (
        "no_face",
        [],
        0,
        None,
    )


def test_a_corrupt_clip_gives_an_error_with_the_reason(stack, device_id, result_validator):
    (message,) = run_clips(stack, [b"\x00\x01 this is not a video" * 100], device_id)
    result_validator.validate(message)
    assert message["status"] == "error"
    assert message["error"]["code"] == "undecodable"
    assert message["error"]["message"].endswith("not a video OpenCV can open (corrupt or unsupported)")
    assert message["clip"]["key"] in message["error"]["message"]


def test_a_failing_recognize_is_retried(stack, device_id, clip_factory):
    recognize = stack.runtime.functions[stack.physical_id("RecognizeFunction")]
    failures: list[str] = []

    def fail_once(function, event):
        if not failures:
            failures.append(event["clip"]["key"])
            raise ServiceError("ServiceException", "injected: the container died")

    before = recognize.invocations
    recognize.before_invoke = fail_once
    try:
        (message,) = run_clips(stack, [clip_factory("obama-480p.jpg")], device_id)
    finally:
        recognize.before_invoke = None
    assert len(failures) == 1
    assert message["status"] == "ok" and [p["id"] for p in message["people"]] == ["obama"]
    assert message["frames_analyzed"] == 3
    assert recognize.invocations - before == 2  # the clip's three frames in one invocation, retried once


def test_twenty_clips_at_once_give_exactly_twenty_results(stack, device_id, clip_factory):
    clips = [clip_factory(p) for p in ("obama-480p.jpg", "kit_with_rose.jpg", None, "two_people.jpg")] * 5
    results = run_clips(stack, clips, device_id, timeout_s=120)
    assert len(results) == 20
    assert len({m["clip"]["key"] for m in results}) == 20
    assert sorted(m["clip"]["seq"] for m in results) == list(range(1, 21))
    assert [m["status"] for m in results] == ["ok", "ok", "no_face", "ok"] * 5
    # Nothing left over: no duplicate arrived after the last expected one.
    leftover = stack.outputs and __import__("boto3").client("sqs").receive_message(
        QueueUrl=stack.queue_url(device_id), WaitTimeSeconds=1, MaxNumberOfMessages=10
    ).get("Messages", [])
    assert [json.loads(m["Body"])["device_id"] for m in leftover or []].count(device_id) == 0


@pytest.mark.parametrize("key", ["uploads/test/000001.mp4", "frames/test/000001.mp4"])
def test_objects_outside_clips_start_nothing(stack, key):
    import time

    import boto3

    before = stack.executions_started
    s3 = boto3.client("s3")
    s3.put_object(Bucket=stack.outputs.bucket, Key=key, Body=b"x")
    # A positive control after it: the trigger handles events in order, so once this one has started an
    # execution, the object above has been seen too, and started nothing.
    s3.put_object(Bucket=stack.outputs.bucket, Key="clips/outside-control/000001.mp4", Body=b"x")
    deadline = time.monotonic() + 30
    while stack.executions_started == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stack.executions_started == before + 1


def test_a_bad_name_under_clips_gets_an_error_result(stack, device_id):
    import time

    import boto3

    from facepipe.local.client import Upload, receive_results

    key = f"clips/{device_id}/holiday video.mov"
    started = time.monotonic()
    boto3.client("s3").put_object(Bucket=stack.outputs.bucket, Key=key, Body=b"x")
    got = receive_results(stack.queue_url(device_id), {key: Upload(key, 0, started)}, timeout_s=30)
    message = got[key][0]
    assert message["status"] == "error" and message["error"]["code"] == "bad_key"
    assert message["device_id"] == device_id


def test_a_duplicate_s3_event_gives_one_result(stack, device_id, clip_factory):
    """EventBridge delivers at least once: the same event twice starts two executions, and one result comes."""
    import time

    import boto3

    from facepipe.local.client import receive_results, upload_clip

    upload = upload_clip(clip_factory("obama-480p.jpg"), bucket=stack.outputs.bucket, device_id=device_id, seq=1)
    first = receive_results(stack.queue_url(device_id), {upload.key: upload}, timeout_s=60)
    assert upload.key in first
    # Deliver the same event again, as EventBridge may.
    event = clip_event(stack, upload.key)
    sfn = boto3.client("stepfunctions")
    arns = [
        sfn.start_execution(
            stateMachineArn=stack.outputs.state_machine_arn, name=f"dup-{device_id}-{n}", input=json.dumps(event)
        )["executionArn"]
        for n in range(2)
    ]
    # Both executions run to completion, and each found the clip already answered (the Duplicate state).
    deadline = time.monotonic() + 60
    described = [sfn.describe_execution(executionArn=a) for a in arns]
    while any(d["status"] == "RUNNING" for d in described) and time.monotonic() < deadline:
        time.sleep(0.1)
        described = [sfn.describe_execution(executionArn=a) for a in arns]
    assert [d["status"] for d in described] == ["SUCCEEDED", "SUCCEEDED"]
    assert all(json.loads(d["output"])["duplicate"] is True for d in described)
    again = (
        boto3.client("sqs")
        .receive_message(QueueUrl=stack.queue_url(device_id), WaitTimeSeconds=2, MaxNumberOfMessages=10)
        .get("Messages", [])
    )
    assert [m for m in again if json.loads(m["Body"])["clip"]["key"] == upload.key] == []
