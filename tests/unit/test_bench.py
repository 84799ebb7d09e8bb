"""The benchmark's scoring: identity precision and recall, per clip and per frame, and unknown faces."""

from __future__ import annotations

from facepipe.bench.accuracy import score
from facepipe.bench.stats import pct


def _row(key, people, unknown=0, frames=()):
    return {
        "key": key,
        "message": {
            "people": [{"id": p} for p in people],
            "unknown_faces": unknown,
            "frames": [{"faces": [{"id": i} for i in f]} for f in frames],
        },
    }


def test_score_counts_identities_and_unknown_faces():
    rows = [
        _row("a", ["obama"], frames=[["obama"], ["obama"], []]),
        _row("b", ["obama", "biden"], unknown=1, frames=[["obama", "biden", "unknown"]]),
        _row("c", ["rose_leslie"], frames=[["rose_leslie"]]),
    ]
    truth = {"a": ({"obama"}, 0), "b": ({"obama", "biden"}, 1), "c": ({"kit_harington", "rose_leslie"}, 0)}
    result = score(rows, truth)
    assert (result.precision, result.recall) == (1.0, 0.8)
    assert (result.per_frame_precision, result.per_frame_recall) == (1.0, 0.7143)
    assert (result.unknown_faces_expected, result.unknown_faces_reported_as_unknown) == (1, 1)


def test_a_wrong_name_lowers_precision():
    result = score([_row("a", ["biden"])], {"a": ({"obama"}, 0)})
    assert (result.precision, result.recall) == (0.0, 0.0)


def test_the_bench_and_the_device_compute_percentiles_the_same_way():
    from facepipe_device.service import percentile

    for values in ([0.4], [0.2, 0.9], [0.31, 0.05, 0.77, 0.5, 0.12, 0.98, 0.64]):
        for q in (50, 95):
            assert abs(percentile(values, q) - pct(values, q)) < 1e-12, (values, q)


def test_video_appearances_are_scored_per_person_and_strangers_per_clip(tmp_path):
    from facepipe.bench.devset import DevClip
    from facepipe.bench.videos import _by_version

    def clip(name: str, people: set[str], version: str) -> DevClip:
        return DevClip(tmp_path / name, frozenset(people), name, version)

    clips = [
        clip("a", {"markey"}, "as-given"),
        clip("b", {"markey", "menendez"}, "pair-1280-face70"),
        clip("c", set(), "640-face45"),
        clip("d", set(), "640-face45"),
    ]
    named = {tmp_path / "a": {"markey"}, tmp_path / "b": {"markey", "swalwell"}, tmp_path / "c": {"markey"}}
    scores = _by_version(clips, named)
    assert scores["as-given"].model_dump() == {
        "clips": 1,
        "appearances": 1,
        "named": 1,
        "recall": 1.0,
        "precision": 1.0,
        "wrong_names": 0,
        "stranger_clips": 0,
        "stranger_clips_named": 0,
    }
    room = scores["room-camera"]
    assert (room.appearances, room.named, room.recall, room.wrong_names) == (2, 1, 0.5, 2)
    assert room.precision == 0.3333  # one right name of three given (swalwell and the stranger's markey wrong)
    assert (room.stranger_clips, room.stranger_clips_named) == (2, 1)


def test_bench_videos_refuses_a_folder_it_cannot_use_by_name(tmp_path, capsys):
    from facepipe.cli.main import main

    assert main(["bench", "--videos", str(tmp_path)]) == 1
    assert f"{tmp_path}: no labels.csv (file,people)" in capsys.readouterr().err
    (tmp_path / "labels.csv").write_text("file,people\n")
    assert main(["bench", "--videos", str(tmp_path)]) == 1
    assert f"{tmp_path}: no people/ folder to enroll" in capsys.readouterr().err


def test_camera_view_labels_from_earlier_clips_and_tests_on_the_others(tmp_path):
    """The split keeps every test clip unseen, and a label keeps a person's best crops (as a cluster does)."""
    from facepipe.bench.camera_view import labelled_gallery, split
    from facepipe.bench.devset import DevClip
    from facepipe.core.contracts import SeenFace
    from facepipe.identity.clusters import MAX_CROPS

    clips = [
        DevClip(tmp_path / "markey-640-face60-00.mp4", frozenset({"markey"}), "markey", "640-face60"),
        DevClip(tmp_path / "markey-640-face60-01.mp4", frozenset({"markey"}), "markey", "640-face60"),
        DevClip(tmp_path / "markey-as-given-00.mp4", frozenset({"markey"}), "markey", "as-given"),
        DevClip(tmp_path / "markey-as-given-02.mp4", frozenset({"markey"}), "markey", "as-given"),
        DevClip(tmp_path / "stranger_a-640-face60-00.mp4", frozenset(), "stranger_a", "640-face60", 1),
        DevClip(tmp_path / "stranger_a-640-face60-03.mp4", frozenset(), "stranger_a", "640-face60", 1),
    ]
    before, test = split(clips)
    assert [c.path.name for c in before] == ["markey-640-face60-00.mp4"]
    assert [c.path.name for c in test] == [
        "markey-640-face60-01.mp4",
        "markey-as-given-02.mp4",
        "stranger_a-640-face60-03.mp4",
    ]

    def face(height: int) -> SeenFace:
        return SeenFace(
            id="unknown",
            frames=[0],
            frame_index=0,
            box=[0, height, height, 0],
            height_px=height,
            sharpness=50.0,
            enrollable=True,
            crop_jpeg="",
            encoding=[height / 1000] * 128,
        )

    gallery = labelled_gallery({"markey": [face(h) for h in (40, 90, 60, 120, 45, 70, 80, 100)]})
    (person,) = gallery.people
    assert person.id == "markey" and len(person.photos) == MAX_CROPS
    assert sorted(p.encoding[0] for p in person.photos) == [0.06, 0.07, 0.08, 0.09, 0.1, 0.12]


def test_the_detectors_are_measured_side_by_side_on_the_same_frames(clip_factory, settings):
    """`facepipe bench`'s detectors section: HOG and the CNN with their upsample, YuNet without, on the same
    frames of real probe clips: each finds the face, YuNet in less time than HOG."""
    from facepipe.bench.recognition import bench_detectors

    clips = [clip_factory("obama-480p.jpg", motion="pan", seed=1), clip_factory("kit_with_rose.jpg", motion="zoom")]
    found = {d.model: d for d in bench_detectors(clips, settings)}
    assert list(found) == ["hog", "cnn", "yunet"] and found["yunet"].upsample == 0 and found["hog"].upsample == 1
    assert all(d.frames == 2 and d.faces >= 3 for d in found.values())
    assert found["yunet"].frame_ms_p50 < found["hog"].frame_ms_p50
