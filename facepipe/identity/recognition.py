"""Recognition of a clip's frames (or of one photo): small faces found once and followed, one decision per person.

A room camera sees faces 40-120 px tall. dlib's HOG window is 80 px: without upsampling it finds faces of
~60 px and more in the copy it searches, so on the usual 640-px copy a 1280x720 room loses every face under
~120 px (measured on the room-camera dev set, :mod:`facepipe.bench.devset`). Searching every frame at full size
with one upsample finds them all but costs 3-4x a frame's whole budget at 1280x720, so a clip is read so:

1. **The anchor** (the sharpest chosen frame) is searched once for small faces: on a copy at most
   ``small_face_max_side`` px, one upsample (faces down to ~36 px tall in frames up to that size). Each face
   found is graded (facepipe.vision.quality); when one is turned, hidden or smeared, a few of the clip's other frames
   are searched near it and the one that shows it best joins the chosen frames
   (:func:`facepipe.vision.frame_choice.choose_by_faces`).
2. **The other frames** get the usual pass (``detect_max_side``, no upsample: anyone large entering), and
   each anchor face they did not find is looked for in its neighbourhood only, scaled so the face is
   ~100 px (a few ms).
3. **Tracks**: a frame's faces are linked to the nearest face of the frames before (centres within a face
   height, similar size): one track per person in the clip. A track missing from a frame (its face turned past
   HOG's reach there) is looked for near where it was by dlib's CNN detector, which holds to three-quarter
   views and half profiles (``follow_lost_faces``; :func:`facepipe.vision.tracking.follow_lost`, ~25 ms a
   face, only where HOG lost one, at most 4 a clip): such a face is graded like any other, so a turned one is
   reported as the person its track's frontal faces name and never names anyone by itself.
4. **One decision per track**, from the mean of its encodings (noise of single frames averages out):
   the nearest person if within ``tolerance`` *and* at least ``margin`` nearer than the next person, and
   one of the faces averaged is itself within ``tolerance`` of him.
   Faces are graded first (facepipe.vision.quality): poor ones (turned, hidden, smeared, cut) never name anyone;
   weak ones (under ``decisive_face_px`` tall, or blurred) are left out of the mean when the track has a good
   one, and a track of weak faces only names someone when two of its frames agree on him; a decision resting
   on one good face needs a clear one. A poor gallery reference must be matched more closely.

Steps 1-3 are :mod:`facepipe.vision.tracking` (and :mod:`facepipe.vision.frame_choice`), step 4
:mod:`facepipe.identity.matching`; this module runs them on a clip. Every face of a track carries the track's
decision; its distance is its own to the person named (or to the nearest person, when unknown).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from facepipe.core.contracts import Face
from facepipe.core.settings import Settings
from facepipe.identity.gallery import Gallery
from facepipe.identity.matching import decide
from facepipe.media.video import decode_chosen, read_others
from facepipe.vision import encoder
from facepipe.vision.faces import Box, chips_and_landmarks
from facepipe.vision.frame_choice import ClipFrames, SpareFrames, choose_by_faces, chosen_frames
from facepipe.vision.quality import FaceQuality, assess
from facepipe.vision.tracking import detect_clip, link_tracks


@dataclass(frozen=True)
class FrameResult:
    """One frame's faces, how many were detected (before ``max_faces``), its share of the time, the faces'
    encodings (row i is ``faces[i]``'s: a correction reuses them rather than encoding again), their aligned
    chips (what the encoder saw: the crops the console shows and an unknown face is kept as), the track each
    face belongs to (one number per person in the clip) and each face's quality (facepipe.vision.quality)."""

    faces: list[Face]
    detected: int
    ms: float
    encodings: np.ndarray
    chips: np.ndarray = field(default_factory=lambda: np.empty((0, encoder.CHIP_SIZE, encoder.CHIP_SIZE, 3), np.uint8))
    tracks: list[int] = field(default_factory=list)
    quality: list[FaceQuality] = field(default_factory=list)


def recognize_frames(
    images: list[np.ndarray],
    gallery: Gallery,
    *,
    tolerance: float,
    margin: float = 0.0,
    anchor: int = 0,
    model: str = "hog",
    max_side: int = 640,
    small_face_max_side: int | None = None,
    decisive_face_px: int = 0,
    max_faces: int | None = None,
    anchor_faces: tuple[list[Box], int] | None = None,
    follow: bool = False,
    strangers_target: float | None = None,
) -> list[FrameResult]:
    """Every face in each RGB image of one clip, named by its track's decision (the module's steps); the
    faces of all the images are encoded in one batch (one encoder call per clip, not per face).

    A detected count above ``len(faces)`` tells the caller the frame was capped by ``max_faces``. Each
    frame's ``ms`` is its detection and alignment plus its faces' share of the batch and the decisions.
    """
    spent: list[float] = []
    start = time.perf_counter()
    detected = detect_clip(
        images,
        anchor=anchor,
        model=model,
        max_side=max_side,
        small_face_max_side=small_face_max_side,
        max_faces=max_faces,
        anchor_faces=anchor_faces,
        follow=follow,
    )
    per_frame_detect = (time.perf_counter() - start) / max(1, len(images))
    chips: list[np.ndarray] = []
    quality: list[FaceQuality] = []
    for image, (boxes, _) in zip(images, detected, strict=True):
        start = time.perf_counter()
        frame_chips, points = chips_and_landmarks(image, boxes)
        chips.append(frame_chips)
        quality += [
            assess(chip, box, image.shape, marks, min_height=decisive_face_px)
            for chip, box, marks in zip(frame_chips, boxes, points, strict=True)
        ]
        spent.append(per_frame_detect + time.perf_counter() - start)
    start = time.perf_counter()
    every_chip = np.concatenate(chips) if chips else np.empty((0, encoder.CHIP_SIZE, encoder.CHIP_SIZE, 3), np.uint8)
    encodings = encoder.encode_chips(every_chip)
    offsets = np.cumsum([0] + [len(boxes) for boxes, _ in detected])
    names: dict[tuple[int, int], tuple[str, float | None]] = {}
    track_of: dict[tuple[int, int], int] = {}
    for number, track in enumerate(link_tracks([boxes for boxes, _ in detected])):
        rows = [int(offsets[n] + f) for n, f in track.members]
        decision = decide(
            encodings[rows],
            [quality[r] for r in rows],
            gallery,
            tolerance=tolerance,
            margin=margin,
            strangers_target=strangers_target,
        )
        for member, distance in zip(track.members, decision.distances, strict=True):
            names[member] = (decision.person, distance)
            track_of[member] = number
    shared = (time.perf_counter() - start) / max(1, len(encodings))
    results: list[FrameResult] = []
    for n, ((boxes, count), seconds) in enumerate(zip(detected, spent, strict=True)):
        found = [
            Face(id=names[n, f][0], distance=_rounded(names[n, f][1]), box=list(box)) for f, box in enumerate(boxes)
        ]
        ms = round((seconds + shared * len(boxes)) * 1000, 1)
        results.append(
            FrameResult(
                found,
                count,
                ms,
                encodings[offsets[n] : offsets[n + 1]],
                every_chip[offsets[n] : offsets[n + 1]],
                [track_of[n, f] for f in range(len(boxes))],
                quality[offsets[n] : offsets[n + 1]],
            )
        )
    return results


def _rounded(distance: float | None) -> float | None:
    return None if distance is None else round(distance, 4)


def recognize_image(
    image: np.ndarray,
    gallery: Gallery,
    *,
    tolerance: float,
    margin: float = 0.0,
    model: str = "hog",
    max_side: int = 640,
    max_faces: int | None = None,
    strangers_target: float | None = None,
) -> list[Face]:
    """Every face in one RGB image (a photo) with its identity, distance and box: the usual pass only,
    each face its own track (see :func:`recognize_frames`)."""
    (one,) = recognize_frames(
        [image],
        gallery,
        tolerance=tolerance,
        margin=margin,
        model=model,
        max_side=max_side,
        max_faces=max_faces,
        strangers_target=strangers_target,
    )
    return one.faces


def recognize_chosen(
    frames: ClipFrames, gallery: Gallery, settings: Settings, spare: SpareFrames | None = None
) -> tuple[ClipFrames, list[FrameResult]]:
    """A clip recognized as the recognize stage does (the settings' detection and rule), from the frames extract
    chose and, where a face is poor in them, one more of the clip (:func:`choose_by_faces`)."""
    start = time.perf_counter()
    frames = choose_by_faces(frames, settings, spare)
    choosing = (time.perf_counter() - start) * 1000 / len(frames.images)  # the anchor's search is in it
    found = recognize_frames(
        frames.images,
        gallery,
        tolerance=settings.match_tolerance,
        margin=settings.match_margin,
        anchor=frames.anchor,
        model=settings.detect_model,
        max_side=settings.detect_max_side,
        small_face_max_side=settings.small_face_max_side or None,
        decisive_face_px=settings.decisive_face_px,
        max_faces=settings.max_faces_per_frame,
        anchor_faces=frames.anchor_faces,
        follow=settings.follow_lost_faces,
        strangers_target=settings.match_strangers_target,
    )
    return frames, [replace(frame, ms=round(frame.ms + choosing, 1)) for frame in found]


def recognize_file(
    path: Path, gallery: Gallery, settings: Settings, *, name: str | None = None
) -> tuple[ClipFrames, list[FrameResult]]:
    """A clip file read and recognized exactly as the pipeline does (extract's frames, the recognize stage's
    detection, frame choice and rule): what a correction or a measurement must see."""
    decoded = decode_chosen(path, settings, name=name)
    frames = chosen_frames(decoded.indexes, [t for _, t, _ in decoded.frames], decoded.rgb(), decoded.sharpness)

    def spare() -> Iterator[tuple[int, float, np.ndarray]]:
        return read_others(
            path,
            set(decoded.indexes),
            max_seconds=settings.max_clip_seconds,
            max_pixels=settings.max_frame_pixels,
            name=name,
        )

    return recognize_chosen(frames, gallery, settings, spare)
