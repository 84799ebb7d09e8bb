"""Faults injected in the local stack, each survived: nothing lost, nothing doubled."""

from __future__ import annotations

import json
import os
import signal
import time

import boto3
import pytest

from facepipe.identity.gallery import Gallery
from facepipe.local.client import ResultCollector, upload_clip
from facepipe.local.stack import local_stack
from tests.integration.conftest import run_clips, talking_to


def test_a_recognize_worker_dies_mid_clip_and_the_clip_is_still_answered(stack, device_id, clip_factory):
    recognize = stack.runtime.functions[stack.physical_id("RecognizeFunction")]
    killed: list[int] = []

    def kill_a_worker(function, event):
        if not killed:
            pid = function.pool.pids()[0]
            os.kill(pid, signal.SIGKILL)  # the container dies under the invocation
            killed.append(pid)
            time.sleep(0.3)

    recognize.before_invoke = kill_a_worker
    try:
        (message,) = run_clips(stack, [clip_factory("two_people.jpg")], device_id)
    finally:
        recognize.before_invoke = None
    assert killed and killed[0] not in recognize.pool.pids()  # a fresh pool took over
    assert message["status"] == "ok"
    assert sorted(p["id"] for p in message["people"]) == ["biden", "obama"]
    assert message["frames_analyzed"] == 3


def test_the_results_queue_unavailable_is_retried_then_dead_lettered(gallery_path, clip_factory):
    with local_stack(workers=1) as isolated, talking_to(isolated):
        out = isolated.outputs
        isolated.load(gallery=Gallery.load(gallery_path))
        isolated.add_device("lonely")
        sqs = boto3.client("sqs")
        sqs.delete_queue(QueueUrl=isolated.queue_url("lonely"))  # the device's results queue goes away
        upload = upload_clip(clip_factory("obama-480p.jpg"), bucket=out.bucket, device_id="lonely", seq=1)
        deadline = time.monotonic() + 60
        held: list[dict] = []
        while not held and time.monotonic() < deadline:
            held = sqs.receive_message(QueueUrl=out.dead_letter_queue_url, WaitTimeSeconds=2).get("Messages", [])
        assert held, "the result was lost"
        message = json.loads(held[0]["Body"])
        assert message["clip"]["key"] == upload.key and message["status"] == "ok"
        # The dead letter is sent, then the execution enters its Fail state: it may read RUNNING for a moment.
        sfn, statuses = boto3.client("stepfunctions"), ["RUNNING"]
        deadline = time.monotonic() + 20
        while "RUNNING" in statuses and time.monotonic() < deadline:
            time.sleep(0.2)
            statuses = [e["status"] for e in sfn.list_executions(stateMachineArn=out.state_machine_arn)["executions"]]
        assert statuses == ["FAILED"]  # which the template alarms on


def test_a_hundred_clips_flushed_at_a_quota_of_one_are_every_one_answered_ok(gallery_path, clip_factory):
    """A camera flushing its spool after an outage, in small: one worker and a concurrency quota of one per
    function (a new account runs 10 at once across dozens of cameras), 100 clips uploaded at once. Invocations
    past the quota are throttled; each task waits out throttling with jitter, and a clip still throttled after
    that is put back in line (ThrottledClipsQueue, its pipe modelled by the local bridge) instead of answered
    `internal`. The delay before a clip's next try is 30-120 s in the template, 1-4 s here."""
    delays = {"ThrottledClipDelayMinSeconds": "1", "ThrottledClipDelayMaxSeconds": "4"}
    with local_stack(workers=1, concurrency=1, parameters=delays) as isolated, talking_to(isolated):
        isolated.load(gallery=Gallery.load(gallery_path))
        isolated.add_device("backlog")
        clips = [clip_factory("obama-480p.jpg"), clip_factory(None)]
        collector = ResultCollector(isolated.queue_url("backlog"))
        try:
            uploads = [
                upload_clip(clips[i % 2], bucket=isolated.outputs.bucket, device_id="backlog", seq=i + 1)
                for i in range(100)
            ]
            assert collector.wait([u.key for u in uploads], timeout_s=600), "a clip got no result"
            statuses = [collector.results[u.key][0]["status"] for u in uploads]
            errors = [collector.results[u.key][0]["error"] for u in uploads if collector.results[u.key][0]["error"]]
            assert errors == [] and statuses == ["ok", "no_face"] * 50
            assert collector.duplicates == 0
        finally:
            collector.stop()
        functions = isolated.runtime.functions.values()
        assert sum(f.throttled for f in functions) > 0, "the quota never throttled: the test proves nothing"
        print(
            f"throttled invocations: {sum(f.throttled for f in functions)}; "
            f"clips put back in line: {isolated.executions_piped}"
        )


@pytest.mark.slow
def test_six_hundred_clips_over_three_devices_give_six_hundred_results(stack, clip_factory):
    """Five minutes of camera (600 clips) from three devices in turn, uploaded as fast as the stack takes
    them; each device's results on its own queue, none on another's, none dead-lettered."""
    clips = [clip_factory(p) for p in ("obama-480p.jpg", None, "kit_with_rose.jpg")]
    devices = [f"load-pi-{n}" for n in range(3)]
    for device in devices:
        stack.add_device(device)
    collectors = {device: ResultCollector(stack.queue_url(device)) for device in devices}
    try:
        sent = [
            (
                devices[i % 3],
                upload_clip(clips[i % 3], bucket=stack.outputs.bucket, device_id=devices[i % 3], seq=i + 1),
            )
            for i in range(600)
        ]
        keys = [upload.key for _, upload in sent]
        for device, collector in collectors.items():
            assert collector.wait([u.key for d, u in sent if d == device], timeout_s=900)
        assert len(set(keys)) == 600
        messages = [collectors[device].results[upload.key][0] for device, upload in sent]
        errors = [m["error"] for m in messages if m["status"] == "error"]
        assert [m["status"] for m in messages] == ["ok", "no_face", "ok"] * 200, errors
        # Every execution has finished (so any second result would have been published by now)...
        sfn = boto3.client("stepfunctions")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=stack.outputs.state_machine_arn)
            if not any(e["status"] == "RUNNING" for page in pages for e in page["executions"]):
                break
            time.sleep(0.5)
        else:
            pytest.fail("executions still running")
        for device, collector in collectors.items():
            collector.wait(["never-published"], timeout_s=2)  # ...and received: one more receive round at least
            assert collector.duplicates == 0
            assert set(collector.results) == {u.key for d, u in sent if d == device}  # its own, each once
        dead = boto3.client("sqs").get_queue_attributes(
            QueueUrl=stack.outputs.dead_letter_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        assert dead["Attributes"]["ApproximateNumberOfMessages"] == "0"
    finally:
        for collector in collectors.values():
            collector.stop()
