"""A realistic dev set from labelled real videos: 0.5 s clips as given, and as a room camera would see them.

A labelled folder holds ``labels.csv`` (``file,people``: the people in each video, ``;``-separated, empty for
strangers), the videos (beside ``labels.csv`` or under ``clips/``) and ``people/<person_id>/*.jpg`` to
enroll. ``../shared/videos`` is one (read its README). Nothing made here is committed: clips are written
under a folder the caller gives (a temporary one in tests and the bench).

Room-camera versions: the video is scaled so its face is ``face_px`` tall and placed in a larger frame
(640x480 or 1280x720) over a plain room, drifting across it, with defocus blur, sensor noise and the
codec's compression; a *pair* puts two videos side by side in one frame (two people at once).

Longer than ~250 lines: the dev set's three sources (labelled talking heads, turning videos, crowds) share
the room-camera shots and the clip maker, and the tests build from it too.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

CLIP_SECONDS = 0.5


@dataclass(frozen=True)
class LabelledVideo:
    path: Path
    people: frozenset[str]  # empty: a stranger (nobody enrolled)


@dataclass(frozen=True)
class RoomShot:
    """How a room camera sees a video: frame size, face height, drift (px/s), blur (sigma px), noise."""

    name: str
    size: tuple[int, int] = (640, 480)
    face_px: int = 60
    drift: tuple[float, float] = (40.0, 0.0)
    blur: float = 0.0
    noise: float = 4.0


# The room-camera versions every labelled video gets (faces 40-120 px, both frame sizes, motion, blur).
ROOM_SHOTS = [
    RoomShot("640-face120", (640, 480), face_px=120, drift=(30.0, 0.0)),
    RoomShot("640-face80-blur", (640, 480), face_px=80, drift=(60.0, 10.0), blur=1.2),
    RoomShot("640-face60", (640, 480), face_px=60, drift=(40.0, 0.0), noise=6.0),
    RoomShot("640-face45", (640, 480), face_px=45, drift=(20.0, 5.0)),
    RoomShot("1280-face90", (1280, 720), face_px=90, drift=(50.0, 0.0)),
    RoomShot("1280-face50-blur", (1280, 720), face_px=50, drift=(30.0, 0.0), blur=1.0, noise=6.0),
    RoomShot("1280-face40", (1280, 720), face_px=40, drift=(20.0, 0.0)),
]


@dataclass
class DevClip:
    """One 0.5 s clip and who is in it (``people``: must be named; a stranger's clip has none)."""

    path: Path
    people: frozenset[str]
    source: str  # the video(s) it was cut from
    version: str  # "as-given" or a RoomShot name (or "pair-...")
    strangers: int = 0
    extra: dict[str, float] = field(default_factory=dict)


def read_labels(folder: Path) -> list[LabelledVideo]:
    """The videos of a labelled folder; a missing file or a bad row is an error naming it."""
    labels = folder / "labels.csv"
    if not labels.is_file():
        raise ValueError(f"{folder}: no labels.csv (file,people)")
    videos = []
    with labels.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"file", "people"} <= set(reader.fieldnames):
            raise ValueError(f"{labels}: the header must name the columns file,people")
        for line, row in enumerate(reader, start=2):
            name = (row["file"] or "").strip()
            path = next((p for p in (folder / name, folder / "clips" / name) if p.is_file()), None)
            if not name or path is None:
                raise ValueError(f"{labels}:{line}: video {name!r} not found beside labels.csv or in clips/")
            people = frozenset(p.strip() for p in (row["people"] or "").split(";") if p.strip())
            videos.append(LabelledVideo(path, people))
    return videos


def read_frames(path: Path) -> tuple[list[np.ndarray], float]:
    """Every frame of a video (BGR) and its frame rate; a video with none is refused by name."""
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    if not frames:
        raise ValueError(f"{path}: no frames decode")
    return frames, fps


def _face_height(frames: list[np.ndarray]) -> int:
    """The tallest face HOG finds in a few frames of the video (the scale the room versions start from)."""
    from facepipe.vision import faces

    found = []
    for frame in frames[:: max(1, len(frames) // 5)][:5]:
        found += [b - t for t, _, b, _ in faces.detect_faces(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), max_side=1024)]
    return max(found) if found else round(frames[0].shape[0] * 0.45)


def _write(frames: Iterator[np.ndarray], path: Path, fps: float, size: tuple[int, int]) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path}")
    try:
        for frame in frames:
            writer.write(frame)
    finally:
        writer.release()
    return path


def _room(size: tuple[int, int], seed: int) -> np.ndarray:
    width, height = size
    rng = np.random.default_rng(seed)
    room = np.full((height, width, 3), (170, 180, 190), dtype=np.uint8)
    cv2.rectangle(room, (width // 10, height // 8), (width // 3, height // 2), (225, 215, 190), -1)
    cv2.rectangle(room, (0, height * 3 // 4), (width, height), (90, 100, 120), -1)
    return np.clip(room.astype(np.int16) + rng.integers(-6, 7, room.shape), 0, 255).astype(np.uint8)


def _placed(
    sources: list[tuple[list[np.ndarray], float]], shot: RoomShot, start: int, count: int, seed: int
) -> Iterator[np.ndarray]:
    """``count`` frames from ``start`` of each source, scaled by its factor and drifting across a room."""
    width, height = shot.size
    rng = np.random.default_rng(seed)
    background = _room(shot.size, seed)
    slots = len(sources)
    for i in range(count):
        frame = background.copy()
        for slot, (frames, scale) in enumerate(sources):
            small = cv2.resize(
                frames[min(start + i, len(frames) - 1)], None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA
            )
            h, w = small.shape[:2]
            t = i / 25.0
            x0 = int((slot + 0.5) * width / slots - w / 2 + shot.drift[0] * t)
            y0 = int(height * 0.45 - h / 2 + shot.drift[1] * t)
            x0, y0 = max(0, min(width - w, x0)), max(0, min(height - h, y0))
            frame[y0 : y0 + h, x0 : x0 + w] = small[: height - y0, : width - x0]
        if shot.blur:
            frame = cv2.GaussianBlur(frame, (0, 0), shot.blur)
        noisy = frame.astype(np.float32) + rng.normal(0.0, shot.noise, frame.shape)
        yield np.clip(noisy, 0, 255).astype(np.uint8)


def _spread(count: int, limit: int | None) -> list[int]:
    if limit is None or count <= limit:
        return list(range(count))
    return sorted({round(x) for x in np.linspace(0, count - 1, limit)})


def cut_clips(video: Path, out: Path, count: int) -> list[Path]:
    """``count`` 0.5 s clips of ``video`` as given, spread over it (a camera seeing the same person again)."""
    out.mkdir(parents=True, exist_ok=True)
    frames, fps = read_frames(video)
    per_clip, starts = _clip_starts(len(frames), fps, count)
    height, width = frames[0].shape[:2]
    return [
        _write(iter(frames[start : start + per_clip]), out / f"{video.stem}-{k:02d}.mp4", fps, (width, height))
        for k, start in enumerate(starts)
    ]


def _clip_starts(frame_count: int, fps: float, limit: int | None) -> tuple[int, list[int]]:
    """Frames per 0.5 s clip, and the first frame of each of ``limit`` clips spread over the video (or all)."""
    per_clip = max(1, round(fps * CLIP_SECONDS))
    every = list(range(0, frame_count - per_clip + 1, per_clip))
    return per_clip, [every[i] for i in _spread(len(every), limit)]


def make_dev_clips(
    videos: list[LabelledVideo], out: Path, *, pairs: bool = True, per_version: int | None = 4
) -> list[DevClip]:
    """Each video cut into 0.5 s clips as given and in each room shot (``per_version`` clips spread over
    the video, or all); with ``pairs``, each enrolled video beside the next one (two people in a frame) in a
    1280x720 room."""
    out.mkdir(parents=True, exist_ok=True)
    clips: list[DevClip] = []
    decoded = {v.path: read_frames(v.path) for v in videos}
    heights = {v.path: _face_height(decoded[v.path][0]) for v in videos}
    for n, video in enumerate(videos):
        frames, fps = decoded[video.path]
        per_clip, starts = _clip_starts(len(frames), fps, per_version)
        stem = video.path.stem
        strangers = 0 if video.people else 1
        for k, start in enumerate(starts):
            height, width = frames[0].shape[:2]
            path = _write(
                iter(frames[start : start + per_clip]), out / f"{stem}-as-given-{k:02d}.mp4", fps, (width, height)
            )
            clips.append(DevClip(path, video.people, stem, "as-given", strangers))
        for s, shot in enumerate(ROOM_SHOTS):
            scale = shot.face_px / heights[video.path]
            for k, start in enumerate(starts):
                path = out / f"{stem}-{shot.name}-{k:02d}.mp4"
                _write(
                    _placed([(frames, scale)], shot, start, per_clip, seed=n * 100 + s * 10 + k), path, fps, shot.size
                )
                clips.append(DevClip(path, video.people, stem, shot.name, strangers, {"face_px": shot.face_px}))
    if pairs:
        enrolled = [v for v in videos if v.people]
        shot = RoomShot("pair-1280-face70", (1280, 720), face_px=70, drift=(20.0, 0.0))
        for a, b in zip(enrolled, enrolled[1:] + enrolled[:1], strict=True):
            if a.people == b.people:
                continue
            (fa, fps), (fb, _) = decoded[a.path], decoded[b.path]
            per_clip = max(1, round(fps * CLIP_SECONDS))
            count = min(len(fa), len(fb)) // per_clip
            sources = [(fa, shot.face_px / heights[a.path]), (fb, shot.face_px / heights[b.path])]
            for k in _spread(count, per_version):
                path = out / f"{a.path.stem}+{b.path.stem}-{shot.name}-{k:02d}.mp4"
                _write(_placed(sources, shot, k * per_clip, per_clip, seed=k), path, fps, shot.size)
                clips.append(DevClip(path, a.people | b.people, f"{a.path.stem}+{b.path.stem}", shot.name))
    return clips


# ``turning/`` (see ../shared/videos/README.md): who is in each video, by eye. The corridor video's people are
# told apart by their place in its last frame (left to right); its woman on the left is the head-pose woman (her
# encodings are 0.41 apart across the two videos), so she is enrolled once, from her own head-pose video.
TURNING_FOLDER = "turning"
_HEAD_POSE = {
    "head-pose-face-detection-female.gif": "turning_female",
    "head-pose-face-detection-male.gif": "turning_male",
}
_CORRIDOR = "face-demographics-walking-and-pause.gif"
_CORRIDOR_PEOPLE = ("turning_female", "corridor_man", "corridor_woman")  # left to right in its last frame
_PASSING = "face-demographics-walking.gif"  # two people nobody enrolls: strangers walking past


@dataclass(frozen=True)
class OwnView:
    """A person enrolled from one frame of their own video (what `facepipe unknowns label` does)."""

    person_id: str
    image: np.ndarray  # RGB
    box: tuple[int, int, int, int]
    source: str


def _rgb(frames: list[np.ndarray]) -> list[np.ndarray]:
    return [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in frames]


def _found(image: np.ndarray) -> list[tuple[int, int, int, int]]:
    from facepipe.vision import faces

    return faces.detect_faces(image, max_side=max(image.shape[:2]) * 2, upsample=1)


def _clearest(
    frames: list[np.ndarray], faces_at: list[tuple[int, tuple[int, int, int, int]]]
) -> tuple[float, int, tuple[int, int, int, int]]:
    """Of one person's faces (frame, box) the one with the highest faceness (facepipe.vision.quality):
    (faceness, frame, box)."""
    from facepipe.vision import faces, quality

    scored = [(quality.faceness(faces.face_chips(frames[n], [box])[0]), n, box) for n, box in faces_at]
    return max(scored, key=lambda s: s[0])


def turning_enrollments(folder: Path) -> list[OwnView]:
    """Each turning-video person's enrollment from one frame of their own video, the clearest one (the highest
    faceness, facepipe.vision.quality): the head-pose videos' person, and the corridor's two other people, each
    followed through the corridor video (facepipe.vision.tracking) from where they stand in its last frame."""
    from facepipe.vision import faces, tracking

    views = []
    for name, person in _HEAD_POSE.items():
        frames = _rgb(read_frames(folder / name)[0])
        largest = [(n, box) for n, image in enumerate(frames) for box in faces.keep_largest(_found(image), 1)]
        if not largest:
            raise ValueError(f"{folder / name}: no frame with a face to enroll from")
        _, n, box = _clearest(frames, largest)
        views.append(OwnView(person, frames[n], box, f"{name}#{n}"))
    frames = _rgb(read_frames(folder / _CORRIDOR)[0])
    found = [_found(image) for image in frames]
    last = len(frames) - 1
    if len(found[last]) != len(_CORRIDOR_PEOPLE):
        raise ValueError(f"{folder / _CORRIDOR}: expected {len(_CORRIDOR_PEOPLE)} faces in the last frame")
    # Each face of the last frame, left to right, is one of _CORRIDOR_PEOPLE; their tracks give their other frames.
    ending = {
        dict(t.members)[last]: [(n, found[n][f]) for n, f in t.members]
        for t in tracking.link_tracks(found)
        if last in dict(t.members)
    }
    order = sorted(range(len(found[last])), key=lambda f: found[last][f][3])
    for person, f in zip(_CORRIDOR_PEOPLE, order, strict=True):
        if person not in _HEAD_POSE.values():
            _, n, box = _clearest(frames, ending[f])
            views.append(OwnView(person, frames[n], box, f"{_CORRIDOR}#{n}"))
    return views


def turning_videos(folder: Path) -> list[LabelledVideo]:
    """The turning videos with who is in view in them (every clip of each: they stay in view throughout)."""
    videos = [LabelledVideo(folder / name, frozenset({person})) for name, person in _HEAD_POSE.items()]
    videos.append(LabelledVideo(folder / _CORRIDOR, frozenset(_CORRIDOR_PEOPLE)))
    videos.append(LabelledVideo(folder / _PASSING, frozenset()))
    return [v for v in videos if v.path.is_file()]


def _motion_blur(image: np.ndarray, length: int) -> np.ndarray:
    """Horizontal motion blur over ``length`` px (a face passing the camera during the exposure)."""
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0 / length
    return cv2.filter2D(image, -1, kernel)


def crowd_clips(strangers: list[LabelledVideo], passing: Path, out: Path, *, fps: float = 25.0) -> list[DevClip]:
    """1920x1080 street-crowd clips of nobody enrolled: the corridor walkers (upscaled, soft) behind, and each
    stranger's face (~110 px) passing fast in front, motion-blurred, in three ways: half hidden by someone
    nearer and in one frame only; blurred across the whole clip; sharp and slower. Every name on them is a
    stranger named."""
    out.mkdir(parents=True, exist_ok=True)
    size = (1920, 1080)
    behind = [cv2.resize(f, size, interpolation=cv2.INTER_LINEAR) for f in read_frames(passing)[0]]
    per_clip = round(fps * CLIP_SECONDS)
    ways = {  # speed (px a frame), motion blur (px), frames in view, half hidden
        "one-frame-hidden": (160.0, 21, 1, True),
        "blurred": (60.0, 15, per_clip, False),
        "sharp": (20.0, 1, per_clip, False),
    }
    clips = []
    for s, video in enumerate(strangers):
        frames, _ = read_frames(video.path)
        scale = 110 / _face_height(frames)
        for way, (speed, blur, in_view, hidden) in ways.items():
            rng = np.random.default_rng(s * 10 + len(way))
            start = int(rng.integers(0, max(1, len(behind) - per_clip)))
            first = int(rng.integers(0, per_clip - in_view + 1))
            rendered = []
            for i in range(per_clip):
                frame = behind[min(start + i, len(behind) - 1)].copy()
                if first <= i < first + in_view:
                    face = cv2.resize(frames[min(i, len(frames) - 1)], None, fx=scale, fy=scale)
                    h, w = face.shape[:2]
                    x0 = int(200 + speed * i) % (size[0] - w)
                    y0 = size[1] // 2 - h // 2
                    if blur > 1:
                        face = _motion_blur(face, blur)
                    frame[y0 : y0 + h, x0 : x0 + w] = face
                    if hidden:  # a nearer shoulder covers the left half of the face
                        cv2.rectangle(frame, (x0, y0), (x0 + w // 2, y0 + h), (40, 40, 48), -1)
                rendered.append(frame)
            path = _write(iter(rendered), out / f"crowd-{video.path.stem}-{way}.mp4", fps, size)
            clips.append(DevClip(path, frozenset(), f"crowd+{video.path.stem}", f"crowd-{way}", strangers=3))
    return clips
