"""The clip key protocol: ``clips/<device_id>/<seq>_<capture time>.<ext>``.

Pure Python (no numpy, no OpenCV), so every stage and the enrich zip can import it: a key is parsed in
the extract stage and again when the error result of a failed clip is built.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from facepipe.errors import ClipKeyError

# Where devices put clips; the template's trigger rule, lifecycle rule and DevicePolicy name the same prefix
# (tests/unit/test_template.py keeps them equal).
CLIPS_PREFIX = "clips/"
CLIP_SUFFIXES = ("mp4", "h264", "mjpeg", "avi")
CLIP_KEY = re.compile(
    "^"
    + re.escape(CLIPS_PREFIX)
    + r"(?P<device>[A-Za-z0-9][A-Za-z0-9_-]{0,63})/(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]{0,127})\."
    r"(?P<ext>" + "|".join(CLIP_SUFFIXES) + r")$"
)
# Clip names as the device writes them: <seq>_<capture time, compact ISO 8601 UTC>, e.g. 000042_20261125T101500123Z
CLIP_NAME = re.compile(r"^(?P<seq>\d{1,12})(?:_(?P<ts>\d{8}T\d{6}(?:\d{3})?Z))?$")


@dataclass(frozen=True)
class ClipKey:
    device_id: str
    name: str
    ext: str
    seq: int | None
    captured_at: str | None


def parse_clip_key(key: str) -> ClipKey:
    """Check a key is ``clips/<device_id>/<name>.<mp4|h264|mjpeg|avi>`` and read what the name carries."""
    match = CLIP_KEY.fullmatch(key)
    if match is None:
        raise ClipKeyError(
            f"key {key!r} is not clips/<device_id>/<name>.<{'|'.join(CLIP_SUFFIXES)}> "
            "(letters, digits, '_', '-', '.' only)"
        )
    name = match["name"]
    seq = captured = None
    named = CLIP_NAME.fullmatch(name)
    if named:
        seq = int(named["seq"])
        if named["ts"]:
            captured = parse_compact_time(named["ts"])
    return ClipKey(match["device"], name, match["ext"], seq, captured)


def parse_compact_time(text: str) -> str:
    millis = int(text[15:18]) if len(text) == 19 else 0
    moment = datetime.strptime(text[:15], "%Y%m%dT%H%M%S").replace(tzinfo=UTC, microsecond=millis * 1000)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
