"""Recognize: the chosen frames of one clip, decoded from the clip, their faces matched against the gallery."""

from __future__ import annotations

import time

import cv2

from facepipe import face_crops, recognition, s3_store
from facepipe.contracts import FrameFaces, RecognizeRequest, RecognizeResult
from facepipe.settings import Settings
from facepipe.video import clip_file, read_frames

_cache: s3_store.GalleryCache | None = None


def gallery_cache(settings: Settings) -> s3_store.GalleryCache:
    """The process's gallery cache (one per warm function or worker)."""
    global _cache
    if _cache is None or (_cache.bucket, _cache.key) != (settings.bucket_name, settings.gallery_key):
        _cache = s3_store.GalleryCache(settings.bucket_name, settings.gallery_key, settings.gallery_refresh_seconds)
    return _cache


def recognize_clip(request: RecognizeRequest, settings: Settings) -> RecognizeResult:
    """Every requested frame's faces; the faces of all the frames are encoded in one batch."""
    start = time.perf_counter()
    gallery = gallery_cache(settings).get()
    clip = request.clip
    data, _ = s3_store.get_clip(clip.bucket, clip.key, clip.version_id, max_bytes=settings.max_clip_bytes)
    with clip_file(data, clip.key) as path:
        decoded = read_frames(
            path,
            [frame.index for frame in request.frames],
            max_seconds=settings.max_clip_seconds,
            max_pixels=settings.max_frame_pixels,
            name=clip.key,
        )
    images = [cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) for _, frame in decoded]
    sharpness = [frame.sharpness or 0.0 for frame in request.frames]
    found = recognition.recognize_chosen(images, sharpness, gallery, settings)
    frames = [
        FrameFaces(index=ref.index, t_ms=ref.t_ms, faces=seen.faces, faces_detected=seen.detected, ms=seen.ms)
        for ref, seen in zip(request.frames, found, strict=True)
    ]
    seen = face_crops.seen_faces(found, [ref.index for ref in request.frames])
    return RecognizeResult(frames=frames, seen=seen, ms=round((time.perf_counter() - start) * 1000, 1))
