"""Clips to frames: keys, frame choice, and every kind of bad clip with the error it gets."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from facepipe.core.clip_keys import parse_clip_key
from facepipe.core.errors import ClipError
from facepipe.media.video import choose_frames, decode_clip

LIMITS = {"frames_wanted": 3, "max_seconds": 5.0, "max_pixels": 4096 * 2160}


def test_clip_key_carries_device_sequence_and_capture_time():
    key = parse_clip_key("clips/pi-kitchen/000042_20261125T101500123Z.mp4")
    assert (key.device_id, key.seq, key.captured_at, key.ext) == ("pi-kitchen", 42, "2026-11-25T10:15:00.123Z", "mp4")
    other = parse_clip_key("clips/cam_2/front-door.h264")
    assert (other.device_id, other.seq, other.captured_at) == ("cam_2", None, None)


@pytest.mark.parametrize(
    "key",
    [
        "frames/pi/1.mp4",
        "clips/1.mp4",
        "clips/pi/sub/1.mp4",
        "clips/pi/1.mov",
        "clips/pi/../1.mp4",
        "clips/pi 1/1.mp4",
        "clips/pi/1 2.mp4",
        "clips/pi/ü.mp4",
        "clips/pi/1.mp4\n",
    ],
)
def test_bad_keys_are_refused_with_the_expected_shape(key):
    with pytest.raises(ClipError, match=r"is not clips/<device_id>/<name>.<mp4\|h264\|mjpeg\|avi>") as info:
        parse_clip_key(key)
    assert info.value.code == "bad_key"


@pytest.mark.parametrize(
    ("total", "count", "expected"),
    [(15, 3, [2, 7, 12]), (15, 1, [7]), (15, 4, [1, 5, 9, 13]), (2, 3, [0, 1]), (1, 3, [0]), (0, 3, [])],
)
def test_with_equal_sharpness_the_middle_of_each_part_is_chosen(total, count, expected):
    assert choose_frames([1.0] * total, count) == expected


def test_the_sharpest_frame_of_each_part_is_chosen_and_undecodable_ones_never():
    scores: list[float | None] = [5, 9, 1, 2, 3, None, 8, 8, 7, 2, 4, 6, None, None, None]
    assert choose_frames(scores, 3) == [1, 7, 11]  # 6 and 7 tie: 7 is nearer the middle
    assert choose_frames([None, None, 3.0], 3) == [2]


def test_a_blurred_frame_is_passed_over_for_a_sharp_one(clip_factory, tmp_path):
    """Motion blur in the middle of a part: extract picks a sharp neighbour (blur names nobody)."""
    clip = clip_factory("obama-480p.jpg")
    capture = cv2.VideoCapture(str(clip))
    frames = []
    while (read := capture.read())[0]:
        frames.append(read[1])
    capture.release()
    frames[7] = cv2.blur(frames[7], (15, 1))  # horizontal motion blur on the middle frame
    blurred = tmp_path / "blurred.avi"
    writer = cv2.VideoWriter(str(blurred), cv2.VideoWriter.fourcc(*"MJPG"), 30, (640, 480))
    for frame in frames:
        writer.write(frame)
    writer.release()
    decoded = decode_clip(blurred, **LIMITS)
    assert 7 not in [index for index, _, _ in decoded.frames]
    assert len(decoded.frames) == len(decoded.sharpness) == 3


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_decodes_clips_made_by_opencv(clip_factory, suffix):
    clip = clip_factory("obama-480p.jpg", suffix=suffix)
    decoded = decode_clip(clip, **LIMITS)
    assert decoded.total == 15
    indices = [index for index, _, _ in decoded.frames]
    assert len(indices) == 3 and indices[0] < 5 <= indices[1] < 10 <= indices[2]  # one from each third
    assert [t for _, t, _ in decoded.frames] == [round(i * 1000 / 30, 1) for i in indices]
    assert decoded.frames[0][2].shape == (480, 640, 3)


def test_random_bytes_named_mp4(tmp_path):
    clip = tmp_path / "noise.mp4"
    clip.write_bytes(np.random.default_rng(1).bytes(50_000))
    with pytest.raises(ClipError, match="noise.mp4: not a video OpenCV can open") as info:
        decode_clip(clip, **LIMITS)
    assert info.value.code == "undecodable"


def test_truncated_clip_is_refused_or_keeps_its_decodable_frames(clip_factory, tmp_path):
    data = clip_factory("obama-480p.jpg").read_bytes()
    clip = tmp_path / "cut.mp4"
    clip.write_bytes(data[: len(data) // 2])  # mp4v puts the index (moov) at the end: nothing to decode
    with pytest.raises(ClipError, match="cut.mp4: (not a video OpenCV can open|no decodable frames)"):
        decode_clip(clip, **LIMITS)
    avi = clip_factory("obama-480p.jpg", suffix=".avi").read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(avi[: int(len(avi) * 0.6)])  # MJPG in AVI: the frames before the cut still decode
    decoded = decode_clip(cut, **LIMITS)
    assert 0 < decoded.total < 15 and decoded.frames


def test_clip_longer_than_the_limit(clip_factory):
    clip = clip_factory("obama-480p.jpg", seconds=2.0)
    with pytest.raises(ClipError, match=r"clip is 2.0 s long, limit 1 s") as info:
        decode_clip(clip, frames_wanted=3, max_seconds=1.0, max_pixels=10**8)
    assert info.value.code == "too_long"


def _clip(path, size: tuple[int, int], frames: int, fps: float = 30, fourcc: str = "MJPG"):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    frame = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    for _ in range(frames):
        writer.write(frame)
    writer.release()
    return path


def test_frames_larger_than_the_limit_are_refused_from_the_header(tmp_path):
    """A small pixel limit stands in for 8K frames: the header's frame size is checked before a frame is decoded."""
    clip = _clip(tmp_path / "big.avi", (640, 480), 2)
    with pytest.raises(ClipError, match=r"big.avi: frames are 640x480, larger than the limit of 100000 pixels") as info:
        decode_clip(clip, **(LIMITS | {"max_pixels": 100_000}))
    assert info.value.code == "too_large"


def test_a_header_claiming_240_fps_cannot_let_a_thousand_frames_through(tmp_path):
    """Under 5 s, but 360 frames: more than extract reads (300 by default), refused with its own code from the
    header, before any frame is decoded."""
    clip = _clip(tmp_path / "fast.avi", (320, 240), 360, fps=240)
    with pytest.raises(ClipError, match=r"fast.avi: 360 frames, more than the limit of 300") as info:
        decode_clip(clip, **LIMITS)
    assert info.value.code == "too_many_frames"


def test_frames_are_chosen_as_they_stream_exactly_as_from_every_frame(videos, tmp_path):
    """Extract keeps only the best frame so far of each part (memory: a few frames, not the clip; a 1080p 5 s
    clip held whole was ~1 GB). On 4 s of real footage it chooses what scoring every frame at once chooses."""
    from facepipe.media.video import choose_frames, sharpness

    capture = cv2.VideoCapture(str(videos / "clips" / "markey.mp4"))
    fps = capture.get(cv2.CAP_PROP_FPS)
    source = [capture.read()[1] for _ in range(int(fps * 4))]
    capture.release()
    clip = tmp_path / "markey-4s.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), fps, source[0].shape[1::-1])
    for frame in source:
        writer.write(frame)
    writer.release()
    reread = cv2.VideoCapture(str(clip))
    frames = []
    while (got := reread.read())[0]:
        frames.append(got[1])
    reread.release()
    decoded = decode_clip(clip, **LIMITS)
    assert decoded.total == len(frames)
    assert decoded.indexes == choose_frames([sharpness(f) for f in frames], 3)
    for (index, _, kept), score in zip(decoded.frames, decoded.sharpness, strict=True):
        assert np.array_equal(kept, frames[index]) and score == round(sharpness(frames[index]), 1)


def test_empty_file(tmp_path):
    clip = tmp_path / "empty.mp4"
    clip.write_bytes(b"")
    with pytest.raises(ClipError, match="empty.mp4: not a video OpenCV can open"):
        decode_clip(clip, **LIMITS)


def test_name_overrides_the_temporary_path(tmp_path):
    clip = tmp_path / "tmpabc.mp4"
    clip.write_bytes(b"junk")
    with pytest.raises(ClipError, match="^clips/pi/1.mp4: "):
        decode_clip(clip, **LIMITS, name="clips/pi/1.mp4")


def test_an_empty_room_clip_decodes(clip_factory):
    decoded = decode_clip(Path(clip_factory(None)), **LIMITS)
    assert len(decoded.frames) == 3
