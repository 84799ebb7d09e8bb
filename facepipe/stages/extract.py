"""Extract: one clip in S3 to a few JPEG frames in S3."""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from facepipe import s3_store
from facepipe.clip_keys import parse_clip_key
from facepipe.contracts import ClipRef, ExtractResult, FrameRef
from facepipe.errors import ClipTooLargeError, EmptyClipError
from facepipe.settings import Settings
from facepipe.video import decode_clip, encode_jpeg

# Metadata the device writes on each clip (x-amz-meta-*); the key's name is the fallback.
META_SEQ = "seq"
META_CAPTURED_AT = "captured-at"
META_DEVICE = "device-id"


def clip_ref(bucket: str, key: str, version_id: str | None, metadata: dict[str, str]) -> ClipRef:
    """Who sent the clip and when, from S3 metadata first and the key's name second."""
    parsed = parse_clip_key(key)
    seq: int | None = parsed.seq
    if metadata.get(META_SEQ, "").isdigit():
        seq = int(metadata[META_SEQ])
    return ClipRef(
        bucket=bucket,
        key=key,
        version_id=version_id,
        device_id=parsed.device_id,
        seq=seq,
        captured_at=metadata.get(META_CAPTURED_AT) or parsed.captured_at,
    )


def extract_clip(bucket: str, key: str, version_id: str | None, settings: Settings) -> ExtractResult:
    """Validate, download and decode a clip; store ``frames_per_clip`` frames as JPEGs under ``frames/``."""
    start = time.perf_counter()
    parse_clip_key(key)  # refuse a bad key before touching S3
    info = s3_store.head(bucket, key, version_id)
    size = int(info.get("ContentLength", 0))
    if size == 0:
        raise EmptyClipError(f"{key}: empty clip (0 bytes)")
    if size > settings.max_clip_bytes:
        raise ClipTooLargeError(f"{key}: clip is {size} bytes, limit {settings.max_clip_bytes}")
    ref = clip_ref(bucket, key, version_id, {k.lower(): v for k, v in info.get("Metadata", {}).items()})
    data = s3_store.get_bytes(bucket, key, version_id)
    suffix = Path(key).suffix
    with tempfile.NamedTemporaryFile(suffix=suffix) as handle:
        handle.write(data)
        handle.flush()
        decoded = decode_clip(
            Path(handle.name),
            frames_wanted=settings.frames_per_clip,
            max_seconds=settings.max_clip_seconds,
            max_pixels=settings.max_frame_pixels,
            name=key,
        )
    name = Path(key).stem
    prefix = f"{settings.frames_prefix}{ref.device_id}/{name}/"
    jpegs = [(index, t_ms, encode_jpeg(frame)) for index, t_ms, frame in decoded.frames]
    with ThreadPoolExecutor(max_workers=min(8, len(jpegs))) as pool:
        list(pool.map(lambda j: s3_store.put_bytes(bucket, f"{prefix}{j[0]:05d}.jpg", j[2], "image/jpeg"), jpegs))
    frames = [FrameRef(bucket=bucket, key=f"{prefix}{i:05d}.jpg", index=i, t_ms=t) for i, t, _ in jpegs]
    return ExtractResult(
        clip=ref,
        frames=frames,
        frames_total=decoded.total,
        frames_skipped=decoded.skipped,
        timings_ms={"extract": round((time.perf_counter() - start) * 1000, 1)},
    )
