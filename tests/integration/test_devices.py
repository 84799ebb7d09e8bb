"""Many cameras on one stack: `facepipe devices add|list|remove`, and a clip from an unregistered device.

The CLI runs in a process of its own with the operator's settings, as `facepipe local --env-file` writes
them (the session's environment points at the session's stack: tests/integration/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import boto3

from facepipe.local.client import upload_clip

BIN = Path(sys.executable).parent


def facepipe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "facepipe"), *args], capture_output=True, text=True, timeout=120, env=os.environ)


def _env_file(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def test_a_device_is_added_listed_and_removed_with_every_setting_it_needs(stack, tmp_path):
    settings = tmp_path / "cam-x.env"
    added = facepipe("devices", "add", "cam-x", "--env-file", str(settings))
    assert added.returncode == 0, added.stderr
    env = _env_file(settings)
    assert env["FACEPIPE_DEVICE_ID"] == "cam-x" and env["FACEPIPE_BUCKET"] == stack.outputs.bucket
    assert env["FACEPIPE_QUEUE_URL"] == stack.queue_url("cam-x")
    assert env["AWS_ENDPOINT_URL"] == stack.outputs.endpoint_url and env["AWS_ACCESS_KEY_ID"]
    sqs = boto3.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=env["FACEPIPE_QUEUE_URL"], AttributeNames=["All"])["Attributes"]
    assert attributes["FifoQueue"] == "true" and attributes["SqsManagedSseEnabled"] == "true"
    assert '"maxReceiveCount": 5' in attributes["RedrivePolicy"]  # dead letters to the stack's alarmed queue
    again = facepipe("devices", "add", "cam-x")
    assert again.returncode == 1 and "device 'cam-x' is already registered" in again.stderr
    # An env file that was there before, readable by all, is narrowed to its owner: it holds a secret key.
    wide = tmp_path / "cam-y.env"
    wide.write_text("")
    wide.chmod(0o644)
    assert facepipe("devices", "add", "cam-y", "--env-file", str(wide)).returncode == 0
    assert wide.stat().st_mode & 0o777 == 0o600 and "AWS_SECRET_ACCESS_KEY" in wide.read_text()
    assert facepipe("devices", "remove", "cam-y").returncode == 0

    listed = facepipe("devices", "list")
    assert listed.returncode == 0, listed.stderr
    (row,) = [line.split() for line in listed.stdout.splitlines() if line.startswith("cam-x ")]
    assert row[1:] == ["yes", "-", "0", "0", "0"]  # registered, never seen, no clips, no refusals, queue empty

    removed = facepipe("devices", "remove", "cam-x")
    assert removed.returncode == 0, removed.stderr
    assert not [line for line in facepipe("devices", "list").stdout.splitlines() if line.startswith("cam-x ")]
    assert not sqs.list_queues(QueueNamePrefix=stack.outputs.queue_prefix + "cam-x").get("QueueUrls")
    gone = facepipe("devices", "remove", "cam-x")
    assert gone.returncode == 1 and "device 'cam-x' is not registered" in gone.stderr


def test_a_bad_device_id_is_refused_by_name_and_creates_nothing(stack):
    for bad, reason in [
        ("cam x", "1-64 letters, digits, '_' or '-'"),
        ("cam.x", "1-64 letters, digits, '_' or '-'"),
        ("c" * 60, "is too long for this stack's queue names: at most"),
    ]:
        done = facepipe("devices", "add", bad)
        assert done.returncode == 1 and reason in done.stderr, done.stderr
    queues = boto3.client("sqs").list_queues(QueueNamePrefix=stack.outputs.queue_prefix).get("QueueUrls", [])
    assert not [q for q in queues if "cam" in q.rsplit("/", 1)[-1]]


def test_without_a_stack_the_command_says_what_to_set(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in ("DEVICES_TABLE",)}
    done = subprocess.run(
        [str(BIN / "facepipe"), "devices", "list"], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 1
    assert "no stack to manage: DEVICES_TABLE" in done.stderr and "--stack NAME" in done.stderr


def test_a_clip_from_an_unregistered_device_is_refused_counted_and_visible(stack, clip_factory):
    """No queue is made for it (no sprawl from a typo), nothing is published or dead-lettered, its execution
    fails as UnregisteredDevice (the template alarms on failed executions), and `facepipe devices list`
    shows the id with its refused clips."""
    upload = upload_clip(clip_factory("obama-480p.jpg"), bucket=stack.outputs.bucket, device_id="pi-typo", seq=1)
    sfn = boto3.client("stepfunctions")
    deadline, failed = time.monotonic() + 60, None
    while failed is None and time.monotonic() < deadline:
        for execution in sfn.list_executions(stateMachineArn=stack.outputs.state_machine_arn, statusFilter="FAILED")[
            "executions"
        ]:
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            if upload.key in described["input"]:
                failed = described
        time.sleep(0.2)
    assert failed is not None, "no failed execution for the unregistered device's clip"
    assert failed["error"] == "UnregisteredDevice"
    sqs = boto3.client("sqs")
    assert not sqs.list_queues(QueueNamePrefix=stack.outputs.queue_prefix + "pi-typo").get("QueueUrls")
    listed = facepipe("devices", "list").stdout
    (row,) = [line.split() for line in listed.splitlines() if line.startswith("pi-typo ")]
    assert row[1] == "NO" and row[3:] == ["0", "1", "-"]  # not registered, no clips, one refused, no queue
