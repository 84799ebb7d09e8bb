"""Frames chosen by faces: when the anchor shows a face turned, hidden or smeared, a few of the clip's other
frames are searched near it and the one that shows it best joins the chosen ones (step 1 of
:mod:`facepipe.identity.recognition`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from facepipe.core.settings import Settings
from facepipe.vision.faces import Box, chips_and_landmarks, detect_faces, keep_largest, small_face_upsample
from facepipe.vision.quality import assess
from facepipe.vision.tracking import centre, same_face, search_near, sharpest

# The frames of a clip that were not chosen, decoded on demand: (index, t_ms, RGB image) one at a time.
SpareFrames = Callable[[], Iterator[tuple[int, float, np.ndarray]]]


# When the anchor shows a face turned, hidden or smeared, at most this many of the clip's other frames are
# searched near it for a better view, and at most one frame is added: more of the clip is looked at only where
# a face is plausible and poor (a few ms a search), never in a clip whose faces are clear.
_SPARE_SEARCHED = 6


_POOR_FACES_FOLLOWED = 4


@dataclass(frozen=True)
class ClipFrames:
    """The frames a clip is recognized on (clip order): their indexes, times and RGB images, which one is the
    anchor (searched for small faces) and the anchor's faces once found."""

    indexes: list[int]
    t_ms: list[float]
    images: list[np.ndarray]
    anchor: int
    anchor_faces: tuple[list[Box], int] | None = None


def _nearest_to(box: Box, boxes: list[Box]) -> Box:
    return min(boxes, key=lambda b: float(np.hypot(*np.subtract(centre(b), centre(box)))))


def choose_by_faces(frames: ClipFrames, settings: Settings, spare: SpareFrames | None) -> ClipFrames:
    """Extract chose the sharpest frame of each part of the clip; a face turned away in those frames names
    nobody. So the anchor's faces are graded, and for each poor one (turned, hidden, smeared) the clip's other
    frames are searched near it: the frame that shows most of them frontally joins the chosen ones."""
    if not settings.small_face_max_side:
        return frames
    anchor_image = frames.images[frames.anchor]
    found = detect_faces(
        anchor_image,
        model=settings.detect_model,
        max_side=settings.small_face_max_side,
        upsample=small_face_upsample(settings.detect_model),
    )
    anchor_faces = (keep_largest(found, settings.max_faces_per_frame), len(found))
    chosen = ClipFrames(frames.indexes, frames.t_ms, frames.images, frames.anchor, anchor_faces)
    if spare is None or not anchor_faces[0]:
        return chosen
    chips, points = chips_and_landmarks(anchor_image, anchor_faces[0])
    poor = [
        box
        for box, chip, marks in zip(anchor_faces[0], chips, points, strict=True)
        if assess(chip, box, anchor_image.shape, marks).poor
    ][:_POOR_FACES_FOLLOWED]
    if not poor:
        return chosen
    best: tuple[int, float, int, float, np.ndarray] | None = None  # (faces seen well, faceness, index, t, image)
    for n, (index, t_ms, image) in enumerate(spare()):
        if n // 2 >= _SPARE_SEARCHED:
            break
        if n % 2:  # every other frame: neighbours look alike
            continue
        seen, score = 0, 0.0
        for box in poor:
            near = [b for b in search_near(image, box, model=settings.detect_model) if same_face(box, b)]
            if not near:
                continue
            better = _nearest_to(box, near)
            chip, marks = chips_and_landmarks(image, [better])
            graded = assess(chip[0], better, image.shape, marks[0])
            if not graded.poor:
                seen, score = seen + 1, score + graded.faceness
        if seen and (best is None or (seen, score) > best[:2]):
            best = (seen, score, index, t_ms, image)
    if best is None:
        return chosen
    _, _, index, t_ms, image = best
    at = int(np.searchsorted(frames.indexes, index))
    anchor = frames.anchor + (1 if at <= frames.anchor else 0)
    return ClipFrames(
        [*frames.indexes[:at], index, *frames.indexes[at:]],
        [*frames.t_ms[:at], t_ms, *frames.t_ms[at:]],
        [*frames.images[:at], image, *frames.images[at:]],
        anchor,
        anchor_faces,
    )


def chosen_frames(
    indexes: list[int], t_ms: list[float], images: list[np.ndarray], sharpness: list[float]
) -> ClipFrames:
    """The frames extract chose (RGB), the sharpest as the anchor."""
    return ClipFrames(indexes, t_ms, images, sharpest(sharpness))
