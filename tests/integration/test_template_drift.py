"""The local stack runs what template.yaml and the ASL file say: change them and it changes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import boto3

from facepipe.identity.gallery import Gallery
from facepipe.local.client import receive_results, upload_clip
from facepipe.local.stack import local_stack
from tests.integration.conftest import talking_to

ROOT = Path(__file__).resolve().parents[2]


def test_changing_the_template_and_asl_changes_the_local_stack(tmp_path, gallery_path, clip_factory):
    (tmp_path / "statemachine").mkdir()
    shutil.copy(ROOT / "statemachine" / "erase_sweep.asl.json", tmp_path / "statemachine")
    (tmp_path / "functions").symlink_to(ROOT / "functions")
    template = (ROOT / "template.yaml").read_text()
    # Two frames per clip instead of three, a shorter retention on the dead-letter queue.
    template = template.replace(
        "FramesPerClip:\n    Type: Number\n    Default: 3", "FramesPerClip:\n    Type: Number\n    Default: 2"
    )
    template = template.replace("      MessageRetentionPeriod: 1209600\n", "      MessageRetentionPeriod: 86400\n")
    assert "Default: 2" in template and "MessageRetentionPeriod: 86400" in template
    (tmp_path / "template.yaml").write_text(template)
    asl = json.loads((ROOT / "statemachine" / "pipeline.asl.json").read_text())
    asl["States"]["Enrich"]["Parameters"]["Payload"]["timings_ms"] = {"extract": 7}  # a visible change
    (tmp_path / "statemachine" / "pipeline.asl.json").write_text(json.dumps(asl))

    with local_stack(workers=1, template=tmp_path / "template.yaml") as stack, talking_to(stack):
        out = stack.outputs
        attributes = boto3.client("sqs").get_queue_attributes(
            QueueUrl=out.dead_letter_queue_url, AttributeNames=["All"]
        )
        assert attributes["Attributes"]["MessageRetentionPeriod"] == "86400"
        definition = json.loads(
            boto3.client("stepfunctions").describe_state_machine(stateMachineArn=out.state_machine_arn)["definition"]
        )
        assert definition["States"]["Enrich"]["Parameters"]["Payload"]["timings_ms"] == {"extract": 7}
        stack.load(gallery=Gallery.load(gallery_path))
        stack.add_device("drift")
        upload = upload_clip(clip_factory("obama-480p.jpg"), bucket=out.bucket, device_id="drift", seq=1)
        message, _ = receive_results(stack.queue_url("drift"), {upload.key: upload}, timeout_s=60)[upload.key]
    assert message["frames_analyzed"] == 2
    assert message["timings_ms"]["extract"] == 7
    shutil.rmtree(tmp_path / "statemachine")
