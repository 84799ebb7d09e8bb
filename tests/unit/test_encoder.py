"""The ONNX face encoder against dlib's own, on every face in ../shared/samples and ../shared/videos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facepipe.core.settings import explicit_settings
from facepipe.media.images import load_rgb
from facepipe.vision import encoder, faces
from facepipe.vision.dlib_net import DlibFormatError, read_network

# Video frames sampled per clip: a face every ~0.7 s of each talking-head video (head turns, expressions).
FRAMES_PER_VIDEO = 8


def _video_frames(path: Path) -> list[np.ndarray]:
    import cv2

    capture = cv2.VideoCapture(str(path))
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    frames = []
    for index in np.linspace(0, total - 1, FRAMES_PER_VIDEO).astype(int):
        capture.set(cv2.CAP_PROP_POS_FRAMES, int(index))
        ok, bgr = capture.read()
        assert ok, f"{path.name}: frame {index} did not decode"
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    capture.release()
    return frames


@pytest.fixture(scope="module")
def every_face(samples: Path, videos: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(where each face is from, ONNX encodings, dlib's encodings) for every face found."""
    images: list[tuple[str, np.ndarray]] = []
    for photo in sorted(
        [*samples.glob("people/*/*.jpg"), *samples.glob("probes/*.jpg"), *videos.glob("people/*/*.jpg")]
    ):
        images.append((str(photo.relative_to(photo.parents[2])), load_rgb(photo, max_bytes=10**8, max_pixels=10**8)))
    for clip in sorted(videos.glob("clips/*.mp4")):
        images += [(f"{clip.name}#{i}", frame) for i, frame in enumerate(_video_frames(clip))]
    names, fast, reference = [], [], []
    for name, image in images:
        # No upsample: the encoder sees a 150 px chip whatever the face's size, and searching at twice the size
        # found 2 more of 97 faces for 13 s more (measured): the comparison is the point, not the search.
        boxes = faces.detect_faces(image, max_side=1024, upsample=0)
        names += [f"{name}@{box}" for box in boxes]
        fast.append(faces.encode_faces(image, boxes))
        reference.append(faces.encode_faces_reference(image, boxes))
    return names, np.concatenate(fast), np.concatenate(reference)


def test_onnx_encodings_give_dlibs_pairwise_distances_on_every_sample_and_video_face(every_face) -> None:
    names, fast, reference = every_face
    assert len(names) >= 90, f"only {len(names)} faces found: the comparison would prove little"
    drift = np.abs(faces.pairwise_distances(fast, fast) - faces.pairwise_distances(reference, reference))
    worst = np.unravel_index(drift.argmax(), drift.shape)
    assert drift.max() <= 1e-5, f"distance {names[worst[0]]} - {names[worst[1]]} drifts by {drift.max():.2e}"
    # The encodings themselves agree too (so galleries enrolled with dlib stay valid).
    assert np.abs(fast - reference).max() <= 1e-5


def test_a_batch_gives_the_same_encodings_as_one_face_at_a_time(every_face, samples: Path) -> None:
    image = load_rgb(samples / "probes" / "obama_and_biden.jpg", max_bytes=10**8, max_pixels=10**8)
    boxes = faces.detect_faces(image, max_side=1024, upsample=1)
    chips = faces.face_chips(image, boxes)
    one_by_one = np.concatenate([encoder.encode_chips(chips[i : i + 1]) for i in range(len(chips))])
    assert len(boxes) >= 2
    assert np.abs(encoder.encode_chips(chips) - one_by_one).max() <= 1e-6


def test_chips_of_the_wrong_shape_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"uint8 \(n, 150, 150, 3\), got float64 \(1, 150, 150, 3\)"):
        encoder.encode_chips(np.zeros((1, 150, 150, 3)))
    assert encoder.encode_chips(np.zeros((0, 150, 150, 3), dtype=np.uint8)).shape == (0, 128)


def test_the_model_converts_once_into_a_cache_named_by_its_source(tmp_path: Path) -> None:
    settings = explicit_settings(encoder_cache_dir=tmp_path)
    path = encoder.convert(settings)
    assert path.parent == tmp_path and path.name.startswith("dlib_face_recognition_resnet_model_v1-")
    assert path.stat().st_size > 20_000_000
    made = path.stat().st_mtime_ns
    assert encoder.convert(settings) == path and path.stat().st_mtime_ns == made  # not converted again
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind


def test_another_network_file_is_refused_with_where_and_what(tmp_path: Path) -> None:
    import face_recognition_models

    landmarks = Path(face_recognition_models.pose_predictor_five_point_model_location())
    with pytest.raises(DlibFormatError, match=r"^byte \d+: (not a layer name|.* expected loss_metric)"):
        read_network(landmarks)
    truncated = tmp_path / "truncated.dat"
    truncated.write_bytes(encoder.source_model().read_bytes()[:1_000_000])
    with pytest.raises(DlibFormatError, match="runs past the end of the file|unexpected end of file"):
        read_network(truncated)
