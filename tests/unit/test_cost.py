"""The cost model prices what the template deploys, every per-clip service counted."""

from __future__ import annotations

from facepipe.bench.cost import CLIPS_PER_DAY, camera_day, template_defaults
from facepipe.local.template import StackTemplate


def test_the_model_reads_the_configuration_the_template_deploys():
    assert template_defaults(StackTemplate.load()) == {
        "architecture": "x86_64",
        "memory_mb": {"extract": 1024, "recognize": 1769, "enrich": 256},
        "clips_retention_days": 7,
    }


def test_a_camera_day_counts_every_service_a_clip_touches():
    model = camera_day(
        extract_ms=20.0,
        recognize_ms=100.0,
        enrich_ms=5.0,
        execution_s=0.25,
        clip_bytes=60_000,
        architecture="x86_64",
        memory_mb={"extract": 1024, "recognize": 1769, "enrich": 256},
        clips_retention_days=7,
    )
    assert CLIPS_PER_DAY == 172_800
    # One PUT (the device's) and two GETs (extract, recognize): no HEAD, no frame PUTs.
    assert model.lines["S3 requests (1 PUT, 2 GETs)"] == round(172_800 * (0.005 + 2 * 0.0004) / 1000, 3) == 1.002
    assert model.lines["SQS FIFO (send, receive, delete)"] == round(172_800 * 3 * 0.5e-6, 3)
    # Recognize at one vCPU: its measured time plus the S3 round trip; enrich at 256 MB: 6.9x its CPU time.
    extract, recognize, enrich = model.stages
    assert (recognize.lambda_ms, extract.lambda_ms) == (125.0, round(20 * 1769 / 1024 + 25, 1))
    assert enrich.lambda_ms == round(5 * 1769 / 256 + 40, 1)  # four DynamoDB round trips
    # The console's history: one sighting item a clip, three write units (its ~2 KB crop).
    assert model.lines["DynamoDB sightings (console history: 1 item a clip, 3 write units)"] == round(
        172_800 * 3 * 0.625e-6, 3
    )
    # Erase's index: a mention of the clip's one named face, written to the table and its ByPerson index.
    assert model.lines["DynamoDB erase index (1 mention a named face, 2 write units with ByPerson)"] == round(
        172_800 * 2 * 0.625e-6, 3
    )
    # Events on change: the presence record (a write and a read a clip), and ~240 events a camera-day at $1 a
    # million, with as many webhook deliveries at $0.20: a tenth of a cent.
    assert model.lines["DynamoDB presence (events on change: 1 write, 1 read a clip)"] == round(
        172_800 * (0.625e-6 + 0.125e-6), 3
    )
    assert model.lines["EventBridge (events on change, and the webhook's deliveries)"] == round(240 * 1.2e-6, 3)
    assert model.per_camera_day == round(sum(model.lines.values()), 2)
    assert len(model.lines) == 12


def test_arm64_costs_less_for_the_same_work():
    common = dict(extract_ms=20.0, recognize_ms=100.0, enrich_ms=5.0, execution_s=0.25, clip_bytes=60_000)
    memory = {"extract": 1024, "recognize": 1769, "enrich": 256}
    x86 = camera_day(**common, architecture="x86_64", memory_mb=memory, clips_retention_days=7)
    arm = camera_day(**common, architecture="arm64", memory_mb=memory, clips_retention_days=7)
    assert arm.per_camera_day < x86.per_camera_day
    assert arm.lines["S3 requests (1 PUT, 2 GETs)"] == x86.lines["S3 requests (1 PUT, 2 GETs)"]


def test_the_change_gate_prices_a_still_classroom_under_a_dollar_a_camera_day():
    """Issue 32 item 3: every clip while the room changes (10% of the day), one a 5-s heartbeat while it is still:
    32,832 clips instead of 172,800; at issue 32's recognize time (~300 ms) $4.83 falls under $1.00."""
    from facepipe.bench.cost import change_gated_clips_per_day

    assert change_gated_clips_per_day() == round(172_800 * 0.1 + 86_400 * 0.9 / 5) == 32_832
    common = dict(
        extract_ms=20.0, recognize_ms=300.0, enrich_ms=5.0, execution_s=0.5, clip_bytes=60_000, architecture="x86_64",
        memory_mb={"extract": 1024, "recognize": 1769, "enrich": 256}, clips_retention_days=7,
    )  # fmt: skip
    every = camera_day(**common)
    gated = camera_day(**common, clips_per_day=change_gated_clips_per_day())
    assert gated.clips_per_day == 32_832 and every.clips_per_day == CLIPS_PER_DAY
    assert gated.per_camera_day < 1.00 < every.per_camera_day
