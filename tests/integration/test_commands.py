"""The commands a user runs first, in a fresh process with no AWS settings at all (as a new shell has):
nothing may lean on an environment the local stack used to set for its own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _fresh_env(samples: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    return env | {"FACEPIPE_SAMPLES": str(samples)}


def test_facepipe_run_answers_and_annotates_a_clip(samples, gallery_path, clip_factory, tmp_path):
    done = subprocess.run(
        [
            str(BIN / "facepipe"),
            "run",
            str(clip_factory("kit_with_rose.jpg")),
            "--gallery",
            str(gallery_path),
            "--students",
            str(samples / "students.json"),
            "--annotate",
            str(tmp_path / "frames"),
            "--json",
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_fresh_env(samples),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (line,) = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
    assert sorted(p["name"] for p in line["people"]) == ["Kit Harington", "Rose Leslie"]
    # Which input each result is about, and from which device.
    assert (line["file"], line["device_id"]) == (str(clip_factory("kit_with_rose.jpg")), "local-pi")
    assert len(list((tmp_path / "frames").glob("*.jpg"))) == line["frames_analyzed"] == 3


def test_the_demo_runs_end_to_end_then_serves_the_console_until_ctrl_c(samples, tmp_path):
    """`make demo`'s job: enroll, recognize the probes, six clips through the stack and the device service; then
    it prints the console's address and serves it (the demo's camera on its live page) until Ctrl-C, which stops
    the console and the stack cleanly. (`--no-console`, which ends after the clips: tests/unit/test_cli.py.)"""
    import re
    import signal

    import requests

    demo = subprocess.Popen(
        [sys.executable, "-u", "-m", "facepipe.cli.demo", "--out", str(tmp_path / "demo-out")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env=_fresh_env(samples),
    )
    try:
        assert demo.stdout is not None
        address, said = None, []
        for line in demo.stdout:
            said.append(line)
            found = re.search(r"The console: (http://127\.0\.0\.1:\d+/)", line)
            if found:
                address = found.group(1)
                break
        printed = "".join(said)
        assert address, f"the demo ended without serving the console:\n{printed[-3000:]}"
        # Keep reading what it prints (the console's process shares its output): a full pipe would block it.
        import threading

        threading.Thread(target=lambda: said.extend(demo.stdout), daemon=True).start()
        assert "results 6, missing 0" in printed
        assert "demo-pi clip 000003: Kit Harington (kit_harington)" in printed
        assert list((tmp_path / "demo-out" / "frames").glob("*.jpg"))
        for _ in range(100):
            try:
                live = requests.get(address, timeout=10)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        assert (
            live.status_code == 200
            and 'data-device="demo-pi"' in live.text
            and "Kit Harington" in (requests.get(address + "history?person=kit_harington", timeout=30).text)
        )
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=60) == 0, "".join(said)[-3000:]
    finally:
        if demo.poll() is None:
            demo.kill()
