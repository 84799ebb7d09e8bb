"""The local stack, started once for the integration tests (moto server, warm workers, real handlers)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from facepipe.aws.clients import reset_clients
from facepipe.core.settings import get_settings
from facepipe.identity.gallery import Gallery
from facepipe.identity.records import validate_records
from facepipe.local.client import receive_results, upload_clip
from facepipe.local.stack import LocalStack, local_stack

_devices = itertools.count(1)


@pytest.fixture(scope="session")
def stack(gallery_path: Path, samples: Path):
    """The session's stack. The test session's own environment points at it (AWS_* as `facepipe local
    --env-file` writes them), so tests talk to it as a user's shell would; the stack itself never changes
    the environment, and this fixture restores it."""
    with local_stack(workers=2) as running, talking_to(running):
        running.load(gallery=Gallery.load(gallery_path), students=validate_records(samples / "students.json").records)
        yield running


@contextmanager
def talking_to(stack: LocalStack) -> Iterator[None]:
    """Point this process's AWS_* environment (and the cached clients) at ``stack`` for a while, and back."""
    with pytest.MonkeyPatch.context() as env:
        for key, value in stack.env().items():
            env.setenv(key, value)
        reset_clients()
        get_settings.cache_clear()
        try:
            yield
        finally:
            reset_clients()
            get_settings.cache_clear()


@pytest.fixture()
def device_id(stack: LocalStack) -> str:
    """A device of its own per test, registered in the session's stack as `facepipe devices add` does (its
    own results queue): tests never see each other's results."""
    device = f"test-pi-{next(_devices)}"
    stack.add_device(device)
    return device


def run_clips(stack: LocalStack, clips: list[Path | bytes], device_id: str, timeout_s: float = 60.0) -> list[dict]:
    """Upload clips as a device does and return their results in upload order (asserting none is missing)."""
    assert stack.outputs is not None
    uploads = [upload_clip(c, bucket=stack.outputs.bucket, device_id=device_id, seq=i) for i, c in enumerate(clips, 1)]
    got = receive_results(stack.queue_url(device_id), {u.key: u for u in uploads}, timeout_s=timeout_s)
    assert sorted(got) == sorted(u.key for u in uploads), "a clip got no result"
    return [got[u.key][0] for u in uploads]


def clip_event(stack: LocalStack, key: str) -> dict:
    """The EventBridge event S3 sends for the current version of ``key`` (events/statemachine.json, filled
    in), to deliver a clip's event again as EventBridge may."""
    import json

    import boto3

    event = json.loads((Path(__file__).resolve().parents[2] / "events" / "statemachine.json").read_text())
    head = boto3.client("s3").head_object(Bucket=stack.outputs.bucket, Key=key)
    event["detail"]["bucket"]["name"] = stack.outputs.bucket
    event["detail"]["object"]["key"] = key
    event["detail"]["object"]["version-id"] = head["VersionId"]
    return event
