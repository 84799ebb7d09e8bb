"""One model of a stack's outputs: read from the template's Outputs or the settings, written as the settings'
own environment names, and a missing part named."""

from __future__ import annotations

from pathlib import Path

import pytest

from facepipe.aws.stack import OUTPUT_FIELDS, StackError, StackOutputs, env_name
from facepipe.core.settings import Settings, explicit_settings
from facepipe.local.template import StackTemplate

ROOT = Path(__file__).resolve().parents[2]
OUTPUTS = {name: f"value-of-{name}" for name in OUTPUT_FIELDS} | {"GalleryRefreshSeconds": "30"}


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
