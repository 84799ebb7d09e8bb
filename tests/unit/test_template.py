"""The template, the image and the contract stay honest with each other."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from facepipe.core.contracts import result_schema
from facepipe.core.settings import Settings, explicit_settings
from facepipe.local.template import StackTemplate

ROOT = Path(__file__).resolve().parents[2]


def test_recognize_image_installs_exactly_the_test_venv_requirements():
    dockerfile = (ROOT / "functions" / "recognize" / "Dockerfile").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert "COPY functions/recognize/requirements.txt /tmp/requirements.txt" in dockerfile
    assert re.search(r"pip install --no-cache-dir -r /tmp/requirements.txt", dockerfile)
    assert "pip install --no-cache-dir --no-deps face_recognition==1.3.0" in dockerfile
    assert "functions/recognize/requirements.txt" in makefile
    assert "FACE_RECOGNITION := face_recognition==1.3.0" in makefile
    # Both the test venv and the recognize runtime install it without dependencies.
    assert makefile.count("--no-deps $(FACE_RECOGNITION)") == 2
    assert dockerfile.startswith("#") and "FROM public.ecr.aws/lambda/python:3.12" in dockerfile


def test_the_templates_defaults_are_the_settings_defaults():
    """A parameter that sets a function's environment deploys the value the code and the tests run with."""
    template = StackTemplate.load(ROOT / "template.yaml")
    params = template.parameter_defaults()
    defaults = explicit_settings()
    compared = 0
    for name, value in template.function_environment("RecognizeFunction").items():
        field = name.lower()
        if (
            isinstance(value, dict)
            and set(value) == {"Ref"}
            and value["Ref"] in params
            and field in Settings.model_fields
        ):
            declared = explicit_settings(**{field: params[value["Ref"]]})
            assert getattr(declared, field) == getattr(defaults, field), name
            compared += 1
    assert compared >= 5  # frames, tolerance, margin, small faces, gallery refresh at least


def test_committed_result_schema_is_the_contract():
    """The protocol's schema (what the device validates against) is the cloud's ResultMessage, and the
    protocol's version is the contract's."""
    from facepipe_protocol import RESULT_SCHEMA_VERSION

    from facepipe.core.contracts import RESULT_SCHEMA_VERSION as CONTRACT_VERSION

    path = ROOT / "protocol" / "facepipe_protocol" / "schemas" / "result.schema.json"
    committed = json.loads(path.read_text())
    assert committed == result_schema(), "run: facepipe schema > protocol/facepipe_protocol/schemas/result.schema.json"
    assert RESULT_SCHEMA_VERSION == CONTRACT_VERSION


def test_template_declares_what_the_pipeline_needs():
    template = StackTemplate.load(ROOT / "template.yaml")
    params = template.parameter_defaults()
    assert {
        "FramesPerClip",
        "MatchTolerance",
        "ClipsRetentionDays",
        "RecognizeMemory",
        "Architecture",
        "GalleryKey",
    } <= params.keys()
    assert params["ClipsRetentionDays"] == "7"
    bucket = template.properties("ClipsBucket")
    assert bucket["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"] is True
    rules = {r["Prefix"]: r for r in bucket["LifecycleConfiguration"]["Rules"]}
    # No frames are stored: the clips are the only images kept, besides the unknown faces' small crops, the
    # enrolled people's photos, the gallery and erase jobs (their older versions expire: erase cannot wait).
    assert set(rules) == {"clips/", "checks/", "unknowns/", "gallery/", "people/", "erase-jobs/"}
    assert all(rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1} for rule in rules.values())
    # Unknown faces are kept briefly and on purpose: FaceCropRetentionDays (1 day by default), as the tables
    # holding crops (the console's history, the unknown-face clusters) expire by their TTL.
    assert params["FaceCropRetentionDays"] == "1"
    assert rules["unknowns/"]["ExpirationInDays"] == {"Ref": "FaceCropRetentionDays"}
    for table in ("SightingsTable", "UnknownsTable"):
        assert template.properties(table)["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    env = template.doc["Globals"]["Function"]["Environment"]["Variables"]
    assert env["FACE_CROP_RETENTION_DAYS"] == {"Ref": "FaceCropRetentionDays"}
    assert rules["checks/"]["ExpirationInDays"] == 1  # `facepipe-device check`'s probes
    # No shared results queue: each device's is made by `facepipe devices add`; the dead-letter queue is shared.
    assert "ResultsQueue" not in template.doc["Resources"]
    assert template.properties("ResultsDeadLetterQueue")["FifoQueue"] is True
    assert template.properties("DevicesTable")["KeySchema"] == [{"AttributeName": "device_id", "KeyType": "HASH"}]
    _, machine = template.state_machine()
    assert machine["Type"] == "EXPRESS" and machine["Tracing"]["Enabled"] is True
    assert template.event_rule()["Pattern"]["detail"]["object"]["key"] == [{"prefix": "clips/"}]
    recognize = template.properties("RecognizeFunction")
    assert recognize["PackageType"] == "Image"
    outputs = template.doc["Outputs"]
    assert {
        "ClipsBucketName",
        "DeviceQueuePrefix",
        "DevicesTableName",
        "ResultsDeadLetterQueueUrl",
        "StudentsTableName",
        "PipelineStateMachineArn",
        "DevicePolicyArn",
        "SightingsTableName",
        "UnknownsTableName",
        "EraseSweepStateMachineArn",
    } <= outputs.keys()


@pytest.mark.parametrize("asl", ["pipeline.asl.json", "erase_sweep.asl.json"])
def test_asl_has_no_arn_and_every_task_retries(asl):
    text = (ROOT / "statemachine" / asl).read_text()
    assert "arn:aws:lambda" not in text and "FunctionArn}" in text
    definition = json.loads(text)

    def tasks(states: dict) -> list[tuple[str, dict]]:
        found = []
        for name, state in states.items():
            if state["Type"] == "Task":
                found.append((name, state))
            if state["Type"] == "Map":
                found.extend(tasks(state["ItemProcessor"]["States"]))
        return found

    for name, state in tasks(definition["States"]):
        transient = [r for r in state.get("Retry", []) if "IdempotencyAlreadyInProgressError" not in r["ErrorEquals"]]
        assert transient, name
        assert all(r["BackoffRate"] >= 2 and r["JitterStrategy"] == "FULL" for r in transient), name


def test_samconfig_builds_and_deploys_the_same_architecture():
    """sam build and sam deploy read their parameters apart: if they disagree, the functions are created for
    one architecture with artifacts built for the other."""
    import tomllib

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())["default"]

    def overrides(command: str) -> dict[str, str]:
        text = config[command]["parameters"]["parameter_overrides"]
        return dict(pair.split("=", 1) for pair in text.split())

    build, deploy = overrides("build"), overrides("deploy")
    allowed = StackTemplate.load(ROOT / "template.yaml").doc["Parameters"]["Architecture"]["AllowedValues"]
    assert build["Architecture"] == deploy["Architecture"] and build["Architecture"] in allowed
    assert "CAPABILITY_IAM" in config["deploy"]["parameters"]["capabilities"]


def test_the_template_names_the_clips_prefix_the_code_parses():
    from facepipe_protocol import CHECKS_PREFIX

    from facepipe.core.clip_keys import CLIPS_PREFIX

    template = StackTemplate.load(ROOT / "template.yaml")
    assert template.event_rule()["Pattern"]["detail"]["object"]["key"] == [{"prefix": CLIPS_PREFIX}]
    rules = template.properties("ClipsBucket")["LifecycleConfiguration"]["Rules"]
    assert CLIPS_PREFIX in {rule["Prefix"] for rule in rules}
    (put,) = [
        s for s in template.properties("DevicePolicy")["PolicyDocument"]["Statement"] if s["Sid"] == "PutOwnClips"
    ]
    clips, checks = (resource["Fn::Sub"] for resource in put["Resource"])
    assert clips.endswith(f"/{CLIPS_PREFIX}${{!aws:PrincipalTag/facepipe-device-id}}/*")
    # The device check's probe goes where the trigger rule does not look, and expires.
    assert checks.endswith(f"/{CHECKS_PREFIX}${{!aws:PrincipalTag/facepipe-device-id}}/*")
    assert not CHECKS_PREFIX.startswith(CLIPS_PREFIX) and CHECKS_PREFIX in {rule["Prefix"] for rule in rules}


def test_committed_events_schema_is_the_contract():
    """The events' schema in the protocol package (what a webhook or MQTT consumer validates against) is the
    cloud's event models, and a real event of each kind validates against it; a wrong one does not."""
    import jsonschema
    from facepipe_protocol import events_schema as committed_schema

    from facepipe.core.events import AttendanceClosed, DeviceSilent, PersonSeen, UnknownSeen, events_schema, kind_of

    assert committed_schema() == events_schema(), (
        "run: python -c 'import json; from facepipe.core.events import events_schema; "
        "print(json.dumps(events_schema(), indent=2))' > protocol/facepipe_protocol/schemas/events.schema.json"
    )
    validator = jsonschema.Draft202012Validator(committed_schema())
    details = [
        PersonSeen(device_id="lab-cam", person_id="markey", name="Ed Markey", change="entered",
                   at="2026-12-01T09:02:00.000Z", clip_key="clips/lab-cam/000001_20261201T090200000Z.mp4",
                   local_hour=9),
        UnknownSeen(device_id="lab-cam", unknown_id="unknown-3", at="2026-12-01T22:00:00.000Z",
                    clip_key="clips/lab-cam/000002_20261201T220000000Z.mp4", local_hour=22),
        AttendanceClosed(course="bio101", session="bio101#2026-12-01#0900", day="2026-12-01", starts="x", ends="y",
                         present=1, late=1, absent=1, visitors=0, unknown_faces=2),
        DeviceSilent(device_id="lab-cam", last_seen="2026-12-01T09:00:00.000Z", silent_for_s=900.0),
    ]  # fmt: skip
    for detail in details:
        validator.validate({"source": "facepipe", "detail-type": kind_of(detail).value, "detail": detail.model_dump()})
    wrong = {"source": "facepipe", "detail-type": "person.seen", "detail": details[3].model_dump()}
    assert not validator.is_valid(wrong)  # a device.silent detail is not a person.seen


def test_every_file_the_recognize_image_copies_is_in_its_build_context():
    """.dockerignore leaves out everything but what is named back in: each COPY source must be (a `docker build`
    would fail on it, and no Docker engine runs here to say so)."""
    dockerfile = (ROOT / "functions" / "recognize" / "Dockerfile").read_text()
    allowed = [
        line[1:].rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")
    ]
    sources = re.findall(r"^COPY\s+(\S+)\s+\S+$", dockerfile, flags=re.MULTILINE)
    assert "requirements/yunet.txt" in sources
    for source in sources:
        assert any(source == a or source.startswith(a + "/") for a in allowed), source
        assert (ROOT / source).exists(), source
