"""Who a track is: each face's distance to each enrolled person (a poor reference must be matched closer), and
one decision per track from the mean of its best faces (step 4 of :mod:`facepipe.identity.recognition`), by the
open-set rule of :mod:`facepipe.identity.decision`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facepipe.core.contracts import UNKNOWN
from facepipe.identity.decision import DecisionModel, accepts, shipped, standing
from facepipe.identity.gallery import Gallery
from facepipe.vision.faces import pairwise_distances
from facepipe.vision.quality import FaceQuality, may_name


@dataclass(frozen=True)
class Decision:
    person: str  # an enrolled id, or UNKNOWN
    distances: list[float | None]  # each member face's own distance to ``person`` (or the nearest person)


def person_distances(encodings: np.ndarray, gallery: Gallery) -> tuple[list[str], np.ndarray]:
    """Enrolled ids and, for each encoding, its distance to each person (their nearest photo, a poor reference
    photo's distance raised by ``gallery.POOR_REFERENCE_PENALTY``)."""
    matrix, _ = gallery.matrix()
    people, starts = gallery.blocks()
    if not people or len(encodings) == 0:
        return people, np.empty((len(encodings), len(people)))
    return people, block_distances(encodings, matrix, gallery.squared_norms(), gallery.penalties(), starts)


def block_distances(
    encodings: np.ndarray, matrix: np.ndarray, squared: np.ndarray, penalties: np.ndarray, starts: np.ndarray
) -> np.ndarray:
    """Each encoding's distance to each person, whose photos are the rows of ``matrix`` from ``starts[i]`` to the
    next start (``squared``: the rows' squared lengths; ``penalties``: added to each row's distance).

    One matrix product and one ``reduceat``: ~0.06 ms a face with 2,000 people of 3 photos (`facepipe bench
    --scale` measures it), where a loop over people took 10 ms."""
    products = (encodings * encodings).sum(axis=1)[:, None] + squared[None, :] - 2.0 * encodings @ matrix.T
    by_photo = np.sqrt(np.maximum(products, 0.0)) + penalties  # a poor reference must be nearer
    return np.asarray(np.minimum.reduceat(by_photo, starts, axis=1))


def _rejecting(mean: np.ndarray, gallery: Gallery, to_people: np.ndarray, people: list[str]) -> set[str]:
    """The people this face must not be named: it is nearer a face rejected for them (`facepipe people
    reject`) than their own photos."""
    rejected, owners = gallery.rejected_matrix()
    if not owners:
        return set()
    distances = pairwise_distances(mean, rejected)[0]
    return {owner for owner, d in zip(owners, distances, strict=True) if d < to_people[people.index(owner)]}


def decide(
    encodings: np.ndarray,
    quality: list[FaceQuality],
    gallery: Gallery,
    *,
    tolerance: float,
    margin: float,
    strangers_target: float | None = None,
    model: DecisionModel | None = None,
) -> Decision:
    """One track's person (see the module's step 4), decided on its best faces (facepipe.vision.quality): good ones,
    else weak ones (small, blurred or unclear: two frames must then agree), never poor ones (turned or cut: such a
    track names nobody, however near it lands). Whether the nearest person is named is the open-set decision
    (facepipe.identity.decision: ``tolerance``, ``margin`` and the learned ratio to the face's cohort)."""
    people, per_face = person_distances(encodings, gallery)
    if not people:
        return Decision(UNKNOWN, [None] * len(encodings))
    if not may_name(quality):  # poor faces only, or one weak face: nobody, however near
        return Decision(UNKNOWN, [float(row.min()) for row in per_face])
    good = [i for i, q in enumerate(quality) if q.good]
    weak = [i for i, q in enumerate(quality) if not q.poor and q.weak]
    used = good or weak or list(range(len(encodings)))
    mean = encodings[used].mean(axis=0, keepdims=True)
    _, combined = person_distances(mean, gallery)
    for person in _rejecting(mean, gallery, combined[0], people):
        combined[0, people.index(person)] = np.inf  # an operator said this face is not them
    model = model or shipped()
    face = standing(combined[0], model.cohort_size)
    best = face.index
    # The mean picks the person; one of the faces it averages must reach him too. Three faces each beyond the
    # tolerance whose mean lands inside it are the borderline matches strangers make (a blurred stranger's three
    # frames at 0.61 each from a soft reference, their mean at 0.57, on the dev set of issue 21).
    reached = bool((per_face[used, best] <= tolerance).any())
    named = reached and accepts(
        face, tolerance=tolerance, margin=margin, ratio=model.ratio(len(people), strangers_target)
    )
    if not good:
        # Weak faces alone (two or more, may_name said): two frames must agree on the person.
        named = named and int((per_face[weak, best] == per_face[weak].min(axis=1)).sum()) >= 2
    column = best if named else None
    distances: list[float | None] = [float(row[column]) if column is not None else float(row.min()) for row in per_face]
    return Decision(people[best] if named else UNKNOWN, distances)
