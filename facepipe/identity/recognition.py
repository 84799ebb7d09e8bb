"""Recognition of a clip's frames (or of one photo): small faces found once and followed, one decision per person.

A room camera sees faces 40-120 px tall. dlib's HOG window is 80 px: without upsampling it finds faces of
~60 px and more in the copy it searches, so on the usual 640-px copy a 1280x720 room loses every face under
~120 px (measured on the room-camera dev set, :mod:`facepipe.bench.devset`). Searching every frame at full size
with one upsample finds them all but costs 3-4x a frame's whole budget at 1280x720, so a clip is read so:

1. **The anchor** (the sharpest chosen frame) is searched once for small faces: on a copy at most
   ``small_face_max_side`` px, one upsample (faces down to ~36 px tall in frames up to that size). Each face
   found is graded (facepipe.vision.quality); when one is turned, hidden or smeared, a few of the clip's other frames
   are searched near it and the one that shows it best joins the chosen frames (:func:`choose_by_faces`).
2. **The other frames** get the usual pass (``detect_max_side``, no upsample: anyone large entering), and
   each anchor face they did not find is looked for in its neighbourhood only, scaled so the face is
   ~100 px (a few ms).
3. **Tracks**: a frame's faces are linked to the nearest face of the frames before (centres within a face
   height, similar size): one track per person in the clip.
4. **One decision per track**, from the mean of its encodings (noise of single frames averages out):
   the nearest person if within ``tolerance`` *and* at least ``margin`` nearer than the next person, and
   one of the faces averaged is itself within ``tolerance`` of him.
   Faces are graded first (facepipe.vision.quality): poor ones (turned, hidden, smeared, cut) never name anyone;
   weak ones (under ``decisive_face_px`` tall, or blurred) are left out of the mean when the track has a good
   one, and a track of weak faces only names someone when two of its frames agree on him; a decision resting
   on one good face needs a clear one. A poor gallery reference must be matched more closely.

Every face of a track carries the track's decision; its distance is its own to the person named (or to
the nearest person, when unknown).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from facepipe.core.contracts import UNKNOWN, Face
from facepipe.core.settings import Settings
from facepipe.media.video import decode_chosen, read_others
from facepipe.vision import encoder
from facepipe.vision.faces import Box, chips_and_landmarks, detect_faces, keep_largest, pairwise_distances
from facepipe.vision.quality import FaceQuality, assess

if TYPE_CHECKING:
    from facepipe.identity.gallery import Gallery

# The face height (px) a neighbourhood search scales to: well above HOG's 80-px window once boxes shrink.
_SEARCH_FACE_PX = 100
# Neighbourhood searched around an anchor face, in face heights on each side (people move in 0.5 s).
_SEARCH_REACH = 1.0


def _height(box: Box) -> int:
    return box[2] - box[0]


def _centre(box: Box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def same_face(a: Box, b: Box) -> bool:
    """Whether two boxes (in two frames of one clip, or two passes over one frame) are one face: centres
    within one face height and heights within a factor of 1.6."""
    ha, hb = max(1, _height(a)), max(1, _height(b))
    (ya, xa), (yb, xb) = _centre(a), _centre(b)
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
                boxes.append(min(near, key=lambda b: float(np.hypot(*np.subtract(_centre(b), _centre(box))))))
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
            (np.hypot(*np.subtract(_centre(box), _centre(track.last))), t, f)
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


@dataclass(frozen=True)
class Decision:
    person: str  # an enrolled id, or UNKNOWN
    distances: list[float | None]  # each member face's own distance to ``person`` (or the nearest person)


def person_distances(encodings: np.ndarray, gallery: Gallery) -> tuple[list[str], np.ndarray]:
    """Enrolled ids and, for each encoding, its distance to each person (their nearest photo, a poor reference
    photo's distance raised by ``gallery.POOR_REFERENCE_PENALTY``)."""
    matrix, _ = gallery.matrix()
    people, columns = gallery.columns()
    if not people or len(encodings) == 0:
        return people, np.empty((len(encodings), len(people)))
    by_photo = pairwise_distances(encodings, matrix) + gallery.penalties()  # a poor reference must be nearer
    return people, np.stack([by_photo[:, cols].min(axis=1) for cols in columns], axis=1)


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
) -> Decision:
    """One track's person (see the module's step 4), decided on its best faces (facepipe.vision.quality): good ones,
    else weak ones (small or blurred: two frames must then agree), never poor ones (turned, hidden, smeared or
    cut: such a track names nobody, however near it lands). A track whose decision rests on one face names
    someone only when that face is clear enough for a one-frame decision (``FaceQuality.single_frame_ok``)."""
    people, per_face = person_distances(encodings, gallery)
    if not people:
        return Decision(UNKNOWN, [None] * len(encodings))
    good = [i for i, q in enumerate(quality) if q.good]
    weak = [i for i, q in enumerate(quality) if not q.poor and q.weak]
    used = good or weak or list(range(len(encodings)))
    mean = encodings[used].mean(axis=0, keepdims=True)
    _, combined = person_distances(mean, gallery)
    for person in _rejecting(mean, gallery, combined[0], people):
        combined[0, people.index(person)] = np.inf  # an operator said this face is not them
    order = np.argsort(combined[0])
    best = int(order[0])
    nearest = float(combined[0, best])
    second = float(combined[0, order[1]]) if len(people) > 1 else float("inf")
    # The mean picks the person; one of the faces it averages must reach him too. Three faces each beyond the
    # tolerance whose mean lands inside it are the borderline matches strangers make (a blurred stranger's three
    # frames at 0.61 each from a soft reference, their mean at 0.57, on the dev set of issue 21).
    reached = bool((per_face[used, best] <= tolerance).any())
    named = nearest <= tolerance and second - nearest >= margin and reached
    if not good:
        # Weak faces alone: two frames must agree on the person; poor faces alone never name anyone.
        named = named and len(weak) >= 2 and int((per_face[weak, best] == per_face[weak].min(axis=1)).sum()) >= 2
    elif len(good) == 1 and not quality[good[0]].single_frame_ok:
        # One good face, not clear enough to decide alone: a weak face of another frame must agree.
        named = named and bool(weak) and bool((per_face[weak, best] == per_face[weak].min(axis=1)).any())
    column = best if named else None
    distances: list[float | None] = [float(row[column]) if column is not None else float(row.min()) for row in per_face]
    return Decision(people[best] if named else UNKNOWN, distances)


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
        decision = decide(encodings[rows], [quality[r] for r in rows], gallery, tolerance=tolerance, margin=margin)
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
) -> list[Face]:
    """Every face in one RGB image (a photo) with its identity, distance and box: the usual pass only,
    each face its own track (see :func:`recognize_frames`)."""
    (one,) = recognize_frames(
        [image], gallery, tolerance=tolerance, margin=margin, model=model, max_side=max_side, max_faces=max_faces
    )
    return one.faces


def detect_chosen(images: list[np.ndarray], sharpness: list[float], settings: Settings) -> list[tuple[list[Box], int]]:
    """Faces in a clip's chosen frames as the recognize stage finds them (the settings' detection, the
    sharpest frame searched for small faces): erase looks for a person where the pipeline would see them."""
    return detect_clip(
        images,
        anchor=_sharpest(sharpness),
        model=settings.detect_model,
        max_side=settings.detect_max_side,
        small_face_max_side=settings.small_face_max_side or None,
        max_faces=settings.max_faces_per_frame,
    )


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
    return min(boxes, key=lambda b: float(np.hypot(*np.subtract(_centre(b), _centre(box)))))


def choose_by_faces(frames: ClipFrames, settings: Settings, spare: SpareFrames | None) -> ClipFrames:
    """Extract chose the sharpest frame of each part of the clip; a face turned away in those frames names
    nobody. So the anchor's faces are graded, and for each poor one (turned, hidden, smeared) the clip's other
    frames are searched near it: the frame that shows most of them frontally joins the chosen ones."""
    if not settings.small_face_max_side:
        return frames
    anchor_image = frames.images[frames.anchor]
    found = detect_faces(anchor_image, model=settings.detect_model, max_side=settings.small_face_max_side, upsample=1)
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
    )
    return frames, [replace(frame, ms=round(frame.ms + choosing, 1)) for frame in found]


def chosen_frames(
    indexes: list[int], t_ms: list[float], images: list[np.ndarray], sharpness: list[float]
) -> ClipFrames:
    """The frames extract chose (RGB), the sharpest as the anchor."""
    return ClipFrames(indexes, t_ms, images, _sharpest(sharpness))


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


def _sharpest(sharpness: list[float]) -> int:
    return int(np.argmax(sharpness)) if sharpness else 0
