"""``camera view`` (part of `facepipe bench --videos DIR`): enrollment from the camera's own view.

What `facepipe unknowns label` does, measured: nobody is enrolled from a portrait. Each person's first clip of
every room shot (``-00``: what the camera saw of them before) is recognized as the recognize stage does; their
enrollable unknown faces are what the unknown-face store would keep, and the best ``MAX_CROPS`` of them
(tallest, then sharpest, as a cluster keeps them) become their gallery photos, as a label makes them. Every
other clip (as given, the other room clips, pairs, strangers) is the test, scored beside the portraits'
gallery on the same clips. The ``-00`` clips are other moments of the same videos: the same camera, another
time.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from facepipe.bench.devset import DevClip
from facepipe.bench.report import CameraViewBench
from facepipe.bench.videos import _by_version
from facepipe.core.contracts import UNKNOWN, SeenFace
from facepipe.core.settings import Settings
from facepipe.identity import face_crops, recognition
from facepipe.identity.clusters import MAX_CROPS
from facepipe.identity.gallery import Gallery, GalleryPerson, GalleryPhoto


def split(clips: list[DevClip]) -> tuple[list[DevClip], list[DevClip]]:
    """(the clips the camera saw before: each single person's first clip of each room shot, the test clips)."""
    seen_before = [
        c for c in clips if len(c.people) == 1 and c.version != "as-given" and c.version.startswith(("640", "1280"))
    ]
    seen_before = [c for c in seen_before if c.path.stem.endswith("-00")]
    chosen = {c.path for c in seen_before}
    return seen_before, [c for c in clips if c.path not in chosen and not c.path.stem.endswith("-00")]


def _seen(path: Path, gallery: Gallery, settings: Settings) -> list[SeenFace]:
    decoded, found = recognition.recognize_file(path, gallery, settings, name=path.name)
    return face_crops.seen_faces(found, decoded.indexes)


def labelled_gallery(kept: dict[str, list[SeenFace]]) -> Gallery:
    """Each person's best ``MAX_CROPS`` kept faces as their photos, as `facepipe unknowns label` adds them."""
    gallery = Gallery()
    for person, faces in sorted(kept.items()):
        best = sorted(faces, key=lambda s: (s.height_px, s.sharpness), reverse=True)[:MAX_CROPS]
        photos = [
            GalleryPhoto(source=f"camera/{person}/{n}", sha256="0" * 64, encoding=face.encoding)
            for n, face in enumerate(best)
            if face.encoding is not None
        ]
        if photos:
            gallery.upsert(GalleryPerson(id=person, photos=photos))
    return gallery


def camera_view(clips: list[DevClip], portraits: Gallery, settings: Settings) -> CameraViewBench:
    seen_before, test = split(clips)
    kept: dict[str, list[SeenFace]] = defaultdict(list)
    for clip in seen_before:
        (person,) = clip.people
        # With nobody enrolled every face is unknown: the store keeps the enrollable ones.
        kept[person] += [s for s in _seen(clip.path, Gallery(), settings) if s.enrollable and s.encoding]
    labelled = labelled_gallery(kept)
    named: dict[str, dict[Path, set[str]]] = {"camera": {}, "portraits": {}}
    for clip in test:
        for name, gallery in (("camera", labelled), ("portraits", portraits)):
            named[name][clip.path] = {s.id for s in _seen(clip.path, gallery, settings) if s.id != UNKNOWN}
    return CameraViewBench(
        seen_before_clips=len(seen_before),
        labelled={p.id: len(p.photos) for p in labelled.people},
        camera_view=_by_version(test, named["camera"]),
        portraits=_by_version(test, named["portraits"]),
    )
