"""Recognition of a clip on real video: small faces found and followed, one decision per person."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from facepipe.bench.devset import ROOM_SHOTS, LabelledVideo, make_dev_clips
from facepipe.core.contracts import UNKNOWN
from facepipe.core.settings import Settings
from facepipe.identity import matching, recognition
from facepipe.identity.enroll import enroll
from facepipe.identity.gallery import POOR_REFERENCE_PENALTY, Gallery, PhotoQuality
from facepipe.media.video import decode_clip
from facepipe.vision import tracking
from facepipe.vision.quality import FaceQuality

# Qualities as facepipe.vision.quality grades faces: clear; good but not clear enough alone; small; turned.
GOOD = FaceQuality(height_px=90, faceness=1.6, sharpness=300.0, yaw=0.0, cut=False, reasons=())
UNCLEAR = FaceQuality(
    height_px=90, faceness=0.1, sharpness=300.0, yaw=0.1, cut=False, reasons=(), cautions=("unclear (faceness 0.1)",)
)
WEAK = FaceQuality(height_px=36, faceness=1.2, sharpness=120.0, yaw=0.0, cut=False, reasons=(), cautions=("small",))
POOR = FaceQuality(height_px=90, faceness=0.05, sharpness=200.0, yaw=0.4, cut=False, reasons=("turned",))


@pytest.fixture(scope="module")
def video_gallery(videos: Path, settings: Settings) -> Gallery:
    gallery, report = enroll(videos / "people", settings)
    assert not report.errors
    return gallery


@pytest.fixture(scope="module")
def room_clips(videos: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One clip of markey and one of a stranger in each room shot, and markey beside menendez."""
    wanted = [
        LabelledVideo(videos / "clips" / "markey.mp4", frozenset({"markey"})),
        LabelledVideo(videos / "clips" / "menendez.mp4", frozenset({"menendez"})),
        LabelledVideo(videos / "clips" / "stranger_a.mp4", frozenset()),
    ]
    clips = make_dev_clips(wanted, tmp_path_factory.mktemp("room"), per_version=1)
    return {f"{c.source}/{c.version}": c.path for c in clips}


def _recognize(clip: Path, gallery: Gallery, settings: Settings, **options: object) -> list[recognition.FrameResult]:
    decoded = decode_clip(clip, frames_wanted=settings.frames_per_clip, max_seconds=5, max_pixels=10**8)
    images = [cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) for _, _, frame in decoded.frames]
    chosen: dict[str, object] = {
        "tolerance": settings.match_tolerance,
        "margin": settings.match_margin,
        "anchor": int(np.argmax(decoded.sharpness)),
        "small_face_max_side": settings.small_face_max_side,
        "decisive_face_px": settings.decisive_face_px,
    }
    return recognition.recognize_frames(images, gallery, **(chosen | options))  # type: ignore[arg-type]


def _named(frames: list[recognition.FrameResult]) -> set[str]:
    return {face.id for frame in frames for face in frame.faces} - {UNKNOWN}


@pytest.mark.parametrize("shot", [s.name for s in ROOM_SHOTS])
def test_every_room_shot_of_an_enrolled_person_names_him(room_clips, video_gallery, settings, shot):
    frames = _recognize(room_clips[f"markey/{shot}"], video_gallery, settings)
    assert _named(frames) == {"markey"}
    assert all(len(frame.faces) == 1 for frame in frames)  # found and followed in every frame


def test_two_people_in_one_room_are_each_named(room_clips, video_gallery, settings):
    frames = _recognize(room_clips["markey+menendez/pair-1280-face70"], video_gallery, settings)
    assert _named(frames) == {"markey", "menendez"}


def test_40_px_faces_in_1280_frames_need_the_small_face_search(room_clips, video_gallery, settings):
    """Positive control: the usual pass alone (640-px copy, no upsample) finds nobody in this clip."""
    clip = room_clips["markey/1280-face40"]
    assert _named(_recognize(clip, video_gallery, settings)) == {"markey"}
    without = _recognize(clip, video_gallery, settings, small_face_max_side=None)
    assert all(frame.faces == [] for frame in without)


@pytest.mark.parametrize("shot", ["as-given", "640-face45", "1280-face40", "640-face80-blur"])
def test_a_stranger_is_found_but_named_nobody(room_clips, video_gallery, settings, shot):
    frames = _recognize(room_clips[f"stranger_a/{shot}"], video_gallery, settings)
    assert [len(frame.faces) for frame in frames] == [1, 1, 1]
    assert _named(frames) == set()
    assert all(
        face.distance is not None and face.distance > settings.match_tolerance for f in frames for face in f.faces
    )


def _encodings(gallery: Gallery, person: str, noise: float, count: int, seed: int = 0) -> np.ndarray:
    matrix, owners = gallery.matrix()
    base = matrix[owners.index(person)]
    rng = np.random.default_rng(seed)
    return base + rng.normal(0.0, noise, (count, 128))


def _around(gallery: Gallery, person: str, distances: list[float], seed: int = 0) -> np.ndarray:
    """Faces at the given distances from ``person``'s photo, each in a random direction."""
    photo = np.asarray(gallery.person(person).photos[0].encoding)
    directions = np.random.default_rng(seed).normal(size=(len(distances), 128))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    return photo + directions * np.asarray(distances)[:, None]


def test_a_track_is_decided_by_its_mean_encoding(video_gallery):
    # One face at 0.58 from markey, two at 0.68 (beyond 0.6); their mean is ~0.4 from him.
    faces = _around(video_gallery, "markey", [0.58, 0.68, 0.68])
    people, each = matching.person_distances(faces, video_gallery)
    mean = matching.person_distances(faces.mean(axis=0, keepdims=True), video_gallery)[1]
    assert mean[0, people.index("markey")] < 0.45
    decision = matching.decide(faces, [GOOD] * 3, video_gallery, tolerance=0.6, margin=0.05)
    assert decision.person == "markey"
    assert decision.distances == pytest.approx(list(each[:, people.index("markey")]))


def test_a_mean_inside_the_tolerance_names_nobody_when_no_face_reaches_the_person(video_gallery):
    # Three faces each 0.62 from markey: their mean is well inside 0.6, as a blurred stranger's were.
    faces = _around(video_gallery, "markey", [0.62, 0.62, 0.62])
    people, _ = matching.person_distances(faces, video_gallery)
    mean = matching.person_distances(faces.mean(axis=0, keepdims=True), video_gallery)[1]
    assert mean[0, people.index("markey")] < 0.45
    assert matching.decide(faces, [GOOD] * 3, video_gallery, tolerance=0.6, margin=0.05).person == UNKNOWN


def test_no_name_without_a_margin_over_the_next_person(video_gallery):
    matrix, owners = video_gallery.matrix()
    between = (matrix[owners.index("markey")] + matrix[owners.index("menendez")]) / 2
    decision = matching.decide(between[None, :], [GOOD], video_gallery, tolerance=1.0, margin=0.05)
    assert decision.person == UNKNOWN
    assert matching.decide(between[None, :], [GOOD], video_gallery, tolerance=1.0, margin=0.0).person != UNKNOWN


def test_weak_faces_name_nobody_alone_but_two_agreeing_frames_do(video_gallery):
    one = _encodings(video_gallery, "swalwell", 0.01, 1)
    assert matching.decide(one, [WEAK], video_gallery, tolerance=0.6, margin=0.05).person == UNKNOWN
    assert matching.decide(one, [GOOD], video_gallery, tolerance=0.6, margin=0.05).person == "swalwell"
    two = _encodings(video_gallery, "swalwell", 0.01, 2)
    assert matching.decide(two, [WEAK, WEAK], video_gallery, tolerance=0.6, margin=0.05).person == "swalwell"
    # A good face decides; weak ones are left out of the mean (here they would pull it to someone else).
    mixed = np.concatenate(
        [_encodings(video_gallery, "swalwell", 0.01, 1), _encodings(video_gallery, "markey", 0.0, 2)]
    )
    decision = matching.decide(mixed, [GOOD, WEAK, WEAK], video_gallery, tolerance=0.6, margin=0.05)
    assert decision.person == "swalwell"


def test_poor_faces_never_name_anyone_however_near(video_gallery):
    near = _encodings(video_gallery, "swalwell", 0.0, 3)  # his own photo's encoding, three times
    assert matching.decide(near, [POOR] * 3, video_gallery, tolerance=0.6, margin=0.05).person == UNKNOWN
    # ... and a poor face does not count towards a track that has a good one.
    decision = matching.decide(near, [GOOD, POOR, POOR], video_gallery, tolerance=0.6, margin=0.05)
    assert decision.person == "swalwell"
    assert decision.distances == pytest.approx([0.0, 0.0, 0.0], abs=1e-6)


def test_a_face_of_unclear_structure_names_nobody_alone_but_an_agreeing_frame_is_enough(video_gallery):
    # Half hidden, smeared or badly lit (low faceness, issue 31): weak, not poor.
    one = _encodings(video_gallery, "markey", 0.01, 1)
    assert matching.decide(one, [UNCLEAR], video_gallery, tolerance=0.6, margin=0.05).person == UNKNOWN
    two = _encodings(video_gallery, "markey", 0.01, 2)
    assert matching.decide(two, [UNCLEAR, WEAK], video_gallery, tolerance=0.6, margin=0.05).person == "markey"


def _with_poor_reference(gallery, person: str):
    """The gallery with ``person``'s photos marked poor references."""
    copy = Gallery.loads(gallery.dumps())
    found = copy.person(person)
    bad = PhotoQuality(height_px=70, faceness=1.2, sharpness=90.0, reasons=["soft (sharpness 90)"])
    copy.upsert(found.model_copy(update={"photos": [p.model_copy(update={"quality": bad}) for p in found.photos]}))
    return copy


def test_a_poor_reference_must_be_matched_more_closely(video_gallery):
    photo = np.asarray(video_gallery.person("markey").photos[0].encoding)
    direction = np.random.default_rng(3).normal(size=128)
    face = (photo + direction / np.linalg.norm(direction) * 0.55)[None, :]  # 0.55 from his photo
    rule = {"tolerance": 0.6, "margin": 0.0}
    assert matching.decide(face, [GOOD], video_gallery, **rule).person == "markey"
    poor = _with_poor_reference(video_gallery, "markey")
    assert matching.decide(face, [GOOD], poor, **rule).person == UNKNOWN  # 0.55 + 0.08 > 0.6
    assert matching.person_distances(face, poor)[1][0][poor.blocks()[0].index("markey")] == pytest.approx(
        0.55 + POOR_REFERENCE_PENALTY
    )


def test_faces_are_linked_across_frames_by_place_and_size():
    a, b = (100, 160, 160, 100), (100, 460, 160, 400)  # two people side by side, 60 px faces
    moved = (104, 170, 164, 110)
    tracks = tracking.link_tracks([[a, b], [b, moved], [(300, 360, 420, 240)]])
    assert [t.members for t in tracks] == [[(0, 0), (1, 1)], [(0, 1), (1, 0)], [(2, 0)]]  # the last is too big


def test_a_face_hog_loses_is_followed_and_reported_as_its_track_names_but_names_nobody_alone(
    videos: Path, settings: Settings, tmp_path: Path
):
    # Real corridor footage as a 640x480 room camera sees it: the woman walking in is frontal in some of the
    # chosen frames and turned past HOG's reach in another, and so is the man beside her.
    from facepipe.bench.devset import TURNING_FOLDER, turning_enrollments, turning_videos
    from facepipe.identity.enroll import reference_of
    from facepipe.identity.gallery import GalleryPerson, GalleryPhoto

    turning = videos / TURNING_FOLDER
    gallery = Gallery()
    for view in turning_enrollments(turning):
        encoding, graded = reference_of(view.image, view.box, settings)
        photo = GalleryPhoto(source=view.source, sha256="0" * 64, encoding=encoding, quality=graded)
        gallery.upsert(GalleryPerson(id=view.person_id, photos=[photo]))
    (walking,) = [v for v in turning_videos(turning) if v.path.name == "face-demographics-walking-and-pause.gif"]
    (clip,) = [
        c.path
        for c in make_dev_clips([walking], tmp_path, pairs=False)
        if c.path.name == "face-demographics-walking-and-pause-640-face120-03.mp4"
    ]
    hog = settings.model_copy(update={"detect_model": "hog"})  # following is for the faces HOG loses
    _, lost = recognition.recognize_file(clip, gallery, hog.model_copy(update={"follow_lost_faces": False}))
    _, followed = recognition.recognize_file(clip, gallery, hog)
    assert _named(followed) == _named(lost) and "corridor_woman" in _named(followed)
    added = [
        (face, graded)
        for before, after in zip(lost, followed, strict=True)
        for face, graded in zip(after.faces, after.quality, strict=True)
        if face.box not in [f.box for f in before.faces]
    ]
    # The faces the CNN found are turned or unclear (poor or weak): none named anyone by itself (the names are the
    # same without them), and hers is reported as the person her track's frontal faces named.
    assert added and not any(graded.good for _, graded in added)
    assert "corridor_woman" in {face.id for face, _ in added}
