"""Draw who was where on the analysed frames, for a person to look at."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facepipe.aws import s3_objects
from facepipe.core.contracts import UNKNOWN
from facepipe.core.errors import ClipTooLargeError
from facepipe.media.video import clip_file, read_frames


def draw_faces(frame_bgr: np.ndarray, faces: list[dict[str, Any]], names: dict[str, str]) -> np.ndarray:
    """Boxes (green: enrolled, red: unknown) with the name under each."""
    out = frame_bgr.copy()
    for face in faces:
        top, right, bottom, left = face["box"]
        known = face["id"] != UNKNOWN
        color = (60, 200, 60) if known else (40, 40, 220)
        label = names.get(face["id"], face["id"]) if known else "unknown"
        if face.get("distance") is not None:
            label += f" {face['distance']:.2f}"
        cv2.rectangle(out, (left, top), (right, bottom), color, 2)
        (w, h), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        cv2.rectangle(out, (left, bottom), (left + w + 6, bottom + h + 8), color, -1)
        cv2.putText(out, label, (left + 3, bottom + h + 3), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
    return out


def annotate_result(
    message: dict[str, Any], out_dir: Path, *, s3: Any = None, max_clip_bytes: int = 20 << 20
) -> list[Path]:
    """Cut each analysed frame of a result from its clip in S3 (``s3``: a client of your own, else the
    default), draw who was where, and write it under ``out_dir``. No frame is stored: the kept clip is
    the one copy of the images, read on demand while it is retained."""
    out_dir.mkdir(parents=True, exist_ok=True)
    names = {p["id"]: p.get("name") or p["id"] for p in message.get("people", [])}
    clip = message.get("clip", {})
    frames = message.get("frames", [])
    if not frames or not clip.get("bucket") or not clip.get("key"):
        return []
    data = s3_objects.get_bytes(clip["bucket"], clip["key"], s3=s3)
    if len(data) > max_clip_bytes:
        raise ClipTooLargeError(f"{clip['key']}: clip is {len(data)} bytes, limit {max_clip_bytes}")
    with clip_file(data, clip["key"]) as path:
        images = read_frames(
            path, [int(f["index"]) for f in frames], max_seconds=60.0, max_pixels=4096 * 2160, name=clip["key"]
        )
    stem = Path(str(clip["key"])).stem
    written: list[Path] = []
    for frame, (index, image) in zip(frames, images, strict=True):
        path = out_dir / f"{message.get('device_id', 'device')}_{stem}_{index:05d}.jpg"
        cv2.imwrite(str(path), draw_faces(image, frame.get("faces", []), names))
        written.append(path)
    return written
