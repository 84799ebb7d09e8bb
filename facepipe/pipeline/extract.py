"""Extract: one clip in S3 validated and decoded, and the frames worth recognizing chosen."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from facepipe_protocol import META_CAPTURED_AT, META_SEQ, META_UNCHANGED_SINCE, iso_time

from facepipe.aws import s3_objects
from facepipe.core.clip_keys import parse_clip_key
from facepipe.core.contracts import ClipRef, ExtractResult, FrameRef
from facepipe.core.moments import capture_time, parse_moment
from facepipe.core.settings import Settings
from facepipe.media.video import clip_file, decode_chosen

# Metadata the device writes on each clip (x-amz-meta-*, facepipe_protocol); the key's name is the fallback.


def clip_ref(
    bucket: str,
    key: str,
    version_id: str | None,
    metadata: dict[str, str],
    settings: Settings,
    now: datetime | None = None,
) -> ClipRef:
    """Who sent the clip and when, from S3 metadata first and the key's name second. The capture time is the
    device's word: it is taken only within the settings' window around the cloud's clock; otherwise the key's
    time, or else the cloud's own, and the result keeps what the device claimed (``captured_at_claimed``)."""
    parsed = parse_clip_key(key)
    seq: int | None = parsed.seq
    if metadata.get(META_SEQ, "").isdigit():
        seq = int(metadata[META_SEQ])
    captured, replaced = capture_time(
        metadata.get(META_CAPTURED_AT) or parsed.captured_at,
        parsed.captured_at,
        now=now or datetime.now(UTC),
        max_age_s=settings.captured_at_max_age_s,
        max_ahead_s=settings.captured_at_max_ahead_s,
    )
    return ClipRef(
        bucket=bucket,
        key=key,
        version_id=version_id,
        device_id=parsed.device_id,
        seq=seq,
        captured_at=captured,
        captured_at_claimed=replaced,
        unchanged_since=_unchanged_since(metadata.get(META_UNCHANGED_SINCE), captured),
    )


def _unchanged_since(claimed: str | None, captured: str | None) -> str | None:
    """The device's change gate's word that the room is as it was since a moment (a heartbeat clip), kept only when
    it is a time no later than the clip's own capture: it annotates the result and decides nothing, so a value
    that is not is dropped rather than failing the clip."""
    since, at = parse_moment(claimed), parse_moment(captured)
    if since is None or at is None or since > at:
        return None
    return iso_time(since)


def extract_clip(bucket: str, key: str, version_id: str | None, settings: Settings) -> ExtractResult:
    """Validate, download and decode a clip; choose ``frames_per_clip`` frames for recognize to read.

    Nothing is written: recognize decodes the chosen frames from the clip itself (a frame PUT costs 12x a
    GET), so this stage has no side effects and a repeated delivery simply repeats it.
    """
    start = time.perf_counter()
    parse_clip_key(key)  # refuse a bad key before touching S3
    data, metadata = s3_objects.get_clip(bucket, key, version_id, max_bytes=settings.max_clip_bytes)
    ref = clip_ref(bucket, key, version_id, metadata, settings)
    with clip_file(data, key) as path:
        decoded = decode_chosen(path, settings, name=key)
    return ExtractResult(
        clip=ref,
        frames=[
            FrameRef(index=index, t_ms=t_ms, sharpness=score)
            for (index, t_ms, _), score in zip(decoded.frames, decoded.sharpness, strict=True)
        ],
        frames_total=decoded.total,
        frames_skipped=decoded.skipped,
        timings_ms={"extract": round((time.perf_counter() - start) * 1000, 1)},
    )
