"""Erase at a school's scale (`facepipe bench --erase`): how erase by the sightings index grows with the clips
stored, and what the exhaustive sweep costs per 1,000 clips on the local stack.

The index run uses moto in this process (its own bucket and tables, as the template declares them) so that
20,000 stored clips can be written in a minute: N tiny valid clips, each with the sighting and mentions the
enrich stage writes, naming one of 300 enrolled people (or nobody); one person is named in 20 of them. Erase's
requests are counted by service: they are what AWS bills and what its latency follows. moto's own time per
query grows with the table (it walks every item of an index; DynamoDB does not), so its seconds are shown
beside the counts, not instead of them.

The sweep run uses the local stack (workers as `facepipe local` starts them): real clips made from the sample
probes, stored as a camera's would be, then `erase --sweep` as an operator runs it.
"""

from __future__ import annotations

import math
import os
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel

PEOPLE = 300
NAMED_IN = 20


class EraseScalePoint(BaseModel):
    clips_stored: int
    clips_deleted: int
    seconds: float
    requests: dict[str, int]  # by "service.Operation"
    requests_total: int


class SweepRun(BaseModel):
    clips: int
    workers: int
    seconds: float
    seconds_per_1000_clips: float
    clips_matched: int


class EraseBench(BaseModel):
    index: list[EraseScalePoint]
    sweep: SweepRun | None = None


@contextmanager
def _environment(values: dict[str, str | None]) -> Iterator[None]:
    """The AWS_* environment the operator's clients read, set for a while (None: unset) and then restored."""
    from facepipe.aws.clients import reset_clients
    from facepipe.core.settings import get_settings

    def apply(environment: dict[str, str | None]) -> None:
        for k, v in environment.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        get_settings.cache_clear()
        reset_clients()

    saved = {k: os.environ.get(k) for k in values}
    try:
        apply(values)
        yield
    finally:
        apply(saved)


def _point(seed: int) -> list[float]:
    rng = random.Random(seed)
    raw = [rng.gauss(0, 1) for _ in range(128)]
    norm = math.sqrt(sum(x * x for x in raw))
    return [x / norm for x in raw]


def index_point(stored: int) -> EraseScalePoint:
    """One stack holding ``stored`` clips on moto in this process; erase of the person named in 20 of them."""
    import boto3
    from facepipe_protocol import clip_key, iso_time
    from moto import mock_aws

    from facepipe.aws import gallery_store
    from facepipe.aws.clients import client
    from facepipe.aws.sightings import SeenEntry, Sighting, Sightings
    from facepipe.core.settings import explicit_settings
    from facepipe.identity.gallery import GalleryPhoto
    from facepipe.local.template import StackTemplate
    from facepipe.ops.erase import EraseJobs

    template = StackTemplate.load()
    moto_env: dict[str, str | None] = {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_ENDPOINT_URL": None,
    }
    with _environment(moto_env), mock_aws():
        bucket = "bench-erase"
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        for logical in ("StudentsTable", "SightingsTable", "UnknownsTable"):
            props = template.properties(logical)
            boto3.client("dynamodb", region_name="us-east-1").create_table(
                TableName=logical,
                BillingMode="PAY_PER_REQUEST",
                **{k: props[k] for k in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes") if k in props},
            )
        settings = explicit_settings(
            bucket_name=bucket,
            students_table="StudentsTable",
            sightings_table="SightingsTable",
            unknowns_table="UnknownsTable",
        )
        people = [f"student-{n:03d}" for n in range(PEOPLE)]

        def enroll(gallery: Any) -> None:
            for n, person in enumerate(people):
                gallery.add_photos(
                    person, [GalleryPhoto(source=f"{person}.jpg", sha256=f"{n:064x}", encoding=_point(n))]
                )

        gallery_store.update_gallery(bucket, settings.gallery_key, enroll)
        target, others = people[0], people[1:]
        named = set(random.Random(stored).sample(range(stored), NAMED_IN))
        history = Sightings.from_settings(settings)
        clip = _tiny_clip()
        start = datetime.now(UTC) - timedelta(hours=1)
        rng = random.Random(1)
        for n in range(stored):
            device = f"cam{n % 24:02d}"  # dozens of cameras
            key = clip_key(device, n, iso_time(start + timedelta(milliseconds=500 * n)), "mp4")
            version = s3.put_object(Bucket=bucket, Key=key, Body=clip)["VersionId"]
            ids = [target] if n in named else ([rng.choice(others)] if n % 3 else [])
            history.put(
                Sighting(
                    device_id=device,
                    at=(start + timedelta(milliseconds=500 * n)).isoformat(timespec="milliseconds"),
                    seq=n,
                    key=key,
                    status="ok",
                    latency_ms=250.0,
                    faces=[SeenEntry(id=i, name=None, distance=0.3, crop=b"\xff" * 1800) for i in ids],
                    version_id=version,
                )
            )
        calls: Counter[str] = Counter()

        def count(event_name: str, **_: Any) -> None:
            calls[event_name.split(".", 1)[1]] += 1

        for service in ("s3", "dynamodb"):
            client(service).meta.events.register("before-call", count)
        began = time.perf_counter()
        job = EraseJobs(settings).erase(target)
        seconds = time.perf_counter() - began
        for service in ("s3", "dynamodb"):
            client(service).meta.events.unregister("before-call", count)
        return EraseScalePoint(
            clips_stored=stored,
            clips_deleted=job.clips_deleted,
            seconds=round(seconds, 3),
            requests=dict(sorted(calls.items())),
            requests_total=sum(calls.values()),
        )


def _tiny_clip() -> bytes:
    """A valid 0.5 s clip of a few kilobytes (its content is never read by erase by the index)."""
    import numpy as np

    from facepipe.media.clipmaker import make_clip

    with tempfile.TemporaryDirectory() as tmp:
        path = make_clip(np.full((120, 160, 3), 128, dtype=np.uint8), Path(tmp) / "tiny.mp4", motion="pan", seed=0)
        return path.read_bytes()


def sweep_run(samples: Path, clips: int, workers: int | None) -> SweepRun:
    """``clips`` real clips stored by an unregistered camera (no sighting names anyone in them), then
    `people erase kit_harington --sweep` on the local stack, timed."""
    from facepipe.bench.clips import make_bench_clips
    from facepipe.core.settings import Settings
    from facepipe.identity.enroll import enroll
    from facepipe.local.client import upload_clip
    from facepipe.local.stack import local_stack
    from facepipe.ops.erase import EraseJobs

    with tempfile.TemporaryDirectory() as tmp:
        gallery, _ = enroll(samples / "people", Settings(samples_dir=samples))
        made = [c.path for c in make_bench_clips(samples, Path(tmp))]
        # Warm functions re-read the gallery at every clip: erase's settle wait is then the local stack's 2 s only.
        with local_stack(workers=workers, parameters={"GalleryRefreshSeconds": "0"}) as stack:
            stack.load(gallery=gallery)
            out = stack.outputs
            env = stack.env()
            for n in range(clips):
                upload_clip(made[n % len(made)], bucket=out.bucket, device_id="stored", seq=n, s3=stack.client("s3"))
            _wait_idle(stack)
            # The operator's view of the stack, as `facepipe local --env-file` gives it.
            with _environment(dict(env)):
                settings = Settings().model_copy(update={"sweep_concurrency": stack.workers})
                began = time.perf_counter()
                job = EraseJobs(settings).erase("kit_harington", sweep=True)
                seconds = time.perf_counter() - began
            return SweepRun(
                clips=clips,
                workers=stack.workers,
                seconds=round(seconds, 1),
                seconds_per_1000_clips=round(seconds / clips * 1000, 1),
                clips_matched=job.sweep_matched,
            )


def _wait_idle(stack: Any, timeout_s: float = 900.0) -> None:
    """Until every execution the stored clips started has ended (the sweep is then timed alone)."""
    sfn = stack.client("stepfunctions")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        running = sfn.list_executions(stateMachineArn=stack.outputs.state_machine_arn, statusFilter="RUNNING")
        if not running["executions"]:
            return
        time.sleep(1.0)
    print("facepipe bench: the stored clips' executions did not all end", file=sys.stderr)


def bench_erase(samples: Path, sizes: list[int], sweep_clips: int, workers: int | None) -> EraseBench:
    from tqdm import tqdm

    points = []
    for stored in tqdm(sizes, desc="erase by the index", unit="stack", file=sys.stderr):
        points.append(index_point(stored))
    sweep = sweep_run(samples, sweep_clips, workers) if sweep_clips else None
    return EraseBench(index=points, sweep=sweep)
