"""The report for people: a summary on the terminal and a plot of latency and throughput."""

from __future__ import annotations

from pathlib import Path

from facepipe.bench.report import BenchReport, VideoScore
from facepipe.bench.stats import pct


def print_report(report: BenchReport) -> None:
    m = report.machine
    print(f"Machine: {m.cores} cores, {m.cpu}, Python {m.python}")
    if (st := report.strangers) is not None:
        print(
            f"Strangers named as the gallery grows ({st.identities} identities, per face, tolerance {st.tolerance}, "
            f"margin {st.margin}):"
        )
        for pt in st.points:
            print(
                f"  {pt.enrolled:>3} enrolled: {pt.stranger_named:.1%} of {pt.stranger_faces} stranger faces named "
                f"(nearest p1 {pt.nearest_p1}, p5 {pt.nearest_p5}); the walking strangers "
                f"{pt.never_enrolled_named:.1%}; own faces named {pt.genuine_named:.1%}; with the quality rule: "
                f"strangers {pt.stranger_named_with_quality:.1%}, own {pt.genuine_named_with_quality:.1%}"
            )
        print(
            "  stranger faces named, by whose they were: "
            + ", ".join(f"{k} {v}" for k, v in st.named_by_source.items())
        )
    if (sc := report.scale) is not None:
        from facepipe.bench.scale import print_scale

        print_scale(sc)
    if (cl := report.classroom) is not None:
        from facepipe.bench.classroom import print_classroom

        print_classroom(cl)
    if (er := report.erase) is not None:
        print("Erase by the sightings index (one person named in 20 stored clips; 300 enrolled, 24 cameras):")
        for point in er.index:
            calls = ", ".join(f"{k} {v}" for k, v in point.requests.items())
            print(
                f"  {point.clips_stored:>6} clips stored: {point.clips_deleted} deleted, "
                f"{point.requests_total} requests ({calls}), {point.seconds} s on moto"
            )
        if (sw := er.sweep) is not None:
            print(
                f"Sweep on the local stack ({sw.workers} workers): {sw.clips} clips in {sw.seconds} s, "
                f"{sw.seconds_per_1000_clips} s per 1,000 clips; {sw.clips_matched} matched"
            )
    if (a := report.accuracy) is not None:
        print(
            f"Accuracy (per clip): precision {a.precision:.3f}, recall {a.recall:.3f}; per frame: "
            f"precision {a.per_frame_precision:.3f}, recall {a.per_frame_recall:.3f}; unknown faces reported "
            f"as unknown {a.unknown_faces_reported_as_unknown}/{a.unknown_faces_expected}"
        )
    if (r := report.recognize) is not None:
        print(
            f"Recognize per frame ({r.frame_size[0]}x{r.frame_size[1]}, {r.frames} frames): p50 {r.p50_ms} ms, "
            f"p95 {r.p95_ms} ms; face_recognition defaults p50 {r.default_p50_ms} ms; ratio {r.ratio_to_default}; "
            f"same answers {r.same_answers}/{r.frames}"
        )
    if (e := report.encoder) is not None:
        print(
            f"Encoder ({e.faces} faces, one thread): ONNX {e.onnx_ms_per_face} ms/face ({e.onnx_batch_ms_per_face} "
            f"batched), dlib {e.dlib_ms_per_face} ms/face ({e.speedup}x); largest distance drift "
            f"{e.max_distance_drift}"
        )
    if (cnn := report.cnn_detector) is not None:
        print(
            f"CNN face detector ({cnn.frames} frames): ONNX {cnn.onnx_frame_ms} ms a frame, dlib "
            f"{cnn.dlib_frame_ms} ms ({cnn.dlib_frames} frames, same faces in {cnn.same_faces}); following a face "
            f"{cnn.follow_ms} ms (p95 "
            f"{cnn.follow_ms_p95}), found {cnn.followed}/{cnn.follows}"
        )
    for d in report.detectors:
        print(
            f"Detector {d.model} (small-face search, upsample {d.upsample}, {d.frames} frames): {d.frame_ms_p50} ms a "
            f"frame, {d.faces} faces, smallest {d.smallest_face_px} px"
        )
    if (lat := report.latency_s) is not None:
        print(
            f"End-to-end latency ({lat.clips} clips): p50 {lat.p50} s, p95 {lat.p95} s, max {lat.max} s; "
            f"overhead (latency - the three stages) p50 {lat.overhead_p50} s"
        )
    if report.stages_s_p50:
        print("Stages p50 (s): " + ", ".join(f"{k.removesuffix('_s')} {v}" for k, v in report.stages_s_p50.items()))
    if report.throughput:
        print(
            "Throughput: " + ", ".join(f"{t.concurrency} in flight: {t.clips_per_s} clips/s" for t in report.throughput)
        )
    if (s := report.soak) is not None:
        print(
            f"Soak: {s.answered}/{s.clips} answered, backlog {s.backlog_first_tenth} -> {s.backlog_last_tenth}"
            f" ({'grows' if s.backlog_grows else 'steady'}), p50 {s.latency_p50_s} s, p95 {s.latency_p95_s} s"
        )
    if (v := report.videos) is not None:
        for name, ours in v.ours.items():
            print(
                f"Videos, {name} ({ours.clips} clips): {_score(ours)}; plain library: {_score(v.plain_library[name])}"
            )
        print(
            f"Per-clip recognize compute, clips with a face: ours p50 {v.ours_clip_ms_p50} ms (p95 "
            f"{v.ours_clip_ms_p95}); budget (three frames with dlib-bin's encoder, before the speed issue) p50 "
            f"{v.reference_clip_ms_p50} ms; plain library's defaults p50 {v.plain_library_clip_ms_p50} ms"
        )
        if (cv := v.camera_view) is not None:
            print(
                f"Enrolled from the camera's view only (no portraits; unknown faces of {cv.seen_before_clips} earlier "
                f"clips labelled, crops per person {cv.labelled}), on the other clips:"
            )
            for name, camera in cv.camera_view.items():
                print(
                    f"  {name} ({camera.clips} clips): {_score(camera)}; from portraits: {_score(cv.portraits[name])}"
                )
    if (c := report.camera) is not None:
        print(
            f"As the demo runs (a device at 2 clips/s, stack started cold, one process): {c.answered}/{c.clips} "
            f"answered, stack ready in {c.stack_ready_s} s, first clip {c.first_clip_s} s, p50 {c.p50} s, "
            f"p95 {c.p95} s, max {c.max} s"
        )
    if (cost := report.cost) is not None:
        print(
            f"AWS cost per camera-day ({cost.architecture}, list prices, measured stage times): "
            f"${cost.per_camera_day:.2f} = " + ", ".join(f"{k} ${v:.3f}" for k, v in cost.lines.items())
        )
    if (gated := report.cost_change_gate) is not None:
        print(
            f"With the device's change gate (a classroom still 90% of the day, a heartbeat every 5 s): "
            f"{gated.clips_per_day} clips a day, ${gated.per_camera_day:.2f} a camera-day"
        )
    if report.cold_start_s is None:
        return
    print(
        f"Recognize cold start {report.cold_start_s} s (fresh process to first result, median of 3; max "
        f"{report.cold_start_max_s} s); worker peak RSS "
        f"{report.worker_peak_rss_mb} MB"
    )


def plot(report: BenchReport, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    latencies = report.latencies
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.hist(latencies, bins=20, color="#3a7")
    for q, style in ((50, "--"), (95, ":")):
        left.axvline(pct(latencies, q), color="k", linestyle=style, label=f"p{q} {pct(latencies, q):.2f} s")
    left.set(title="End-to-end latency per clip", xlabel="seconds (upload start to result)", ylabel="clips")
    left.legend()
    levels = [t.concurrency for t in report.throughput]
    right.plot(levels, [t.clips_per_s for t in report.throughput], marker="o")
    right.axhline(2.0, color="r", linestyle="--", label="one camera in real time (2 clips/s)")
    right.set(title="Throughput", xlabel="clips in flight", ylabel="clips per second", xscale="log", xticks=levels)
    right.set_xticklabels([str(x) for x in levels])
    right.minorticks_off()
    right.legend()
    fig.suptitle(f"facepipe bench on {report.machine.cores} cores")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)


def _score(score: VideoScore) -> str:
    return (
        f"recall {score.recall:.3f} ({score.named}/{score.appearances}), precision {score.precision:.3f}, "
        f"wrong {score.wrong_names}, strangers named {score.stranger_clips_named}/{score.stranger_clips}"
    )
