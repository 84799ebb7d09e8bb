"""Unknown faces as clusters, in plain arithmetic: a cluster's id, its running centre, its kept crops, and the
128-d encodings packed small (a crop's S3 metadata, a cluster's item). The store is facepipe.aws.unknowns.

Pure Python (the enrich function's zip has no numpy): 128-d distances over at most a day's strangers.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass, field

from facepipe.core.errors import FacepipeError

ID_PATTERN = r"^unknown-[1-9][0-9]{0,9}$"
MAX_CROPS = 6
# How far a cluster's centre follows new faces: a running mean over at most this many.
_CENTRE_MEMORY = 20
_ENCODING = struct.Struct("<128f")


class UnknownError(FacepipeError):
    code = "unknown_face"


def pack(encoding: list[float]) -> bytes:
    return _ENCODING.pack(*encoding)


def unpack(data: bytes) -> list[float]:
    return list(_ENCODING.unpack(data))


def distance(a: list[float], b: list[float]) -> float:
    return math.sqrt(sum((x - y) * (x - y) for x, y in zip(a, b, strict=True)))


def check_id(unknown_id: str) -> str:
    if not re.match(ID_PATTERN, unknown_id):
        raise UnknownError(f"{unknown_id!r} is not an unknown face's id (they read unknown-<n>, as `unknowns list`)")
    return unknown_id


def follow(centre: list[float], seen: int, encoding: list[float]) -> list[float]:
    """The centre after one more face: a running mean over at most the last ``_CENTRE_MEMORY``."""
    k = min(seen, _CENTRE_MEMORY)
    return [(c * k + e) / (k + 1) for c, e in zip(centre, encoding, strict=True)]


@dataclass(frozen=True)
class Crop:
    """One kept crop of a cluster: where it is, which clip it came from, how good it is (its face's encoding
    is in the object's metadata: :meth:`UnknownStore.crop_face`)."""

    key: str
    clip: str
    device_id: str
    at: str
    height_px: int
    sharpness: float

    @property
    def quality(self) -> tuple[int, float]:
        return self.height_px, self.sharpness


@dataclass
class Cluster:
    id: str
    centre: list[float]
    seen: int
    first_seen: str
    last_seen: str
    devices: list[str] = field(default_factory=list)
    dismissed: bool = False
    crops: list[Crop] = field(default_factory=list)
    version: int = 0

    @property
    def number(self) -> int:
        return int(self.id.removeprefix("unknown-"))
