"""The facepipe clip protocol: what a camera and the cloud agree on, in one place both import.

A device puts each clip to ``clips/<device_id>/<seq>_<capture time>.<ext>`` with the same facts in its S3
metadata, polls its own results queue ``<stack>-<device_id>.fifo``, and checks each result against the
result schema. Pure Python with no dependencies: light enough for a Raspberry Pi (no numpy, no dlib), and
small enough for every Lambda artifact (the enrich zip included).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

# Where devices put clips; the template's trigger rule, lifecycle rule and DevicePolicy name the same prefix
# (tests/unit/test_template.py keeps them equal).
CLIPS_PREFIX = "clips/"
# Where `facepipe-device check` writes its probe: outside clips/, so it starts no pipeline execution.
CHECKS_PREFIX = "checks/"
CLIP_SUFFIXES = ("mp4", "h264", "mjpeg", "avi")
# The largest clip the cloud answers (longer: a `too_long` error) and the largest frame (more pixels: `too_large`);
# the cloud's settings default to these, and a device refuses a configuration past them.
MAX_CLIP_SECONDS = 5.0
MAX_FRAME_PIXELS = 4096 * 2160
DEVICE_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"
DEVICE_ID = re.compile(f"^{DEVICE_ID_PATTERN}$")
DEVICE_ID_RULE = "1-64 letters, digits, '_' or '-', starting with a letter or digit"
CLIP_KEY = re.compile(
    "^"
    + re.escape(CLIPS_PREFIX)
    + f"(?P<device>{DEVICE_ID_PATTERN})"
    + r"/(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]{0,127})\."
    + r"(?P<ext>"
    + "|".join(CLIP_SUFFIXES)
    + r")$"
)
# Clip names as the device writes them: <seq>_<capture time, compact ISO 8601 UTC>, e.g. 000042_20261125T101500123Z
CLIP_NAME = re.compile(r"^(?P<seq>\d{1,12})(?:_(?P<ts>\d{8}T\d{6}(?:\d{3})?Z))?$")

# S3 metadata (x-amz-meta-*) on each clip: the same facts as its key, for keys a person renamed.
META_DEVICE = "device-id"
META_SEQ = "seq"
META_CAPTURED_AT = "captured-at"
# Set by the device's change gate on a heartbeat clip: the capture time of the last clip sent, since when the room
# has not changed (the clips in between were not sent). The result carries it back as ``clip.unchanged_since``.
META_UNCHANGED_SINCE = "unchanged-since"

# The tag on a device's IAM principal that DevicePolicy grants by.
DEVICE_TAG = "facepipe-device-id"
RESULT_SCHEMA_VERSION = 1


class BadClipKey(ValueError):
    """A key that is not ``clips/<device_id>/<name>.<ext>``; the message names the expected shape."""


@dataclass(frozen=True)
class ClipKey:
    device_id: str
    name: str
    ext: str
    seq: int | None
    captured_at: str | None


def iso_time(moment: datetime) -> str:
    """ISO 8601 UTC with milliseconds (2026-11-25T10:15:00.123Z), as clip metadata and results carry it."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def clip_key(device_id: str, seq: int, captured_at: str, ext: str) -> str:
    """``clips/<device>/<seq>_<capture time>.<ext>`` (``captured_at`` as :func:`iso_time` writes it, compacted)."""
    compact = captured_at.replace("-", "").replace(":", "").replace(".", "")
    return f"{CLIPS_PREFIX}{device_id}/{seq:06d}_{compact}.{ext}"


def clip_metadata(device_id: str, seq: int, captured_at: str, unchanged_since: str | None = None) -> dict[str, str]:
    """S3 metadata of a clip: the same facts as its key, and when the room last changed for a heartbeat clip."""
    metadata = {META_DEVICE: device_id, META_SEQ: str(seq), META_CAPTURED_AT: captured_at}
    if unchanged_since:
        metadata[META_UNCHANGED_SINCE] = unchanged_since
    return metadata


def parse_compact_time(text: str) -> str:
    millis = int(text[15:18]) if len(text) == 19 else 0
    moment = datetime.strptime(text[:15], "%Y%m%dT%H%M%S").replace(tzinfo=UTC, microsecond=millis * 1000)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_clip_key(key: str) -> ClipKey:
    """Check a key is ``clips/<device_id>/<name>.<mp4|h264|mjpeg|avi>`` and read what the name carries."""
    match = CLIP_KEY.fullmatch(key)
    if match is None:
        raise BadClipKey(
            f"key {key!r} is not {CLIPS_PREFIX}<device_id>/<name>.<{'|'.join(CLIP_SUFFIXES)}> "
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


def results_queue_name(prefix: str, device_id: str) -> str:
    """A device's FIFO results queue: ``<prefix><device_id>.fifo`` (the stack's ``DeviceQueuePrefix``)."""
    return f"{prefix}{device_id}.fifo"


@cache
def events_schema() -> dict[str, Any]:
    """The JSON Schema of the events facepipe sends out (EventBridge, webhooks, MQTT: facepipe.core.events; a test
    keeps them equal)."""
    return dict(json.loads((Path(__file__).parent / "schemas" / "events.schema.json").read_text()))


def result_schema() -> dict[str, Any]:
    """The JSON Schema of the one result message per clip (facepipe.core.contracts.ResultMessage; a test keeps
    them equal)."""
    return dict(json.loads((Path(__file__).parent / "schemas" / "result.schema.json").read_text()))
