"""One answer per clip version, and the idempotency table keeps no personal data (through the local stack)."""

from __future__ import annotations

import json
import time

import boto3

from facepipe.local.client import receive_results, upload_clip
from tests.integration.conftest import clip_event


def _scan(table: str) -> list[dict]:
    return boto3.client("dynamodb").scan(TableName=table)["Items"]


def test_the_idempotency_table_holds_no_names_or_records(stack, device_id, clip_factory, samples):
    """The template promises no personal data there: only the claim (which execution answered), never the
    result (people's names and records)."""
    upload = upload_clip(clip_factory("kit_with_rose.jpg"), bucket=stack.outputs.bucket, device_id=device_id, seq=1)
    got = receive_results(stack.queue_url(device_id), {upload.key: upload}, timeout_s=60)
    message = got[upload.key][0]
    assert {p["id"] for p in message["people"]} == {"kit_harington", "rose_leslie"}  # a positive control
    stored = json.dumps(_scan(stack.physical_id("IdempotencyTable")))
    assert message["execution_id"] in stored  # the claim of this clip is there...
    for record in json.loads((samples / "students.json").read_text()):
        for value in (record["name"], record["major"]):
            assert value not in stored, f"{value!r} is stored in the idempotency table"  # ...and nothing else


def test_a_duplicate_that_finds_the_clip_in_progress_waits_and_answers_instead_of_publishing_an_error(
    stack, device_id, clip_factory
):
    """Enrich retries IdempotencyAlreadyInProgressError (as Extract does): a duplicate execution that meets
    another one's claim in progress waits for it rather than failing into an ``error`` result, which would
    reach the device in place of the real one."""
    bucket, table = stack.outputs.bucket, stack.physical_id("IdempotencyTable")
    upload = upload_clip(clip_factory("obama-480p.jpg"), bucket=bucket, device_id=device_id, seq=1)
    first = receive_results(stack.queue_url(device_id), {upload.key: upload}, timeout_s=60)[upload.key][0]
    assert first["status"] == "ok"
    # Make the first execution's claim look still in progress for 3 more seconds, then deliver the clip's
    # event again (EventBridge delivers at least once).
    dynamodb = boto3.client("dynamodb")
    (claim,) = [i for i in _scan(table) if first["execution_id"] in i.get("data", {}).get("S", "")]
    now = time.time()
    dynamodb.put_item(
        TableName=table,
        Item={
            "id": claim["id"],
            "status": {"S": "INPROGRESS"},
            "expiration": {"N": str(int(now) + 3600)},
            "in_progress_expiration": {"N": str(int((now + 3) * 1000))},
        },
    )
    event = clip_event(stack, upload.key)
    started = time.monotonic()
    execution = boto3.client("stepfunctions").start_execution(
        stateMachineArn=stack.outputs.state_machine_arn, name=f"again-{device_id}", input=json.dumps(event)
    )
    upload.started = started
    second = receive_results(stack.queue_url(device_id), {upload.key: upload}, timeout_s=60)[upload.key][0]
    assert second["status"] == "ok", second.get("error")
    assert second["execution_id"] == execution["executionArn"]
    assert [p["id"] for p in second["people"]] == ["obama"]


def test_the_last_resort_error_result_fits_the_schema_even_for_a_key_with_no_device(stack, result_validator):
    """FallbackError (the ASL's own error result, when even ReportError failed) is built by hand in the
    state machine: it must still be a valid result, and a key with no device segment must not break it. With
    no device there is no device queue ("unknown" is not registered): it is kept in the dead-letter queue."""
    from facepipe.local.lambdas import ServiceError

    enrich = stack.runtime.functions[stack.physical_id("EnrichFunction")]
    key = "clips/"

    def enrich_is_down_for_this_clip(function, event):
        if event.get("event", {}).get("detail", {}).get("object", {}).get("key") == key:
            raise ServiceError("ServiceException", "enrich is down")

    enrich.before_invoke = enrich_is_down_for_this_clip
    try:
        started = time.monotonic()
        boto3.client("s3").put_object(Bucket=stack.outputs.bucket, Key=key, Body=b"")
        from facepipe.local.client import Upload

        got = receive_results(stack.outputs.dead_letter_queue_url, {key: Upload(key, 0, started)}, timeout_s=60)
    finally:
        enrich.before_invoke = None
    message = got[key][0]
    result_validator.validate(message)
    assert (message["status"], message["device_id"], message["error"]["code"]) == ("error", "unknown", "internal")
