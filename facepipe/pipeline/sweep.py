"""Sweep: one batch of an erase sweep (EraseSweepStateMachine's Distributed Map), in the recognize image.

Each clip is decoded as the pipeline reads it (the frames extract would choose), its faces found as recognize
finds them (small ones included) and matched against the erased person's encodings, which the erase job put
in its folder (facepipe.ops.erase): they never travel in the execution's input. The clips matched are recorded in
the job's folder, named by the batch's counts (progress is one listing); the job deletes them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import numpy as np
from botocore.exceptions import ClientError

from facepipe.aws import s3_objects
from facepipe.aws.clients import client
from facepipe.core.errors import ClipError
from facepipe.core.settings import Settings
from facepipe.media.video import clip_file, decode_chosen
from facepipe.vision import faces, tracking

JOBS_PREFIX = "erase-jobs/"
# A batch stops taking clips when less than this is left of its invocation (a 5-s 1080p clip of 40 faces takes
# ~1.6 s on one vCPU): the clips it did not reach are handed back in its record, and erase sweeps them itself.
SWEEP_MARGIN_S = 6.0


def encodings_key(job_id: str) -> str:
    """Where an erase job keeps the person's encodings (deleted when the job ends)."""
    return f"{JOBS_PREFIX}{job_id}/encodings.json"


def batch_key(job_id: str, keys: list[str], scanned: int, matched: int) -> str:
    """Where a sweep batch records what it found: the counts in the name, so progress is one listing."""
    digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:20]
    return f"{JOBS_PREFIX}{job_id}/sweep/{scanned}_{matched}_{digest}.json"


def sweep_batch(
    job_id: str,
    keys: list[str],
    settings: Settings,
    *,
    s3: Any = None,
    remaining_s: Callable[[], float] | None = None,
) -> dict[str, int]:
    """Match each clip of the batch; record the matches in the job's folder, and the clips not reached before the
    invocation's end drew near (``remaining_s``: seconds left; ``SWEEP_MARGIN_S``). Returns counts only."""
    s3 = s3 or client("s3")
    bucket = settings.bucket_name
    rows = json.loads(s3_objects.get_bytes(bucket, encodings_key(job_id), s3=s3))
    known = np.asarray(rows, dtype=np.float64).reshape(len(rows), 128)
    matched: list[str] = []
    unreadable: list[str] = []
    unscanned: list[str] = []
    for n, key in enumerate(keys):
        if remaining_s is not None and remaining_s() < SWEEP_MARGIN_S:
            unscanned = keys[n:]
            break
        try:
            data, _ = s3_objects.get_clip(bucket, key, None, max_bytes=settings.max_clip_bytes)
            with clip_file(data, key) as path:
                decoded = decode_chosen(path, settings, name=key)
        except ClipError:
            unreadable.append(key)  # expires with the clips' retention
            continue
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
                continue  # deleted meanwhile (by this erasure's index step, or expired)
            raise
        images = decoded.rgb()
        found = tracking.detect_chosen(images, decoded.sharpness, settings)
        for image, (boxes, _) in zip(images, found, strict=True):
            encodings = faces.encode_faces(image, boxes)
            if (
                len(encodings)
                and len(known)
                and faces.pairwise_distances(encodings, known).min() <= settings.match_tolerance
            ):
                matched.append(key)
                break
    scanned = len(keys) - len(unscanned)
    s3_objects.put_bytes(
        bucket,
        batch_key(job_id, keys, scanned, len(matched)),
        json.dumps({"matched": matched, "unreadable": unreadable, "unscanned": unscanned}).encode(),
        "application/json",
        s3=s3,
    )
    return {"scanned": scanned, "matched": len(matched), "unreadable": len(unreadable), "unscanned": len(unscanned)}
