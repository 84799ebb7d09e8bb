"""The stranger curve's arithmetic (facepipe.bench.strangers): made-up identities at known distances."""

from __future__ import annotations

import numpy as np

from facepipe.bench.strangers import Identity, curve


def _unit(axis: int, wobble: float = 0.0) -> np.ndarray:
    v = np.zeros(128)
    v[axis] = 1.0
    v[127 - axis] += wobble
    return v


def test_a_stranger_near_one_person_is_named_exactly_when_that_person_is_enrolled():
    # Four people far apart (~1.41); their own faces ~0.1 from their enrollment. The never-enrolled faces sit
    # 0.3 from person 0 and ~1.4 from everyone else: named (as person 0) only in galleries holding person 0.
    people = [Identity(f"p{a}", np.asarray([_unit(a)]), np.asarray([_unit(a, 0.1), _unit(a, 0.05)])) for a in range(4)]
    walking = np.asarray([_unit(0, 0.3)] * 3)
    result = curve(people, walking, tolerance=0.6, margin=0.05, seed=1)
    assert [p.enrolled for p in result.points] == [2, 3]
    for point in result.points:
        assert point.genuine_named == 1.0
        # P(person 0 in a gallery of n of 4) = n/4, over 30 seeded rotations: near it, and never above 1.
        assert abs(point.never_enrolled_named - point.enrolled / 4) < 0.2
    # Other people's faces are never named (1.4 away), so every false accept is a walking face.
    assert set(result.named_by_source) == {"never enrolled (walking)"}
    assert result.points[0].nearest_p1 <= 0.3 + 1e-9
