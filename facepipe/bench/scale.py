"""Open-set identification at a school's scale (`facepipe bench --scale DIR`): who is named, wrongly named and
not named as the gallery grows to thousands, what the learned decision is worth on people it never saw, how faces
are graded on every source, and what a gallery of that size costs.

The people of ``DIR`` (facepipe.bench.face_set) are split in two halves **by person** (a hash of their name): the
decision (facepipe.identity.decision) is learned on one half (facepipe.bench.open_set) and measured on the other,
then the other way round (two-fold cross-validation); the figures pool both. Beside it, on the same trials, the
distance rule alone (tolerance and margin, as before the decision; faces graded the same). Probes are the photos
as they are, and again as a room camera shows them (each photo scaled so its face is 40-70 px, defocused, noisy,
compressed: facepipe.bench.face_set.as_room_camera) against the same galleries of photos.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from facepipe.bench.face_set import FaceSet
from facepipe.bench.gallery_cost import GalleryCost, measure_cost
from facepipe.bench.open_set import (
    COHORT_SIZE,
    TARGETS,
    TRACK_LENGTH,
    Trial,
    fold_of,
    learn_decision,
    model_of,
    named,
    pools_for,
    run_trial,
)
from facepipe.identity.decision import DecisionModel
from facepipe.vision import quality

SIZES = (100, 300, 1000, 2000)
HEIGHT_BINS = ((0, 80), (80, 120), (120, 200), (200, 10_000))
FACENESS_BINS = ((-9.0, 0.3), (0.3, 0.8), (0.8, 1.5), (1.5, 9.0))
CURVE_RATIOS = tuple(round(r, 2) for r in np.arange(0.60, 0.90, 0.01))


class Outcome(BaseModel):
    """One setting's figures over a set of trials (shares of probes)."""

    enrolled: int
    shots: int
    probe: str  # photo | track | room (a photo as a room camera shows it)
    genuine_probes: int
    stranger_probes: int
    padded: int  # most gallery places filled from the other half of the people (never probed) in one trial
    right: float
    wrong: float
    not_named: float
    strangers_named: float


class CurvePoint(BaseModel):
    ratio: float
    right: float
    wrong: float
    strangers_named: float


class QualityBin(BaseModel):
    measure: str  # height_px | faceness
    range: str
    genuine_probes: int
    right: float
    stranger_probes: int
    strangers_named: float


class SourceGrades(BaseModel):
    """How recognize grades the faces of one source (facepipe.vision.quality)."""

    source: str
    faces: int
    good: float
    weak: float
    poor: float
    frontal_sharp_100_200_px: int  # faces |yaw| < 0.2, sharpness >= 100, 100-200 px tall
    frontal_sharp_poor: int  # of those, graded poor (must be 0)


class ScaleReport(BaseModel):
    data: str
    detector: str  # the faces of the photos and videos found as recognize finds them (DETECT_MODEL)
    people: int
    photos: int
    no_face: int
    folds: int
    tolerance: float
    margin: float
    cohort_size: int
    strangers_target: float | None  # None: the default schedule (facepipe.identity.decision.DEFAULT_SCHEDULE)
    learned: list[list[tuple[int, float]]]  # the 0.5% ratio table learned on each fold's other half
    decision: list[Outcome]  # the learned decision, on people it was not learned on
    distance_only: list[Outcome]  # tolerance and margin alone, on the same trials
    operating_points: dict[str, Outcome]  # at 1,000 enrolled from one photo, photo probes: each target's figures
    curve: list[CurvePoint]  # the same trials, over the ratio
    by_quality: list[QualityBin]  # the same trials, by the probe's height and faceness
    grades: list[SourceGrades]
    cost: list[GalleryCost]


def _pooled(
    group: list[tuple[Trial, float]], *, tolerance: float, margin: float, ratio: float | None = None
) -> Outcome:
    """The figures of a group of trials, each with its ratio (or ``ratio`` for all)."""
    genuine, strangers, correct = [], [], []
    for trial, own in group:
        use = own if ratio is None else ratio
        genuine.append(named(trial.genuine, tolerance=tolerance, margin=margin, ratio=use))
        strangers.append(named(trial.strangers, tolerance=tolerance, margin=margin, ratio=use))
        correct.append(trial.genuine.correct)
    g, s, c = np.concatenate(genuine), np.concatenate(strangers), np.concatenate(correct)
    return Outcome(
        enrolled=group[0][0].enrolled,
        shots=0,
        probe="",
        genuine_probes=len(g),
        stranger_probes=len(s),
        padded=max(t.padded for t, _ in group),
        right=round(float((g & c).mean()), 4) if len(g) else 0.0,
        wrong=round(float((g & ~c).mean()), 4) if len(g) else 0.0,
        not_named=round(float((~g).mean()), 4) if len(g) else 0.0,
        strangers_named=round(float(s.mean()), 4) if len(s) else 0.0,
    )


def _bins(group: list[tuple[Trial, float]], *, tolerance: float, margin: float) -> list[QualityBin]:
    out = []
    for measure, bins in (("height_px", HEIGHT_BINS), ("faceness", FACENESS_BINS)):
        for low, high in bins:
            right = genuine = hits = strangers = 0
            for trial, ratio in group:
                for scored, is_genuine in ((trial.genuine, True), (trial.strangers, False)):
                    value = scored.height if measure == "height_px" else scored.faceness
                    inside = (value >= low) & (value < high)
                    chosen = named(scored, tolerance=tolerance, margin=margin, ratio=ratio)[inside]
                    if is_genuine:
                        right += int((chosen & scored.correct[inside]).sum())
                        genuine += int(inside.sum())
                    else:
                        hits += int(chosen.sum())
                        strangers += int(inside.sum())
            open_ended = high >= (10_000 if measure == "height_px" else 9.0)
            out.append(
                QualityBin(
                    measure=measure,
                    range=f"{low:g} and up" if open_ended else f"{low:g} to {high:g}",
                    genuine_probes=genuine,
                    right=round(right / max(1, genuine), 4),
                    stranger_probes=strangers,
                    strangers_named=round(hits / max(1, strangers), 4),
                )
            )
    return out


def grades_of(source: str, measures: np.ndarray, min_height: int) -> SourceGrades:
    """The grades of faces given as rows of (height_px, faceness, sharpness, yaw, cut)."""
    graded = [
        quality.grade(float(f), float(s), int(h), min_height=min_height, cut=bool(c), yaw=float(y))
        for h, f, s, y, c in measures
    ]
    frontal = [g for g in graded if abs(g.yaw) < 0.2 and g.sharpness >= 100 and 100 <= g.height_px <= 200 and not g.cut]
    count = max(1, len(graded))
    return SourceGrades(
        source=source,
        faces=len(graded),
        good=round(sum(g.good for g in graded) / count, 4),
        weak=round(sum(g.weak and not g.poor for g in graded) / count, 4),
        poor=round(sum(g.poor for g in graded) / count, 4),
        frontal_sharp_100_200_px=len(frontal),
        frontal_sharp_poor=sum(g.poor for g in frontal),
    )


def video_measures(videos: Path, *, model: str, step: int = 5) -> dict[str, np.ndarray]:
    """Every ``step``-th frame's faces of the shared videos, found by ``model`` as recognize's small-face search
    finds them and measured as recognize measures them: the talking heads (``clips/``) and the turning footage
    (``turning/``: its faces are 16-90 px)."""
    import cv2

    from facepipe.bench.devset import read_frames
    from facepipe.vision import faces

    out: dict[str, list[list[float]]] = {"videos: talking heads": [], "videos: turning": []}
    paths = sorted((videos / "clips").glob("*.mp4")) + sorted((videos / "turning").glob("*.gif"))
    for path in paths:
        key = "videos: turning" if path.parent.name == "turning" else "videos: talking heads"
        for frame in read_frames(path)[0][::step]:
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            boxes = faces.detect_faces(rgb, model=model, max_side=960, upsample=faces.small_face_upsample(model))
            chips, points = faces.chips_and_landmarks(rgb, boxes)
            for chip, box, marks in zip(chips, boxes, points, strict=True):
                g = quality.assess(chip, box, rgb.shape, marks)
                out[key].append([g.height_px, g.faceness, g.sharpness, g.yaw, float(g.cut)])
    return {k: np.asarray(v, dtype=np.float64).reshape(len(v), 5) for k, v in out.items()}


def measure(
    face_set: FaceSet,
    room_set: FaceSet | None,
    *,
    data: str,
    tolerance: float,
    margin: float,
    min_height: int,
    strangers_target: float | None,
    rotations: int = 3,
    sizes: tuple[int, ...] = SIZES,
    folds: int = 2,
    videos: Path | None = None,
    detector: str = "yunet",
) -> ScaleReport:
    """The whole `--scale` section (see the module)."""
    people = sorted(set(map(str, face_set.people)))
    halves = [[p for p in people if fold_of(p, folds) == f] for f in range(folds)]
    learned: list[list[tuple[int, float]]] = []
    trials: dict[tuple[int, int, str], list[tuple[Trial, float]]] = {}
    at_1000: list[tuple[Trial, DecisionModel]] = []
    for fold, half in enumerate(halves):
        others = [p for f, group in enumerate(halves) if f != fold for p in group]
        print(f"scale: learning on {len(others)} people, measuring on {len(half)}", file=sys.stderr)
        model = model_of(
            learn_decision(face_set, others, tolerance=tolerance, margin=margin, min_height=min_height, seed=fold),
            face_set,
            data,
            len(others),
        )
        learned.append(model.point(0.005).ratio_by_enrolled)
        rng = np.random.default_rng(1000 + fold)
        kinds = [(1, "photo"), (1, "track"), (3, "photo"), (3, "track")] + ([(1, "room")] if room_set else [])
        for shots, probe in kinds:
            need = shots + (TRACK_LENGTH if probe == "track" else 1)
            probe_set = room_set if probe == "room" else None
            pools = pools_for(face_set, half, need, others, probe_set)
            for size in sizes:
                for _ in range(rotations):
                    trial = run_trial(
                        face_set,
                        pools,
                        size,
                        shots=shots,
                        track=probe == "track",
                        rng=rng,
                        cohort_size=COHORT_SIZE,
                        tolerance=tolerance,
                        min_height=min_height,
                        probe_set=probe_set,
                    )
                    trials.setdefault((size, shots, probe), []).append(
                        (trial, model.ratio(trial.enrolled, strangers_target))
                    )
                    if (size, shots, probe) == (1000, 1, "photo"):
                        at_1000.append((trial, model))
    decision, distance_only = [], []
    for (_, shots, probe), group in sorted(trials.items()):
        extra = {"shots": shots, "probe": probe}
        decision.append(_pooled(group, tolerance=tolerance, margin=margin).model_copy(update=extra))
        distance_only.append(_pooled(group, tolerance=tolerance, margin=margin, ratio=np.inf).model_copy(update=extra))
    points: dict[str, Outcome] = {}
    if at_1000:
        for target in (*TARGETS, None):
            group = [(t, m.ratio(t.enrolled, target)) for t, m in at_1000]
            points["default schedule" if target is None else f"{target:g}"] = _pooled(
                group, tolerance=tolerance, margin=margin
            ).model_copy(update={"shots": 1, "probe": "photo"})
    group_1000 = trials.get((1000, 1, "photo"), [])
    curve = [
        CurvePoint(
            ratio=ratio,
            **_pooled(group_1000, tolerance=tolerance, margin=margin, ratio=ratio).model_dump(
                include={"right", "wrong", "strangers_named"}
            ),
        )
        for ratio in CURVE_RATIOS
        if group_1000
    ]
    cols = [0, 1, 2, 3, 4]
    grades = [grades_of(f"{data}: photos", face_set.measures[:, cols], min_height)]
    if room_set is not None:
        grades.append(grades_of(f"{data}: as a room camera", room_set.measures[:, cols], min_height))
    if videos is not None:
        grades += [grades_of(name, rows, min_height) for name, rows in video_measures(videos, model=detector).items()]
    print("scale: measuring the gallery's cost", file=sys.stderr)
    return ScaleReport(
        data=data,
        detector=detector,
        people=len(people),
        photos=len(face_set.people),
        no_face=face_set.missed,
        folds=folds,
        tolerance=tolerance,
        margin=margin,
        cohort_size=COHORT_SIZE,
        strangers_target=strangers_target,
        learned=learned,
        decision=decision,
        distance_only=distance_only,
        operating_points=points,
        curve=curve,
        by_quality=_bins(group_1000, tolerance=tolerance, margin=margin),
        grades=grades,
        cost=[measure_cost(face_set.encodings, size) for size in sizes],
    )


def print_scale(report: ScaleReport) -> None:
    print(
        f"Open-set identification on {report.data} ({report.detector} detector; {report.people} people, "
        f"{report.photos} photos; learned on one "
        f"half of the people, measured on the other, {report.folds}-fold; tolerance {report.tolerance}, margin "
        f"{report.margin}, cohort {report.cohort_size}, strangers target "
        f"{report.strangers_target if report.strangers_target is not None else 'default schedule'}):"
    )
    print("  enrolled shots probe   | decision: right wrong  not   strangers | distance only: right wrong strangers")
    for ours, old in zip(report.decision, report.distance_only, strict=True):
        print(
            f"  {ours.enrolled:>8} {ours.shots:>5} {ours.probe:<7} | {ours.right:>15.3f} {ours.wrong:>6.2%} "
            f"{ours.not_named:>5.3f} {ours.strangers_named:>9.2%} | {old.right:>20.3f} {old.wrong:>6.2%} "
            f"{old.strangers_named:>8.2%}   ({ours.genuine_probes} enrolled probes, {ours.stranger_probes} strangers"
            f"{f', {ours.padded} padded' if ours.padded else ''})"
        )
    for name, point in report.operating_points.items():
        print(
            f"  at 1,000 from one photo, operating point {name}: right {point.right:.3f}, wrong {point.wrong:.2%}, "
            f"strangers named {point.strangers_named:.2%}"
        )
    for b in report.by_quality:
        print(
            f"  probes with {b.measure} {b.range}: right {b.right:.3f} of {b.genuine_probes}, strangers named "
            f"{b.strangers_named:.2%} of {b.stranger_probes}"
        )
    for g in report.grades:
        print(
            f"  grades, {g.source} ({g.faces} faces): good {g.good:.1%}, weak {g.weak:.1%}, poor {g.poor:.1%}; "
            f"frontal sharp 100-200 px faces poor: {g.frontal_sharp_poor} of {g.frontal_sharp_100_200_px}"
        )
    for c in report.cost:
        print(
            f"  gallery of {c.enrolled} people x 3 photos: {c.gallery_bytes / 1e6:.2f} MB (schema 1: "
            f"{c.schema_1_bytes / 1e6:.2f} MB), load {c.load_ms} ms (schema 1: {c.schema_1_load_ms} ms), search "
            f"{c.search_ms_per_face} ms a face, a track's decision {c.decide_ms_per_track} ms, an edit {c.edit_ms} ms "
            f"alone, {c.contended_edit_ms_p50} ms p50 ({c.contended_edit_ms_max} max) with 4 editors, "
            f"{c.contended_edits_landed}/{c.contended_edits} landed"
        )


def plot_scale(report: ScaleReport, out: Path) -> None:
    """The curve over the decision's setting at 1,000 enrolled, and right / strangers named by gallery size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    strangers = [p.strangers_named * 100 for p in report.curve]
    left.plot(strangers, [p.right for p in report.curve], marker=".", label="learned decision, over its ratio")
    shown: set[tuple[float, float]] = set()
    for name, point in report.operating_points.items():
        where = (point.strangers_named * 100, point.right)
        left.scatter(*where, zorder=3)
        if where not in shown:  # the default schedule lands on a learned point at 1,000
            left.annotate(name, where, textcoords="offset points", xytext=(5, -10))
        shown.add(where)
    old = next((o for o in report.distance_only if (o.enrolled, o.shots, o.probe) == (1000, 1, "photo")), None)
    if old is not None:
        left.scatter([old.strangers_named * 100], [old.right], marker="x", color="k", label="distance only")
    left.set(
        title="1,000 enrolled from one photo, photo probes",
        xlabel="strangers named (%)",
        ylabel="enrolled named right",
    )
    left.set_xscale("symlog", linthresh=0.1)
    left.legend(loc="lower right")
    for shots, probe, style in ((1, "photo", "-o"), (1, "track", "--o"), (3, "photo", "-s"), (1, "room", ":o")):
        rows = [o for o in report.decision if o.shots == shots and o.probe == probe]
        if rows:
            right.plot(
                [o.enrolled for o in rows], [o.right for o in rows], style, label=f"{probe}, {shots} enrolled photo(s)"
            )
    right.set(title="Named right by gallery size (learned decision)", xlabel="people enrolled", ylabel="named right")
    right.set_xscale("log")
    right.legend()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
