"""Draw who was where on the analysed frames, for a person to look at."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facepipe import s3_store
from facepipe.contracts import UNKNOWN


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


def annotate_result(message: dict[str, Any], out_dir: Path, *, s3: Any = None) -> list[Path]:
    """Fetch each analysed frame of a result from S3 (``s3``: a client of your own, else the default) and
    write it annotated under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    names = {p["id"]: p.get("name") or p["id"] for p in message.get("people", [])}
    clip = message.get("clip", {})
    stem = Path(str(clip.get("key", "clip"))).stem
    written: list[Path] = []
    for frame in message.get("frames", []):
        if not frame.get("key"):
            continue
        data = s3_store.get_bytes(clip["bucket"], frame["key"], s3=s3)
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            continue
        path = out_dir / f"{message.get('device_id', 'device')}_{stem}_{frame['index']:05d}.jpg"
        cv2.imwrite(str(path), draw_faces(image, frame.get("faces", []), names))
        written.append(path)
    return written
