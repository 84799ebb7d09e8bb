"""Faces followed through a clip's chosen frames: the sharpest searched once for small faces, the others
around what it found, and faces linked into one track per person (steps 1-3 of
:mod:`facepipe.identity.recognition`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from facepipe.core.settings import Settings
from facepipe.vision.faces import Box, detect_faces, keep_largest

# The face height (px) a neighbourhood search scales to: well above HOG's 80-px window once boxes shrink.
_SEARCH_FACE_PX = 100


# Neighbourhood searched around an anchor face, in face heights on each side (people move in 0.5 s).
_SEARCH_REACH = 1.0


def _height(box: Box) -> int:
    return box[2] - box[0]


def centre(box: Box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def same_face(a: Box, b: Box) -> bool:
    """Whether two boxes (in two frames of one clip, or two passes over one frame) are one face: centres
    within one face height and heights within a factor of 1.6."""
    ha, hb = max(1, _height(a)), max(1, _height(b))
    (ya, xa), (yb, xb) = centre(a), centre(b)
    return max(ha, hb) / min(ha, hb) <= 1.6 and np.hypot(ya - yb, xa - xb) <= max(ha, hb)


def search_near(image: np.ndarray, box: Box, *, model: str = "hog") -> list[Box]:
    """Faces in the neighbourhood of ``box`` (a face found in another frame of the clip), on a crop scaled
    so the face is ~100 px tall: a small face costs a few ms to follow instead of a full upsampled search."""
    height, width = image.shape[:2]
    reach = round(_height(box) * _SEARCH_REACH)
    top, right = max(0, box[0] - reach), min(width, box[1] + reach)
    bottom, left = min(height, box[2] + reach), max(0, box[3] - reach)
    crop = image[top:bottom, left:right]
    if crop.size == 0:
        return []
    scale = _SEARCH_FACE_PX / max(1, _height(box))
    if scale > 1.0:
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    found = detect_faces(crop, model=model, max_side=max(crop.shape[:2]))
    inv = 1.0 / scale if scale > 1.0 else 1.0
    return [
        (top + round(t * inv), left + round(r * inv), top + round(b * inv), left + round(lft * inv))
        for t, r, b, lft in found
    ]


def detect_clip(
    images: list[np.ndarray],
    *,
    anchor: int = 0,
    model: str = "hog",
    max_side: int = 640,
    small_face_max_side: int | None = 1280,
    max_faces: int | None = None,
    anchor_faces: tuple[list[Box], int] | None = None,
) -> list[tuple[list[Box], int]]:
    """Every face in each frame of a clip (see the module's steps 1-2), boxes in each frame's own pixels,
    with the number detected before ``max_faces`` (the largest faces are kept: a crowd must not stall a clip).

    Without ``small_face_max_side`` every frame gets only the usual pass (still photos, and the setting 0).
    ``anchor_faces``: the anchor's faces when already found (:func:`choose_by_faces`).
    """

    def capped(boxes: list[Box]) -> tuple[list[Box], int]:
        return (boxes if max_faces is None else keep_largest(boxes, max_faces)), len(boxes)

    if not small_face_max_side:
        return [capped(detect_faces(image, model=model, max_side=max_side)) for image in images]
    anchors = anchor_faces or capped(
        detect_faces(images[anchor], model=model, max_side=small_face_max_side, upsample=1)
    )
    found: list[tuple[list[Box], int]] = []
    for n, image in enumerate(images):
        if n == anchor:
            found.append(anchors)
            continue
        boxes = detect_faces(image, model=model, max_side=max_side)
        for box in anchors[0]:
            if any(same_face(box, b) for b in boxes):
                continue
            near = [b for b in search_near(image, box, model=model) if same_face(box, b)]
            if near:
                boxes.append(min(near, key=lambda b: float(np.hypot(*np.subtract(centre(b), centre(box))))))
        found.append(capped(boxes))
    return found


@dataclass
class Track:
    """One person's faces across a clip: (frame position, face position within the frame) pairs."""

    members: list[tuple[int, int]] = field(default_factory=list)
    last: Box = (0, 0, 0, 0)


def link_tracks(boxes: list[list[Box]]) -> list[Track]:
    """Faces linked across frames, greedily nearest first; a face links to at most one track and a track
    takes at most one face per frame."""
    tracks: list[Track] = []
    for n, frame_boxes in enumerate(boxes):
        pairs = sorted(
            (np.hypot(*np.subtract(centre(box), centre(track.last))), t, f)
            for f, box in enumerate(frame_boxes)
            for t, track in enumerate(tracks)
            if same_face(box, track.last)
        )
        taken_tracks: set[int] = set()
        taken_faces: set[int] = set()
        for _, t, f in pairs:
            if t in taken_tracks or f in taken_faces:
                continue
            tracks[t].members.append((n, f))
            tracks[t].last = frame_boxes[f]
            taken_tracks.add(t)
            taken_faces.add(f)
        for f, box in enumerate(frame_boxes):
            if f not in taken_faces:
                tracks.append(Track([(n, f)], box))
    return tracks


def detect_chosen(images: list[np.ndarray], sharpness: list[float], settings: Settings) -> list[tuple[list[Box], int]]:
    """Faces in a clip's chosen frames as the recognize stage finds them (the settings' detection, the
    sharpest frame searched for small faces): erase looks for a person where the pipeline would see them."""
    return detect_clip(
        images,
        anchor=sharpest(sharpness),
        model=settings.detect_model,
        max_side=settings.detect_max_side,
        small_face_max_side=settings.small_face_max_side or None,
        max_faces=settings.max_faces_per_frame,
    )


def sharpest(sharpness: list[float]) -> int:
    return int(np.argmax(sharpness)) if sharpness else 0
