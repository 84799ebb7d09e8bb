"""How far a face's encoding can be trusted, judged before its identity is: size, sharpness, pose, visibility.

A poor crop (small, blurred by motion or focus, turned, half hidden, cut by the frame's edge) gives an
encoding that lands nearer the middle of face space, so it falls inside the tolerance of *someone* more often
the more people are enrolled (`facepipe bench --strangers`). Such a face never names anyone on its own.

The measures, each cheap (under 1 ms a face) and computed on what the encoder saw:

- **faceness**: the score dlib's own HOG face detector gives the aligned chip (the face scaled to the
  detector's window). It is high for an upright, frontal, whole face with clear structure, and falls as the
  head turns, as motion blur smears the eyes and mouth, and as part of the face is hidden: one measure for
  the three ways a crop goes wrong, from the detector the pipeline already runs.
- **sharpness**: the variance of the Laplacian of the chip at 64x64 (faces of every size compare).
- **yaw**: from the five landmarks, how far the nose sits off the eyes' midline, in eye distances (0 frontal,
  about 0.25 at 45 degrees); reported for people to read, the decision rests on faceness.
- **cut**: a landmark (an eye corner or the nose) lies at or beyond the frame's edge: part of the face is outside
  the picture. (A box touching the edge is not enough: HOG's box is wider than the face.)

Size and heavy blur make a face *weak*, not poor: its encoding is noisier, so it decides nothing when its track
has a better face, and a track of weak faces names someone only when two of its frames agree.

The thresholds (``MIN_FACENESS``, ``SINGLE_FRAME_FACENESS``) rest on faces measured on real footage; see
docs/PERFORMANCE.md ("Quality before identity") for the figures and `facepipe bench --strangers` to re-measure.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facepipe.vision.faces import hog_scores

# The aligned chip is scaled to this size before the detector scores it: the face then fills dlib's 80-px window.
_FACENESS_PX = 100
# Below this the detector scores no face at all on the chip (it is not a face to it).
NO_FACE = -2.0
# A face below this faceness is poor: it never names anyone on its own. Measured: frontal faces of the dev set
# (40-370 px, sharp or defocused) score 0.5-2.9; turned past ~45 degrees, half hidden or smeared by motion blur
# of ~15 px, 0.1 and below.
MIN_FACENESS = 0.3
# A track whose decision rests on one good face names someone only with a face this clear (or when a weak
# face of another frame agrees): see docs/PERFORMANCE.md for the faces this rests on.
SINGLE_FRAME_FACENESS = 0.8
# Below this sharpness (variance of the Laplacian of the aligned chip at 64x64) a face counts as blurred.
# Measured on the dev set: sharp faces of 40-300 px 35-2600, defocused ones (sigma 1-1.2 px) 20-280: the
# value depends on the face as much as the focus, so this only catches heavy blur (faceness catches the rest).
BLUR_SHARPNESS = 25.0


@dataclass(frozen=True)
class FaceQuality:
    """One face's quality measures and the reasons it is poor (none: it may name someone)."""

    height_px: int
    faceness: float
    sharpness: float
    yaw: float
    cut: bool
    reasons: tuple[str, ...]

    weak: bool = False

    @property
    def poor(self) -> bool:
        return bool(self.reasons)

    @property
    def good(self) -> bool:
        """Neither poor nor weak: its encoding decides a track, and its crop may join the gallery."""
        return not self.poor and not self.weak

    @property
    def single_frame_ok(self) -> bool:
        """Clear enough to name someone when no other frame of the clip shows the face well."""
        return self.good and self.faceness >= SINGLE_FRAME_FACENESS

    @property
    def score(self) -> float:
        """One number for people and for ordering crops: faceness, 0 for a poor face."""
        return 0.0 if self.poor else round(self.faceness, 2)

    def describe(self) -> str:
        return ", ".join(self.reasons) if self.reasons else ("weak (small or blurred)" if self.weak else "good")


# A reference photo softer than this is a poor reference (with the reasons of FaceQuality): the official
# portraits of the shared footage (faces 62-452 px) measure 344-1666, faces taken from soft 480x270 video 94-172.
REFERENCE_SHARPNESS = 250.0


def reference_reasons(face: FaceQuality) -> list[str]:
    """Why a face would make a poor gallery reference (empty: a good one): poor or weak as any face, or soft."""
    reasons = list(face.reasons)
    if face.weak:
        reasons.append(f"small or blurred ({face.height_px} px, sharpness {face.sharpness:g})")
    elif face.sharpness < REFERENCE_SHARPNESS:
        reasons.append(f"soft (sharpness {face.sharpness:g}, a good reference has {REFERENCE_SHARPNESS:g} or more)")
    return reasons


def chip_sharpness(chip: np.ndarray) -> float:
    """Sharpness of an aligned RGB face chip, at a fixed 64x64 so faces of every size compare."""
    gray = cv2.cvtColor(cv2.resize(chip, (64, 64), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def faceness(chip: np.ndarray) -> float:
    """The HOG face detector's best score on an aligned RGB chip (``NO_FACE`` when it sees none)."""
    small = cv2.resize(chip, (_FACENESS_PX, _FACENESS_PX), interpolation=cv2.INTER_AREA)
    scores = hog_scores(small, floor=NO_FACE)
    return round(max(scores), 3) if scores else NO_FACE


def yaw(points: np.ndarray) -> float:
    """Head turn from dlib's five landmarks (two corners of each eye, then the nose): the nose's offset from
    the eyes' midpoint along the line between the eyes, in eye distances; the sign says which way."""
    eye_a, eye_b = points[0:2].mean(axis=0), points[2:4].mean(axis=0)
    across = eye_b - eye_a
    distance = float(np.hypot(*across))
    if distance < 1e-6:
        return 0.0
    offset = float(np.dot(points[4] - (eye_a + eye_b) / 2, across / distance))
    return round(offset / distance, 3)


def assess(
    chip: np.ndarray,
    box: tuple[int, int, int, int],
    frame_shape: tuple[int, ...],
    points: np.ndarray | None = None,
    *,
    min_height: int = 0,
) -> FaceQuality:
    """The quality of one face: its aligned chip, its box (top, right, bottom, left) in a frame of
    ``frame_shape``, and its five landmarks when known."""
    height = box[2] - box[0]
    frame_h, frame_w = frame_shape[:2]
    cut = points is not None and bool(
        (points[:, 0] <= 1).any()
        or (points[:, 1] <= 1).any()
        or (points[:, 0] >= frame_w - 2).any()
        or (points[:, 1] >= frame_h - 2).any()
    )
    return grade(
        faceness(chip),
        chip_sharpness(chip),
        height,
        min_height=min_height,
        cut=cut,
        yaw=yaw(points) if points is not None else 0.0,
    )


def grade(
    face_score: float, sharpness: float, height_px: int, *, min_height: int, cut: bool = False, yaw: float = 0.0
) -> FaceQuality:
    """A face's grade from its measures (:func:`assess` measures them on a frame; a kept crop has them recorded)."""
    reasons = []
    if face_score < MIN_FACENESS:
        reasons.append("turned, hidden or smeared")
    if cut:
        reasons.append("cut by the frame edge")
    return FaceQuality(
        height_px=height_px,
        faceness=face_score,
        sharpness=round(sharpness, 1),
        yaw=yaw,
        cut=cut,
        reasons=tuple(reasons),
        weak=height_px < min_height or sharpness < BLUR_SHARPNESS,
    )
