"""The clip key protocol on the cloud side: ``facepipe_protocol``'s, with the cloud's error.

The layout (``clips/<device_id>/<seq>_<capture time>.<ext>``), the suffixes and the device-id pattern are
defined once, in ``facepipe_protocol`` (which the device imports too); here a bad key becomes a
:class:`ClipKeyError` with its stable code. Pure Python (no numpy, no OpenCV), so every stage and the enrich
zip can import it: a key is parsed in the extract stage and again when the error result of a failed clip is
built.
"""

from __future__ import annotations

from facepipe_protocol import CLIP_SUFFIXES, CLIPS_PREFIX, BadClipKey, ClipKey, parse_compact_time
from facepipe_protocol import parse_clip_key as _parse

from facepipe.core.errors import ClipKeyError

__all__ = ["CLIPS_PREFIX", "CLIP_SUFFIXES", "ClipKey", "parse_clip_key", "parse_compact_time"]


def parse_clip_key(key: str) -> ClipKey:
    """Check a key is ``clips/<device_id>/<name>.<mp4|h264|mjpeg|avi>`` and read what the name carries."""
    try:
        return _parse(key)
    except BadClipKey as exc:
        raise ClipKeyError(str(exc)) from None
