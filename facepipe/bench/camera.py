"""``camera``: the way `make demo` runs: a fresh local stack (cold), then a device service in the same
process sending a camera's 2 clips/s and showing each result, on this machine's cores."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from facepipe.bench.report import Camera
from facepipe.bench.stats import pct
from facepipe.identity.gallery import Gallery
from facepipe.identity.records import StudentRecord


def run_like_the_demo(clips: list[Path], gallery: Gallery, students: list[StudentRecord], count: int) -> Camera:
    """``count`` clips (``clips`` in turn) at camera pace, from a stack started just now."""
    from facepipe_device.sources import FileSource

    from facepipe.local.camera import run_camera
    from facepipe.local.stack import local_stack

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, local_stack() as stack:
        ready_s = time.perf_counter() - started
        stack.load(gallery=gallery, students=students)
        folder = Path(tmp) / "camera"
        folder.mkdir()
        for i, clip in enumerate(clips):
            (folder / f"{i:03d}{clip.suffix}").write_bytes(clip.read_bytes())
        summary, shown = run_camera(
            stack, FileSource(folder, loop=True), Path(tmp) / "spool", device_id="bench-camera", max_clips=count
        )
    latencies = [s.latency_s for s in shown if s.latency_s is not None]
    return Camera(
        clips=count,
        answered=summary.results,
        missing=summary.missing,
        stack_ready_s=round(ready_s, 2),
        first_clip_s=round(latencies[0], 3) if latencies else None,
        p50=round(pct(latencies, 50), 3),
        p95=round(pct(latencies, 95), 3),
        max=round(max(latencies), 3) if latencies else None,
    )
