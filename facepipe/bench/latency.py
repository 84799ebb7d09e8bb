"""``latency_s`` and ``stages_s_p50``: one-face clips one at a time (a camera's steady state)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from facepipe.bench.report import Latency
from facepipe.bench.runner import Runner
from facepipe.bench.stats import pct

STAGES = (
    "upload_s",
    "trigger_s",
    "execution_s",
    "extract_s",
    "recognize_s",
    "recognize_frames_s",
    "enrich_s",
    "publish_receive_s",
)


def measure_latency(
    runner: Runner, clips: list[Path], count: int
) -> tuple[Latency, dict[str, float], list[dict[str, Any]]]:
    """(latency section, stage p50s, the answered rows)."""
    rows = [runner.one(clips[i % len(clips)], "bench-latency") for i in range(count)]
    ok = [r for r in rows if not r.get("missing")]
    lat = [r["latency_s"] for r in ok]
    # What the stack adds around the three stages' own work: upload, trigger, state transitions, publish,
    # receive (the stages run one after another, so their sum is the compute on the critical path).
    overhead = [r["latency_s"] - (r["extract_s"] + r["recognize_s"] + r["enrich_s"]) for r in ok]
    latency = Latency(
        clips=len(rows),
        missing=len(rows) - len(ok),
        p50=round(pct(lat, 50), 3),
        p95=round(pct(lat, 95), 3),
        max=round(max(lat), 3) if lat else None,
        overhead_p50=round(pct(overhead, 50), 3),
    )
    stages = {k: round(pct([r[k] for r in ok if k in r], 50), 4) for k in STAGES}
    return latency, stages, ok
