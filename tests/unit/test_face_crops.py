"""The enrollable gate of face crops: only a good face (facepipe.vision.quality) may become an unknown to label."""

from __future__ import annotations

import numpy as np

from facepipe.core.contracts import UNKNOWN, Face
from facepipe.identity.face_crops import seen_faces
from facepipe.identity.recognition import FrameResult
from facepipe.vision import encoder
from facepipe.vision.quality import grade


def _frame(height: int, sharpness: float, faceness: float) -> FrameResult:
    chip = np.full((1, encoder.CHIP_SIZE, encoder.CHIP_SIZE, 3), 128, np.uint8)
    return FrameResult(
        faces=[Face(id=UNKNOWN, distance=0.7, box=[100, 100 + height, 100 + height, 100])],
        detected=1,
        ms=1.0,
        encodings=np.zeros((1, 128)),
        chips=chip,
        tracks=[0],
        quality=[grade(faceness, sharpness, height, min_height=40)],
    )


def test_only_a_good_face_is_enrollable_and_the_best_one_is_kept():
    small = seen_faces([_frame(30, 300.0, 1.5)], [0])
    turned = seen_faces([_frame(90, 300.0, 0.1)], [0])
    assert not small[0].enrollable and not turned[0].enrollable  # weak (small) and poor (turned) alike
    # A track with a good face keeps it as its crop, before a taller turned one and a sharper small one.
    (best,) = seen_faces([_frame(120, 900.0, 0.1), _frame(35, 900.0, 2.0), _frame(80, 300.0, 1.5)], [0, 5, 10])
    assert best.enrollable and best.frame_index == 10 and best.height_px == 80


def _crowd(ids: list[str]) -> FrameResult:
    """One frame of faces, each its own track, the i-th face 40 + i px tall and named ``ids[i]``."""
    n = len(ids)
    faces = [Face(id=i, distance=None if i == UNKNOWN else 0.4, box=[0, 40 + k, 40 + k, 0]) for k, i in enumerate(ids)]
    return FrameResult(
        faces=faces,
        detected=n,
        ms=1.0,
        encodings=np.zeros((n, 128)),
        chips=np.full((n, encoder.CHIP_SIZE, encoder.CHIP_SIZE, 3), 128, np.uint8),
        tracks=list(range(n)),
        quality=[grade(1.5, 300.0, 40 + k, min_height=40) for k in range(n)],
    )


def test_every_track_is_a_record_and_only_the_largest_carry_crops():
    """A room of 18 people and 2 strangers: 20 tracks, every one recorded (enrich's people come from them), the
    16 largest with a crop (the state machine's payload stays small) and, when unknown, their encoding."""
    from facepipe.identity.face_crops import MAX_SEEN_FACES

    ids = [UNKNOWN, UNKNOWN] + [f"p{k:02d}" for k in range(18)]  # the strangers are the smallest
    tracks = seen_faces([_crowd(ids)], [7])
    assert len(tracks) == 20 and {t.id for t in tracks} == set(ids)
    assert [t.height_px for t in tracks] == sorted((t.height_px for t in tracks), reverse=True)
    assert all(t.crop_jpeg for t in tracks[:MAX_SEEN_FACES]) and not any(t.crop_jpeg for t in tracks[MAX_SEEN_FACES:])
    assert all(t.frames == [7] for t in tracks)
    strangers = [t for t in tracks if t.id == UNKNOWN]
    assert all(t.distance is None and t.encoding is None for t in strangers)  # no crop: not kept, not clustered
    assert all(t.distance == 0.4 for t in tracks if t.id != UNKNOWN)


def test_people_are_built_from_tracks_a_person_lost_and_found_once():
    """Enrich's people: one per person over all their tracks (tracking lost and found them: the frames of both,
    the nearest distance and its box); each unknown track is one unknown face."""
    from facepipe.core.contracts import SeenFace
    from facepipe.pipeline.enrich import people_seen

    def track(person: str, distance: float | None, frames: list[int], box: list[int]) -> SeenFace:
        return SeenFace(
            id=person,
            distance=distance,
            frames=frames,
            frame_index=frames[0],
            box=box,
            height_px=box[2] - box[0],
            sharpness=100.0,
            enrollable=True,
            crop_jpeg=None,
        )

    people, unknown = people_seen(
        [
            track("obama", 0.41, [3, 6], [0, 50, 50, 0]),
            track("obama", 0.36, [12], [5, 60, 60, 5]),
            track(UNKNOWN, None, [3], [0, 90, 40, 50]),
            track(UNKNOWN, None, [6, 12], [0, 140, 40, 100]),
        ]
    )
    assert people == {"obama": {"frames": {3, 6, 12}, "distance": 0.36, "box": [5, 60, 60, 5]}}
    assert unknown == 2
