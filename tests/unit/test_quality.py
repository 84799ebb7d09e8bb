"""Face quality on real footage: turned faces are poor; half-hidden and cut ones never name anyone alone; frontal
sharp faces of every source are never poor; soft references are flagged."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from facepipe.bench.devset import turning_enrollments
from facepipe.core.settings import Settings
from facepipe.identity.enroll import enroll, reference_of
from facepipe.vision import faces, quality


def _frames(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    capture.release()
    return frames


def _graded(image: np.ndarray, *, upsample: int = 1) -> quality.FaceQuality:
    (box,) = faces.keep_largest(faces.detect_faces(image, max_side=2000, upsample=upsample), 1)
    chips, points = faces.chips_and_landmarks(image, [box])
    return quality.assess(chips[0], box, image.shape, points[0], min_height=40)


@pytest.fixture(scope="module")
def turning_woman(videos: Path) -> list[np.ndarray]:
    return _frames(videos / "turning" / "head-pose-face-detection-female.gif")


def test_a_turned_face_is_poor_and_the_same_face_frontal_is_good(turning_woman):
    # Frame 0: she looks away (about 60 degrees); frame 8: at the camera (seen by eye, and HOG finds both).
    turned, frontal = _graded(turning_woman[0], upsample=2), _graded(turning_woman[8], upsample=2)
    assert turned.poor and turned.reasons[0].startswith("turned (yaw")
    assert frontal.good and abs(frontal.yaw) < quality.TURNED_YAW
    assert abs(turned.yaw) > abs(frontal.yaw)


def test_a_half_hidden_face_never_names_anyone_alone_however_sharp(videos: Path):
    frame = cv2.resize(_frames(videos / "clips" / "menendez.mp4")[0], None, fx=0.3, fy=0.3)
    whole = _graded(frame)
    assert whole.good
    top, right, bottom, left = faces.detect_faces(frame, upsample=1)[0]
    hidden = frame.copy()
    hidden[top:bottom, (left + right) // 2 : right] = 120  # someone nearer covers half the face
    graded = _graded(hidden)
    # Sharp, yet not a face to trust alone: weak (unclear), so it names someone only with another frame agreeing.
    assert graded.weak and not graded.good and graded.sharpness > quality.BLUR_SHARPNESS
    assert graded.cautions[-1].startswith("unclear (faceness")


def test_a_face_cut_by_the_frame_edge_never_names_anyone_alone(videos: Path):
    frame = cv2.resize(_frames(videos / "clips" / "markey.mp4")[0], None, fx=0.3, fy=0.3)
    top, right, bottom, left = faces.detect_faces(frame, upsample=1)[0]
    cut = np.ascontiguousarray(frame[:, (left + right) // 2 - 4 :])  # the left eye and half the nose are gone
    box = (top, right - ((left + right) // 2 - 4), bottom, 0)
    chips, points = faces.chips_and_landmarks(cut, [box])
    graded = quality.assess(chips[0], box, cut.shape, points[0])
    # Half a face is not a face to the detector's score (dlib keeps the landmarks inside the picture here).
    assert not graded.good


def test_portraits_are_good_references_and_soft_video_frames_are_flagged(videos: Path, settings: Settings):
    gallery, report = enroll(videos / "people", settings)
    assert report.flagged == []
    assert all(p.quality is not None and not p.quality.poor for person in gallery.people for p in person.photos)
    views = {v.person_id: v for v in turning_enrollments(videos / "turning")}
    _, graded = reference_of(views["turning_female"].image, views["turning_female"].box, settings)
    assert graded.poor and graded.reasons[0].startswith("soft (sharpness")


def test_people_list_flags_a_poor_reference(videos: Path, settings: Settings, tmp_path: Path, capsys):
    from facepipe.cli.main import main

    views = {v.person_id: v for v in turning_enrollments(videos / "turning")}
    people = tmp_path / "people" / "turning_female"
    people.mkdir(parents=True)
    view = views["turning_female"]
    cv2.imwrite(str(people / "1.png"), cv2.cvtColor(view.image, cv2.COLOR_RGB2BGR))
    gallery = tmp_path / "gallery.json"
    assert main(["enroll", str(tmp_path / "people"), "--out", str(gallery)]) == 0
    assert "turning_female/1.png: enrolled, but a poor reference (soft (sharpness" in capsys.readouterr().err
    assert main(["people", "list", "--gallery", str(gallery)]) == 0
    assert "  poor reference turning_female/1.png: soft (sharpness" in capsys.readouterr().out
