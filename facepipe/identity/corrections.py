"""Operator corrections: a wrong match rejected (`facepipe people reject CLIP ID`).

The faces a clip names ``person_id`` are found again exactly as the pipeline finds them (the clip's frames
chosen as extract chooses them, recognized as the recognize stage does), and the mean of their encodings is
kept in the gallery as a face that is *not* that person: from then on a face nearer it than the person's own
photos is never named them (facepipe.identity.matching.decide), in `facepipe recognize` and, once the gallery is
uploaded, in warm recognize functions within ``GalleryRefreshSeconds``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facepipe.core.errors import GalleryError
from facepipe.core.settings import Settings
from facepipe.identity import recognition
from facepipe.identity.gallery import Gallery


def reject_in_clip(gallery: Gallery, clip: Path, person_id: str, settings: Settings, *, source: str) -> int:
    """Reject ``person_id`` for the faces ``clip`` names them; returns how many faces that was. An error
    naming the problem when the person is not enrolled or the clip does not name them."""
    encoding, faces = rejection_in_clip(gallery, clip, person_id, settings, source=source)
    gallery.reject(person_id, source, encoding)
    return faces


def rejection_in_clip(
    gallery: Gallery, clip: Path, person_id: str, settings: Settings, *, source: str
) -> tuple[list[float], int]:
    """The mean encoding of the faces ``clip`` names ``person_id`` (the rejection to keep), and how many."""
    if gallery.person(person_id) is None:
        raise GalleryError(f"{person_id}: not in the gallery")
    _, found = recognition.recognize_file(clip, gallery, settings, name=source)
    named = np.asarray(
        [frame.encodings[i] for frame in found for i, face in enumerate(frame.faces) if face.id == person_id]
    ).reshape(-1, 128)
    if len(named) == 0:
        raise GalleryError(f"{source}: {person_id} is not named in this clip (nothing to reject)")
    return [float(x) for x in named.mean(axis=0)], len(named)
