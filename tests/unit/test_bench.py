"""The benchmark's scoring: identity precision and recall, per clip and per frame, and unknown faces."""

from __future__ import annotations

from facepipe.bench.accuracy import score
from facepipe.bench.stats import pct


def _row(key, people, unknown=0, frames=()):
    return {
        "key": key,
        "message": {
            "people": [{"id": p} for p in people],
            "unknown_faces": unknown,
            "frames": [{"faces": [{"id": i} for i in f]} for f in frames],
        },
    }


def test_score_counts_identities_and_unknown_faces():
    rows = [
        _row("a", ["obama"], frames=[["obama"], ["obama"], []]),
        _row("b", ["obama", "biden"], unknown=1, frames=[["obama", "biden", "unknown"]]),
        _row("c", ["rose_leslie"], frames=[["rose_leslie"]]),
    ]
    truth = {"a": ({"obama"}, 0), "b": ({"obama", "biden"}, 1), "c": ({"kit_harington", "rose_leslie"}, 0)}
    result = score(rows, truth)
    assert (result.precision, result.recall) == (1.0, 0.8)
    assert (result.per_frame_precision, result.per_frame_recall) == (1.0, 0.7143)
    assert (result.unknown_faces_expected, result.unknown_faces_reported_as_unknown) == (1, 1)


def test_a_wrong_name_lowers_precision():
    result = score([_row("a", ["biden"])], {"a": ({"obama"}, 0)})
    assert (result.precision, result.recall) == (0.0, 0.0)


def test_the_bench_and_the_device_compute_percentiles_the_same_way():
    from facepipe_device.service import percentile

    for values in ([0.4], [0.2, 0.9], [0.31, 0.05, 0.77, 0.5, 0.12, 0.98, 0.64]):
        for q in (50, 95):
            assert abs(percentile(values, q) - pct(values, q)) < 1e-12, (values, q)
