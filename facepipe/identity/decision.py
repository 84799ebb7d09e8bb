"""The open-set decision: is the nearest enrolled person this face's, or is the face a stranger's?

A fixed distance threshold does not hold as a gallery grows: with N people enrolled a stranger has N chances to
land within it of *someone*. Measured on ``../shared/faces`` (`facepipe bench --scale`): at 0.6 (and a margin of
0.05, and the single-frame quality gate) a stranger's photo is named 7% of the time with 1,000 enrolled.
Tightening the threshold alone costs half the recall (0.43 keeps strangers under 0.8%, and names 0.41-0.47 of
enrolled people right).

What separates them is where the face lies among the *gallery's own* people. A stranger who lands 0.45 from
someone lands about as near many others ("a stranger near many people is not near one"), while an enrolled
person's face is much nearer their own photos than anyone else's. So a face is named only when:

1. its nearest person is within ``tolerance`` (the absolute bound, the setting of old: 0.6),
2. and at least ``margin`` nearer than the next person (no coin-flip names),
3. and its distance to that person is at most ``ratio`` times its **cohort distance**: the mean distance to the
   next ``cohort_size`` nearest enrolled people. ``ratio`` depends on how many are enrolled (a stranger's
   nearest and its cohort shrink at different rates as N grows), and is learned, per N, on thousands of people
   so that strangers are named at most a target rate (:class:`DecisionModel`, the file ``decision_v1.json``
   beside this module, with its provenance; `facepipe bench --scale DIR --learn FILE` makes it again). The
   target is the setting ``MATCH_STRANGERS_TARGET`` (one of 0.001, 0.005, 0.02); by default it goes from 2% with
   30 enrolled or fewer to 0.5% (one stranger's photo in 200) with 300 or more (``DEFAULT_SCHEDULE``).

Cost: the cohort is a partial sort of the distances the match already computes (faces x people): O(N) a face.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from facepipe.core.errors import GalleryError

DECISION_FORMAT: Literal["facepipe-decision"] = "facepipe-decision"
DECISION_VERSION: Literal[1] = 1
SHIPPED = Path(__file__).with_name("decision_v1.json")
# The default operating point, unless a site sets MATCH_STRANGERS_TARGET (facepipe.core.settings): the share of
# strangers' faces named, by people enrolled, interpolated in log(people) between these. A school (300 and more
# enrolled) gets 0.5%: the old rule named 11% there. A small gallery gets up to 2%: the old rule named 3-4% of
# strangers' photos with 10-14 enrolled, and 0.5% there costs real room video a tenth of its recall (measured on
# the dev set of docs/PERFORMANCE.md, "Names a school can trust": 0.90 against 0.94 with 14 enrolled).
DEFAULT_SCHEDULE: tuple[tuple[int, float], ...] = ((30, 0.02), (300, 0.005))


class Provenance(BaseModel):
    """Where a decision model's numbers come from: enough to make it again and to judge what it is worth."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data: str  # the folder it was learned on, as named by its README
    people: int  # identities it was learned on
    photos: int
    method: str
    command: str
    learned_at: str


class OperatingPoint(BaseModel):
    """Per gallery size, the largest ratio that named at most ``strangers_named`` of strangers' photos on the people
    it was learned on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    strangers_named: float = Field(gt=0, lt=1)
    # (people enrolled, ratio), ascending in people; between two rows the ratio is interpolated in log(people),
    # below the first the first holds (the absolute tolerance holds a small gallery), above the last the last (the
    # ratio that names a given share of strangers grows with N: holding the last one is the stricter side).
    ratio_by_enrolled: list[tuple[int, float]] = Field(min_length=1)

    @model_validator(mode="after")
    def _ascending(self) -> OperatingPoint:
        sizes = [n for n, _ in self.ratio_by_enrolled]
        if sizes != sorted(set(sizes)) or sizes[0] < 2:
            raise ValueError("ratio_by_enrolled must be ascending in people enrolled, from 2")
        return self

    def ratio(self, enrolled: int) -> float:
        """The ratio for a gallery of ``enrolled`` people (see ``ratio_by_enrolled``)."""
        sizes = np.log([n for n, _ in self.ratio_by_enrolled])
        ratios = [r for _, r in self.ratio_by_enrolled]
        return float(np.interp(np.log(max(enrolled, 2)), sizes, ratios))


class DecisionModel(BaseModel):
    """What is learned: the cohort's size and the ratio tables of a few operating points (strangers named at most
    0.1%, 0.5%, 2% ...: a site chooses with ``MATCH_STRANGERS_TARGET``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["facepipe-decision"] = DECISION_FORMAT
    version: Literal[1] = DECISION_VERSION
    encoder: str = "dlib_face_recognition_resnet_model_v1"
    cohort_size: int = Field(ge=1, le=1000)
    operating_points: list[OperatingPoint] = Field(min_length=1)
    provenance: Provenance

    def ratio(self, enrolled: int, strangers_named: float | None = None) -> float:
        """The ratio for a gallery of ``enrolled`` people: at the operating point ``strangers_named``, or on the
        default schedule (DEFAULT_SCHEDULE: between its two points, the two ratios interpolated in log(people))."""
        if strangers_named is not None:
            return self.point(strangers_named).ratio(enrolled)
        (small, lenient), (large, strict) = DEFAULT_SCHEDULE
        weight = float(np.clip(np.log(max(enrolled, 2) / small) / np.log(large / small), 0.0, 1.0))
        return (1 - weight) * self.point(lenient).ratio(enrolled) + weight * self.point(strict).ratio(enrolled)

    def point(self, strangers_named: float) -> OperatingPoint:
        """The operating point for a target share of strangers named; a clear error naming those there are."""
        for point in self.operating_points:
            if abs(point.strangers_named - strangers_named) < 1e-9:
                return point
        there = ", ".join(f"{p.strangers_named:g}" for p in self.operating_points)
        raise GalleryError(
            f"match_strangers_target {strangers_named:g}: the decision model has no such operating point "
            f"(it has {there})"
        )

    @classmethod
    def load(cls, path: Path) -> DecisionModel:
        try:
            return cls.model_validate(json.loads(path.read_bytes()))
        except FileNotFoundError as exc:
            raise GalleryError(f"{path}: decision model not found") from exc
        except (json.JSONDecodeError, ValidationError) as exc:
            raise GalleryError(f"{path}: not a facepipe decision model ({exc})") from exc


@lru_cache(maxsize=4)
def shipped(path: Path = SHIPPED) -> DecisionModel:
    """The decision model that ships with facepipe, read once."""
    return DecisionModel.load(path)


class Nearest(BaseModel):
    """One face's standing among the enrolled people: what the decision reads."""

    model_config = ConfigDict(frozen=True)

    index: int  # column of the nearest person
    nearest: float
    second: float  # inf with one person enrolled
    cohort: float  # mean distance to the next cohort_size people; inf with one person enrolled


def standing(distances: np.ndarray, cohort_size: int) -> Nearest:
    """A face's distances to each enrolled person (one row) read as :class:`Nearest` (:func:`standings` of one
    face); a person the face must not be named (an infinite distance: an operator rejected it for them) is in no
    cohort."""
    finite = distances[np.isfinite(distances)]
    if len(finite) == 0:
        return Nearest(index=int(np.argmin(distances)), nearest=np.inf, second=np.inf, cohort=np.inf)
    _, nearest, second, cohort = standings(finite[None, :], cohort_size)
    return Nearest(
        index=int(np.argmin(distances)), nearest=float(nearest[0]), second=float(second[0]), cohort=float(cohort[0])
    )


def accepts(face: Nearest, *, tolerance: float, margin: float, ratio: float) -> bool:
    """Whether ``face`` names its nearest person (the module's three conditions; ``ratio`` from
    :meth:`DecisionModel.ratio` for the gallery's size)."""
    one = np.asarray([face.nearest]), np.asarray([face.second]), np.asarray([face.cohort])
    return bool(accepts_many(*one, tolerance=tolerance, margin=margin, ratio=ratio)[0])


def accepts_many(
    nearest: np.ndarray,
    second: np.ndarray,
    cohort: np.ndarray,
    *,
    tolerance: float,
    margin: float,
    ratio: float,
) -> np.ndarray:
    """:func:`accepts` over arrays of faces, with the ratio given (the bench scores many settings at once)."""
    # A face nobody may be named for (every distance infinite: each person rejected for it) gives inf - inf: NaN,
    # which compares false, so it names nobody; numpy's warning about it says nothing here.
    with np.errstate(invalid="ignore"):
        return (nearest <= tolerance) & (second - nearest >= margin) & (nearest <= ratio * cohort)


def standings(per_person: np.ndarray, cohort_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For each row of a (faces x people) distance matrix: the nearest person's column, the nearest and second
    distances, and the cohort distance (as :func:`standing`, vectorised)."""
    faces, count = per_person.shape
    take = min(count, cohort_size + 1)
    part = np.partition(per_person, take - 1, axis=1)[:, :take] if take < count else per_person.copy()
    part.sort(axis=1)
    index = per_person.argmin(axis=1)
    second = part[:, 1] if take > 1 else np.full(faces, np.inf)
    cohort = part[:, 1:].mean(axis=1) if take > 1 else np.full(faces, np.inf)
    return index, part[:, 0], second, cohort
