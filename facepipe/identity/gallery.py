"""The gallery: the enrollment artifact the recognize stage matches against.

A versioned JSON document (no pickle, so it can be fetched from S3 and loaded safely):

```json
{"format": "facepipe-gallery", "schema_version": 2,
 "model": {"encoder": "dlib_face_recognition_resnet_model_v1", "landmarks": "5-point", "detector": "hog"},
 "library_versions": {"dlib": "...", "face_recognition": "...", "face_recognition_models": "...", "onnxruntime": "..."},
 "created_at": "...", "updated_at": "...",
 "people": [{"id": "obama", "photos": [{"source": "obama/1.jpg", "sha256": "...", "encoding": [128 floats]}],
             "rejected": [{"source": "clips/pi/000042_....mp4", "encoding": [128 floats]}]}]}
```

Schema 2 (this one) writes each ``encoding`` as the base64 of its 128 float32s, little-endian (684 characters
where schema 1's decimal text took ~2,300): a gallery of 2,000 people with 3 photos each is 5.6 MB instead of
17 MB, loads in a third of the time, and matches as before (float32 keeps distances within 1e-6 of float64).
Schema 1 galleries still load (their encodings are decimal lists) and are written back as schema 2 at their
next save: galleries enrolled before stay valid.

``rejected`` holds faces an operator said are *not* that person (`facepipe people reject CLIP ID`): a face
nearer one of them than the person's own photos is never named that person (facepipe.identity.matching.decide).

``erased`` holds tombstones: the ids of people erased (`facepipe people erase`), with when, and no face data. A
later enroll or label never adds such an id back unless the operator says so (:meth:`Gallery.check_not_erased`).

Longer than ~250 lines: one document's schema, its edits (each keeping tombstones, rejections and grades
consistent) and its matrix cache change together.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, PrivateAttr, ValidationError

from facepipe.core.contracts import PERSON_ID_PATTERN
from facepipe.core.errors import GalleryError

# Added to a face's distance to a poor reference photo: with the default tolerance of 0.60 such a photo names
# someone only within 0.52. Measured on the shared footage: faces of the people enrolled from soft 480x270 video
# frames lay 0.25-0.50 from them (p95), the faces of strangers that their references drew 0.54-0.63.
POOR_REFERENCE_PENALTY = 0.08

GALLERY_FORMAT: Literal["facepipe-gallery"] = "facepipe-gallery"
GALLERY_SCHEMA_VERSION: Literal[2] = 2
# The schema versions this facepipe reads (1: encodings as decimal lists, migrated on the next save).
READABLE_SCHEMA_VERSIONS = (1, 2)
_ENCODING_BYTES = 128 * 4


def _decode_encoding(value: object) -> object:
    """A schema-2 encoding (base64 of 128 little-endian float32s) as floats; a schema-1 list as it is."""
    if not isinstance(value, str):
        return value
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise ValueError("an encoding must be base64 of 128 float32s") from exc
    if len(raw) != _ENCODING_BYTES:
        raise ValueError(f"an encoding must be 128 float32s ({_ENCODING_BYTES} bytes), not {len(raw)} bytes")
    return np.frombuffer(raw, dtype="<f4").astype(np.float64).tolist()


def _encode_encoding(value: list[float]) -> str:
    return base64.b64encode(np.asarray(value, dtype="<f4").tobytes()).decode()


Encoding = Annotated[
    list[float],
    BeforeValidator(_decode_encoding),
    Field(min_length=128, max_length=128),
    PlainSerializer(_encode_encoding, return_type=str, when_used="json"),
]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class GalleryModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    encoder: str = "dlib_face_recognition_resnet_model_v1"
    landmarks: str = "5-point"
    detector: str = "hog"


class PhotoQuality(BaseModel):
    """How good a reference a photo's face is (facepipe.vision.quality), measured when it joined the gallery."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    height_px: int = Field(ge=0)
    faceness: float
    sharpness: float = Field(ge=0)
    reasons: list[str] = Field(default_factory=list)  # why it is a poor reference; empty: a good one

    @property
    def poor(self) -> bool:
        return bool(self.reasons)


class GalleryPhoto(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    encoding: Encoding
    quality: PhotoQuality | None = None  # None: joined before quality was measured


class GalleryRejection(BaseModel):
    """A face that was wrongly named this person: where it was seen, and its encoding."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    encoding: Encoding


class Tombstone(BaseModel):
    """An erased person: only their id and when (never a face, an encoding or a name)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=PERSON_ID_PATTERN)
    erased_at: str


class GalleryPerson(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=PERSON_ID_PATTERN)
    photos: list[GalleryPhoto] = Field(min_length=1)
    rejected: list[GalleryRejection] = Field(default_factory=list)


class Gallery(BaseModel):
    """Enrolled people and their face encodings. Load with :meth:`loads`/:meth:`load`."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["facepipe-gallery"] = GALLERY_FORMAT
    schema_version: Literal[1, 2] = GALLERY_SCHEMA_VERSION
    model: GalleryModel = Field(default_factory=GalleryModel)
    library_versions: dict[str, str] = Field(default_factory=dict)
    created_at: str = Field(default_factory=_now)
    updated_at: str = Field(default_factory=_now)
    people: list[GalleryPerson] = Field(default_factory=list)
    erased: list[Tombstone] = Field(default_factory=list)
    # Derived from ``people`` on first use; every change to ``people`` goes through upsert/remove, which forget them.
    _matrix: _Photos | None = PrivateAttr(default=None)
    _rejected: tuple[np.ndarray, list[str]] | None = PrivateAttr(default=None)

    # --- reading and writing -------------------------------------------------------------------
    @classmethod
    def loads(cls, data: bytes | str, *, source: str = "gallery") -> Gallery:
        """Parse a gallery document; a clear :class:`GalleryError` if it is not one."""
        try:
            raw = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise GalleryError(f"{source}: corrupt gallery (not JSON: {exc})") from exc
        if not isinstance(raw, dict) or raw.get("format") != GALLERY_FORMAT:
            raise GalleryError(f'{source}: not a facepipe gallery (no "format": "{GALLERY_FORMAT}")')
        if raw.get("schema_version") not in READABLE_SCHEMA_VERSIONS:
            raise GalleryError(
                f"{source}: gallery schema_version {raw.get('schema_version')!r} is not supported "
                f"(this facepipe reads {', '.join(map(str, READABLE_SCHEMA_VERSIONS))}); re-enroll with this version"
            )
        try:
            gallery = cls.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise GalleryError(f"{source}: corrupt gallery ({where}: {first['msg']})") from exc
        ids = [p.id for p in gallery.people]
        if len(ids) != len(set(ids)):
            raise GalleryError(f"{source}: corrupt gallery (a person id appears twice)")
        return gallery

    @classmethod
    def load(cls, path: Path) -> Gallery:
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise GalleryError(f"{path}: gallery not found (run `facepipe enroll` first)") from exc
        except OSError as exc:
            raise GalleryError(f"{path}: gallery unreadable ({exc.strerror})") from exc
        return cls.loads(data, source=str(path))

    def dumps(self) -> bytes:
        """The document as this facepipe writes it: always the current schema (an older one is migrated here)."""
        self.schema_version = GALLERY_SCHEMA_VERSION
        return self.model_dump_json(indent=None).encode()

    def save(self, path: Path) -> None:
        """Write atomically: a crash mid-write never leaves a half gallery behind."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(self.dumps())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # --- people -------------------------------------------------------------------------------
    def person(self, person_id: str) -> GalleryPerson | None:
        return next((p for p in self.people if p.id == person_id), None)

    def ids(self) -> list[str]:
        return [p.id for p in self.people]

    def upsert(self, person: GalleryPerson) -> None:
        """Add a person, or replace everything known about them."""
        self.people = sorted([p for p in self.people if p.id != person.id] + [person], key=lambda p: p.id)
        self.updated_at = _now()
        self._matrix = self._rejected = None

    def upsert_all(self, people: list[GalleryPerson]) -> None:
        """:meth:`upsert` of many people at once (one sort, however many: an enrollment of a whole school)."""
        new = {person.id for person in people}
        self.people = sorted([p for p in self.people if p.id not in new] + people, key=lambda p: p.id)
        self.updated_at = _now()
        self._matrix = self._rejected = None

    def add_photos(self, person_id: str, photos: list[GalleryPhoto]) -> bool:
        """Add photos to ``person_id`` (enrolled with them when new; their rejections kept). True if new."""
        known = self.person(person_id)
        if known is None:
            self.upsert(GalleryPerson(id=person_id, photos=photos))
            return True
        self.upsert(known.model_copy(update={"photos": [*known.photos, *photos]}))
        return False

    def remove(self, person_id: str) -> bool:
        before = len(self.people)
        self.people = [p for p in self.people if p.id != person_id]
        self.updated_at = _now()
        self._matrix = self._rejected = None
        return len(self.people) != before

    def merge(self, other: Gallery) -> list[str]:
        """Add ``other``'s people to this gallery (an enrollment merged into a stack's gallery): a new person is
        added, a known one gets the photos they lack (by content); everyone else, and every rejection, stays.
        Returns the ids that changed."""
        changed = []
        for person in other.people:
            known = self.person(person.id)
            have = {photo.sha256 for photo in known.photos} if known else set()
            new = [photo for photo in person.photos if photo.sha256 not in have]
            if known is None or new:
                self.add_photos(person.id, new or person.photos)
                changed.append(person.id)
        return changed

    # --- erasure ------------------------------------------------------------------------------
    def erased_ids(self) -> set[str]:
        return {t.id for t in self.erased}

    def check_not_erased(self, person_ids: list[str], *, allow: bool = False) -> None:
        """Refuse to add back someone who was erased, unless the operator says so (``allow``, which also
        lifts their tombstone)."""
        again = sorted(set(person_ids) & self.erased_ids())
        if again and not allow:
            raise GalleryError(
                f"{', '.join(again)}: erased before (the gallery keeps a tombstone); nothing was added. "
                "To enroll them again on purpose, say so (--allow-erased)"
            )
        if again:
            self.erased = [t for t in self.erased if t.id not in again]

    def bury(self, person_id: str, erased_at: str) -> None:
        """Remember that ``person_id`` was erased (idempotent)."""
        if person_id not in self.erased_ids():
            self.erased = sorted([*self.erased, Tombstone(id=person_id, erased_at=erased_at)], key=lambda t: t.id)
            self.updated_at = _now()

    def reject(self, person_id: str, source: str, encoding: list[float]) -> None:
        """Record that the face ``encoding`` (seen in ``source``) is not ``person_id``."""
        person = self.person(person_id)
        if person is None:
            raise GalleryError(f"{person_id}: not in the gallery")
        rejection = GalleryRejection(source=source, encoding=encoding)
        self.upsert(person.model_copy(update={"rejected": [*person.rejected, rejection]}))

    def forget_rejections_like(self, known: np.ndarray, tolerance: float) -> int:
        """Drop every rejected face within ``tolerance`` of one of ``known`` (an erased person's encodings:
        their face must not survive as someone else's negative example). Returns how many went."""
        dropped = 0
        for person in list(self.people):
            if not person.rejected or len(known) == 0:
                continue
            kept = [
                r for r in person.rejected if np.linalg.norm(known - np.asarray(r.encoding), axis=1).min() > tolerance
            ]
            if len(kept) != len(person.rejected):
                dropped += len(person.rejected) - len(kept)
                self.upsert(person.model_copy(update={"rejected": kept}))
        return dropped

    def rejected_matrix(self) -> tuple[np.ndarray, list[str]]:
        """Every rejected face as one (faces x 128) array, with the person each is *not*. Cached."""
        if self._rejected is None:
            rows = [r.encoding for person in self.people for r in person.rejected]
            owners = [person.id for person in self.people for _ in person.rejected]
            self._rejected = (np.asarray(rows, dtype=np.float64).reshape(len(rows), 128), owners)
        return self._rejected

    def blocks(self) -> tuple[list[str], np.ndarray]:
        """Each enrolled id in the order of :meth:`matrix`'s rows, and the row where each one's photos start: a
        person's photos are one block of rows, so a face's distance to each person is one ``np.minimum.reduceat``
        over its distances to every photo (facepipe.identity.matching). Cached."""
        photos = self._photos()
        return photos.people, photos.starts

    def penalties(self) -> np.ndarray:
        """Per row of :meth:`matrix`, what is added to a face's distance to that photo: ``POOR_REFERENCE_PENALTY``
        for a poor reference (a soft, turned or half-hidden face draws strangers near it), else 0. Cached."""
        return self._photos().penalties

    def squared_norms(self) -> np.ndarray:
        """Per row of :meth:`matrix`, its squared length (the search's distances use it). Cached."""
        return self._photos().squared

    def matrix(self) -> tuple[np.ndarray, list[str]]:
        """All encodings as one (photos x 128) array, with the person id of each row. Cached."""
        photos = self._photos()
        return photos.matrix, photos.owners

    def _photos(self) -> _Photos:
        if self._matrix is None:
            rows = [(person.id, photo) for person in self.people for photo in person.photos]
            matrix = np.asarray([p.encoding for _, p in rows], dtype=np.float64).reshape(len(rows), 128)
            sizes = [len(person.photos) for person in self.people]
            self._matrix = _Photos(
                matrix=matrix,
                owners=[owner for owner, _ in rows],
                penalties=np.asarray(
                    [POOR_REFERENCE_PENALTY if p.quality and p.quality.poor else 0.0 for _, p in rows], dtype=np.float64
                ),
                squared=(matrix * matrix).sum(axis=1),
                people=[person.id for person in self.people],
                starts=np.cumsum([0, *sizes[:-1]]).astype(np.intp) if sizes else np.empty(0, np.intp),
            )
        return self._matrix


@dataclass(frozen=True)
class _Photos:
    """What a search needs of the gallery, derived once from ``people``."""

    matrix: np.ndarray
    owners: list[str]
    penalties: np.ndarray
    squared: np.ndarray
    people: list[str]
    starts: np.ndarray
