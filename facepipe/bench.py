"""`facepipe bench`: accuracy, recognition cost, latency, throughput, cold start and memory, measured on
the local stack with clips made from the held-out sample probes (never the enrollment photos).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from facepipe.settings import Settings

ONE_FACE_PROBES = ["obama-480p.jpg", "alex_lacamoire1.jpg", "johnsnow_test1.jpg", "obama1.jpg", "obama_small.jpg"]


def register(sub: Any) -> None:
    p = sub.add_parser(
        "bench",
        help="measure accuracy, recognition cost, latency, throughput, cold start and memory",
        description=__doc__,
    )
    p.add_argument("--clips", type=int, default=30, help="clips for the latency run (default: %(default)s)")
    p.add_argument("--concurrency", default="1,2,4,8", help="clips in flight for throughput (default: %(default)s)")
    p.add_argument("--throughput-clips", type=int, default=16, help="clips per concurrency level")
    p.add_argument(
        "--soak",
        nargs="?",
        const=600,
        type=int,
        metavar="N",
        help="also upload N clips (default 600) at 2 clips/s and watch the backlog",
    )
    p.add_argument("--json", type=Path, metavar="OUT", help="write the report here")
    p.add_argument("--plot", type=Path, metavar="OUT.png", help="latency distribution and throughput")
    p.add_argument("--workers", type=int, help="recognize workers (default: one per core)")
    p.set_defaults(handler=cmd_bench)


def pct(values: list[float], q: float) -> float:
    """The q-th percentile, interpolated between the nearest ranks (the device's summary uses the same)."""
    return float(np.percentile(values, q)) if values else float("nan")


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError, StopIteration):
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        cpu = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    libs = {}
    for name in (
        "dlib-bin",
        "face_recognition",
        "opencv-python-headless",
        "numpy",
        "moto",
        "boto3",
        "aws-lambda-powertools",
    ):
        try:
            libs[name] = version(name)
        except Exception:
            libs[name] = "missing"
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": libs,
    }


# --- clips ----------------------------------------------------------------------------------------
def make_bench_clips(samples: Path, out: Path) -> list[tuple[Path, set[str], int, str]]:
    """(clip, expected people, expected unknown faces, probe) for every probe, panning and zooming."""
    from facepipe.clipmaker import make_clip
    from facepipe.images import load_rgb

    with (samples / "probes" / "expected.csv").open() as handle:
        expected = {
            r["file"]: ({p for p in r["people"].split(";") if p}, int(r["unknown_faces"]))
            for r in csv.DictReader(handle)
        }
    clips = []
    for i, (probe, (people, unknown)) in enumerate(sorted(expected.items())):
        image = load_rgb(samples / "probes" / probe, max_bytes=10**8, max_pixels=10**9)
        for motion in ("pan", "zoom"):
            path = make_clip(image, out / f"{probe.rsplit('.', 1)[0]}-{motion}.mp4", motion=motion, seed=i)
            clips.append((path, people, unknown, probe))
    return clips


# --- recognition cost -----------------------------------------------------------------------------
def bench_recognize(gallery: Any, clips: list[Path], settings: Settings) -> dict[str, Any]:
    """Per-frame time of our recognize path vs face_recognition's defaults on the same 640x480 frames."""
    import cv2

    from facepipe import faces
    from facepipe.video import decode_clip

    fr = faces._face_recognition()  # the baseline is the library's own defaults
    frames = []
    for clip in clips:
        decoded = decode_clip(clip, frames_wanted=settings.frames_per_clip, max_seconds=5, max_pixels=10**8)
        frames += [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for _, _, f in decoded.frames]
    ours, default, same = [], [], 0
    faces.recognize_image(frames[0], gallery, tolerance=settings.match_tolerance)  # warm both paths
    for frame in frames:
        start = time.perf_counter()
        a = faces.recognize_image(frame, gallery, tolerance=settings.match_tolerance, max_side=settings.detect_max_side)
        ours.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        boxes = fr.face_locations(frame, number_of_times_to_upsample=1)
        encodings = np.asarray(fr.face_encodings(frame, boxes)).reshape(len(boxes), 128)
        b = faces.match_encodings(encodings, gallery, tolerance=settings.match_tolerance)
        default.append((time.perf_counter() - start) * 1000)
        same += sorted(f.id for f in a) == sorted(i for i, _ in b)
    return {
        "frames": len(frames),
        "frame_size": [int(frames[0].shape[1]), int(frames[0].shape[0])],
        "p50_ms": round(pct(ours, 50), 1),
        "p95_ms": round(pct(ours, 95), 1),
        "default_p50_ms": round(pct(default, 50), 1),
        "default_p95_ms": round(pct(default, 95), 1),
        "ratio_to_default": round(pct(ours, 50) / pct(default, 50), 3),
        "same_answers": same,
        "same_answers_ratio": round(same / len(frames), 3),
    }


# --- the stack ------------------------------------------------------------------------------------
class Runner:
    """Uploads clips through the running stack and measures each one."""

    def __init__(self, stack: Any) -> None:
        from facepipe.local.client import ResultCollector

        self.stack = stack
        self.collector = ResultCollector(stack.outputs.queue_url)
        self.seq = 0
        self.lock = threading.Lock()

    def one(self, clip: Path, device: str) -> dict[str, Any]:
        from facepipe.aws_clients import client
        from facepipe.local.client import upload_clip

        with self.lock:
            self.seq += 1
            seq = self.seq
        start = time.monotonic()
        upload = upload_clip(clip, bucket=self.stack.outputs.bucket, device_id=device, seq=seq)
        uploaded = time.monotonic()
        if not self.collector.wait([upload.key], timeout_s=120):
            return {"key": upload.key, "missing": True}
        message, arrived = self.collector.results[upload.key]
        timings = message.get("timings_ms", {})
        started_at = None
        if message.get("execution_id"):
            try:
                described = client("stepfunctions").describe_execution(executionArn=message["execution_id"])
                started_at = described["startDate"].astimezone(UTC).timestamp()
            except Exception:
                started_at = None
        latency = arrived - start
        row: dict[str, Any] = {
            "key": upload.key,
            "message": message,
            "latency_s": latency,
            "upload_s": uploaded - start,
        }
        if started_at is not None:
            # Wall clock: the execution's start against the moment the upload finished.
            row["trigger_s"] = max(0.0, started_at - (time.time() - (time.monotonic() - uploaded)))
        names = ("total", "extract", "recognize", "recognize_total", "enrich")
        stage = {name: float(timings.get(name, float("nan"))) / 1000 for name in names}
        row["recognize_total_s"] = stage["recognize_total"]
        row["execution_s"] = stage["total"]
        row["extract_s"], row["recognize_s"], row["enrich_s"] = stage["extract"], stage["recognize"], stage["enrich"]
        trigger = float(row.get("trigger_s", 0.0))
        row["publish_receive_s"] = latency - (uploaded - start) - trigger - stage["total"]
        return row

    def close(self) -> None:
        self.collector.stop()


def score(rows: list[dict[str, Any]], truth: dict[str, tuple[set[str], int]]) -> dict[str, Any]:
    """Identity precision/recall per clip and per frame, and unknown faces reported as unknown."""
    tp = fp = fn = ftp = ffp = ffn = unknown_expected = unknown_found = 0
    per_clip = []
    for row in rows:
        expected, unknown = truth[row["key"]]
        message = row.get("message") or {}
        got = {p["id"] for p in message.get("people", [])}
        tp += len(got & expected)
        fp += len(got - expected)
        fn += len(expected - got)
        unknown_expected += unknown
        unknown_found += min(unknown, int(message.get("unknown_faces", 0)))
        for frame in message.get("frames", []):
            ids = {f["id"] for f in frame["faces"] if f["id"] != "unknown"}
            ftp += len(ids & expected)
            ffp += len(ids - expected)
            ffn += len(expected - ids)
        per_clip.append(
            {
                "key": row["key"],
                "expected": sorted(expected),
                "reported": sorted(got),
                "unknown_expected": unknown,
                "unknown_reported": message.get("unknown_faces"),
            }
        )
    return {
        "precision": round(tp / (tp + fp), 4) if tp + fp else 1.0,
        "recall": round(tp / (tp + fn), 4) if tp + fn else 1.0,
        "per_frame_precision": round(ftp / (ftp + ffp), 4) if ftp + ffp else 1.0,
        "per_frame_recall": round(ftp / (ftp + ffn), 4) if ftp + ffn else 1.0,
        "unknown_faces_expected": unknown_expected,
        "unknown_faces_reported_as_unknown": unknown_found,
        "clips": per_clip,
    }


def cold_start(stack: Any, frame_event: dict[str, Any]) -> dict[str, float]:
    """A fresh recognize process: start to first result, and its peak RSS."""
    app = stack.template.function_app("RecognizeFunction")
    code = (
        "import json,resource,sys,time;t=time.monotonic();"
        "from facepipe.local.lambdas import LambdaContext, load_handler;"
        f"h=load_handler(__import__('pathlib').Path({str(app)!r}));"
        "r=h(json.loads(sys.stdin.read()), LambdaContext('cold'));"
        "print(json.dumps({'faces':len(r['faces']),'rss_mb':resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024}))"
    )
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(frame_event),
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=True,
    )
    elapsed = time.monotonic() - start
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {"cold_start_s": round(elapsed, 3), "rss_mb": round(result["rss_mb"], 1)}


def worker_rss_mb(pids: list[int]) -> float:
    peak = 0.0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        except OSError:
            continue
    return round(peak, 1)


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from facepipe.enroll import enroll
    from facepipe.local.stack import local_stack
    from facepipe.records import validate_records

    samples = settings.samples_dir.resolve()
    report: dict[str, Any] = {
        "machine": machine(),
        "settings": {
            "frames_per_clip": settings.frames_per_clip,
            "detect_max_side": settings.detect_max_side,
            "match_tolerance": settings.match_tolerance,
        },
    }
    progress = tqdm(total=6 + (1 if args.soak else 0), desc="facepipe bench", unit="step", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        gallery, _ = enroll(samples / "people", settings)
        clips = make_bench_clips(samples, Path(tmp))
        progress.update()
        one_face = [c for c, _, _, probe in clips if probe in ONE_FACE_PROBES]
        report["recognize"] = bench_recognize(gallery, one_face, settings)
        progress.update()
        with local_stack(workers=args.workers) as stack:
            stack.load(gallery=gallery, students=validate_records(samples / "students.json").records)
            runner = Runner(stack)
            try:
                # Accuracy: every probe clip once.
                truth: dict[str, tuple[set[str], int]] = {}
                rows = []
                for clip, people, unknown, _ in clips:
                    row = runner.one(clip, "bench-accuracy")
                    truth[row["key"]] = (people, unknown)
                    rows.append(row)
                report["accuracy"] = score(rows, truth)
                progress.update()
                # Latency: one-face clips, one at a time (a camera's steady state).
                latency_rows = [runner.one(one_face[i % len(one_face)], "bench-latency") for i in range(args.clips)]
                ok = [r for r in latency_rows if not r.get("missing")]
                lat = [r["latency_s"] for r in ok]
                # Recognition compute: every frame's recognize time, spread over the cores that run it (with 3
                # frames and 2 workers the third frame waits for a core: that is compute, not stack overhead).
                cores = max(1, min(stack.workers, settings.frames_per_clip))
                overhead = [r["latency_s"] - r["recognize_total_s"] / cores for r in ok]
                strict = [r["latency_s"] - r["recognize_s"] for r in ok]
                report["latency_s"] = {
                    "clips": len(latency_rows),
                    "missing": len(latency_rows) - len(ok),
                    "p50": round(pct(lat, 50), 3),
                    "p95": round(pct(lat, 95), 3),
                    "max": round(max(lat), 3) if lat else None,
                    "overhead_p50": round(pct(overhead, 50), 3),
                    "overhead_vs_slowest_frame_p50": round(pct(strict, 50), 3),
                }
                report["stages_s_p50"] = {
                    k: round(pct([r[k] for r in ok if k in r], 50), 4)
                    for k in (
                        "upload_s",
                        "trigger_s",
                        "execution_s",
                        "extract_s",
                        "recognize_s",
                        "enrich_s",
                        "publish_receive_s",
                    )
                }
                report["_latencies"] = lat
                progress.update()
                # Throughput: c clips in flight at a time.
                report["throughput"] = []
                for level in [int(c) for c in str(args.concurrency).split(",") if c]:
                    start = time.monotonic()
                    with ThreadPoolExecutor(max_workers=level) as pool:
                        done = list(
                            pool.map(
                                lambda i, level=level: runner.one(
                                    one_face[i % len(one_face)], f"bench-c{level}-{i % level}"
                                ),
                                range(args.throughput_clips),
                            )
                        )
                    elapsed = time.monotonic() - start
                    report["throughput"].append(
                        {
                            "concurrency": level,
                            "clips": len(done),
                            "missing": sum(1 for d in done if d.get("missing")),
                            "clips_per_s": round(len(done) / elapsed, 3),
                        }
                    )
                progress.update()
                if args.soak:
                    report["soak"] = soak(runner, one_face, args.soak)
                    progress.update()
                recognize = next(f for f in stack.runtime.functions.values() if "Recognize" in f.name)
                report["worker_peak_rss_mb"] = worker_rss_mb(recognize.pool.pids() if recognize.pool else [])
                report["warm_pool_start_s"] = round(stack.cold_start_s, 3)
                event = {
                    "clip": ok[0]["message"]["clip"] | {"device_id": "cold", "version_id": None},
                    "frame": {
                        "bucket": stack.outputs.bucket,
                        "key": ok[0]["message"]["frames"][0]["key"],
                        "index": 0,
                        "t_ms": 0.0,
                    },
                }
                event["clip"].pop("captured_at", None)
                event["clip"].pop("seq", None)
                cold = cold_start(stack, event)
                report["cold_start_s"] = cold["cold_start_s"]
                report["cold_worker_rss_mb"] = cold["rss_mb"]
                report["duplicates"] = runner.collector.duplicates
                progress.update()
            finally:
                runner.close()
    progress.close()
    latencies = report.pop("_latencies")
    print_report(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
        print(f"Report: {args.json}")
    if args.plot:
        plot(report, latencies, args.plot)
        print(f"Plot: {args.plot}")
    return 0


def soak(runner: Runner, clips: list[Path], total: int, rate: float = 2.0) -> dict[str, Any]:
    """Upload ``total`` clips at ``rate`` clips/s from one device and sample the backlog as it goes."""
    from tqdm import tqdm

    keys: list[str] = []
    backlog: list[tuple[float, int]] = []
    start = time.monotonic()
    results: list[dict[str, Any]] = []
    with ThreadPoolExecutor(max_workers=16) as pool:
        futures = []
        for i in tqdm(range(total), desc="soak 2 clips/s", file=sys.stderr, leave=False):
            due = start + i / rate
            time.sleep(max(0.0, due - time.monotonic()))
            futures.append(pool.submit(runner.one, clips[i % len(clips)], "bench-soak"))
            answered = sum(1 for f in futures if f.done())
            backlog.append((time.monotonic() - start, len(futures) - answered))
        results = [f.result() for f in futures]
    keys = [r["key"] for r in results]
    tenth = max(1, len(backlog) // 10)
    first = statistics.mean(b for _, b in backlog[:tenth])
    last = statistics.mean(b for _, b in backlog[-tenth:])
    lat = [r["latency_s"] for r in results if not r.get("missing")]
    return {
        "clips": total,
        "answered": len(lat),
        "missing": total - len(lat),
        "unique_keys": len(set(keys)),
        "backlog_first_tenth": round(first, 2),
        "backlog_last_tenth": round(last, 2),
        "backlog_grows": last > first + 2,
        "latency_p50_s": round(pct(lat, 50), 3),
        "latency_p95_s": round(pct(lat, 95), 3),
    }


def print_report(report: dict[str, Any]) -> None:
    a, r, lat = report["accuracy"], report["recognize"], report["latency_s"]
    print(
        f"Machine: {report['machine']['cores']} cores, {report['machine']['cpu']}, Python {report['machine']['python']}"
    )
    print(
        f"Accuracy (per clip): precision {a['precision']:.3f}, recall {a['recall']:.3f}; per frame: "
        f"precision {a['per_frame_precision']:.3f}, recall {a['per_frame_recall']:.3f}; unknown faces reported "
        f"as unknown {a['unknown_faces_reported_as_unknown']}/{a['unknown_faces_expected']}"
    )
    print(
        f"Recognize per frame ({r['frame_size'][0]}x{r['frame_size'][1]}, {r['frames']} frames): p50 {r['p50_ms']} ms, "
        f"p95 {r['p95_ms']} ms; face_recognition defaults p50 {r['default_p50_ms']} ms; ratio {r['ratio_to_default']}; "
        f"same answers {r['same_answers']}/{r['frames']}"
    )
    print(
        f"End-to-end latency ({lat['clips']} clips): p50 {lat['p50']} s, p95 {lat['p95']} s, max {lat['max']} s; "
        f"overhead (latency - recognize compute over the cores) p50 {lat['overhead_p50']} s "
        f"(latency - slowest frame: {lat['overhead_vs_slowest_frame_p50']} s)"
    )
    print("Stages p50 (s): " + ", ".join(f"{k.removesuffix('_s')} {v}" for k, v in report["stages_s_p50"].items()))
    print(
        "Throughput: "
        + ", ".join(f"{t['concurrency']} in flight: {t['clips_per_s']} clips/s" for t in report["throughput"])
    )
    if "soak" in report:
        s = report["soak"]
        print(
            f"Soak: {s['answered']}/{s['clips']} answered, "
            f"backlog {s['backlog_first_tenth']} -> {s['backlog_last_tenth']}"
            f" ({'grows' if s['backlog_grows'] else 'steady'}), p50 {s['latency_p50_s']} s, p95 {s['latency_p95_s']} s"
        )
    print(
        f"Recognize cold start {report['cold_start_s']} s (fresh process to first result); worker peak RSS "
        f"{report['worker_peak_rss_mb']} MB"
    )


def plot(report: dict[str, Any], latencies: list[float], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.hist(latencies, bins=20, color="#3a7")
    for q, style in ((50, "--"), (95, ":")):
        left.axvline(pct(latencies, q), color="k", linestyle=style, label=f"p{q} {pct(latencies, q):.2f} s")
    left.set(title="End-to-end latency per clip", xlabel="seconds (upload start to result)", ylabel="clips")
    left.legend()
    levels = [t["concurrency"] for t in report["throughput"]]
    right.plot(levels, [t["clips_per_s"] for t in report["throughput"]], marker="o")
    right.axhline(2.0, color="r", linestyle="--", label="one camera in real time (2 clips/s)")
    right.set(title="Throughput", xlabel="clips in flight", ylabel="clips per second", xscale="log", xticks=levels)
    right.set_xticklabels([str(x) for x in levels])
    right.minorticks_off()
    right.legend()
    fig.suptitle(f"facepipe bench on {report['machine']['cores']} cores")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
