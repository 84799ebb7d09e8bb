"""The open-set decision (facepipe.identity.decision): the shipped model, its rule, and what it is worth on people
it never saw, measured on real photos of ../shared/faces (facepipe.bench.open_set)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facepipe.bench import open_set
from facepipe.bench.face_set import read_face_set
from facepipe.core.errors import GalleryError
from facepipe.core.settings import Settings
from facepipe.identity.decision import DEFAULT_SCHEDULE, SHIPPED, DecisionModel, shipped, standing


def test_the_shipped_model_is_versioned_with_its_provenance():
    model = shipped()
    raw = json.loads(SHIPPED.read_text())
    assert raw["format"] == "facepipe-decision" and raw["version"] == 1
    assert model.encoder == "dlib_face_recognition_resnet_model_v1"
    assert model.provenance.people > 2000 and "faces" in model.provenance.data
    assert [p.strangers_named for p in model.operating_points] == [0.001, 0.005, 0.02]
    # A stricter target never gets a more lenient ratio, and the ratio a target needs grows with the gallery.
    for size in (5, 10, 100, 1000, 5000):
        ratios = [model.ratio(size, p.strangers_named) for p in model.operating_points]
        assert ratios == sorted(ratios)
    strict = model.point(0.005)
    assert [strict.ratio(n) for n in (10, 100, 1000)] == sorted(strict.ratio(n) for n in (10, 100, 1000))
    # The default schedule: the 2% point for a small gallery, the 0.5% point for a school.
    (small, lenient), (large, tight) = DEFAULT_SCHEDULE
    assert model.ratio(small) == pytest.approx(model.ratio(small, lenient))
    assert model.ratio(large * 4) == pytest.approx(model.ratio(large * 4, tight))


def test_an_unknown_operating_point_and_a_bad_model_file_are_refused_by_name(tmp_path: Path):
    with pytest.raises(GalleryError, match=r"match_strangers_target 0.03: .*no such operating point \(it has 0.001"):
        shipped().point(0.03)
    bad = tmp_path / "decision.json"
    bad.write_text('{"format": "facepipe-decision", "version": 1, "cohort_size": 0}')
    with pytest.raises(GalleryError, match="decision.json: not a facepipe decision model"):
        DecisionModel.load(bad)


def test_the_cohort_is_the_next_nearest_people_and_leaves_out_people_rejected_for_the_face():
    face = standing(np.asarray([0.9, 0.4, np.inf, 0.8, 0.7, 1.0, 1.1, 1.2]), cohort_size=3)
    assert (face.index, face.nearest, face.second) == (1, 0.4, 0.7)
    assert face.cohort == pytest.approx((0.7 + 0.8 + 0.9) / 3)
    alone = standing(np.asarray([0.3]), cohort_size=5)
    assert alone.cohort == np.inf and alone.second == np.inf


@pytest.fixture(scope="module")
def subset_set(face_subset: Path, settings: Settings):
    return read_face_set(face_subset, settings)


def test_learned_on_some_people_the_decision_names_far_fewer_strangers_among_others(subset_set):
    """Calibrate on many people, judge on others: learned on one half of 480 people of ../shared/faces and
    measured on the other half (100 enrolled from one photo), strangers are named a fraction as often as by the
    distance rule alone, nobody is named wrongly more often, and a 3-photo track is named right more often than a
    single photo."""
    people = sorted(set(map(str, subset_set.people)))
    halves = [[p for p in people if open_set.fold_of(p) == f] for f in (0, 1)]
    points = open_set.learn_decision(subset_set, halves[0], tolerance=0.6, margin=0.05, min_height=40)
    model = open_set.model_of(points, subset_set, "subset", len(halves[0]))
    rng = np.random.default_rng(7)
    rates = {}
    for probe, need in (("photo", 2), ("track", 4)):
        pools = open_set.pools_for(subset_set, halves[1], need, halves[0])
        trials = [
            open_set.run_trial(
                subset_set,
                pools,
                100,
                shots=1,
                track=probe == "track",
                rng=rng,
                cohort_size=5,
                tolerance=0.6,
                min_height=40,
            )
            for _ in range(6)
        ]
        for rule, ratio in (("decision", model.ratio(100, 0.005)), ("distance", np.inf)):
            genuine = [open_set.named(t.genuine, tolerance=0.6, margin=0.05, ratio=ratio) for t in trials]
            strangers = [open_set.named(t.strangers, tolerance=0.6, margin=0.05, ratio=ratio) for t in trials]
            correct = np.concatenate([t.genuine.correct for t in trials])
            named = np.concatenate(genuine)
            rates[probe, rule] = (
                float((named & correct).mean()),
                float((named & ~correct).mean()),
                float(np.concatenate(strangers).mean()),
            )
    photo, old = rates["photo", "decision"], rates["photo", "distance"]
    assert old[2] > 0.04  # the distance rule names strangers often with 100 enrolled
    assert photo[2] <= old[2] / 4 and photo[2] <= 0.02
    assert photo[1] <= old[1] + 1e-9
    assert photo[0] >= 0.4
    assert rates["track", "decision"][0] > photo[0]
