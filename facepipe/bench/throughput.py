"""``throughput`` (clips in flight against clips per second) and ``soak`` (a camera's rate for a while)."""

from __future__ import annotations

import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from facepipe.bench.report import Soak, ThroughputLevel
from facepipe.bench.runner import Runner
from facepipe.bench.stats import pct


def measure_throughput(runner: Runner, clips: list[Path], levels: list[int], per_level: int) -> list[ThroughputLevel]:
    measured = []
    for level in levels:
        # One device per level, registered before the clock starts; its collector stops after the level
        # (every idle long-poll of another queue costs the one process that runs the local stack).
        device = f"bench-c{level}"
        runner.collector(device)
        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=level) as pool:
            done = list(pool.map(lambda i, device=device: runner.one(clips[i % len(clips)], device), range(per_level)))
        elapsed = time.monotonic() - start
        runner.release(device)
        measured.append(
            ThroughputLevel(
                concurrency=level,
                clips=len(done),
                missing=sum(1 for d in done if d.get("missing")),
                clips_per_s=round(len(done) / elapsed, 3),
            )
        )
    return measured


SOAK_DEVICES = 3


def soak(runner: Runner, clips: list[Path], total: int, rate: float = 2.0) -> Soak:
    """Upload ``total`` clips at ``rate`` clips/s in turn from three devices (each its own queue) and sample
    the backlog as it goes."""
    from tqdm import tqdm

    backlog: list[tuple[float, int]] = []
    for n in range(SOAK_DEVICES):
        runner.collector(f"bench-soak-{n}")  # registered before the clock starts
    start = time.monotonic()
    results: list[dict[str, Any]] = []
    with ThreadPoolExecutor(max_workers=16) as pool:
        futures = []
        for i in tqdm(range(total), desc="soak 2 clips/s", file=sys.stderr, leave=False):
            due = start + i / rate
            time.sleep(max(0.0, due - time.monotonic()))
            futures.append(pool.submit(runner.one, clips[i % len(clips)], f"bench-soak-{i % SOAK_DEVICES}"))
            answered = sum(1 for f in futures if f.done())
            backlog.append((time.monotonic() - start, len(futures) - answered))
        results = [f.result() for f in futures]
    keys = [r["key"] for r in results]
    tenth = max(1, len(backlog) // 10)
    first = statistics.mean(b for _, b in backlog[:tenth])
    last = statistics.mean(b for _, b in backlog[-tenth:])
    lat = [r["latency_s"] for r in results if not r.get("missing")]
    return Soak(
        clips=total,
        answered=len(lat),
        missing=total - len(lat),
        unique_keys=len(set(keys)),
        backlog_first_tenth=round(first, 2),
        backlog_last_tenth=round(last, 2),
        backlog_grows=last > first + 2,
        latency_p50_s=round(pct(lat, 50), 3),
        latency_p95_s=round(pct(lat, 95), 3),
    )
