"""A full classroom, made from photos of many people (`facepipe bench --classroom`, and the classroom tests).

Thirty students are enrolled from all but their last photo (or last two, for people with five or more), and ten
visitors nobody enrolled sit with them: forty faces, the most a frame is searched for. Each clip puts everyone's
*other* photo (never one that was enrolled) in a seat of a room frame at 1280x720 or 1920x1080: five rows from the
back (faces ~24 px) to the front (~90 px), each head cut from its photo with a soft edge, swaying a pixel or two
from frame to frame, the camera shaking slightly, defocused, with sensor noise and the codec's compression. From
one clip to the next everyone moves one row forward (the front row to the back), so over five clips each student
is seen at every size.

Who sits where is known, so the pipeline's answer is graded seat by seat: a face is *found* when a reported face
lies on the seat, *named right* when its track names the seat's student, *wrong* when it names anyone else (any
name at all for a visitor). Figures are given by face-size band, and per student across the clips (whether
attendance would count them).

Nothing made here is kept: clips go to a folder the caller gives. The photos stay in ``FACEPIPE_FACES``.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pydantic import BaseModel

from facepipe.bench.devset import _write
from facepipe.bench.face_set import _chosen, photo_paths
from facepipe.bench.stats import pct
from facepipe.core.contracts import UNKNOWN
from facepipe.core.settings import Settings

SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}
ROWS, SEATS_PER_ROW = 5, 8
# Face height (px, brows to chin, as the pipeline's boxes measure it) of each row, back to front.
ROW_FACE_PX = {"720p": (24, 31, 44, 62, 88), "1080p": (26, 36, 50, 68, 90)}
# The size bands the figures are given in (lower bound inclusive).
BANDS = ((24, 32), (32, 40), (40, 60), (60, 91))
FPS = 15
FRAMES = 8  # 0.5 s
# A face is too small in its photo to be shown at the front row's size without being blown up.
MIN_SOURCE_FACE_PX = 72


@dataclass(frozen=True)
class Head:
    """A person's head cut from a photo (BGR), the soft mask over it, its face's height and the face's centre in
    the cut-out."""

    patch: np.ndarray
    mask: np.ndarray
    face_px: int
    centre: tuple[float, float]


@dataclass(frozen=True)
class Student:
    id: str
    enroll: tuple[Path, ...]  # empty: a visitor (nobody enrolled)
    placed: tuple[Path, ...]
    heads: tuple[Head, ...] = field(default=(), compare=False, repr=False)  # one per placed photo

    @property
    def enrolled(self) -> bool:
        return bool(self.enroll)


@dataclass(frozen=True)
class Seat:
    student: str
    enrolled: bool
    face_px: int
    centre: tuple[float, float]  # of the face, in the first frame

    @property
    def band(self) -> str:
        return band_of(self.face_px)


@dataclass
class ClassroomClip:
    path: Path
    size: str
    seats: list[Seat]


@dataclass
class Graded:
    """A clip's seats against the pipeline's answer."""

    found: dict[str, list[bool]] = field(default_factory=lambda: defaultdict(list))  # by band
    right: dict[str, list[bool]] = field(default_factory=lambda: defaultdict(list))  # enrolled seats, by band
    wrong: list[tuple[str, str]] = field(default_factory=list)  # (seat's student, name given)
    visitors_named: int = 0
    named: set[str] = field(default_factory=set)  # students named right somewhere


def band_of(face_px: float) -> str:
    for low, high in BANDS:
        if low <= face_px < high:
            return f"{low}-{high - 1}"
    return f"<{BANDS[0][0]}" if face_px < BANDS[0][0] else f">{BANDS[-1][1] - 1}"


def _order(name: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{name}".encode()).hexdigest()


def _faces(path: Path, settings: Settings) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """A photo (RGB) and its faces, found as enrollment finds them."""
    from facepipe.identity.enroll import photo_faces
    from facepipe.media.images import load_rgb

    image = load_rgb(path, max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels)
    return image, photo_faces(image, settings)


def _head(path: Path, settings: Settings) -> Head | None:
    """The head of a photo's person; None when no face is found or it is too small to place at the front row's
    size."""
    image, boxes = _faces(path, settings)
    if not boxes:
        return None
    top, right, bottom, left = _chosen(boxes, image.shape)
    side = bottom - top
    if side < MIN_SOURCE_FACE_PX:
        return None
    cx, cy = (left + right) / 2, (top + bottom) / 2
    # Hair above, neck below: 2.0 faces wide, 2.6 tall, the face a little above the middle; the soft oval keeps the
    # head and leaves out what is beside it (LFW photos show other faces at their edges).
    x0, x1 = round(cx - side), round(cx + side)
    y0, y1 = round(cy - 1.2 * side), round(cy + 1.4 * side)
    pad = max(0, -x0, -y0, x1 - image.shape[1], y1 - image.shape[0])
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    head = padded[y0 + pad : y1 + pad, x0 + pad : x1 + pad]
    h, w = head.shape[:2]
    outline = np.zeros((h, w), np.float32)
    cv2.ellipse(outline, (w // 2, round(h * 0.47)), (round(w * 0.33), round(h * 0.45)), 0, 0, 360, 1.0, -1)
    mask = np.asarray(cv2.GaussianBlur(outline, (0, 0), max(1.0, side * 0.08)), np.float32)
    return Head(cv2.cvtColor(head, cv2.COLOR_RGB2BGR), mask, side, (cx - x0, cy - y0))


def choose_class(
    root: Path, settings: Settings, *, students: int = 30, visitors: int = 10, seed: int = 0
) -> list[Student]:
    """``students`` people of ``root`` with three photos or more (enrolled from all but the last one, or two from
    five up; the rest are placed) and ``visitors`` with one photo, chosen by a hash of their names (the same on
    every run); someone whose placed photo shows no face large enough is passed over."""
    by_person: dict[str, list[Path]] = defaultdict(list)
    for path in photo_paths(root):
        by_person[path.parent.name].append(path)
    chosen: list[Student] = []
    for name in sorted(by_person, key=lambda n: _order(n, seed)):
        photos = sorted(by_person[name])
        want_student = len(photos) >= 3 and sum(s.enrolled for s in chosen) < students
        want_visitor = len(photos) == 1 and sum(not s.enrolled for s in chosen) < visitors
        if not (want_student or want_visitor):
            continue
        placed = photos[-2:] if len(photos) >= 5 else photos[-1:]
        heads = {p: head for p in placed if (head := _head(p, settings)) is not None}
        # A student's enrollment must take one of their photos: exactly one face in it, as enrollment asks.
        enrolls = any(len(_faces(p, settings)[1]) == 1 for p in photos[: -len(placed)]) if want_student else True
        if not heads or not enrolls:
            continue
        enroll = tuple(photos[: -len(placed)]) if want_student else ()
        chosen.append(Student(name, enroll, tuple(heads), tuple(heads.values())))
        if len(chosen) == students + visitors:
            break
    if sum(s.enrolled for s in chosen) < students:
        raise ValueError(f"{root}: fewer than {students} people with three photos or more and a clear face")
    return chosen


def enrollment_folder(people: list[Student], out: Path) -> Path:
    """A folder of ``<id>/<photo>`` links to each student's enrollment photos, as `facepipe enroll` reads one."""
    folder = out / "enroll"
    for student in people:
        for photo in student.enroll:
            link = folder / student.id / photo.name
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to(photo.resolve())
    return folder


def _room(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    width, height = size
    room = np.full((height, width, 3), (176, 184, 192), np.uint8)
    cv2.rectangle(room, (width // 3, height // 20), (2 * width // 3, height // 5), (60, 80, 60), -1)  # the board
    room[int(height * 0.9) :] = (96, 104, 120)
    return np.clip(room.astype(np.int16) + rng.integers(-5, 6, room.shape), 0, 255).astype(np.uint8)


def _seat_places(size: str) -> list[tuple[int, tuple[float, float]]]:
    """(face px, face centre) of every seat, back row first."""
    width, height = SIZES[size]
    places = []
    for row, face_px in enumerate(ROW_FACE_PX[size]):
        y = height * (0.30 + 0.13 * row)
        for col in range(SEATS_PER_ROW):
            # The back rows sit closer together, as a camera in front sees them; rows are staggered.
            span = width * (0.55 + 0.09 * row)
            x = width / 2 + (col - (SEATS_PER_ROW - 1) / 2 + (0.25 if row % 2 else -0.25)) * span / SEATS_PER_ROW
            places.append((face_px, (x, y)))
    return places


def make_classroom(
    root: Path, out: Path, settings: Settings, *, clips: dict[str, int] | None = None, seed: int = 0
) -> tuple[list[Student], list[ClassroomClip]]:
    """The class (:func:`choose_class`) and, for each frame size, that many clips of it (default five at 720p and
    five at 1080p; everyone one row forward from one clip to the next)."""
    people = choose_class(root, settings, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    made = []
    for size, count in (clips or {"720p": 5, "1080p": 5}).items():
        places = _seat_places(size)
        for k in range(count):
            rng = np.random.default_rng([seed, k, SIZES[size][0]])
            seats = []
            for i, student in enumerate(people):
                face_px, centre = places[(i + k * SEATS_PER_ROW) % len(places)]
                seats.append(Seat(student.id, student.enrolled, face_px, centre))
            path = out / f"classroom-{size}-{k:02d}.mp4"
            frames = _frames(size, seats, [s.heads[k % len(s.heads)] for s in people], rng)
            _write(iter(frames), path, FPS, SIZES[size])
            made.append(ClassroomClip(path, size, seats))
    return people, made


def _frames(size: str, seats: list[Seat], heads: list[Head], rng: Any) -> list[np.ndarray]:
    width, height = SIZES[size]
    room = _room(SIZES[size], rng)
    sway = rng.uniform(0.5, 2.0, (len(seats), 2)) * rng.choice([-1, 1], (len(seats), 2))
    phase = rng.uniform(0, 2 * np.pi, len(seats))
    scaled = []
    for seat, head in zip(seats, heads, strict=True):
        scale = seat.face_px / head.face_px
        scaled.append(
            (
                cv2.resize(head.patch, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA),
                cv2.resize(head.mask, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)[..., None],
                (head.centre[0] * scale, head.centre[1] * scale),
            )
        )
    back_first = sorted(range(len(seats)), key=lambda n: seats[n].centre[1])
    frames = []
    for t in range(FRAMES):
        frame = room.astype(np.float32)
        # Back rows first: a student in front hides the one behind, as in a room.
        for n in back_first:
            seat, (patch, alpha, (fx, fy)) = seats[n], scaled[n]
            dx, dy = sway[n] * np.sin(2 * np.pi * t / FRAMES + phase[n])
            x0 = round(seat.centre[0] + dx - fx)
            y0 = round(seat.centre[1] + dy - fy)
            h, w = patch.shape[:2]
            xa, ya, xb, yb = max(0, x0), max(0, y0), min(width, x0 + w), min(height, y0 + h)
            if xb <= xa or yb <= ya:
                continue
            part = patch[ya - y0 : yb - y0, xa - x0 : xb - x0].astype(np.float32)
            a = alpha[ya - y0 : yb - y0, xa - x0 : xb - x0]
            frame[ya:yb, xa:xb] = frame[ya:yb, xa:xb] * (1 - a) + part * a
        shake = np.asarray([[1, 0, rng.normal(0, 0.5)], [0, 1, rng.normal(0, 0.5)]], np.float32)
        moved = cv2.warpAffine(frame, shake, (width, height), borderMode=cv2.BORDER_REFLECT)
        seen = cv2.GaussianBlur(moved, (0, 0), 0.7) + rng.normal(0, 3.5, frame.shape)
        frames.append(np.clip(seen, 0, 255).astype(np.uint8))
    return frames


def on_seat(box: list[int], seat: Seat) -> bool:
    """Whether a reported box (top, right, bottom, left) is the seat's face: its centre within half a face of the
    seat's (the sway and shake are a few px) and its height within a factor of two."""
    top, right, bottom, left = box
    height = bottom - top
    off = np.hypot((left + right) / 2 - seat.centre[0], (top + bottom) / 2 - seat.centre[1])
    return bool(off <= 0.5 * seat.face_px and 0.5 * seat.face_px <= height <= 2.0 * seat.face_px)


def grade(clip: ClassroomClip, message: dict[str, Any], into: Graded | None = None) -> Graded:
    """The seats of ``clip`` against its result message (the per-frame faces and their tracks' names)."""
    graded = into or Graded()
    faces = [f for frame in message.get("frames", []) for f in frame["faces"]]
    for seat in clip.seats:
        mine = [f for f in faces if on_seat(f["box"], seat)]
        graded.found[seat.band].append(bool(mine))
        names = {f["id"] for f in mine if f["id"] != UNKNOWN}
        if not seat.enrolled:
            graded.visitors_named += bool(names)
            graded.wrong += [(seat.student, n) for n in sorted(names)]
            continue
        graded.right[seat.band].append(names == {seat.student})
        graded.wrong += [(seat.student, n) for n in sorted(names - {seat.student})]
        if seat.student in names:
            graded.named.add(seat.student)
    return graded


class BandFigures(BaseModel):
    band: str
    faces: int
    found: float
    enrolled_faces: int
    named_right: float | None


class ClassroomReport(BaseModel):
    """`facepipe bench --classroom`: the classroom clips through the local stack, graded seat by seat."""

    data: str
    clips: dict[str, int]  # by frame size
    enrolled: int
    visitors: int
    bands: list[BandFigures]
    wrong_names: int
    visitors_named: int
    students_named: int  # named right in at least one clip: attendance would count them
    recognize_ms_p50: dict[str, float]  # by frame size
    total_s_p50: float
    largest_recognize_result_bytes: int
    largest_enrich_request_bytes: int


def report(
    graded: Graded,
    *,
    data: str,
    made: list[ClassroomClip],
    people: list[Student],
    messages: list[dict[str, Any]],
    payloads: tuple[int, int],
) -> ClassroomReport:
    bands = []
    for low, high in BANDS:
        band = f"{low}-{high - 1}"
        found, right = graded.found.get(band, []), graded.right.get(band, [])
        bands.append(
            BandFigures(
                band=band,
                faces=len(found),
                found=round(sum(found) / len(found), 3) if found else 0.0,
                enrolled_faces=len(right),
                named_right=round(sum(right) / len(right), 3) if right else None,
            )
        )
    by_size: dict[str, list[float]] = defaultdict(list)
    for clip, message in zip(made, messages, strict=True):
        by_size[clip.size].append(float(message.get("timings_ms", {}).get("recognize", 0.0)))
    totals = [float(m.get("timings_ms", {}).get("total", 0.0)) / 1000 for m in messages]
    return ClassroomReport(
        data=data,
        clips={size: sum(c.size == size for c in made) for size in SIZES if any(c.size == size for c in made)},
        enrolled=sum(s.enrolled for s in people),
        visitors=sum(not s.enrolled for s in people),
        bands=bands,
        wrong_names=len(graded.wrong),
        visitors_named=graded.visitors_named,
        students_named=len(graded.named),
        recognize_ms_p50={size: round(pct(ms, 50), 1) for size, ms in by_size.items()},
        total_s_p50=round(pct(totals, 50), 3),
        largest_recognize_result_bytes=payloads[0],
        largest_enrich_request_bytes=payloads[1],
    )


def bench_classroom(root: Path, settings: Settings, workers: int | None = None) -> ClassroomReport:
    """The classroom clips (:func:`make_classroom`) answered by the local stack, one at a time, and graded."""
    import tempfile

    from facepipe.bench.runner import Runner
    from facepipe.identity.enroll import enroll
    from facepipe.local.stack import local_stack

    with tempfile.TemporaryDirectory() as tmp:
        people, made = make_classroom(root, Path(tmp) / "clips", settings)
        gallery, _ = enroll(enrollment_folder(people, Path(tmp)), settings)
        # A student the school could not enroll (a photo refused or held back) sits in class as a visitor would.
        people = [s if gallery.person(s.id) is not None else dataclasses.replace(s, enroll=()) for s in people]
        for clip in made:
            clip.seats = [
                Seat(t.student, gallery.person(t.student) is not None, t.face_px, t.centre) for t in clip.seats
            ]
        with local_stack(workers=workers) as stack:
            stack.load(gallery=gallery)
            runner = Runner(stack)
            stack.settle()
            try:
                answered = [runner.one(clip.path, "bench-classroom") for clip in made]
            finally:
                runner.close()
            recognize = stack.runtime.functions[stack.physical_id("RecognizeFunction")]
            enrich = stack.runtime.functions[stack.physical_id("EnrichFunction")]
            payloads = (recognize.largest_result_bytes, enrich.largest_event_bytes)
    graded = Graded()
    messages = []
    for clip, got in zip(made, answered, strict=True):
        message = got.get("message", {})
        messages.append(message)
        grade(clip, message, graded)
    return report(graded, data=str(root), made=made, people=people, messages=messages, payloads=payloads)


def print_classroom(r: ClassroomReport) -> None:
    clips = ", ".join(f"{n} at {size}" for size, n in r.clips.items())
    print(
        f"A classroom through the local stack ({r.enrolled} students enrolled, {r.visitors} visitors; clips: {clips}; "
        f"{r.data}):"
    )
    for b in r.bands:
        named = f"named right {b.named_right:.3f} of {b.enrolled_faces}" if b.named_right is not None else ""
        print(f"  faces {b.band:>5} px: found {b.found:.3f} of {b.faces}; {named}")
    print(
        f"  wrong names {r.wrong_names}, visitors named {r.visitors_named}; students named in some clip "
        f"{r.students_named} of {r.enrolled}"
    )
    times = ", ".join(f"{size} {ms:.0f} ms" for size, ms in r.recognize_ms_p50.items())
    print(
        f"  recognize p50 a clip: {times}; end to end p50 {r.total_s_p50:.2f} s; largest state payload: recognize's "
        f"answer {r.largest_recognize_result_bytes / 1024:.0f} KiB, enrich's request "
        f"{r.largest_enrich_request_bytes / 1024:.0f} KiB (Step Functions' limit: 256 KiB)"
    )
