"""`facepipe bench`: runs each section's measurement in turn and writes the report.

Longer than ~250 lines: the one place the sections run in order and their options are parsed; each
section's measurement is a module of its own.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facepipe.bench import clips as bench_clips
from facepipe.bench.accuracy import score
from facepipe.bench.camera import run_like_the_demo
from facepipe.bench.cost import camera_day, change_gated_clips_per_day, template_defaults
from facepipe.bench.latency import measure_latency
from facepipe.bench.output import plot, print_report
from facepipe.bench.process import cold_start, machine, worker_rss_mb
from facepipe.bench.recognition import bench_cnn_detector, bench_detectors, bench_encoder, bench_recognize
from facepipe.bench.report import BenchReport, BenchSettings
from facepipe.bench.runner import Runner
from facepipe.bench.throughput import measure_throughput, soak
from facepipe.core.errors import FacepipeError
from facepipe.core.settings import Settings
from facepipe.local.template import StackTemplate

if TYPE_CHECKING:
    from facepipe.bench.devset import DevClip, LabelledVideo
    from facepipe.identity.gallery import Gallery


def register(sub: Any) -> None:
    p = sub.add_parser(
        "bench",
        help="measure accuracy, recognition cost, latency, throughput, cold start and memory",
        description="Accuracy, recognition cost, latency, throughput, cold start and memory, measured on the "
        "local stack with clips made from the held-out sample probes (never the enrollment photos).",
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
        help="also upload N clips (default 600) at 2 clips/s and watch the backlog (with --videos: the "
        "room-camera clips)",
    )
    p.add_argument(
        "--camera",
        type=int,
        default=40,
        metavar="N",
        help="clips a device sends at 2 clips/s to a stack started cold, as the demo runs (0: skip; default: "
        "%(default)s)",
    )
    p.add_argument(
        "--videos",
        type=Path,
        metavar="DIR",
        help="instead: recognition on a labelled folder of real videos (labels.csv with file,people; people/ to "
        "enroll), cut into 0.5 s clips as given and as a room camera sees them, beside the plain library's defaults",
    )
    p.add_argument(
        "--erase",
        nargs="?",
        const="200,2000,20000",
        metavar="N,N,...",
        help="instead: erase at scale - erase by the sightings index on stacks holding N stored clips (default "
        "200,2000,20000; one person named in 20), and the sweep's time per 1,000 clips on the local stack",
    )
    p.add_argument(
        "--strangers",
        type=Path,
        metavar="VIDEOS",
        help="instead: how often a stranger's face is named as the gallery grows, on every face of ../shared "
        "(samples, VIDEOS with its turning/ footage)",
    )
    p.add_argument(
        "--scale",
        nargs="?",
        const=True,
        metavar="DIR",
        help="instead: open-set identification at a school's scale on a folder of <set>/<person>/<photos> (default: "
        "FACEPIPE_FACES, ../shared/faces): 100-2,000 enrolled, the learned decision measured on people it was not "
        "learned on, grades by source (with --videos DIR, its footage too) and the gallery's cost",
    )
    p.add_argument(
        "--classroom",
        nargs="?",
        const=True,
        metavar="DIR",
        help="instead: a classroom of 30 students enrolled and 10 visitors, made from a folder of <set>/<person>/"
        "<photos> (default: FACEPIPE_FACES) at 1280x720 and 1920x1080, faces 24-90 px, through the local stack: "
        "faces found and named by size, wrong names, the state payload",
    )
    p.add_argument(
        "--sizes",
        default="100,300,1000,2000",
        metavar="N,N,...",
        help="with --scale: the gallery sizes measured (default: %(default)s)",
    )
    p.add_argument(
        "--learn",
        type=Path,
        metavar="FILE",
        help="with --scale: learn the decision model on every person of DIR and write it to FILE (the shipped one is "
        "facepipe/identity/decision_v1.json)",
    )
    p.add_argument(
        "--sweep-clips", type=int, default=100, help="real clips the --erase sweep run scans (default: %(default)s)"
    )
    p.add_argument("--json", type=Path, metavar="OUT", help="write the report here")
    p.add_argument("--plot", type=Path, metavar="OUT.png", help="latency distribution and throughput")
    p.add_argument("--workers", type=int, help="recognize workers (default: one per core)")
    p.set_defaults(handler=cmd_bench)


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from facepipe.identity.enroll import enroll
    from facepipe.identity.records import validate_records
    from facepipe.local.stack import local_stack

    if args.scale is not None:
        return _finish(cmd_bench_scale(args, settings), args)
    if args.classroom is not None:
        from facepipe.bench.classroom import bench_classroom

        folder = settings.faces_dir if args.classroom is True else Path(args.classroom)
        if not folder.is_dir():
            raise FacepipeError(
                f"{folder}: not a folder of <set>/<person>/<photos> (set FACEPIPE_FACES)", code="bad_faces_dir"
            )
        report = BenchReport(machine=machine(), settings=_settings_of(settings))
        try:
            report.classroom = bench_classroom(folder, settings, args.workers)
        except ValueError as exc:
            raise FacepipeError(str(exc), code="bad_faces_dir") from None
        return _finish(report, args)
    if args.learn is not None:
        raise FacepipeError("--learn goes with --scale DIR (the photos to learn from)", code="bad_arguments")
    if args.videos is not None:
        return _finish(cmd_bench_videos(args, settings), args)
    if args.strangers is not None:
        from facepipe.bench.strangers import bench_strangers

        report = BenchReport(machine=machine(), settings=_settings_of(settings))
        report.strangers = bench_strangers(
            settings.samples_dir.resolve(), args.strangers, settings.match_tolerance, settings.match_margin
        )
        return _finish(report, args)
    if args.erase is not None:
        from facepipe.bench.erase import bench_erase

        sizes = [int(n) for n in str(args.erase).split(",") if n]
        report = BenchReport(machine=machine(), settings=_settings_of(settings))
        report.erase = bench_erase(settings.samples_dir.resolve(), sizes, args.sweep_clips, args.workers)
        return _finish(report, args)
    samples = settings.samples_dir.resolve()
    report = BenchReport(
        machine=machine(),
        settings=_settings_of(settings),
    )
    progress = tqdm(total=7 + (1 if args.soak else 0), desc="facepipe bench", unit="step", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        gallery, _ = enroll(samples / "people", settings)
        clips = bench_clips.make_bench_clips(samples, Path(tmp))
        one_face = bench_clips.one_face(clips)
        progress.update()
        report.recognize = bench_recognize(gallery, one_face, settings)
        report.encoder = bench_encoder(one_face, settings)
        report.cnn_detector = bench_cnn_detector(one_face, settings)
        report.detectors = bench_detectors(one_face, settings)
        progress.update()
        with local_stack(workers=args.workers) as stack:
            stack.load(gallery=gallery, students=validate_records(samples / "students.json").records)
            runner = Runner(stack)
            stack.settle()
            try:
                rows = [(runner.one(c.path, "bench-accuracy"), c) for c in clips]  # every probe clip once
                report.accuracy = score([r for r, _ in rows], {r["key"]: (c.people, c.unknown_faces) for r, c in rows})
                progress.update()
                report.latency_s, report.stages_s_p50, answered = measure_latency(runner, one_face, args.clips)
                report.latencies = [r["latency_s"] for r in answered]
                progress.update()
                levels = [int(c) for c in str(args.concurrency).split(",") if c]
                report.throughput = measure_throughput(runner, one_face, levels, args.throughput_clips)
                progress.update()
                if args.soak:
                    report.soak = soak(runner, one_face, args.soak)
                    progress.update()
                recognize = stack.runtime.functions[stack.physical_id("RecognizeFunction")]
                report.worker_peak_rss_mb = worker_rss_mb(recognize.pool.pids())
                report.warm_pool_start_s = round(stack.cold_start_s, 3)
                first = answered[0]["message"]
                event = {
                    "clip": {k: first["clip"][k] for k in ("bucket", "key", "seq", "captured_at")}
                    | {"device_id": "cold"},
                    "frames": [{"index": f["index"], "t_ms": f["t_ms"]} for f in first["frames"]],
                }
                app = stack.template.function_app("RecognizeFunction")
                # Three fresh processes (one start varies by a few hundred ms with the machine's state): the median.
                starts = sorted(cold_start(app, event, stack.function_env("RecognizeFunction")) for _ in range(3))
                report.cold_start_s, report.cold_worker_rss_mb = starts[1]
                report.cold_start_max_s = starts[-1][0]
                report.duplicates = runner.duplicates
                progress.update()
            finally:
                runner.close()
        students = validate_records(samples / "students.json").records
        if args.camera:
            report.camera = run_like_the_demo([c.path for c in clips], gallery, students, args.camera)
        progress.update()
        stages = report.stages_s_p50
        measured = {
            "extract_ms": stages["extract_s"] * 1000,
            "recognize_ms": stages["recognize_s"] * 1000,
            "enrich_ms": stages["enrich_s"] * 1000,
            "execution_s": stages["execution_s"],
            "clip_bytes": round(sum(p.stat().st_size for p in one_face) / len(one_face)),
            **template_defaults(StackTemplate.load()),
        }
        report.cost = camera_day(**measured)
        report.cost_change_gate = camera_day(**measured, clips_per_day=change_gated_clips_per_day())
    progress.close()
    return _finish(report, args)


def cmd_bench_scale(args: argparse.Namespace, settings: Settings) -> BenchReport:
    from facepipe.bench.face_set import read_face_set
    from facepipe.bench.open_set import learn_shipped
    from facepipe.bench.scale import measure

    folder = settings.faces_dir if args.scale is True else Path(args.scale)
    data = f"{folder} ({', '.join(sorted(p.name for p in folder.iterdir() if p.is_dir()))})" if folder.is_dir() else ""
    try:
        face_set = read_face_set(folder, settings)
    except FileNotFoundError as exc:
        raise FacepipeError(str(exc), code="bad_faces_dir") from None
    if args.learn is not None:
        model = learn_shipped(
            face_set,
            data=f"{data}; faces found by {settings.detect_model}",
            tolerance=settings.match_tolerance,
            margin=settings.match_margin,
            min_height=settings.decisive_face_px,
        )
        args.learn.parent.mkdir(parents=True, exist_ok=True)
        args.learn.write_text(model.model_dump_json(indent=1) + "\n")
        print(f"decision model learned on {model.provenance.people} people written to {args.learn}", file=sys.stderr)
    report = BenchReport(machine=machine(), settings=_settings_of(settings))
    report.scale = measure(
        face_set,
        read_face_set(folder, settings, room=True),
        data=data,
        tolerance=settings.match_tolerance,
        margin=settings.match_margin,
        min_height=settings.decisive_face_px,
        strangers_target=settings.match_strangers_target,
        sizes=tuple(int(n) for n in str(args.sizes).split(",") if n),
        videos=args.videos,
        detector=settings.detect_model,
    )
    return report


def _settings_of(settings: Settings) -> BenchSettings:
    return BenchSettings(
        frames_per_clip=settings.frames_per_clip,
        detect_max_side=settings.detect_max_side,
        match_tolerance=settings.match_tolerance,
    )


def cmd_bench_videos(args: argparse.Namespace, settings: Settings) -> BenchReport:
    from facepipe.bench.camera_view import camera_view
    from facepipe.bench.devset import make_dev_clips, read_labels
    from facepipe.bench.videos import bench_videos
    from facepipe.identity.enroll import enroll
    from facepipe.local.stack import local_stack

    try:
        videos = read_labels(args.videos)
    except ValueError as exc:
        raise FacepipeError(str(exc)) from None
    if not (args.videos / "people").is_dir():
        raise FacepipeError(f"{args.videos}: no people/ folder to enroll")
    report = BenchReport(machine=machine(), settings=_settings_of(settings))
    with tempfile.TemporaryDirectory() as tmp:
        gallery, enrolled = enroll(args.videos / "people", settings)
        for path, reason in enrolled.errors:
            print(f"facepipe: {path}: {reason} (not enrolled)", file=sys.stderr)
        if not gallery.people:
            raise FacepipeError(f"{args.videos / 'people'}: nobody could be enrolled")
        clips = make_dev_clips(videos, Path(tmp) / "clips")
        talking_heads = list(clips)
        clips += _harder_clips(args.videos, videos, gallery, settings, Path(tmp) / "clips")
        print(f"{len(clips)} clips from {len(videos)} videos; {len(gallery.people)} people enrolled", file=sys.stderr)
        with local_stack(workers=args.workers) as stack:
            stack.load(gallery=gallery)
            runner = Runner(stack)
            stack.settle()
            try:
                report.videos = bench_videos(runner, clips, gallery, settings)
                report.videos.camera_view = camera_view(talking_heads, gallery, settings)
                if args.soak:
                    # One camera in real time on room video: the room-camera clips at 2 clips/s.
                    room = [c.path for c in clips if c.version != "as-given"]
                    report.soak = soak(runner, room, args.soak)
            finally:
                runner.close()
    return report


def _harder_clips(
    folder: Path, videos: list[LabelledVideo], gallery: Gallery, settings: Settings, out: Path
) -> list[DevClip]:
    """Issue 21's harder clips, when ``folder`` has ``turning/``: its videos (people enrolled from one frame of their
    own video into ``gallery``, with their reference quality) and street crowds of the strangers passing; and the
    samples' people enrolled beside them (more faces for a stranger to land near)."""
    import dataclasses

    from facepipe.bench.devset import TURNING_FOLDER, crowd_clips, make_dev_clips, turning_enrollments, turning_videos
    from facepipe.identity.enroll import enroll, reference_of
    from facepipe.identity.gallery import GalleryPerson, GalleryPhoto

    turning = folder / TURNING_FOLDER
    if not turning.is_dir():
        return []
    if (settings.samples_dir / "people").is_dir():
        extra, _ = enroll(settings.samples_dir / "people", settings)
        for person in extra.people:
            if gallery.person(person.id) is None:
                gallery.upsert(person)
    for view in turning_enrollments(turning):
        encoding, graded = reference_of(view.image, view.box, settings)
        photo = GalleryPhoto(source=view.source, sha256="0" * 64, encoding=encoding, quality=graded)
        gallery.upsert(GalleryPerson(id=view.person_id, photos=[photo]))
    made = make_dev_clips(turning_videos(turning), out / "turning", pairs=False)
    clips = [dataclasses.replace(c, version=f"turning-{c.version}") for c in made]
    strangers = [v for v in videos if not v.people]
    passing = turning / "face-demographics-walking.gif"
    return clips + (crowd_clips(strangers, passing, out / "crowd") if strangers and passing.is_file() else [])


def _finish(report: BenchReport, args: argparse.Namespace) -> int:
    print_report(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report.as_json(), indent=2))
        print(f"Report: {args.json}")
    if args.plot and report.latencies:
        plot(report, args.plot)
        print(f"Plot: {args.plot}")
    if args.plot and report.scale is not None:
        from facepipe.bench.scale import plot_scale

        plot_scale(report.scale, args.plot)
        print(f"Plot: {args.plot}")
    return 0
