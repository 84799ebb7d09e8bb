"""Faces followed through a clip's chosen frames: the sharpest searched once for small faces, the others
around what it found, faces linked into one track per person, and a face HOG loses in a frame looked for there
by the CNN detector (steps 1-3 of :mod:`facepipe.identity.recognition`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from facepipe.core.settings import Settings
from facepipe.vision import cnn_detector
from facepipe.vision.faces import Box, detect_faces, keep_largest, small_face_upsample

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


# The face height (px) the CNN detector's neighbourhood is scaled to when a face is followed: its first
# pyramid level's window is 80 px, so five levels find the face at 80-166 px, from 0.9 to 1.8 times the height
# it had in the frame it was found in (the boxes of the two detectors differ a little in size).
_FOLLOW_FACE_PX = 90
_FOLLOW_LEVELS = 5
# At most this many faces are followed into the frames that lost them, per clip (the largest first): a crowd
# turning away must not stall the clip (each follow costs ~25 ms).
_FOLLOW_MAX = 4


def _neighbourhood(image: np.ndarray, box: Box, face_px: int, *, shrink: bool) -> tuple[np.ndarray, int, int, float]:
    """The region of ``image`` within a face height of ``box``, scaled so that face is ``face_px`` tall (only
    enlarged, unless ``shrink``): (crop, its top, its left, the scale)."""
    height, width = image.shape[:2]
    reach = round(_height(box) * _SEARCH_REACH)
    top, right = max(0, box[0] - reach), min(width, box[1] + reach)
    bottom, left = min(height, box[2] + reach), max(0, box[3] - reach)
    crop = image[top:bottom, left:right]
    scale = face_px / max(1, _height(box))
    if crop.size == 0 or (scale < 1.0 and not shrink):
        return crop, top, left, 1.0
    interpolation = cv2.INTER_LINEAR if scale > 1.0 else cv2.INTER_AREA
    return cv2.resize(crop, None, fx=scale, fy=scale, interpolation=interpolation), top, left, scale


def _unscaled(found: list[Box], top: int, left: int, scale: float) -> list[Box]:
    inv = 1.0 / scale
    return [
        (top + round(t * inv), left + round(r * inv), top + round(b * inv), left + round(lft * inv))
        for t, r, b, lft in found
    ]


def search_near(image: np.ndarray, box: Box, *, model: str = "hog") -> list[Box]:
    """Faces in the neighbourhood of ``box`` (a face found in another frame of the clip), on a crop scaled
    so the face is ~100 px tall: a small face costs a few ms to follow instead of a full upsampled search."""
    crop, top, left, scale = _neighbourhood(image, box, _SEARCH_FACE_PX, shrink=False)
    if crop.size == 0:
        return []
    return _unscaled(detect_faces(crop, model=model, max_side=max(crop.shape[:2])), top, left, scale)


def follow_near(image: np.ndarray, box: Box) -> Box | None:
    """Where the face at ``box`` (in another frame of the clip) is in ``image`` when HOG does not see it there:
    dlib's CNN detector, which holds to three-quarter views and half profiles, on its neighbourhood scaled so
    the face is ~90 px (~25 ms). None when no face of about its size is there."""
    crop, top, left, scale = _neighbourhood(image, box, _FOLLOW_FACE_PX, shrink=True)
    if crop.size == 0:
        return None
    found = _unscaled([d.box for d in cnn_detector.detect(crop, levels=_FOLLOW_LEVELS)], top, left, scale)
    near = [b for b in found if same_face(box, b)]
    return min(near, key=lambda b: float(np.hypot(*np.subtract(centre(b), centre(box))))) if near else None


def follow_lost(images: list[np.ndarray], found: list[list[Box]]) -> list[list[Box]]:
    """Each frame's faces with those HOG lost there added: a track (:func:`link_tracks`) missing from a frame is
    looked for with :func:`follow_near`, from its face in the nearest frame that has one. A face turned past
    HOG's reach so stays with its person; whether it may name anyone is for its grade to say."""
    boxes = [list(frame) for frame in found]
    tracks = sorted(link_tracks(found), key=lambda t: max(_height(found[n][f]) for n, f in t.members), reverse=True)
    follows = 0
    for track in tracks:
        seen = {n: found[n][f] for n, f in track.members}
        for n, image in enumerate(images):
            if n in seen or follows >= _FOLLOW_MAX:
                continue
            follows += 1
            nearest = seen[min(seen, key=lambda m: abs(m - n))]
            box = follow_near(image, nearest)
            if box is not None and not any(same_face(box, other) for other in boxes[n]):
                boxes[n].append(box)
    return boxes


def detect_clip(
    images: list[np.ndarray],
    *,
    anchor: int = 0,
    model: str = "hog",
    max_side: int = 640,
    small_face_max_side: int | None = 1280,
    max_faces: int | None = None,
    anchor_faces: tuple[list[Box], int] | None = None,
    follow: bool = False,
) -> list[tuple[list[Box], int]]:
    """Every face in each frame of a clip (see the module's steps 1-2), boxes in each frame's own pixels,
    with the number detected before ``max_faces`` (the largest faces are kept: a crowd must not stall a clip).

    Without ``small_face_max_side`` every frame gets only the usual pass (still photos, and the setting 0).
    ``anchor_faces``: the anchor's faces when already found (:func:`choose_by_faces`). ``follow``: faces HOG
    lost in a frame are looked for there by the CNN detector (:func:`follow_lost`).
    """

    def capped(boxes: list[Box]) -> tuple[list[Box], int]:
        return (boxes if max_faces is None else keep_largest(boxes, max_faces)), len(boxes)

    if not small_face_max_side:
        return [capped(detect_faces(image, model=model, max_side=max_side)) for image in images]
    upsample = small_face_upsample(model)
    anchors = anchor_faces or capped(
        detect_faces(images[anchor], model=model, max_side=small_face_max_side, upsample=upsample)
    )
    found: list[tuple[list[Box], int]] = []
    for n, image in enumerate(images):
        if n == anchor:
            found.append(anchors)
            continue
        if not upsample:
            # A detector that sees small faces at the frame's own size (YuNet, a few ms): every frame gets the
            # whole search, nothing needs following near the anchor's faces.
            found.append(capped(detect_faces(image, model=model, max_side=small_face_max_side)))
            continue
        boxes = detect_faces(image, model=model, max_side=max_side)
        for box in anchors[0]:
            if any(same_face(box, b) for b in boxes):
                continue
            near = [b for b in search_near(image, box, model=model) if same_face(box, b)]
            if near:
                boxes.append(min(near, key=lambda b: float(np.hypot(*np.subtract(centre(b), centre(box))))))
        found.append(capped(boxes))
    if follow and len(images) > 1:
        followed = follow_lost(images, [boxes for boxes, _ in found])
        found = [(boxes, count + len(boxes) - len(seen)) for boxes, (seen, count) in zip(followed, found, strict=True)]
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
        follow=settings.follow_lost_faces,
    )


def sharpest(sharpness: list[float]) -> int:
    return int(np.argmax(sharpness)) if sharpness else 0
