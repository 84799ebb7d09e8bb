"""The faces of a clip as people look at them: one small aligned crop per person seen (per track).

The crop is the aligned chip the encoder saw (dlib's 5-point alignment, 150 px), shrunk to ``CROP_PX`` and
JPEG-encoded: ~2 KB, small enough to ride in the state machine's payload (256 KB) for the few faces a room
holds, and to be kept by the unknown-face store and the console's history.

**The enrollable gate.** A crop is ``enrollable`` only when the best face of its track is good
(facepipe.vision.quality: at least ``decisive_face_px`` tall, not heavily blurred, frontal and whole enough for the
face detector to score it, not cut by the frame's edge). It is the same gate that keeps poor faces from naming
anyone on their own, for the same reason: their encodings are unreliable, and one blurred reference in the
gallery attracts strangers. A face that fails it is still shown, but is never clustered into an
``unknown-<n>`` and so can never be labelled into the gallery.
"""

from __future__ import annotations

import base64

import cv2
import numpy as np

from facepipe.core.contracts import UNKNOWN, SeenFace
from facepipe.identity.recognition import FrameResult

CROP_PX = 80
JPEG_QUALITY = 80
# A crowd must not push the state machine's payload towards its limit: the largest faces carry crops.
MAX_SEEN_FACES = 16


def jpeg_of(chip: np.ndarray, size: int = CROP_PX) -> bytes:
    """An RGB chip as a small JPEG."""
    small = cv2.resize(chip, (size, size), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("could not encode a face crop as JPEG")
    return data.tobytes()


def seen_faces(frames: list[FrameResult], indexes: list[int]) -> list[SeenFace]:
    """One :class:`SeenFace` per track of a recognized clip (``indexes``: each frame's index in the clip), the
    largest first. Its distance is its face nearest the person it names; its box and crop are its best face's:
    good faces first, then weak ones, then poor ones; then the tallest, the clearest, the sharpest. Only the
    ``MAX_SEEN_FACES`` largest carry a crop (and, when unknown, the encoding)."""
    members: dict[int, list[tuple[int, int]]] = {}
    for n, frame in enumerate(frames):
        for f, track in enumerate(frame.tracks):
            members.setdefault(track, []).append((n, f))
    seen: list[tuple[SeenFace, tuple[int, int]]] = []
    for faces in members.values():
        scored = []
        for n, f in faces:
            box = frames[n].faces[f].box
            quality = frames[n].quality[f]
            rank = 2 if quality.good else 0 if quality.poor else 1
            scored.append((rank, box[2] - box[0], quality.faceness, quality.sharpness, n, f))
        rank, height, _, sharpness, n, f = max(scored)
        face = frames[n].faces[f]
        distances = [d for m, g in faces if (d := frames[m].faces[g].distance) is not None]
        record = SeenFace(
            id=face.id,
            distance=min(distances) if face.id != UNKNOWN and distances else None,
            frames=sorted({indexes[m] for m, _ in faces}),
            frame_index=indexes[n],
            box=face.box,
            height_px=int(height),
            sharpness=round(sharpness, 1),
            enrollable=rank == 2,
            crop_jpeg=None,
        )
        seen.append((record, (n, f)))
    seen.sort(key=lambda item: -item[0].height_px)
    for record, (n, f) in seen[:MAX_SEEN_FACES]:
        record.crop_jpeg = base64.b64encode(jpeg_of(frames[n].chips[f])).decode()
        if record.id == UNKNOWN:
            faces = members[frames[n].tracks[f]]
            used = [(m, g) for m, g in faces if frames[m].quality[g].good] or faces
            mean = np.mean([frames[m].encodings[g] for m, g in used], axis=0)
            record.encoding = [round(float(x), 6) for x in mean]
    return [record for record, _ in seen]
