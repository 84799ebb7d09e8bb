"""Least privilege, enforced: the stack runs with IAM authorization on (`facepipe local --enforce-iam`).

Every part is its own principal, as in AWS: each function's workers its template role (the roles SAM
generates), the state machine's service calls its role, each device an IAM user holding only the template's
``DevicePolicy`` and tagged with its device id, and the test itself the operator. moto then authorizes
every request, so a handler calling an API its role lacks, or a device needing more than its policy, fails
here. What moto can check (facepipe/local/iam.py says it in full): S3 and SQS against the literal resource;
other services by action only; policy variables are not substituted, so `facepipe devices add` against the
local stack renders the device policy per device with its id written in
(``${aws:PrincipalTag/facepipe-device-id}`` -> ``pi-a``): what AWS substitutes from the user's tag.

The enforced stack runs in its own process: moto's authorization switch is process-wide.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from facepipe_device.config import DeviceConfig
from facepipe_device.service import DeviceService
from facepipe_device.sources import FileSource
from facepipe_device.uploader import clip_key

from facepipe.local.client import receive_results, upload_clip
from facepipe.local.endpoint import Endpoint
from facepipe.local.stack import free_port
from tests.integration.test_device import device_cli, lose_first_put_answer

ROOT = Path(__file__).resolve().parents[2]


def _env_file(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


@pytest.fixture(scope="module")
def enforced(gallery_path, samples, tmp_path_factory):
    """`facepipe local --enforce-iam` with device pi-a registered at start and pi-b, pi-c registered by
    `facepipe devices add` from another process with the operator's settings; yields every env file."""
    folder = tmp_path_factory.mktemp("enforced")
    env_file = folder / "env"
    log = (folder / "stack.log").open("w")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "facepipe"),
            "local",
            "--port",
            str(free_port()),
            "--workers",
            "1",
            "--enforce-iam",
            "--gallery",
            str(gallery_path),
            "--students",
            str(samples / "students.json"),
            "--env-file",
            str(env_file),
            "--device",
            "pi-a",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=folder,
        env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
    )
    deadline = time.monotonic() + 180
    while "Ctrl-C stops it." not in (folder / "stack.log").read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the enforced stack did not start:\n{(folder / 'stack.log').read_text()[-3000:]}")
        time.sleep(0.2)
    try:
        operator = _env_file(env_file)
        for device in ("pi-b", "pi-c"):
            added = subprocess.run(
                [
                    str(Path(sys.executable).parent / "facepipe"),
                    "devices",
                    "add",
                    device,
                    "--env-file",
                    str(folder / f"env.{device}"),
                ],
                env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | operator,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert added.returncode == 0, added.stderr
            assert oct((folder / f"env.{device}").stat().st_mode & 0o777) == "0o600"  # it holds a secret key
        yield {"operator": operator} | {d: _env_file(folder / f"env.{d}") for d in ("pi-a", "pi-b", "pi-c")}
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _client(settings: dict[str, str], service: str):
    return Endpoint.from_env(settings).client(service)


def _denied(call) -> bool:
    """The call is refused for want of a grant (HTTP 403), not for anything else."""
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_the_device_uploads_once_after_a_lost_answer_and_gets_its_results_with_only_the_device_policy(
    enforced, clip_factory, tmp_path, monkeypatch
):
    """Upload, a retry after a lost response (the first put reached S3), receive and delete results: all
    with DevicePolicy alone. The retry must not need s3:GetObject (the device has none) to know the first
    attempt got there; and every stage's role must cover what its code calls, or a result says so."""
    device = enforced["pi-a"]
    for key, value in device.items():
        monkeypatch.setenv(key, value)
    folder = tmp_path / "clips"
    folder.mkdir()
    for i, probe in enumerate(["kit_with_rose.jpg", None]):
        shutil.copy(clip_factory(probe), folder / f"{i:02d}.mp4")
    config = DeviceConfig(
        device_id="pi-a",
        bucket=device["FACEPIPE_BUCKET"],
        queue_url=device["FACEPIPE_QUEUE_URL"],
        endpoint_url=device["AWS_ENDPOINT_URL"],
        spool_dir=tmp_path / "spool",
        result_timeout_s=90,
        stale_after_s=90,
        upload_workers=1,
        poll_wait_s=1,
    ).validate()
    out = io.StringIO()
    service = DeviceService(config, out=out, json_lines=True)
    service.uploader.base_delay_s, service.uploader.max_delay_s = 0.05, 0.2
    lost = lose_first_put_answer(service.uploader.s3)
    summary = service.run(FileSource(folder, realtime=False).clips())
    assert lost == ["put"]
    listed = _client(enforced["operator"], "s3").list_object_versions(
        Bucket=device["FACEPIPE_BUCKET"], Prefix="clips/pi-a/"
    )
    keys = [v["Key"] for v in listed["Versions"]]
    # One object version per clip (the operator sees what the device cannot): the retry found the first
    # attempt's object rather than storing the clip again and starting a second execution.
    assert len(keys) == len(set(keys)) == 2, f"a clip was stored twice: {sorted(keys)}"
    assert (summary.uploaded, summary.results, summary.missing) == (2, 2, 0), out.getvalue()
    shown = [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]
    assert [m["status"] for m in shown] == ["ok", "no_face"], shown
    assert sorted(p["name"] for p in shown[0]["people"]) == ["Kit Harington", "Rose Leslie"]
    assert service.uploader.already_there == 1


def test_a_device_cannot_write_under_another_devices_prefix_or_read_clips(enforced):
    a, bucket = enforced["pi-a"], enforced["pi-a"]["FACEPIPE_BUCKET"]
    s3 = _client(a, "s3")
    s3.put_object(Bucket=bucket, Key="clips/pi-a/000001_probe.mp4", Body=b"x", IfNoneMatch="*")  # own: allowed
    assert _denied(lambda: s3.put_object(Bucket=bucket, Key="clips/pi-b/000001_x.mp4", Body=b"x"))
    assert _denied(lambda: s3.put_object(Bucket=bucket, Key="gallery/gallery.json", Body=b"{}"))
    assert _denied(lambda: s3.get_object(Bucket=bucket, Key="clips/pi-a/000001_probe.mp4"))
    assert _denied(lambda: s3.head_object(Bucket=bucket, Key="clips/pi-a/000001_probe.mp4"))
    assert _denied(lambda: s3.list_objects_v2(Bucket=bucket))


def test_a_device_cannot_send_results_or_touch_another_queue(enforced):
    a, b = enforced["pi-a"], enforced["pi-b"]
    sqs = _client(a, "sqs")
    sqs.receive_message(QueueUrl=a["FACEPIPE_QUEUE_URL"], WaitTimeSeconds=0)  # its own results: allowed
    send = lambda: sqs.send_message(  # noqa: E731
        QueueUrl=a["FACEPIPE_QUEUE_URL"], MessageBody="{}", MessageGroupId="pi-b", MessageDeduplicationId="x"
    )
    assert _denied(send)
    assert a["FACEPIPE_QUEUE_URL"] != b["FACEPIPE_QUEUE_URL"]
    assert _denied(lambda: sqs.receive_message(QueueUrl=b["FACEPIPE_QUEUE_URL"], WaitTimeSeconds=0))
    assert _denied(lambda: sqs.get_queue_attributes(QueueUrl=b["FACEPIPE_QUEUE_URL"], AttributeNames=["All"]))
    dead_letters = enforced["operator"]["DEAD_LETTER_QUEUE_URL"]
    assert _denied(lambda: sqs.receive_message(QueueUrl=dead_letters, WaitTimeSeconds=0))


def test_three_devices_at_once_each_get_exactly_their_own_results_in_capture_order(enforced, clip_factory, tmp_path):
    """Three `facepipe-device run` processes upload at the same time, each with only its own credentials and
    polling its own queue: every clip's result reaches its own device once, in capture order, and nothing
    reaches the dead-letter queue."""
    probes = {
        "pi-a": ["obama-480p.jpg", None, "kit_with_rose.jpg", "obama-480p.jpg"],
        "pi-b": ["kit_with_rose.jpg", "obama-480p.jpg", None, None],
        "pi-c": [None, "two_people.jpg", "obama-480p.jpg", "kit_with_rose.jpg"],
    }
    runs = {}
    for device, clips in probes.items():
        folder = tmp_path / device
        folder.mkdir()
        for i, probe in enumerate(clips):
            shutil.copy(clip_factory(probe), folder / f"{i:02d}.mp4")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | enforced[device]
        runs[device] = subprocess.Popen(
            device_cli(folder, tmp_path / f"spool-{device}", enforced[device]["AWS_ENDPOINT_URL"], "--json"),
            env=env | {"FACEPIPE_POLL_WAIT_S": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    for device, run in runs.items():
        out, err = run.communicate(timeout=240)
        assert run.returncode == 0, err[-3000:]
        shown = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        assert [m["device_id"] for m in shown] == [device] * 4, err[-2000:]
        assert [m["clip"]["seq"] for m in shown] == [1, 2, 3, 4]  # capture order, each once
        assert [m["status"] for m in shown] == ["no_face" if p is None else "ok" for p in probes[device]]
    operator = enforced["operator"]
    dead = _client(operator, "sqs").get_queue_attributes(
        QueueUrl=operator["DEAD_LETTER_QUEUE_URL"], AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert dead["Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_a_function_role_missing_a_grant_fails_the_clip(enforced, clip_factory):
    """A negative control: take the S3 read grant from the extract role and the clip gets an error result
    naming the refused call, so the runs above really ran on the roles' grants."""
    operator, device = enforced["operator"], enforced["pi-b"]
    iam, role = _client(operator, "iam"), "ExtractFunctionRole"
    saved = {
        name: iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]
    }
    reading = [name for name, document in saved.items() if "s3:GetObject" in json.dumps(document)]
    assert reading
    for name in reading:
        iam.delete_role_policy(RoleName=role, PolicyName=name)
    try:
        key = clip_key("pi-b", 1, "2026-11-25T10:15:00.000Z", "mp4")
        _client(device, "s3").put_object(
            Bucket=device["FACEPIPE_BUCKET"], Key=key, Body=clip_factory(None).read_bytes()
        )
        sqs, queue = _client(device, "sqs"), device["FACEPIPE_QUEUE_URL"]
        deadline, message = time.monotonic() + 60, None
        while message is None and time.monotonic() < deadline:
            for received in sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", []):
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=received["ReceiptHandle"])
                if json.loads(received["Body"])["clip"]["key"] == key:
                    message = json.loads(received["Body"])
    finally:
        for name, document in saved.items():
            text = document if isinstance(document, str) else json.dumps(document)
            iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=text)
    assert message is not None, "no result"
    assert message["status"] == "error"
    assert "(AccessDenied) when calling the GetObject operation" in message["error"]["message"]


def test_enrich_keeps_an_unknown_face_and_the_sighting_with_its_own_role_only(enforced, videos, tmp_path):
    """The console's copies are written by EnrichFunction's generated role alone (a DynamoDB CRUD grant on the
    two tables, s3:PutObject under unknowns/ only): a stranger's clip from pi-b gives a cluster, its crop in
    the bucket and a sighting, as the operator then sees."""
    from facepipe.bench.devset import cut_clips

    device, operator = enforced["pi-b"], enforced["operator"]
    (clip,) = cut_clips(videos / "clips" / "stranger_b.mp4", tmp_path, 1)
    upload = upload_clip(clip, bucket=device["FACEPIPE_BUCKET"], device_id="pi-b", seq=77, s3=_client(device, "s3"))
    got = receive_results(device["FACEPIPE_QUEUE_URL"], {upload.key: upload}, timeout_s=90, sqs=_client(device, "sqs"))
    assert got[upload.key][0]["unknown_faces"] == 1
    dynamodb, s3 = _client(operator, "dynamodb"), _client(operator, "s3")
    clusters = [
        i for i in dynamodb.scan(TableName=operator["UNKNOWNS_TABLE"])["Items"] if i["id"]["S"].startswith("unknown-")
    ]
    assert any(c["crops"]["L"] and c["devices"]["SS"] == ["pi-b"] for c in clusters), clusters
    crops = s3.list_objects_v2(Bucket=operator["FACEPIPE_BUCKET"], Prefix="unknowns/").get("Contents", [])
    assert crops, "the crop was not kept"
    seen = dynamodb.query(
        TableName=operator["SIGHTINGS_TABLE"],
        KeyConditionExpression="device_id = :d",
        ExpressionAttributeValues={":d": {"S": "pi-b"}},
    )["Items"]
    assert [i["key"]["S"] for i in seen if i["key"]["S"] == upload.key and "person_id" not in i] == [upload.key]
    # ...and erase's index of it (one BatchWriteItem with the sighting), under enrich's own role too.
    (mention,) = [i for i in seen if i["key"]["S"] == upload.key and "person_id" in i]
    assert mention["person_id"]["S"].startswith("unknown-")


def test_the_erase_sweep_runs_on_its_narrowed_grants_and_recognize_cannot_write_a_job_record(enforced, clip_factory):
    """The sweep, enforced: its machine's role writes only its map runs' records, the recognize function's role only
    the sweep's results (erase-jobs/<job>/sweep/), and the operator everything else: an erase with the sweep
    completes on exactly those grants. Then a principal holding exactly RecognizeFunctionRole's policies (the clip
    decoder an attacker would reach) may write a sweep result but not a job's record, which decides whom an erase
    erases."""
    operator, device = enforced["operator"], enforced["pi-c"]
    bucket = operator["FACEPIPE_BUCKET"]
    key = clip_key("pi-c", 5, "2026-11-25T10:15:00.000Z", "mp4")
    _client(device, "s3").put_object(Bucket=bucket, Key=key, Body=clip_factory("obama-480p.jpg").read_bytes())
    erased = subprocess.run(
        [str(Path(sys.executable).parent / "facepipe"), "people", "erase", "lin_manuel_miranda", "--sweep"],
        env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | operator,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert erased.returncode == 0, erased.stderr[-2000:]
    assert "Erased lin_manuel_miranda" in erased.stdout and "clip(s) scanned" in erased.stdout, erased.stdout

    iam = _client(operator, "iam")
    iam.create_user(UserName="as-recognize")
    for name in iam.list_role_policies(RoleName="RecognizeFunctionRole")["PolicyNames"]:
        document = iam.get_role_policy(RoleName="RecognizeFunctionRole", PolicyName=name)["PolicyDocument"]
        text = document if isinstance(document, str) else json.dumps(document)
        iam.put_user_policy(UserName="as-recognize", PolicyName=name, PolicyDocument=text)
    created = iam.create_access_key(UserName="as-recognize")["AccessKey"]
    as_recognize = operator | {
        "AWS_ACCESS_KEY_ID": created["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": created["SecretAccessKey"],
    }
    s3 = _client(as_recognize, "s3")
    job = "e" * 32
    s3.put_object(Bucket=bucket, Key=f"erase-jobs/{job}/sweep/1_0_x.json", Body=b'{"matched": []}')
    planted = json.dumps({"id": job, "person_id": "obama", "erased_at": "2026-12-07"}).encode()
    assert _denied(lambda: s3.put_object(Bucket=bucket, Key=f"erase-jobs/{job}/job.json", Body=planted))
    assert _denied(lambda: s3.put_object(Bucket=bucket, Key=f"erase-jobs/{job}/encodings.json", Body=b"[]"))
