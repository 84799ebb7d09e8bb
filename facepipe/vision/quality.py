"""How far a face's encoding can be trusted, judged before its identity is: size, sharpness, pose, visibility.

A poor crop (small, blurred by motion or focus, turned, half hidden, cut by the frame's edge) gives an
encoding that lands nearer the middle of face space, so it falls inside the tolerance of *someone* more often
the more people are enrolled (`facepipe bench --strangers`). Such a face never names anyone on its own.

The measures, each cheap (under 1 ms a face) and computed on what the encoder saw:

- **yaw**: from the five landmarks, how far the nose sits off the eyes' midline, in eye distances (0 frontal,
  about 0.25 at 45 degrees). A face turned ``TURNED_YAW`` or more is **poor**.
- **cut**: a landmark (an eye corner or the nose) lies at or beyond the frame's edge: part of the face is outside
  the picture. (A box touching the edge is not enough: HOG's box is wider than the face.) **Poor.**
- **faceness**: the score dlib's own HOG face detector gives the aligned chip (the face scaled to the
  detector's window). It falls as the head turns, as motion blur smears the eyes and mouth and as part of the
  face is hidden, but also with lighting, contrast and compression: frontal, sharp 200-px faces of real footage
  score 0.0-0.4, and 14% of the press photos of ``../shared/faces`` (frontal, 60-250 px) under 0.8. So a low
  faceness makes a face **weak** (uncertain), never poor by itself.
- **sharpness**: the variance of the Laplacian of the chip at 64x64 (faces of every size compare).

A poor face never names anyone. A weak face (small, heavily blurred, or of uncertain structure: half hidden,
smeared, badly lit) never names anyone *alone*: it decides nothing when its track has a good face, and a track of
weak faces names someone only when two of its frames agree. How many people a face may be taken for is the
decision's business (facepipe.identity.decision), not the grade's.

The thresholds rest on faces measured on every source we have (`facepipe bench --scale` grades the photos of
``../shared/faces``; docs/PERFORMANCE.md, "Quality that holds on any footage", the videos and the turning footage).
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
# A face below this faceness is weak (uncertain): it never names anyone alone. Measured: half hidden 0.06, turned
# past ~50 degrees 0.07-0.42; but frontal faces of real footage in poor light 0.0-0.4 too, so it is not poor.
MIN_FACENESS = 0.3
# A face whose nose sits this far off the eyes' midline (in eye distances) is turned ~50 degrees or more: poor.
# Measured: the turning woman looking away 0.32-0.53 (frontal 0.09-0.18); the photos of ../shared/faces, 1st-99th
# percentile -0.30 to 0.31; the talking heads under 0.06.
TURNED_YAW = 0.30
# Below this sharpness (variance of the Laplacian of the aligned chip at 64x64) a face counts as blurred.
# Measured on the dev set: sharp faces of 40-300 px 35-2600, defocused ones (sigma 1-1.2 px) 20-280: the
# value depends on the face as much as the focus, so this only catches heavy blur (faceness catches the rest).
BLUR_SHARPNESS = 25.0


@dataclass(frozen=True)
class FaceQuality:
    """One face's quality measures, the reasons it is poor (none: it may name someone) and the reasons it is weak
    (none: it may name someone alone)."""

    height_px: int
    faceness: float
    sharpness: float
    yaw: float
    cut: bool
    reasons: tuple[str, ...]
    cautions: tuple[str, ...] = ()

    @property
    def weak(self) -> bool:
        return bool(self.cautions)

    @property
    def poor(self) -> bool:
        return bool(self.reasons)

    @property
    def good(self) -> bool:
        """Neither poor nor weak: its encoding decides a track, and its crop may join the gallery."""
        return not self.poor and not self.weak

    @property
    def clear(self) -> bool:
        """Whole and frontal enough to show the face well (frame choice looks for a frame where it is)."""
        return not self.poor and self.faceness >= MIN_FACENESS

    @property
    def score(self) -> float:
        """One number for people and for ordering crops: faceness, 0 for a poor face."""
        return 0.0 if self.poor else round(self.faceness, 2)

    def describe(self) -> str:
        if self.reasons:
            return ", ".join(self.reasons)
        return f"weak ({', '.join(self.cautions)})" if self.cautions else "good"


# A reference photo softer than this is a poor reference (with the reasons of FaceQuality): the official
# portraits of the shared footage (faces 62-452 px) measure 344-1666, faces taken from soft 480x270 video 94-172.
REFERENCE_SHARPNESS = 250.0


def reference_reasons(face: FaceQuality) -> list[str]:
    """Why a face would make a poor gallery reference (empty: a good one): poor or weak as any face, or soft."""
    reasons = list(face.reasons) + list(face.cautions)
    if not reasons and face.sharpness < REFERENCE_SHARPNESS:
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
    reasons, cautions = [], []
    if abs(yaw) >= TURNED_YAW:
        reasons.append(f"turned (yaw {yaw:g})")
    if cut:
        reasons.append("cut by the frame edge")
    if height_px < min_height:
        cautions.append(f"small ({height_px} px)")
    if sharpness < BLUR_SHARPNESS:
        cautions.append(f"blurred (sharpness {sharpness:.0f})")
    if face_score < MIN_FACENESS:
        cautions.append(f"unclear (faceness {face_score:g}: half hidden, smeared or badly lit)")
    return FaceQuality(
        height_px=height_px,
        faceness=face_score,
        sharpness=round(sharpness, 1),
        yaw=yaw,
        cut=cut,
        reasons=tuple(reasons),
        cautions=tuple(cautions),
    )


def may_name(faces: list[FaceQuality]) -> bool:
    """Whether faces of one person with these grades can name anyone at all, before who is asked (the quality half
    of facepipe.identity.matching.decide): a good face, or two weak ones (which must then agree on the person);
    poor faces never."""
    return any(f.good for f in faces) or sum(1 for f in faces if not f.poor and f.weak) >= 2
