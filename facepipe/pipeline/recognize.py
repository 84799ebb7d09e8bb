"""Recognize: the chosen frames of one clip, decoded from the clip, their faces matched against the gallery."""

from __future__ import annotations

import time
from collections.abc import Iterator

import cv2
import numpy as np

from facepipe.aws import gallery_store, s3_objects
from facepipe.core.contracts import FrameFaces, RecognizeRequest, RecognizeResult
from facepipe.core.settings import Settings
from facepipe.identity import face_crops, recognition
from facepipe.media.video import clip_file, read_frames, read_others
from facepipe.vision import frame_choice

_cache: gallery_store.GalleryCache | None = None


def gallery_cache(settings: Settings) -> gallery_store.GalleryCache:
    """The process's gallery cache (one per warm function or worker)."""
    global _cache
    if _cache is None or (_cache.bucket, _cache.key) != (settings.bucket_name, settings.gallery_key):
        _cache = gallery_store.GalleryCache(
            settings.bucket_name, settings.gallery_key, settings.gallery_refresh_seconds
        )
    return _cache


def recognize_clip(request: RecognizeRequest, settings: Settings) -> RecognizeResult:
    """Every requested frame's faces; the faces of all the frames are encoded in one batch."""
    start = time.perf_counter()
    gallery = gallery_cache(settings).get()
    clip = request.clip
    data, _ = s3_objects.get_clip(clip.bucket, clip.key, clip.version_id, max_bytes=settings.max_clip_bytes)
    indexes = [frame.index for frame in request.frames]
    with clip_file(data, clip.key) as path:
        decoded = read_frames(
            path, indexes, max_seconds=settings.max_clip_seconds, max_pixels=settings.max_frame_pixels, name=clip.key
        )
        chosen = frame_choice.chosen_frames(
            indexes,
            [frame.t_ms for frame in request.frames],
            [cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) for _, frame in decoded],
            [frame.sharpness or 0.0 for frame in request.frames],
        )

        def spare() -> Iterator[tuple[int, float, np.ndarray]]:
            return read_others(
                path, set(indexes), max_seconds=settings.max_clip_seconds, max_pixels=settings.max_frame_pixels
            )

        used, found = recognition.recognize_chosen(chosen, gallery, settings, spare)
    frames = [
        FrameFaces(index=index, t_ms=t_ms, faces=seen.faces, faces_detected=seen.detected, ms=seen.ms)
        for index, t_ms, seen in zip(used.indexes, used.t_ms, found, strict=True)
    ]
    seen = face_crops.seen_faces(found, used.indexes)
    return RecognizeResult(frames=frames, seen=seen, ms=round((time.perf_counter() - start) * 1000, 1))
