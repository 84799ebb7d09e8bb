"""The operator's actions on a stack (local or deployed): what `facepipe unknowns` and the console do.

Everything here works on the stack's own copies: the gallery in the bucket (``GalleryKey``, which warm
recognize functions re-read within ``GalleryRefreshSeconds``), the records in StudentsTable, enrolled people's
photos under ``people/<id>/`` in the bucket, the unknown-face clusters and the sightings. Every action checks
its input first and changes nothing when it is refused.

Longer than ~250 lines: each action is a few lines over the stores, and they share one set of clients and
the gallery's conditional write.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError

from facepipe.aws import gallery_store, s3_objects
from facepipe.aws.clients import client
from facepipe.aws.dynamo_records import get_records, set_name
from facepipe.aws.gallery_store import PEOPLE_PREFIX
from facepipe.aws.sightings import Sightings
from facepipe.aws.stack import env_name
from facepipe.aws.unknowns import UnknownStore
from facepipe.core.contracts import PERSON_ID_PATTERN
from facepipe.core.errors import FacepipeError
from facepipe.core.settings import Settings
from facepipe.identity import health
from facepipe.identity.clusters import Cluster, Crop, check_id
from facepipe.identity.gallery import Gallery, GalleryPhoto, PhotoQuality

if TYPE_CHECKING:
    from facepipe.ops.erase import EraseJob

T = TypeVar("T")

# A photo uploaded through the console: enough for any portrait, far below what would tie up the server.
MAX_PHOTO_BYTES = 10 * 1024 * 1024


# The parts of a stack the operator's actions need.
_NEEDED = ("bucket_name", "students_table", "devices_table", "sightings_table", "unknowns_table")


class OperatorError(FacepipeError):
    code = "operator"


def check_person_id(person_id: str) -> str:
    if not re.match(PERSON_ID_PATTERN, person_id or ""):
        raise OperatorError(
            f"{person_id!r} is not a valid person id (letters, digits, '_', '.', '-'; up to 64; "
            "starting with a letter or digit)"
        )
    return person_id


MAX_NAME_CHARS = 200


def check_name(name: str | None) -> str:
    """A person's name as their record keeps it: trimmed, 1 to ``MAX_NAME_CHARS`` characters (the console's Enroll
    and a label alike: a record is read into every result naming them)."""
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME_CHARS:
        raise OperatorError(f"a name is required (1 to {MAX_NAME_CHARS} characters)")
    return name


@dataclass(frozen=True)
class PersonView:
    id: str
    name: str | None
    record: dict[str, Any] | None
    photos: list[str]  # keys under people/<id>/
    encodings: int
    rejected: int
    poor_references: list[str] = field(default_factory=list)  # "<photo>: <why>", matched more closely
    # "<id> (<distance>)": enrolled people the decision cannot tell them from (facepipe.identity.health)
    lookalikes: list[str] = field(default_factory=list)


@dataclass
class LabelReport:
    unknown_id: str
    person_id: str
    photos_added: int
    new_person: bool
    crops: list[str] = field(default_factory=list)
    sightings_relabelled: int = 0
    poor_references: list[tuple[str, str]] = field(default_factory=list)  # (photo, why): joined, matched closer
    # (crop, why): unlike the person's photos or too like someone else's (facepipe.identity.health): not added
    # unless the operator accepts them
    held: list[tuple[str, str]] = field(default_factory=list)


class Operator:
    """One stack, as its operator sees it (the settings name its bucket and tables)."""

    def __init__(self, settings: Settings) -> None:
        missing = [env_name(field) for field in _NEEDED if not getattr(settings, field)]
        if missing:
            raise OperatorError(
                f"no stack: {', '.join(missing)} not set (source the file `facepipe local --env-file F` wrote, "
                "or name a deployed stack with --stack NAME)"
            )
        self.settings = settings
        self.bucket = settings.bucket_name
        self.unknowns = UnknownStore.from_settings(settings)
        # Its retentions from the stack (outputs ClipsRetentionDays, FaceCropRetentionDays): a label rewrites a
        # person's mentions, which must expire with their clips, not after a default week.
        self.sightings = Sightings.from_settings(settings)

    # --- the gallery and people -------------------------------------------------------------------
    def gallery(self) -> Gallery:
        """The stack's gallery (an empty one when nobody was ever enrolled)."""
        return gallery_store.get_gallery(self.bucket, self.settings.gallery_key)[0]

    def edit_gallery(self, change: Callable[[Gallery], T]) -> T:
        """One edit of the stack's gallery, written only on the version it read (gallery_store.update_gallery):
        edits made at once by the console, the CLI and erase never undo each other."""
        return gallery_store.update_gallery(self.bucket, self.settings.gallery_key, change)

    def people(self) -> list[PersonView]:
        gallery = self.gallery()
        records = get_records(self.settings.students_table, gallery.ids()) if gallery.people else {}
        photos = self._photo_keys()
        alike: dict[str, list[str]] = {}
        for pair in health.lookalikes(gallery):
            alike.setdefault(pair.first, []).append(f"{pair.second} ({pair.distance:.2f})")
            alike.setdefault(pair.second, []).append(f"{pair.first} ({pair.distance:.2f})")
        return [
            PersonView(
                id=p.id,
                name=(records.get(p.id) or {}).get("name"),
                record=records.get(p.id),
                photos=photos.get(p.id, []),
                encodings=len(p.photos),
                rejected=len(p.rejected),
                poor_references=[
                    f"{photo.source}: {'; '.join(photo.quality.reasons)}"
                    for photo in p.photos
                    if photo.quality and photo.quality.poor
                ],
                lookalikes=alike.get(p.id, []),
            )
            for p in gallery.people
        ]

    def _photo_keys(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for key in s3_objects.keys_under(self.bucket, PEOPLE_PREFIX):
            found.setdefault(key.removeprefix(PEOPLE_PREFIX).split("/", 1)[0], []).append(key)
        return found

    def photo(self, key: str) -> bytes:
        """A stored photo or crop, by key: only under people/ or unknowns/ (never a clip or the gallery)."""
        if not key.startswith((PEOPLE_PREFIX, "unknowns/")) or ".." in key:
            raise OperatorError(f"{key}: not a photo or a face crop")
        try:
            return s3_objects.get_bytes(self.bucket, key)
        except ClientError as exc:
            raise OperatorError(f"{key}: not found") from exc

    def add_person(
        self,
        person_id: str,
        name: str,
        photos: list[tuple[str, bytes]],
        *,
        allow_erased: bool = False,
        accept_flagged: bool = False,
    ) -> PersonView:
        """Enroll ``person_id`` from photos (each with exactly one face), or add photos to them; their record
        gets ``name`` (its other fields kept). Every photo is checked before anything is written; someone
        erased is refused unless ``allow_erased``, and a photo unlike the person's others or too like someone
        else's (facepipe.identity.health) unless ``accept_flagged``."""
        from facepipe.identity.enroll import enrollment_face

        check_person_id(person_id)
        name = check_name(name)
        if not photos:
            raise OperatorError("at least one photo is required")
        encoded: list[tuple[str, bytes, tuple[list[float], PhotoQuality]]] = []
        settings = self.settings.model_copy(update={"max_image_bytes": MAX_PHOTO_BYTES})
        for filename, data in photos:
            if len(data) > MAX_PHOTO_BYTES:
                raise OperatorError(f"{filename}: {len(data)} bytes, larger than the {MAX_PHOTO_BYTES} allowed")
            encoded.append((filename, data, enrollment_face(data, settings, name=filename)))
        current = self.gallery()
        current.check_not_erased([person_id], allow=allow_erased)  # before any photo is stored
        if not accept_flagged:
            flagged = _concerns(current, person_id, [(f, encoding) for f, _, (encoding, _) in encoded])
            if flagged:
                raise OperatorError(
                    "nothing was added: "
                    + "; ".join(f"{source}: {why}" for source, why in flagged)
                    + " (add them anyway if they are right)"
                )
        added = [
            self._store_photo(person_id, data, encoding, Path(filename).suffix, quality=graded)
            for filename, data, (encoding, graded) in encoded
        ]

        def add(gallery: Gallery) -> None:
            gallery.check_not_erased([person_id], allow=allow_erased)
            gallery.add_photos(person_id, added)

        self.edit_gallery(add)
        set_name(self.settings.students_table, person_id, name)
        return next(p for p in self.people() if p.id == person_id)

    def _store_photo(
        self,
        person_id: str,
        data: bytes,
        encoding: list[float],
        suffix: str,
        *,
        prefix: str = "",
        quality: PhotoQuality | None = None,
    ) -> GalleryPhoto:
        """A photo kept where the console shows it (``people/<id>/``, named by its content) and the gallery
        entry that points there."""
        digest = hashlib.sha256(data).hexdigest()
        suffix = suffix.lower() if suffix.lower() in (".jpg", ".jpeg", ".png") else ".jpg"
        key = f"{PEOPLE_PREFIX}{person_id}/{prefix}{digest[:16]}{suffix}"
        s3_objects.put_bytes(self.bucket, key, data, mimetypes.guess_type(key)[0] or "image/jpeg")
        return GalleryPhoto(source=key, sha256=digest, encoding=encoding, quality=quality)

    def remove_person(self, person_id: str) -> None:
        """Out of the gallery (no longer recognized); records, photos and history stay (erase removes all)."""
        check_person_id(person_id)

        def remove(gallery: Gallery) -> None:
            if not gallery.remove(person_id):
                raise OperatorError(f"{person_id}: not enrolled")

        self.edit_gallery(remove)

    def erase(self, person_id: str, *, sweep: bool = False, wait: bool = True) -> EraseJob:
        """Erase ``person_id`` everywhere (facepipe.ops.erase): a job that resumes where an earlier one stopped."""
        from facepipe.ops.erase import EraseJobs

        check_person_id(person_id)
        return EraseJobs(self.settings).erase(person_id, sweep=sweep, wait=wait)

    def erase_jobs(self) -> list[EraseJob]:
        """Erasures under way, as they stand (the console shows their progress; reading them changes nothing)."""
        from facepipe.ops.erase import EraseJobs

        return EraseJobs(self.settings).unfinished()

    def continue_erase(self, job_id: str, *, wait: bool = False) -> EraseJob:
        """Run an erase job under way as far as it goes (a finished sweep is collected); with ``wait``, to its end."""
        from facepipe.ops.erase import EraseJobs

        return EraseJobs(self.settings).advance(job_id, wait=wait)

    def reject(self, clip_key: str, person_id: str) -> int:
        """A wrong match: the faces the clip names ``person_id`` are not them (facepipe.identity.corrections)."""
        from facepipe.identity.corrections import rejection_in_clip

        check_person_id(person_id)
        if not clip_key.startswith("clips/"):
            raise OperatorError(f"{clip_key!r} is not a clip's key (clips/<device>/...)")
        gallery = self.gallery()
        try:
            data, _ = s3_objects.get_clip(self.bucket, clip_key, None, max_bytes=self.settings.max_clip_bytes)
        except ClientError as exc:
            raise OperatorError(f"{clip_key}: no such clip (expired, or erased)") from exc
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(clip_key).name
            path.write_bytes(data)
            encoding, faces = rejection_in_clip(gallery, path, person_id, self.settings, source=clip_key)

        def reject(gallery: Gallery) -> None:
            if gallery.person(person_id) is None:
                raise OperatorError(f"{person_id}: no longer enrolled (removed meanwhile); nothing was recorded")
            gallery.reject(person_id, clip_key, encoding)

        self.edit_gallery(reject)
        return faces

    # --- unknown faces ----------------------------------------------------------------------------
    def inbox(self) -> list[Cluster]:
        """Unknown faces waiting for a name: clusters with crops, not dismissed, most seen first."""
        return sorted(
            (c for c in self.unknowns.all() if not c.dismissed and c.crops), key=lambda c: (-c.seen, c.number)
        )

    def label(
        self,
        unknown_id: str,
        person_id: str,
        name: str | None = None,
        *,
        allow_erased: bool = False,
        accept_flagged: bool = False,
    ) -> LabelReport:
        """``unknown_id`` is ``person_id``: its kept crops become their gallery photos (enrollment from the
        camera's own view), copied to their photos; a new person needs ``name`` for their record (a known one
        keeps every other field of it). Someone erased is refused unless ``allow_erased``. A crop unlike the
        person's photos, or too like someone else's (facepipe.identity.health), is held back (``report.held``)
        unless ``accept_flagged``; when every crop is, nothing is labelled."""
        check_id(unknown_id)
        check_person_id(person_id)
        name = check_name(name) if name and name.strip() else None
        cluster = self.unknowns.get(unknown_id)
        if cluster.dismissed or not cluster.crops:
            raise OperatorError(f"{unknown_id}: no face kept to label (dismissed, or only tiny/blurred faces)")
        gallery = self.gallery()
        gallery.check_not_erased([person_id], allow=allow_erased)
        known = gallery.person(person_id)
        records = get_records(self.settings.students_table, [person_id])
        if known is None and person_id not in records and not (name and name.strip()):
            raise OperatorError(f"{person_id}: not enrolled yet; give a name to enroll them")
        report = LabelReport(unknown_id, person_id, 0, known is None)
        # A crop already gone (expired by the bucket's lifecycle, or evicted) is skipped, not an error.
        kept = [(crop, self.unknowns.crop_face(crop)) for crop in cluster.crops]
        faces = [(crop, face) for crop, face in kept if face is not None]
        if not faces:
            raise OperatorError(f"{unknown_id}: its crops have expired (nothing to label with)")
        report.held = _concerns(gallery, person_id, [(crop.key, encoding) for crop, (_, encoding) in faces])
        if report.held and not accept_flagged:
            held = {source for source, _ in report.held}
            faces = [(crop, face) for crop, face in faces if crop.key not in held]
            if not faces:
                raise OperatorError(
                    f"{unknown_id}: nothing was labelled: "
                    + "; ".join(f"{source}: {why}" for source, why in report.held)
                    + " (label anyway if it is them)"
                )
        added = [
            self._store_photo(
                person_id, jpeg, encoding, ".jpg", prefix="camera-", quality=self._crop_quality(crop, jpeg)
            )
            for crop, (jpeg, encoding) in faces
        ]
        report.crops = [photo.source for photo in added]
        report.poor_references = [
            (photo.source, "; ".join(photo.quality.reasons)) for photo in added if photo.quality and photo.quality.poor
        ]

        def add(gallery: Gallery) -> None:
            gallery.check_not_erased([person_id], allow=allow_erased)
            gallery.add_photos(person_id, added)

        self.edit_gallery(add)
        if name and name.strip():
            set_name(self.settings.students_table, person_id, name.strip())
        self.unknowns.forget(unknown_id)
        known_name = name.strip() if name and name.strip() else (records.get(person_id) or {}).get("name")
        report.sightings_relabelled = self.sightings.relabel(unknown_id, person_id, known_name)
        report.photos_added = len(added)
        return report

    def _crop_quality(self, crop: Crop, jpeg: bytes) -> PhotoQuality:
        """A kept crop graded as a gallery reference: its recorded height and sharpness (of the full chip), and
        the detector's score of the crop itself."""
        from facepipe.identity.enroll import photo_quality
        from facepipe.media.images import load_rgb
        from facepipe.vision import quality

        chip = load_rgb(jpeg, name=crop.key, max_bytes=len(jpeg) + 1, max_pixels=10**6)
        graded = quality.grade(
            quality.faceness(chip), crop.sharpness, crop.height_px, min_height=self.settings.decisive_face_px
        )
        return photo_quality(graded)

    def dismiss(self, unknown_id: str) -> Cluster:
        return self.unknowns.dismiss(check_id(unknown_id))


def _concerns(gallery: Gallery, person_id: str, faces: list[tuple[str, list[float]]]) -> list[tuple[str, str]]:
    """(source, why) of each face that should not join ``person_id`` as it is (facepipe.identity.health), each
    checked against the gallery and the other faces joining with it."""
    out = []
    for n, (source, encoding) in enumerate(faces):
        others = [e for i, (_, e) in enumerate(faces) if i != n]
        concerns = health.photo_concerns(gallery, person_id, encoding, others=others)
        if concerns:
            out.append((source, "; ".join(concerns)))
    return out


def stack_settings(settings: Settings, stack: str | None) -> Settings:
    """The settings naming a stack's parts: as given (the local stack's env file), or a deployed stack's
    CloudFormation outputs with the operator's AWS credentials and region."""
    if not stack:
        return settings
    from facepipe.aws.stack import StackOutputs

    cloudformation = client("cloudformation")
    return StackOutputs.of_deployed(stack, cloudformation, region=cloudformation.meta.region_name).settings(settings)
