"""The stranger curve's arithmetic (facepipe.bench.strangers): made-up identities at known distances."""

from __future__ import annotations

import numpy as np

from facepipe.bench.strangers import Identity, curve


def _unit(axis: int, wobble: float = 0.0, *, clear: bool = True, poor_reference: bool = False) -> np.ndarray:
    """A face row as the bench keeps it: the encoding, whether it may name alone, whether it is a poor reference."""
    v = np.zeros(130)
    v[axis] = 1.0
    v[127 - axis] += wobble
    v[128], v[129] = float(clear), float(poor_reference)
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


def test_the_quality_rule_keeps_unclear_faces_and_poor_references_from_naming():
    # The walking faces sit 0.3 from person 0 but are not clear enough to name alone: with the quality rule,
    # never named. Person 1's faces sit 0.55 from a poor reference of him: named without the penalty only.
    people = [Identity(f"p{a}", np.asarray([_unit(a)]), np.asarray([_unit(a, 0.1)])) for a in (0, 2, 3)]
    people.append(Identity("p1", np.asarray([_unit(1, poor_reference=True)]), np.asarray([_unit(1, 0.55)])))
    walking = np.asarray([_unit(0, 0.3, clear=False)] * 3)
    result = curve(people, walking, tolerance=0.6, margin=0.05, seed=1)
    for point in result.points:
        assert point.never_enrolled_named > 0  # the distances alone name them
        assert point.stranger_named_with_quality == 0.0
        assert point.genuine_named < 1.0  # p1's own faces at 0.55 + 0.08: not named when he is enrolled
