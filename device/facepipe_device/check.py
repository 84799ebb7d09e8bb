"""`facepipe-device check`: says clearly what is wrong before the service runs."""

from __future__ import annotations

import contextlib
import uuid

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from facepipe_protocol import CHECKS_PREFIX

from facepipe_device.config import DeviceConfig
from facepipe_device.service import aws_clients
from facepipe_device.sources import SourceError, open_source


def run_checks(config: DeviceConfig) -> int:
    s3, sqs = aws_clients(config)
    failures = 0

    def report(ok: bool, what: str, detail: str) -> None:
        nonlocal failures
        failures += not ok
        print(f"[{'ok' if ok else 'FAIL'}] {what}: {detail}")

    report(
        True,
        "configuration",
        f"device {config.device_id}, bucket {config.bucket}, endpoint {config.endpoint_url or 'AWS ' + config.region}",
    )
    # Outside clips/: the probe proves the device's write grant without starting a pipeline execution (a
    # probe under clips/ would be answered with a bad_key error on the device's own queue).
    probe = f"{CHECKS_PREFIX}{config.device_id}/check-{uuid.uuid4().hex[:8]}.txt"
    try:
        s3.put_object(Bucket=config.bucket, Key=probe, Body=b"facepipe-device check")
        report(True, "bucket", f"can write to s3://{config.bucket}/{CHECKS_PREFIX}{config.device_id}/")
        # The device policy allows PutObject only: then the probe expires with the bucket's checks/ rule (a day).
        with contextlib.suppress(ClientError):
            s3.delete_object(Bucket=config.bucket, Key=probe)
    except NoCredentialsError:
        report(False, "credentials", "none found (instance profile, ~/.aws/credentials or AWS_* variables)")
    except (ClientError, BotoCoreError) as exc:
        report(False, "bucket", f"cannot write to s3://{config.bucket}/{CHECKS_PREFIX}{config.device_id}/ ({exc})")
    try:
        sqs.get_queue_attributes(QueueUrl=config.queue_url, AttributeNames=["QueueArn"])
        report(True, "results queue", config.queue_url)
    except (ClientError, BotoCoreError) as exc:
        report(False, "results queue", f"cannot read {config.queue_url} ({exc})")
    try:
        source = open_source(
            config.source, seconds=config.clip_seconds, size=(config.width, config.height), fps=config.fps
        )
        clip = next(iter(source.clips()))
        report(True, "camera", f"{config.source}: recorded a {len(clip.data)} byte clip")
    except (SourceError, StopIteration) as exc:
        report(False, "camera", str(exc) or f"{config.source}: no clip")
    return 1 if failures else 0
