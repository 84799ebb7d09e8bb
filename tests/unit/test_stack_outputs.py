"""One model of a stack's outputs: read from the template's Outputs or the settings, written as the settings'
own environment names, and a missing part named."""

from __future__ import annotations

from pathlib import Path

import pytest

from facepipe.aws.stack import OUTPUT_FIELDS, StackError, StackOutputs, env_name
from facepipe.core.settings import Settings, explicit_settings
from facepipe.local.template import StackTemplate

ROOT = Path(__file__).resolve().parents[2]
NUMBERS = {"GalleryRefreshSeconds": "30", "ClipsRetentionDays": "30", "FaceCropRetentionDays": "3"}
OUTPUTS = {name: f"value-of-{name}" for name in OUTPUT_FIELDS} | NUMBERS | {"AttendanceRetentionDays": "90"}


def test_every_output_read_is_one_the_template_declares():
    declared = set(StackTemplate.load(ROOT / "template.yaml").doc["Outputs"])
    assert set(OUTPUT_FIELDS) | {"PipelineStateMachineArn"} <= declared


def test_the_env_it_writes_is_read_back_by_the_settings_into_the_same_fields(monkeypatch):
    outputs = StackOutputs.from_outputs(OUTPUTS, region="eu-west-1", endpoint_url="http://127.0.0.1:5000", local=True)
    for key, value in outputs.env().items():
        monkeypatch.setenv(key, value)
    read = Settings()
    for name, field in OUTPUT_FIELDS.items():
        assert str(getattr(read, field)) in (OUTPUTS[name], "30.0"), field
    assert read.local_stack is True
    # ... and the settings give the same outputs back.
    again = StackOutputs.from_settings(read, region="eu-west-1", endpoint_url="http://127.0.0.1:5000")
    assert again.bucket == outputs.bucket and again.queue_prefix == outputs.queue_prefix


def test_a_missing_output_is_named():
    with pytest.raises(StackError, match="DevicePolicyArn"):
        StackOutputs.from_outputs({k: v for k, v in OUTPUTS.items() if k != "DevicePolicyArn"}, region="us-east-1")


def test_without_a_stack_the_settings_say_what_to_set():
    with pytest.raises(StackError, match="no stack to manage: FACEPIPE_BUCKET, DEVICES_TABLE"):
        StackOutputs.from_settings(explicit_settings(), region="us-east-1", endpoint_url=None)


def test_the_operators_bucket_name_never_overrides_a_functions_own(monkeypatch):
    assert env_name("bucket_name") == "FACEPIPE_BUCKET"
    monkeypatch.setenv("BUCKET_NAME", "the-functions")
    monkeypatch.setenv("FACEPIPE_BUCKET", "the-operators")
    assert Settings().bucket_name == "the-functions"


def test_settings_name_the_stacks_parts():
    outputs = StackOutputs.from_outputs(OUTPUTS, region="us-east-1")
    named = outputs.settings(explicit_settings())
    assert named.students_table == "value-of-StudentsTableName" and named.gallery_refresh_seconds == 30.0


def test_the_operators_stores_expire_what_they_write_with_the_stacks_own_retentions():
    """On the old main the operator's sightings store took the default week: `unknowns label` rewrote a person's
    mentions to expire after 7 days on a stack keeping clips 30, so erase's index lost their clips after a week. The
    stack's outputs carry its retentions and every store is built from them."""
    from facepipe.aws.attendance import AttendanceStore
    from facepipe.aws.sightings import Sightings
    from facepipe.aws.unknowns import UnknownStore

    named = StackOutputs.from_outputs(OUTPUTS, region="us-east-1").settings(explicit_settings())
    assert (named.clips_retention_days, named.face_crop_retention_days, named.attendance_retention_days) == (30, 3, 90)
    history = Sightings.from_settings(named, dynamodb=object())
    assert (history.clips_retention_days, history.retention_days) == (30, 3)
    assert UnknownStore.from_settings(named, dynamodb=object(), s3=object()).retention_days == 3
    assert AttendanceStore.from_settings(named, dynamodb=object()).retention_days == 90
