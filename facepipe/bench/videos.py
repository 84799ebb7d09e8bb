"""``videos`` (`facepipe bench --videos DIR`): recognition on real video, per person-appearance.

Any labelled folder (see :mod:`facepipe.bench.devset`): its people are enrolled from ``people/``, its videos cut
into 0.5 s clips as given and as a room camera sees them, every clip sent through the local stack, and the
same clips given to the plain library's defaults (HOG with 1 upsample on the full frame, tolerance 0.6, the
same 3 frames, dlib's encoder) in the same run. An *appearance* is a labelled person in a clip: recall is the
share of appearances whose person was named; a wrong name is a name of someone not in the clip; a stranger
named is any name on a clip of nobody enrolled. With ``turning/`` beside them (issue 21), its people are enrolled
from one frame of their own video, its clips scored by eye (``turning, by eye``), and 1920x1080 street crowds of
passing, blurred, half-hidden strangers added (``crowd strangers``: any name is a stranger named); the samples'
people join the gallery too, so strangers have more faces to land near. Per-clip compute (talking-head clips
with a face, as before): our recognize stage's
frame time, the library's, and the reference the real-video issue sets as the budget, *what three frames cost
with dlib-bin's encoder before the speed issue*: that detection (no upsample, a 640-px copy) on the same three
frames, and dlib-bin's encoder on every face the stage reported in them (the old path encoded each face once
found; faces it could not find would have cost it nothing, and named nobody).
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

import cv2

from facepipe.bench.devset import DevClip
from facepipe.bench.report import VideoBench, VideoScore
from facepipe.bench.runner import Runner
from facepipe.bench.stats import pct
from facepipe.core.settings import Settings
from facepipe.identity import plain_library
from facepipe.identity.gallery import Gallery
from facepipe.media.video import decode_clip
from facepipe.vision import faces
from facepipe.vision.faces import Box

PLAIN_TOLERANCE = 0.6


def _score(clips: list[DevClip], named: dict[Path, set[str]]) -> VideoScore:
    appearances = hits = wrong = stranger_clips = strangers_named = 0
    for clip in clips:
        names = named.get(clip.path, set())
        appearances += len(clip.people)
        hits += len(clip.people & names)
        wrong += len(names - clip.people)
        if not clip.people:
            stranger_clips += 1
            strangers_named += bool(names)
    return VideoScore(
        clips=len(clips),
        appearances=appearances,
        named=hits,
        recall=round(hits / appearances, 4) if appearances else 1.0,
        # Of every name given (a stranger's clip named is a wrong name too), the share that was right.
        precision=round(hits / (hits + wrong), 4) if hits + wrong else 1.0,
        wrong_names=wrong,
        stranger_clips=stranger_clips,
        stranger_clips_named=strangers_named,
    )


def _group(version: str) -> str:
    """The set a clip's version belongs to: the talking heads as given or as a room camera sees them, the
    turning videos (scored by eye: every clip its people are in view), or the street crowds (strangers only)."""
    if version.startswith("turning-"):
        return "turning, by eye"
    if version.startswith("crowd-"):
        return "crowd strangers"
    return "as-given" if version == "as-given" else "room-camera"


def _by_version(clips: list[DevClip], named: dict[Path, set[str]]) -> dict[str, VideoScore]:
    groups: dict[str, list[DevClip]] = defaultdict(list)
    for clip in clips:
        for group in {_group(clip.version), clip.version}:
            groups[group].append(clip)
    return {version: _score(members, named) for version, members in sorted(groups.items())}


def _plain_library(
    clip: Path, gallery: Gallery, settings: Settings, boxes: dict[int, list[Box]]
) -> tuple[set[str], float, float]:
    """(names, ms of the library's defaults, ms of the reference) on the clip's chosen frames; ``boxes``:
    the faces the stage reported, by frame index."""
    decoded = decode_clip(clip, frames_wanted=settings.frames_per_clip, max_seconds=10, max_pixels=10**8)
    names: set[str] = set()
    library = reference = 0.0
    for index, _, bgr in decoded.frames:
        image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        start = time.perf_counter()
        names |= {n for n in plain_library.recognize_with_library_defaults(image, gallery, tolerance=PLAIN_TOLERANCE)}
        library += time.perf_counter() - start
        start = time.perf_counter()
        faces.detect_faces(image, max_side=settings.detect_max_side)
        faces.encode_faces_reference(image, boxes.get(index, []))
        reference += time.perf_counter() - start
    return names - {"unknown"}, library * 1000, reference * 1000


def bench_videos(runner: Runner, clips: list[DevClip], gallery: Gallery, settings: Settings) -> VideoBench:
    ours: dict[Path, set[str]] = {}
    ours_ms: dict[Path, float] = {}
    boxes: dict[Path, dict[int, list[Box]]] = {}
    for clip in clips:
        row = runner.one(clip.path, "bench-videos")
        message = row.get("message") or {}
        ours[clip.path] = {p["id"] for p in message.get("people", [])}
        ours_ms[clip.path] = float(message.get("timings_ms", {}).get("recognize_frames", float("nan")))
        boxes[clip.path] = {
            frame["index"]: [tuple(face["box"]) for face in frame["faces"]] for frame in message.get("frames", [])
        }
    plain: dict[Path, set[str]] = {}
    plain_ms, reference_ms, with_faces = [], [], []
    for clip in clips:
        plain[clip.path], library, reference = _plain_library(clip.path, gallery, settings, boxes[clip.path])
        plain_ms.append(library)
        if any(boxes[clip.path].values()) and _group(clip.version) in ("as-given", "room-camera"):
            reference_ms.append(reference)
            with_faces.append(ours_ms[clip.path])
    return VideoBench(
        ours=_by_version(clips, ours),
        plain_library=_by_version(clips, plain),
        ours_clip_ms_p50=round(pct(with_faces, 50), 1),
        ours_clip_ms_p95=round(pct(with_faces, 95), 1),
        plain_library_clip_ms_p50=round(pct(plain_ms, 50), 1),
        reference_clip_ms_p50=round(pct(reference_ms, 50), 1),
        misses=sorted(
            f"{c.path.name}: {sorted(c.people - ours.get(c.path, set()))}"
            for c in clips
            if c.people - ours.get(c.path, set())
        ),
        wrong=sorted(
            f"{c.path.name}: {sorted(ours.get(c.path, set()) - c.people)}"
            for c in clips
            if ours.get(c.path, set()) - c.people
        ),
    )
