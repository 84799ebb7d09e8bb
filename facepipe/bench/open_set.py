"""Open-set identification trials on a face set (facepipe.bench.face_set), and the decision learned from them.

One **trial** is a gallery of N people drawn from the half being measured. The people with enough photos (the
enrolled photos and a probe) are split at random: half are enrolled and probed with their other photos, the
other half are strangers; people with fewer photos fill the gallery to N (with one photo each, as fillers) and
their photos are strangers when not enrolled. Enrolled from ``shots`` photos each (1 or 3); a probe is a
single photo or a **track** (the mean of 3 photos, as recognize decides a person seen in three frames).
Where a half has fewer than N people, the gallery is filled with fillers from the other half (counted in
``padded``: they were in the data the decision was learned on, but never as probes).

Each probe is graded as recognize grades a face (facepipe.vision.quality), with the gallery's poor-reference
penalty: the counts are those `facepipe recognize` would give, photo by photo.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from facepipe.bench.face_set import FaceSet
from facepipe.identity.decision import (
    DecisionModel,
    OperatingPoint,
    Provenance,
    accepts_many,
    standings,
)
from facepipe.identity.gallery import POOR_REFERENCE_PENALTY
from facepipe.identity.matching import block_distances
from facepipe.vision import quality

# The gallery sizes the ratio is learned at (interpolated in log N between them).
LEARN_SIZES = (10, 30, 100, 300, 1000, 2000)
# Measured at 1,000 enrolled, strangers named at 0.79%: enrolled named right 0.607 (k=1: the second nearest),
# 0.633 (3), 0.645 (5), 0.639 (10), 0.635 (20), 0.613 (40).
COHORT_SIZE = 5
# The operating points learned (strangers named at most this often on the people learned on); the default goes
# from one to another with the gallery's size (facepipe.identity.decision.DEFAULT_SCHEDULE).
TARGETS = (0.001, 0.005, 0.02)
TRACK_LENGTH = 3


def fold_of(person: str, folds: int = 2) -> int:
    """A person's fold: a hash of their name, so the split is the same on every machine and run."""
    return int(hashlib.sha256(person.encode()).hexdigest(), 16) % folds


@dataclass
class Scored:
    """Probes of one trial, scored against its gallery."""

    nearest: np.ndarray
    second: np.ndarray
    cohort: np.ndarray
    reached: np.ndarray  # one of the probe's faces (a track's) is itself within the tolerance of the nearest
    gated: np.ndarray  # the probe's quality lets it name someone (recognize's rule for its faces)
    correct: np.ndarray  # the nearest person is the probe's own (False for strangers)
    height: np.ndarray
    faceness: np.ndarray


@dataclass
class Trial:
    enrolled: int
    padded: int
    genuine: Scored
    strangers: Scored
    photos_in_gallery: int = 0
    search_ms_per_face: float = 0.0


@dataclass
class Pools:
    rows_of: dict[str, list[int]]
    eligible: list[str]
    fillers: list[str]
    outside_fillers: list[str] = field(default_factory=list)
    # Probes from another version of the same photos (the room camera's), by person: (photo's file, row there).
    probe_rows_of: dict[str, list[tuple[str, int]]] = field(default_factory=dict)


def _grades(face_set: FaceSet, rows: np.ndarray, min_height: int) -> list[quality.FaceQuality]:
    return [
        quality.grade(
            float(face_set.measures[r, 1]),
            float(face_set.measures[r, 2]),
            int(face_set.measures[r, 0]),
            min_height=min_height,
            cut=bool(face_set.measures[r, 4]),
            yaw=float(face_set.measures[r, 3]),
        )
        for r in rows
    ]


def pools_for(
    face_set: FaceSet, people: list[str], need: int, outside: list[str], probe_set: FaceSet | None = None
) -> Pools:
    rows_of: dict[str, list[int]] = {}
    for row, person in enumerate(face_set.people):
        rows_of.setdefault(str(person), []).append(row)
    probe_rows_of: dict[str, list[tuple[str, int]]] = {}
    for row, (person, file) in enumerate(zip(probe_set.people, probe_set.files, strict=True) if probe_set else ()):
        probe_rows_of.setdefault(str(person), []).append((str(file), row))
    eligible = sorted(p for p in people if len(rows_of.get(p, ())) >= need)
    fillers = sorted(p for p in people if 0 < len(rows_of.get(p, ())) < need)
    return Pools(rows_of, eligible, fillers, sorted(p for p in outside if p in rows_of), probe_rows_of)


def run_trial(
    face_set: FaceSet,
    pools: Pools,
    size: int,
    *,
    shots: int,
    track: bool,
    rng: np.random.Generator,
    cohort_size: int,
    tolerance: float,
    min_height: int,
    probe_set: FaceSet | None = None,
) -> Trial:
    """One gallery of ``size`` people and its probes, scored (see the module); with ``probe_set``, the probes are
    that version of the photos not enrolled (the pools made with it)."""
    eligible = list(rng.permutation(pools.eligible))
    enrolled, strangers = eligible[: len(eligible) // 2], eligible[len(eligible) // 2 :]
    enrolled = enrolled[:size]
    fillers = list(rng.permutation(pools.fillers))
    take = max(0, size - len(enrolled))
    gallery_people = enrolled + fillers[:take]
    padded = max(0, size - len(gallery_people))
    gallery_people += list(rng.permutation(pools.outside_fillers))[:padded]
    stranger_fillers = fillers[take:]
    rows_of = pools.rows_of
    photos = [(k, r) for k, p in enumerate(gallery_people) for r in rows_of[p][: (shots if p in enrolled else 1)]]
    gallery_rows = np.asarray([r for _, r in photos])
    owners = np.asarray([k for k, _ in photos])
    reference_poor = np.asarray([bool(quality.reference_reasons(g)) for g in _grades(face_set, gallery_rows, 0)])
    penalty = np.where(reference_poor, POOR_REFERENCE_PENALTY, 0.0)
    gallery = face_set.encodings[gallery_rows].astype(np.float64)
    squared = (gallery * gallery).sum(axis=1)
    starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])  # each person's photos are one block of rows
    column_of = {person: k for k, person in enumerate(gallery_people)}

    source = probe_set or face_set

    def probes(people: list[str], skip: int) -> tuple[list[list[int]], list[int]]:
        groups, truth = [], []
        for person in people:
            rest = rows_of[person][skip:]
            if probe_set is not None:
                enrolled_files = {str(face_set.files[r]) for r in rows_of[person][:skip]}
                rest = [r for file, r in pools.probe_rows_of.get(person, []) if file not in enrolled_files]
            if track:
                groups += [rest[i : i + TRACK_LENGTH] for i in range(0, len(rest) - TRACK_LENGTH + 1, TRACK_LENGTH)]
                truth += [column_of[person] if skip else -1] * (len(rest) // TRACK_LENGTH)
            else:
                groups += [[r] for r in rest]
                truth += [column_of[person] if skip else -1] * len(rest)
        return groups, truth

    def score(groups: list[list[int]], truth: list[int]) -> tuple[Scored, float]:
        start = time.perf_counter()
        members = np.asarray([r for g in groups for r in g], dtype=int)
        encodings = source.encodings[members].astype(np.float64)
        means = np.stack([encodings[i : i + len(g)].mean(axis=0) for i, g in _offsets(groups)]) if groups else encodings
        per_person = block_distances(means, gallery, squared, penalty, starts)  # the pipeline's own search
        index, nearest, second, cohort = standings(per_person, cohort_size)
        elapsed = (time.perf_counter() - start) * 1000 / max(1, len(means))
        each = block_distances(encodings, gallery, squared, penalty, starts)
        grades = _grades(source, members, min_height)
        reached, gated = [], []
        for (i, g), best in zip(_offsets(groups), index, strict=True):
            # As decide: one of the faces averaged must itself be within the tolerance of the person named.
            reached.append(bool((each[i : i + len(g), best] <= tolerance).any()))
            gated.append(quality.may_name([grades[i + j] for j in range(len(g))]))
        first = np.asarray([g[0] for g in groups], dtype=int)
        return (
            Scored(
                nearest,
                second,
                cohort,
                np.asarray(reached, dtype=bool),
                np.asarray(gated, dtype=bool),
                index == np.asarray(truth),
                source.measures[first, 0],
                source.measures[first, 1],
            ),
            elapsed,
        )

    genuine, search_ms = score(*probes(enrolled, shots))
    outsiders, _ = score(*probes(strangers + stranger_fillers, 0))
    return Trial(len(gallery_people), padded, genuine, outsiders, len(gallery_rows), search_ms)


def _offsets(groups: list[list[int]]) -> list[tuple[int, list[int]]]:
    out, at = [], 0
    for g in groups:
        out.append((at, g))
        at += len(g)
    return out


def named(scored: Scored, *, tolerance: float, margin: float, ratio: float) -> np.ndarray:
    """Which probes name their nearest person, by the decision (and recognize's quality rule)."""
    decided = accepts_many(
        scored.nearest, scored.second, scored.cohort, tolerance=tolerance, margin=margin, ratio=ratio
    )
    return decided & scored.reached & scored.gated


def learn_ratios(
    trials: dict[int, list[Trial]], *, tolerance: float, margin: float, target: float
) -> list[tuple[int, float]]:
    """Per gallery size, the largest ratio that names at most ``target`` of the trials' strangers; then made to grow
    with N (a smaller gallery never gets a more lenient ratio than a larger one: the share of strangers a ratio
    names falls as N grows, so this only corrects the noise of drawing few galleries)."""
    table = []
    for _, group in sorted(trials.items()):
        strangers = [t.strangers for t in group]
        nearest = np.concatenate([s.nearest for s in strangers])
        second = np.concatenate([s.second for s in strangers])
        cohort = np.concatenate([s.cohort for s in strangers])
        allowed = np.concatenate([s.reached & s.gated for s in strangers])
        eligible = (nearest <= tolerance) & (second - nearest >= margin) & allowed
        needed = np.sort(nearest[eligible] / cohort[eligible])  # the ratio at which each such stranger is named
        budget = int(np.floor(target * len(nearest)))
        # Just under the (budget+1)-th smallest: at most `budget` strangers are named.
        ratio = float(needed[budget]) - 1e-4 if budget < len(needed) else 2.0
        table.append((group[0].enrolled, round(min(ratio, 2.0), 4)))
    for i in range(len(table) - 2, -1, -1):
        table[i] = (table[i][0], min(table[i][1], table[i + 1][1]))
    return table


def learn_decision(
    face_set: FaceSet,
    people: list[str],
    *,
    tolerance: float,
    margin: float,
    min_height: int,
    rotations: int = 4,
    cohort_size: int = COHORT_SIZE,
    seed: int = 0,
) -> list[OperatingPoint]:
    """The operating points (one ratio table per target of TARGETS) learned on ``people``: trials of single
    photos, enrolled from one photo."""
    pools = pools_for(face_set, people, 2, [])
    rng = np.random.default_rng(seed)
    # Small galleries vary most from one draw to the next (which 10 people are enrolled decides how near the
    # strangers land): they get more draws (each costs little).
    trials = {
        size: [
            run_trial(
                face_set,
                pools,
                size,
                shots=1,
                track=False,
                rng=rng,
                cohort_size=cohort_size,
                tolerance=tolerance,
                min_height=min_height,
            )
            for _ in range(max(rotations, min(120, 3000 // size)))
        ]
        for size in LEARN_SIZES
        if size <= len(people) * 0.9
    }
    return [
        OperatingPoint(
            strangers_named=target,
            ratio_by_enrolled=learn_ratios(trials, tolerance=tolerance, margin=margin, target=target),
        )
        for target in TARGETS
    ]


def model_of(points: list[OperatingPoint], face_set: FaceSet, data: str, people: int) -> DecisionModel:
    return DecisionModel(
        cohort_size=COHORT_SIZE,
        operating_points=points,
        provenance=Provenance(
            data=data,
            people=people,
            photos=len(face_set.people),
            method=(
                f"per gallery size and target, the largest ratio of a face's nearest distance to the mean of its "
                f"next {COHORT_SIZE} that names at most that share of strangers' photos (galleries of people with "
                f"one photo each, drawn at random; the people with more photos split into enrolled and strangers; "
                f"tolerance and margin as the settings' defaults, faces graded as recognize grades them)"
            ),
            command="facepipe bench --scale DIR --learn facepipe/identity/decision_v1.json",
            learned_at=datetime.now(UTC).isoformat(timespec="seconds"),
        ),
    )


def learn_shipped(face_set: FaceSet, *, data: str, tolerance: float, margin: float, min_height: int) -> DecisionModel:
    """The decision model that ships: learned on every person of ``face_set`` (the people judged are others)."""
    people = sorted(set(map(str, face_set.people)))
    points = learn_decision(face_set, people, tolerance=tolerance, margin=margin, min_height=min_height, rotations=6)
    return model_of(points, face_set, data, len(people))
