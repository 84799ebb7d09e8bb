"""Recognize: the faces of one stored frame, matched against the gallery."""

from __future__ import annotations

import time

from facepipe import faces, s3_store
from facepipe.contracts import FrameFaces, RecognizeRequest
from facepipe.settings import Settings
from facepipe.video import decode_jpeg_rgb

_cache: s3_store.GalleryCache | None = None


def gallery_cache(settings: Settings) -> s3_store.GalleryCache:
    """The process's gallery cache (one per warm function or worker)."""
    global _cache
    if _cache is None or (_cache.bucket, _cache.key) != (settings.bucket_name, settings.gallery_key):
        _cache = s3_store.GalleryCache(settings.bucket_name, settings.gallery_key, settings.gallery_refresh_seconds)
    return _cache


def recognize_frame(request: RecognizeRequest, settings: Settings) -> FrameFaces:
    start = time.perf_counter()
    gallery = gallery_cache(settings).get()
    frame = request.frame
    data = s3_store.get_bytes(frame.bucket, frame.key)
    image = decode_jpeg_rgb(data, max_pixels=settings.max_frame_pixels, name=frame.key)
    found, detected = faces.recognize_faces(
        image,
        gallery,
        tolerance=settings.match_tolerance,
        model=settings.detect_model,
        max_side=settings.detect_max_side,
        max_faces=settings.max_faces_per_frame,
    )
    return FrameFaces(
        index=frame.index,
        t_ms=frame.t_ms,
        key=frame.key,
        faces=found,
        faces_detected=detected,
        ms=round((time.perf_counter() - start) * 1000, 1),
    )
