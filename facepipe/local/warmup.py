"""Each function worker's first real invocation, before the local stack reports ready.

Importing a handler is not the whole cold start: a worker's first invocation still pays for its first S3 and
DynamoDB clients, the request models' first validation, FFmpeg's first open (measured: extract 114-134 ms and
enrich 64-91 ms on a worker's first clip against 22 ms and 5 ms after). Provisioned concurrency keeps such
containers initialized in AWS; here every worker runs the pipeline's three stages once on a real clip (an
empty room, made by OpenCV) before the trigger rule exists, so no execution starts and no result is
published. What the warm-up leaves behind (the clip's versions, the answer claim) is removed.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from facepipe.core.clip_keys import CLIPS_PREFIX
from facepipe.local.deployer import Deployment
from facepipe.local.endpoint import Endpoint
from facepipe.local.lambdas import LocalLambdaRuntime

WARMUP_DEVICE = "warmup"


def object_created(bucket: str, key: str, version_id: str | None, size: int, etag: str) -> dict[str, Any]:
    """The EventBridge event S3 sends for a new object (the shape the trigger rule delivers)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {
        "version": "0",
        "id": "00000000-0000-0000-0000-000000000000",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": now,
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": size, "etag": etag, "version-id": version_id, "sequencer": "0"},
            "request-id": "warmup",
            "requester": "123456789012",
            "source-ip-address": "127.0.0.1",
            "reason": "PutObject",
        },
    }


def warm_functions(deployment: Deployment, endpoint: Endpoint, runtime: LocalLambdaRuntime) -> float:
    """Run extract, recognize and enrich once on each worker; returns the seconds it took."""
    from facepipe.aws.s3_objects import delete_versions
    from facepipe.media.clipmaker import make_clip

    start = time.perf_counter()
    functions = {
        logical: runtime.functions[deployment.refs[logical]]
        for logical in deployment.template.resources("AWS::Serverless::Function")
    }
    bucket = deployment.refs["ClipsBucket"]
    s3 = endpoint.client("s3")
    key = f"{CLIPS_PREFIX}{WARMUP_DEVICE}/000000_20000101T000000000Z.mp4"
    with tempfile.TemporaryDirectory() as tmp:
        data = make_clip(None, Path(tmp) / "warmup.mp4").read_bytes()
    put = s3.put_object(Bucket=bucket, Key=key, Body=data)
    try:
        event = object_created(bucket, key, put.get("VersionId"), len(data), put["ETag"].strip('"'))
        extracted = functions["ExtractFunction"].pool.invoke_each(event)
        ok, chosen = extracted[0]
        if not ok:
            raise RuntimeError(f"warm-up: ExtractFunction failed: {chosen.get('errorMessage')}")
        request = {"clip": chosen["clip"], "frames": chosen["frames"]}
        # Without a gallery yet, recognize decodes the clip and then says so: its first call is made either way.
        recognized = functions["RecognizeFunction"].pool.invoke_each(request)
        frames = [f for ok, result in recognized[:1] if ok for f in result["frames"]] or [
            {"index": 0, "t_ms": 0.0, "faces": [], "faces_detected": 0, "ms": 0.0}
        ]
        # One face (one track) named after no one, so enrich's first records read is made too (it finds none).
        box = [0, 1, 1, 0]
        frames[0]["faces"] = [{"id": WARMUP_DEVICE, "distance": 0.0, "box": box}]
        track = {
            "id": WARMUP_DEVICE,
            "distance": 0.0,
            "frames": [frames[0]["index"]],
            "frame_index": frames[0]["index"],
        }
        track |= {"box": box, "height_px": 1, "sharpness": 0.0, "enrollable": False, "crop_jpeg": None}
        answer = {"clip": chosen["clip"], "frames": frames, "seen": [track], "timings_ms": {}, "execution_id": "warmup"}
        # Every worker answers the same clip at once: one claims it, the others find it in progress (as a
        # duplicate execution would). A request enrich cannot read fails them all.
        answered = functions["EnrichFunction"].pool.invoke_each(answer)
        if not any(ok for ok, _ in answered):
            raise RuntimeError(f"warm-up: EnrichFunction failed: {answered[0][1].get('errorMessage')}")
    finally:
        delete_versions(bucket, key, s3=s3)
        _forget_claims(endpoint, deployment.refs["IdempotencyTable"])
        # Enrich counted the warm-up clip as refused (its device is not registered): forget that too.
        endpoint.client("dynamodb").delete_item(
            TableName=deployment.refs["DevicesTable"], Key={"device_id": {"S": WARMUP_DEVICE}}
        )
    return time.perf_counter() - start


def _forget_claims(endpoint: Endpoint, table: str) -> None:
    """The warm-up's answer claims: the only items in the fresh stack's idempotency table."""
    dynamodb = endpoint.client("dynamodb")
    for item in dynamodb.scan(TableName=table, ProjectionExpression="id").get("Items", []):
        dynamodb.delete_item(TableName=table, Key={"id": item["id"]})
