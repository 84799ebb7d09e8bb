"""The dev set made from real videos: clips as given and as a room camera sees them (nothing committed)."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from facepipe.bench.devset import ROOM_SHOTS, LabelledVideo, make_dev_clips, read_labels
from facepipe.vision import faces


def test_the_shared_videos_are_a_labelled_folder(videos: Path):
    labelled = read_labels(videos)
    assert len(labelled) == 8
    assert {p for v in labelled for p in v.people} == {"ocasio_cortez", "menendez", "markey", "swalwell"}
    assert sum(1 for v in labelled if not v.people) == 3  # the strangers


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (None, "no labels.csv"),
        ("name,who\na.mp4,x\n", "the header must name the columns file,people"),
        ("file,people\nmissing.mp4,x\n", r"labels.csv:2: video 'missing.mp4' not found"),
    ],
)
def test_a_bad_labelled_folder_is_refused_by_name(tmp_path: Path, labels: str | None, message: str):
    if labels is not None:
        (tmp_path / "labels.csv").write_text(labels)
    with pytest.raises(ValueError, match=message):
        read_labels(tmp_path)


def _info(path: Path) -> tuple[int, int, int]:
    capture = cv2.VideoCapture(str(path))
    info = (
        int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
        int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        int(capture.get(cv2.CAP_PROP_FRAME_COUNT)),
    )
    capture.release()
    return info


def test_room_camera_clips_have_the_frame_size_and_face_size_asked_for(videos: Path, tmp_path: Path):
    video = LabelledVideo(videos / "clips" / "markey.mp4", frozenset({"markey"}))
    clips = make_dev_clips([video], tmp_path, pairs=False, per_version=1)
    assert [c.version for c in clips] == ["as-given", *[s.name for s in ROOM_SHOTS]]
    assert all(c.people == {"markey"} for c in clips)
    width, height, frames = _info(clips[0].path)
    assert (width, height) == (512, 512) and frames in (12, 13)  # 0.5 s at 25 fps
    for clip, shot in zip(clips[1:], ROOM_SHOTS, strict=True):
        assert _info(clip.path)[:2] == shot.size, clip.path.name
    # The face is the size asked for (within HOG's box tolerance) where HOG can see it (upsample 1).
    capture = cv2.VideoCapture(str(clips[1].path))  # 640-face120
    ok, frame = capture.read()
    capture.release()
    assert ok
    boxes = faces.detect_faces(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), upsample=1)
    assert len(boxes) == 1
    top, _, bottom, _ = boxes[0]
    assert 100 <= bottom - top <= 140
