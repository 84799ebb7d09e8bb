"""How often a stranger's face is named as the gallery grows (`facepipe bench --strangers`).

Every person in the shared footage becomes an identity with an enrollment and faces to test:
- ``../shared/samples/people/<id>/``: enrolled from their first photo, tested on the others;
- ``../shared/videos/people/<id>/1.jpg`` (a portrait), tested on the frames of their videos;
- each ``stranger_*`` video of ``../shared/videos`` and each one-person ``turning/head-pose-*`` video: enrolled
  from the first frame HOG finds a face in (the camera's own view, as `unknowns label` enrolls), tested on the
  rest;
- the two-person ``turning/face-demographics-walking*`` videos: never enrolled (nobody labels who is who),
  strangers in every gallery.

For a gallery of N identities (every N from 2 up, ``ROTATIONS`` random choices each, seeded), every face of an
identity not enrolled is a stranger: it is *named* when its nearest enrolled person is within the match
tolerance and nearer by the margin than the next one (the pipeline's rule, facepipe.identity.matching.decide,
applied here to single faces: the pipeline decides a track from the mean of its faces and holds weak faces
back, so this per-face rate is the worse case). Genuine faces of enrolled identities are scored by the same
rule (named as themselves, or not). Faces are found by HOG on every ``FRAME_STEP``-th frame; a face HOG does
not find (a profile) is in neither count.
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel

FRAME_STEP = 5
_WIDTH = 130  # an encoding, then whether the face may name alone, then whether it is a poor reference
ROTATIONS = 30


@dataclass
class Identity:
    name: str
    enrolled: np.ndarray  # (k, 128): what the gallery holds for them
    faces: np.ndarray  # (n, 128): their other faces


class StrangerPoint(BaseModel):
    enrolled: int  # people in the gallery
    stranger_faces: int  # per rotation, on average
    stranger_named: float  # share of stranger faces named someone (false accepts)
    nearest_p1: float  # 1st and 5th percentile of a stranger face's distance to the nearest enrolled person
    nearest_p5: float
    genuine_named: float  # share of enrolled people's own faces named them
    # The same faces in every gallery (the walking videos' people, never enrolled): how their fate changes as the
    # gallery grows, with no change of who the strangers are.
    never_enrolled_named: float
    # The same, with facepipe.vision.quality applied as a one-face decision: only a face clear enough to name someone
    # alone (FaceQuality.good) names anyone, and a poor reference must be matched 0.08 closer.
    stranger_named_with_quality: float = 0.0
    genuine_named_with_quality: float = 0.0


class StrangerCurve(BaseModel):
    identities: int
    named_by_source: dict[str, int]  # stranger faces named, by whose faces they were (all sizes, all rotations)
    stranger_only_faces: int
    tolerance: float
    margin: float
    points: list[StrangerPoint]


def _video_faces(path: Path, *, upsample: int, max_side: int) -> list[np.ndarray]:
    """One encoding per face found on every FRAME_STEP-th frame (the largest face of the frame)."""
    import cv2

    from facepipe.vision import faces

    capture = cv2.VideoCapture(str(path))
    found: list[np.ndarray] = []
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if index % FRAME_STEP == 0:
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            boxes = faces.keep_largest(faces.detect_faces(rgb, max_side=max_side, upsample=upsample), 1)
            found.extend(_graded(rgb, boxes))
        index += 1
    capture.release()
    return found


def _graded(image: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> list[np.ndarray]:
    """Each face's encoding with two more columns: 1 when it may name someone alone (FaceQuality.good),
    1 when it is a poor gallery reference (quality.reference_reasons)."""
    from facepipe.core.settings import get_settings
    from facepipe.vision import encoder, faces, quality

    min_height = get_settings().decisive_face_px
    chips, points = faces.chips_and_landmarks(image, boxes)
    rows = []
    for chip, box, marks, encoding in zip(chips, boxes, points, encoder.encode_chips(chips), strict=True):
        graded = quality.assess(chip, box, image.shape, marks, min_height=min_height)
        rows.append(np.concatenate([encoding, [float(graded.good), float(bool(quality.reference_reasons(graded)))]]))
    return rows


def _photo_faces(paths: list[Path]) -> list[np.ndarray]:
    from facepipe.media.images import load_rgb
    from facepipe.vision import faces

    found: list[np.ndarray] = []
    for path in paths:
        image = load_rgb(path, max_bytes=10**8, max_pixels=10**9)
        boxes = faces.keep_largest(faces.detect_faces(image, max_side=1024, upsample=1), 1)
        found.extend(_graded(image, boxes))
    return found


def collect(samples: Path, videos: Path) -> tuple[list[Identity], np.ndarray]:
    """The identities, and the faces of people never enrolled (the walking videos)."""
    from facepipe.bench.devset import read_labels

    identities: list[Identity] = []
    for folder in sorted(p for p in (samples / "people").iterdir() if p.is_dir()):
        photos = _photo_faces(sorted(folder.glob("*.jpg")) + sorted(folder.glob("*.png")))
        if len(photos) >= 2:
            identities.append(Identity(folder.name, np.asarray(photos[:1]), np.asarray(photos[1:])))
    labelled = read_labels(videos)
    for folder in sorted(p for p in (videos / "people").iterdir() if p.is_dir()):
        portrait = _photo_faces(sorted(folder.glob("*.jpg")))
        frames = [
            f for v in labelled if folder.name in v.people for f in _video_faces(v.path, upsample=0, max_side=640)
        ]
        if portrait and frames:
            identities.append(Identity(folder.name, np.asarray(portrait[:1]), np.asarray(frames)))
    own_view = [v.path for v in labelled if not v.people]
    own_view += sorted((videos / "turning").glob("head-pose-*"))
    for path in own_view:
        small = path.parent.name == "turning"
        frames = _video_faces(path, upsample=1 if small else 0, max_side=960 if small else 640)
        if len(frames) >= 2:
            identities.append(Identity(path.stem, np.asarray(frames[:1]), np.asarray(frames[1:])))
    walking = [
        f
        for path in sorted((videos / "turning").glob("face-demographics-*"))
        for f in _video_faces(path, upsample=1, max_side=960)
    ]
    return identities, np.asarray(walking).reshape(len(walking), _WIDTH)


def _named(distances: np.ndarray, owners: list[int], tolerance: float, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """For each face (row): the identity named (-1: nobody) and its nearest distance, by the pipeline's rule."""
    people = sorted(set(owners))
    per_person = np.stack([distances[:, [i for i, o in enumerate(owners) if o == p]].min(axis=1) for p in people], 1)
    order = np.argsort(per_person, axis=1)
    nearest = per_person[np.arange(len(per_person)), order[:, 0]]
    second = per_person[np.arange(len(per_person)), order[:, 1]] if len(people) > 1 else np.full(len(nearest), np.inf)
    named = np.where((nearest <= tolerance) & (second - nearest >= margin), np.asarray(people)[order[:, 0]], -1)
    return named, nearest


def _distances(faces: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """Each face's distance to each gallery row, a poor reference's raised by the gallery's penalty."""
    from facepipe.identity.gallery import POOR_REFERENCE_PENALTY

    raw = np.linalg.norm(faces[:, None, :128] - gallery[None, :, :128], axis=2)
    return np.asarray(raw + POOR_REFERENCE_PENALTY * gallery[None, :, 129])


def curve(
    identities: list[Identity], strangers_only: np.ndarray, *, tolerance: float, margin: float, seed: int = 0
) -> StrangerCurve:
    """The false-accept and genuine-accept rates for every gallery size from 2 to all but one identity."""
    rng = random.Random(seed)
    points = []
    by_source: dict[str, int] = {}
    for size in range(2, len(identities)):
        rates, genuine, counts, nearest_all, fixed = [], [], [], [], []
        gated: list[float] = []
        genuine_gated: list[float] = []
        for _ in range(ROTATIONS):
            chosen = rng.sample(range(len(identities)), size)
            gallery = np.concatenate([identities[i].enrolled for i in chosen])
            owners = [i for i in chosen for _ in range(len(identities[i].enrolled))]
            others = [i for i in range(len(identities)) if i not in chosen]
            outside = [identities[i].faces for i in others] + [strangers_only]
            sources = [identities[i].name for i in others for _ in range(len(identities[i].faces))]
            sources += ["never enrolled (walking)"] * len(strangers_only)
            strangers = np.concatenate([f for f in outside if len(f)])
            named, nearest = _named(_distances(strangers, gallery), owners, tolerance, margin)
            gated.append(float(((named >= 0) & (strangers[:, 128] > 0)).mean()))
            for source in np.asarray(sources)[named >= 0]:
                by_source[str(source)] = by_source.get(str(source), 0) + 1
            rates.append(float((named >= 0).mean()))
            if len(strangers_only):
                fixed.append(float((named[-len(strangers_only) :] >= 0).mean()))
            counts.append(len(strangers))
            nearest_all.append(nearest)
            own = np.concatenate([identities[i].faces for i in chosen])
            truth = np.asarray([i for i in chosen for _ in range(len(identities[i].faces))])
            hit, _ = _named(_distances(own, gallery), owners, tolerance, margin)
            genuine.append(float((hit == truth).mean()))
            genuine_gated.append(float(((hit == truth) & (own[:, 128] > 0)).mean()))
        pooled = np.concatenate(nearest_all)
        points.append(
            StrangerPoint(
                enrolled=size,
                stranger_faces=round(sum(counts) / len(counts)),
                stranger_named=round(float(np.mean(rates)), 4),
                nearest_p1=round(float(np.percentile(pooled, 1)), 3),
                nearest_p5=round(float(np.percentile(pooled, 5)), 3),
                genuine_named=round(float(np.mean(genuine)), 4),
                never_enrolled_named=round(float(np.mean(fixed)), 4) if fixed else 0.0,
                stranger_named_with_quality=round(float(np.mean(gated)), 4),
                genuine_named_with_quality=round(float(np.mean(genuine_gated)), 4),
            )
        )
    return StrangerCurve(
        identities=len(identities),
        named_by_source=dict(sorted(by_source.items(), key=lambda kv: -kv[1])),
        stranger_only_faces=len(strangers_only),
        tolerance=tolerance,
        margin=margin,
        points=points,
    )


def bench_strangers(samples: Path, videos: Path, tolerance: float, margin: float) -> StrangerCurve:
    from facepipe.vision import faces

    faces.load_models()
    identities, walking = collect(samples, videos)
    print(
        f"{len(identities)} identities ({sum(len(i.faces) for i in identities)} test faces), "
        f"{len(walking)} faces never enrolled",
        file=sys.stderr,
    )
    return curve(identities, walking, tolerance=tolerance, margin=margin)
