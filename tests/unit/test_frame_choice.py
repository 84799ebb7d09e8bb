"""Choosing frames by faces (facepipe.identity.recognition.choose_by_faces), on real footage of a woman turning her head
(../shared/videos/turning, Intel's sample-videos, CC BY 4.0): when the chosen frames show her turned away, the
clip's other frames are searched near her face and the one that shows her frontally joins them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from facepipe.core.contracts import UNKNOWN
from facepipe.core.settings import Settings
from facepipe.identity import recognition
from facepipe.identity.enroll import reference_of
from facepipe.identity.gallery import Gallery, GalleryPerson, GalleryPhoto
from facepipe.vision import faces, frame_choice


@pytest.fixture(scope="module")
def turning(videos: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(videos / "turning" / "head-pose-face-detection-female.gif"))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    return frames


@pytest.fixture(scope="module")
def her_gallery(turning: list[np.ndarray], settings: Settings) -> Gallery:
    # Enrolled from frame 19 (at the camera), as `unknowns label` would from the camera's own view.
    (box,) = faces.detect_faces(turning[19], max_side=1280, upsample=1)
    encoding, graded = reference_of(turning[19], box, settings)
    photo = GalleryPhoto(source="camera/19", sha256="0" * 64, encoding=encoding, quality=graded)
    gallery = Gallery()
    gallery.upsert(GalleryPerson(id="turning_woman", photos=[photo]))
    return gallery


def _chosen(turning: list[np.ndarray], indexes: list[int]) -> frame_choice.ClipFrames:
    # Frames 0, 4 and 12 show her turned away (faceness 0.06, 0.25, 0.05); 7-10 at the camera (0.8-1.4).
    return frame_choice.chosen_frames(indexes, [i * 80.0 for i in indexes], [turning[i] for i in indexes], [9, 8, 7])


def test_turned_in_every_chosen_frame_she_is_named_from_a_frame_that_shows_her(turning, her_gallery, settings):
    chosen = _chosen(turning, [0, 4, 12])
    asked: list[int] = []

    def spare() -> Iterator[tuple[int, float, np.ndarray]]:
        for index in range(13):
            if index not in chosen.indexes:
                asked.append(index)
                yield index, index * 80.0, turning[index]

    _, alone = recognition.recognize_chosen(chosen, her_gallery, settings)
    assert {face.id for frame in alone for face in frame.faces} == {UNKNOWN}  # turned faces name nobody

    used, found = recognition.recognize_chosen(chosen, her_gallery, settings, spare)
    added = sorted(set(used.indexes) - {0, 4, 12})
    assert len(added) == 1 and 6 <= added[0] <= 10  # one frame, where she faces the camera
    assert used.indexes == sorted(used.indexes) and used.images[used.indexes.index(added[0])] is turning[added[0]]
    assert {face.id for frame in found for face in frame.faces} == {"turning_woman"}  # her turned faces too
    assert len(asked) <= 2 * 6  # only a few of the clip's other frames were looked at


def test_a_clip_whose_faces_are_clear_is_not_read_again(turning, her_gallery, settings):
    chosen = _chosen(turning, [8, 9, 19])

    def spare() -> Iterator[tuple[int, float, np.ndarray]]:
        raise AssertionError("the clip was read again although every face was clear")

    used, found = recognition.recognize_chosen(chosen, her_gallery, settings, spare)
    assert used.indexes == [8, 9, 19]
    assert {face.id for frame in found for face in frame.faces} == {"turning_woman"}
