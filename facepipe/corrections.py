"""Operator corrections: a wrong match rejected (`facepipe people reject CLIP ID`).

The faces a clip names ``person_id`` are found again exactly as the pipeline finds them (the clip's frames
chosen as extract chooses them, recognized as the recognize stage does), and the mean of their encodings is
kept in the gallery as a face that is *not* that person: from then on a face nearer it than the person's own
photos is never named them (facepipe.recognition.decide), in `facepipe recognize` and, once the gallery is
uploaded, in warm recognize functions within ``GalleryRefreshSeconds``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from facepipe import faces, recognition
from facepipe.errors import GalleryError
from facepipe.gallery import Gallery
from facepipe.settings import Settings
from facepipe.video import decode_clip


def reject_in_clip(gallery: Gallery, clip: Path, person_id: str, settings: Settings, *, source: str) -> int:
    """Reject ``person_id`` for the faces ``clip`` names them; returns how many faces that was. An error
    naming the problem when the person is not enrolled or the clip does not name them."""
    if gallery.person(person_id) is None:
        raise GalleryError(f"{person_id}: not in the gallery")
    decoded = decode_clip(
        clip,
        frames_wanted=settings.frames_per_clip,
        max_seconds=settings.max_clip_seconds,
        max_pixels=settings.max_frame_pixels,
        name=source,
    )
    images = [cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) for _, _, frame in decoded.frames]
    found = recognition.recognize_frames(
        images,
        gallery,
        tolerance=settings.match_tolerance,
        margin=settings.match_margin,
        anchor=int(np.argmax(decoded.sharpness)),
        model=settings.detect_model,
        max_side=settings.detect_max_side,
        small_face_max_side=settings.small_face_max_side or None,
        decisive_face_px=settings.decisive_face_px,
        max_faces=settings.max_faces_per_frame,
    )
    encodings = [
        faces.encode_faces(image, [tuple(face.box) for face in frame.faces if face.id == person_id])  # type: ignore[misc]
        for image, frame in zip(images, found, strict=True)
    ]
    named = np.concatenate(encodings) if encodings else np.empty((0, 128))
    if len(named) == 0:
        raise GalleryError(f"{source}: {person_id} is not named in this clip (nothing to reject)")
    gallery.reject(person_id, source, [float(x) for x in named.mean(axis=0)])
    return len(named)
