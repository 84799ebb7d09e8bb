"""Gallery health: photos that should not join as they are, and enrolled people the decision cannot tell apart.

A wrong photo in the gallery (someone else's face, a mislabelled crop) names the wrong person every day after;
two people closer than the decision can separate (siblings, twins, a person enrolled twice under two ids) are
taken for each other. Both are checked where a photo joins (`facepipe enroll`, `unknowns label`, the console's
photos) and listed where people are (`facepipe people list`, the console's people page).

The limits, measured on the photos of ``../shared/faces`` (2,926 people; `facepipe bench --scale`):
- two photos of one person lie 0.44 apart at the median, 0.60 at the 95th percentile and 0.71 at the 99th;
- the nearest other person of each of 2,000 people lies 0.55 away at the median, 0.42 at the 1st percentile;
- enrolling 2,000 of them (3,110 photos) at once holds back 1.5% of the single-photo people as lookalikes and ~1%
  of the others' photos; checking every photo takes 3.2 s (O(photos) a photo).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from facepipe.identity.gallery import Gallery

# A photo further than this from every other photo of its person is not like them (99% of one person's photos
# lie within it): a wrong face, or one too turned, old or poor to recognize them by.
FAR_FROM_OWN = 0.72
# A photo is taken for someone else's only when it is this much nearer them than its own person's other photos.
# Chosen on one half of the people of ../shared/faces (2,000-odd enrolled, a wrong photo put in each folder of a
# person with 3 photos): 0.49% of right photos held, 99.6% of wrong ones caught; on the other half 1.06% and 99.4%
# (at no margin: 3.5% of right photos held).
NEARER_MARGIN = 0.10
# Two people nearer than this (the median distance between two photos of one person) are as alike as one person
# photographed twice: the decision cannot tell their faces apart.
LOOKALIKE = 0.45
_CHUNK = 512  # photos per block of the all-pairs search (memory: CHUNK x photos distances)


@dataclass(frozen=True)
class Lookalike:
    first: str
    second: str
    distance: float  # between their nearest photos


def photo_concerns(
    gallery: Gallery,
    person_id: str,
    encoding: Sequence[float],
    *,
    others: Sequence[Sequence[float]] = (),
    replacing: bool = False,
    lookalike: bool = True,
    counted: np.ndarray | None = None,
) -> list[str]:
    """Why a photo of ``person_id`` should not join the gallery as it is (empty: it may): far from their other
    photos (those in the gallery, unless ``replacing`` them, and ``others``: photos joining with it), nearer
    another enrolled person than their own photos (by ``NEARER_MARGIN``), or, for someone with no other photo,
    as near another enrolled person as two photos of one person are. ``counted``: which rows of the gallery's
    matrix are other people's photos to compare with (all, when None)."""
    face = np.asarray(encoding, dtype=np.float64)
    known = None if replacing else gallery.person(person_id)
    own = [p.encoding for p in known.photos] if known else []
    own_rows = np.asarray([*own, *others], dtype=np.float64).reshape(-1, 128)
    concerns = []
    to_own = float(np.linalg.norm(own_rows - face, axis=1).min()) if len(own_rows) else None
    nearest_other, other_distance = _nearest_other(gallery, person_id, face, counted)
    if to_own is not None and to_own > FAR_FROM_OWN:
        concerns.append(
            f"far from {person_id}'s other photos ({to_own:.2f}; one person's photos lie within {FAR_FROM_OWN})"
        )
    if nearest_other is not None and to_own is not None and other_distance + NEARER_MARGIN < to_own:
        concerns.append(f"nearer {nearest_other} ({other_distance:.2f}) than {person_id}'s own photos ({to_own:.2f})")
    if lookalike and nearest_other is not None and to_own is None and other_distance < LOOKALIKE:
        concerns.append(
            f"as near {nearest_other} ({other_distance:.2f}) as two photos of one person are: the same person "
            f"enrolled twice, or a lookalike the decision cannot tell apart"
        )
    return concerns


def _nearest_other(
    gallery: Gallery, person_id: str, face: np.ndarray, counted: np.ndarray | None
) -> tuple[str | None, float]:
    matrix, owners = gallery.matrix()
    if not owners:
        return None, float("inf")
    distances = np.linalg.norm(matrix - face, axis=1)
    if counted is not None:
        distances[~counted] = np.inf
    people, starts = gallery.blocks()
    if person_id in people:  # their own block of rows
        at = people.index(person_id)
        distances[starts[at] : starts[at + 1] if at + 1 < len(starts) else len(owners)] = np.inf
    best = int(np.argmin(distances))
    return (owners[best], float(distances[best])) if np.isfinite(distances[best]) else (None, float("inf"))


def lookalikes(gallery: Gallery, limit: float = LOOKALIKE) -> list[Lookalike]:
    """Every pair of enrolled people whose nearest photos are closer than ``limit``, nearest first. All pairs of
    photos, in blocks: 2,000 people of 3 photos take ~0.3 s here (it is asked for by `people list` and the
    console's people page, never by recognition)."""
    matrix, owners = gallery.matrix()
    people, starts = gallery.blocks()
    person_of = np.repeat(np.arange(len(people)), np.diff([*starts, len(owners)]))
    squared = gallery.squared_norms()
    pairs: dict[tuple[int, int], float] = {}
    for begin in range(0, len(owners), _CHUNK):
        block = matrix[begin : begin + _CHUNK]
        d2 = squared[begin : begin + _CHUNK, None] + squared[None, :] - 2.0 * block @ matrix.T
        close_rows, close_cols = np.nonzero(d2 < limit * limit)
        for row, col in zip(close_rows + begin, close_cols, strict=True):
            a, b = int(person_of[row]), int(person_of[col])
            if a < b:
                distance = float(np.sqrt(max(d2[row - begin, col], 0.0)))
                pairs[a, b] = min(distance, pairs.get((a, b), np.inf))
    return sorted(
        (Lookalike(people[a], people[b], round(d, 3)) for (a, b), d in pairs.items()), key=lambda x: x.distance
    )
