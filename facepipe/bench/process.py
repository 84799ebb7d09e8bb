"""``machine``, cold start and memory: what the numbers were measured on, and what a recognize process costs."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from facepipe.bench.report import Machine

LIBRARIES = (
    "dlib-bin",
    "face_recognition",
    "opencv-python-headless",
    "numpy",
    "moto",
    "boto3",
    "aws-lambda-powertools",
)


def machine() -> Machine:
    cpu = "unknown"
    with contextlib.suppress(OSError, StopIteration):
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        cpu = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    libraries = {}
    for name in LIBRARIES:
        try:
            libraries[name] = version(name)
        except Exception:
            libraries[name] = "missing"
    return Machine(
        cores=os.cpu_count(),
        cpu=cpu,
        python=platform.python_version(),
        platform=platform.platform(),
        libraries=libraries,
    )


def worker_rss_mb(pids: list[int]) -> float:
    """The highest peak RSS (VmHWM) among ``pids``."""
    peak = 0.0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        except OSError:
            continue
    return round(peak, 1)


def cold_start(app: Path, frame_event: dict[str, Any], env: dict[str, str]) -> tuple[float, float]:
    """A fresh process importing the recognize handler and answering one frame, as a cold Lambda container
    does: (seconds from process start to the answer, its peak RSS in MB). ``env``: the function's environment."""
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "facepipe.bench.coldstart", str(app)],
        input=json.dumps(frame_event),
        capture_output=True,
        text=True,
        env=os.environ | env,
        check=True,
    )
    elapsed = time.monotonic() - start
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return round(elapsed, 3), round(float(result["rss_mb"]), 1)
