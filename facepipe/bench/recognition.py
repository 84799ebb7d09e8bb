"""``recognize``: our per-frame recognize time against the plain library's defaults on the same frames."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from facepipe.bench.report import CnnDetector, DetectorBench, Encoder, Recognition
from facepipe.bench.stats import pct
from facepipe.core.settings import Settings
from facepipe.identity import plain_library, recognition
from facepipe.identity.gallery import Gallery
from facepipe.vision import cnn_detector, encoder, faces, tracking

# dlib's own CNN detector costs seconds a frame here: it is timed on this many frames.
_DLIB_CNN_FRAMES = 2


def bench_recognize(gallery: Gallery, clips: list[Path], settings: Settings) -> Recognition:
    import cv2

    from facepipe.media.video import decode_clip

    frames = []
    for clip in clips:
        decoded = decode_clip(clip, frames_wanted=settings.frames_per_clip, max_seconds=5, max_pixels=10**8)
        frames += [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for _, _, f in decoded.frames]
    ours, default, same = [], [], 0
    recognition.recognize_image(frames[0], gallery, tolerance=settings.match_tolerance, model=settings.detect_model)
    for frame in frames:
        start = time.perf_counter()
        a = recognition.recognize_image(
            frame,
            gallery,
            tolerance=settings.match_tolerance,
            margin=settings.match_margin,
            model=settings.detect_model,
            max_side=settings.detect_max_side,
        )
        ours.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        b = plain_library.recognize_with_library_defaults(frame, gallery, tolerance=settings.match_tolerance)
        default.append((time.perf_counter() - start) * 1000)
        same += sorted(f.id for f in a) == sorted(b)
    return Recognition(
        frames=len(frames),
        frame_size=[int(frames[0].shape[1]), int(frames[0].shape[0])],
        p50_ms=round(pct(ours, 50), 1),
        p95_ms=round(pct(ours, 95), 1),
        default_p50_ms=round(pct(default, 50), 1),
        default_p95_ms=round(pct(default, 95), 1),
        ratio_to_default=round(pct(ours, 50) / pct(default, 50), 3),
        same_answers=same,
        same_answers_ratio=round(same / len(frames), 3),
    )


def bench_encoder(clips: list[Path], settings: Settings) -> Encoder:
    """ms per face of the ONNX encoder (one face per call, and all at once) and of dlib's, on the faces of
    the bench clips, and the largest difference in any pairwise distance between their encodings."""
    import cv2

    from facepipe.media.video import decode_clip

    chips, images = [], []
    for clip in clips:
        decoded = decode_clip(clip, frames_wanted=settings.frames_per_clip, max_seconds=5, max_pixels=10**8)
        for _, _, bgr in decoded.frames:
            image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            boxes = faces.detect_faces(image, max_side=settings.detect_max_side)
            chips.append(faces.face_chips(image, boxes))
            images.append((image, boxes))
    every = np.concatenate(chips)
    encoder.encode_chips(every[:1])  # warm
    start = time.perf_counter()
    one_by_one = np.concatenate([encoder.encode_chips(every[i : i + 1]) for i in range(len(every))])
    onnx_ms = (time.perf_counter() - start) * 1000 / len(every)
    start = time.perf_counter()
    encoder.encode_chips(every)
    batch_ms = (time.perf_counter() - start) * 1000 / len(every)
    start = time.perf_counter()
    reference = np.concatenate([faces.encode_faces_reference(image, boxes) for image, boxes in images])
    dlib_ms = (time.perf_counter() - start) * 1000 / len(every)
    drift = np.abs(faces.pairwise_distances(one_by_one, one_by_one) - faces.pairwise_distances(reference, reference))
    return Encoder(
        faces=len(every),
        onnx_ms_per_face=round(onnx_ms, 2),
        onnx_batch_ms_per_face=round(batch_ms, 2),
        dlib_ms_per_face=round(dlib_ms, 1),
        speedup=round(dlib_ms / onnx_ms, 1),
        max_distance_drift=float(f"{drift.max():.2e}"),
    )


def bench_cnn_detector(clips: list[Path], settings: Settings) -> CnnDetector:
    """The CNN detector in ONNX Runtime: a whole frame's pyramid (against dlib's own on a few frames, and whether
    both find the same faces), and following each HOG face of the bench frames into its own neighbourhood."""
    import cv2

    from facepipe.media.video import decode_clip

    images = []
    for clip in clips:
        decoded = decode_clip(clip, frames_wanted=settings.frames_per_clip, max_seconds=5, max_pixels=10**8)
        images += [cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) for _, _, bgr in decoded.frames]
    cnn_detector.detect(images[0])  # warm
    onnx_ms, found = [], []
    for image in images:
        start = time.perf_counter()
        found.append(cnn_detector.detect(image))
        onnx_ms.append((time.perf_counter() - start) * 1000)
    dlib_ms, same = [], 0
    for image, ours in zip(images[:_DLIB_CNN_FRAMES], found, strict=False):
        start = time.perf_counter()
        theirs = [(d.rect.top(), d.rect.right(), d.rect.bottom(), d.rect.left()) for d in faces.dlib_cnn(image)]
        dlib_ms.append((time.perf_counter() - start) * 1000)
        same += len(theirs) == len(ours) and all(
            any(
                np.hypot(*np.subtract(tracking.centre(d.box), tracking.centre(box))) <= 0.2 * (box[2] - box[0])
                for d in ours
            )
            for box in theirs
        )
    follow_ms, followed = [], 0
    for image in images:
        for box in faces.detect_faces(image, max_side=settings.detect_max_side):
            start = time.perf_counter()
            followed += tracking.follow_near(image, box) is not None
            follow_ms.append((time.perf_counter() - start) * 1000)
    return CnnDetector(
        frames=len(images),
        onnx_frame_ms=round(pct(onnx_ms, 50), 1),
        dlib_frames=len(dlib_ms),
        dlib_frame_ms=round(pct(dlib_ms, 50), 1),
        same_faces=same,
        follows=len(follow_ms),
        follow_ms=round(pct(follow_ms, 50), 1) if follow_ms else 0.0,
        follow_ms_p95=round(pct(follow_ms, 95), 1) if follow_ms else 0.0,
        followed=followed,
    )


def bench_detectors(clips: list[Path], settings: Settings) -> list[DetectorBench]:
    """Each detector's small-face search on the same frames (the first of each clip), in one run: HOG and the CNN
    with the one upsample they need to see ~40-px faces, YuNet at the frame's size (it sees ~10-px ones); ms a
    frame and faces found."""
    import cv2

    from facepipe.media.video import decode_clip

    frames = []
    for clip in clips:
        decoded = decode_clip(clip, frames_wanted=1, max_seconds=5, max_pixels=10**8)
        frames += [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for _, _, f in decoded.frames]
    out = []
    for model in ("hog", "cnn", "yunet"):
        upsample = faces.small_face_upsample(model)
        faces.detect_faces(frames[0], model=model, max_side=settings.small_face_max_side or 1280, upsample=upsample)
        spent, found, heights = [], 0, []
        for frame in frames:
            start = time.perf_counter()
            boxes = faces.detect_faces(
                frame, model=model, max_side=settings.small_face_max_side or 1280, upsample=upsample
            )
            spent.append((time.perf_counter() - start) * 1000)
            found += len(boxes)
            heights += [b[2] - b[0] for b in boxes]
        out.append(
            DetectorBench(
                model=model,
                upsample=upsample,
                frames=len(frames),
                frame_ms_p50=round(pct(spent, 50), 1),
                faces=found,
                smallest_face_px=min(heights) if heights else None,
            )
        )
    return out
