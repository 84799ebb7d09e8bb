"""Enrollment: turn a folder of people's photos into a gallery.

``PEOPLE_DIR/<person_id>/*.jpg|png``; each photo must hold exactly one face. A bad photo is reported
with its reason and skipped; everyone else still enrolls.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facepipe.core.contracts import PERSON_ID_PATTERN
from facepipe.core.errors import EnrollmentError, FacepipeError, ImageError
from facepipe.core.settings import Settings
from facepipe.identity import health
from facepipe.identity.gallery import Gallery, GalleryModel, GalleryPerson, GalleryPhoto, PhotoQuality
from facepipe.media.images import IMAGE_SUFFIXES, load_rgb
from facepipe.vision import encoder, faces, quality
from facepipe.vision.faces import Box


@dataclass
class EnrollReport:
    """What an enrollment run did: who was added, kept unchanged, and which photos failed and why."""

    enrolled: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    flagged: list[tuple[str, str]] = field(default_factory=list)  # (file, why it is a poor reference): enrolled
    # (file, why): not like the person's other photos or too like someone else's (facepipe.identity.health): not
    # enrolled, unless the operator accepts them (then listed here and enrolled).
    held: list[tuple[str, str]] = field(default_factory=list)
    encoded_photos: int = 0


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def encode_enrollment_photo(path: Path | bytes, settings: Settings, *, name: str | None = None) -> list[float]:
    """The encoding of the single face in an enrollment photo (a file, or its bytes named ``name``), or an
    :class:`EnrollmentError`."""
    return enrollment_face(path, settings, name=name)[0]


def enrollment_face(
    path: Path | bytes, settings: Settings, *, name: str | None = None
) -> tuple[list[float], PhotoQuality]:
    """The single face of an enrollment photo: its encoding and how good a reference it is (a poor one is
    flagged, and must be matched more closely: facepipe.identity.gallery.POOR_REFERENCE_PENALTY)."""
    image = load_rgb(path, name=name, max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels)
    label = name or str(path)
    boxes = photo_faces(image, settings)
    if not boxes:
        raise EnrollmentError(f"{label}: no face found", code="no_face")
    if len(boxes) > 1:
        raise EnrollmentError(f"{label}: {len(boxes)} faces found, expected exactly one", code="many_faces")
    return reference_of(image, boxes[0], settings)


def photo_faces(image: np.ndarray, settings: Settings) -> list[Box]:
    """The faces of a still photo (RGB) as enrollment finds them. Enrollment photos are portraits of any size:
    detection runs on a photo-sized copy, with the upsample the detector needs for small faces, so a small face in a
    big photo is still found (enrollment is offline; accuracy beats speed here)."""
    return faces.detect_faces(
        image,
        model=settings.detect_model,
        max_side=settings.photo_detect_max_side,
        upsample=faces.small_face_upsample(settings.detect_model),
    )


def reference_of(image: np.ndarray, box: Box, settings: Settings) -> tuple[list[float], PhotoQuality]:
    """The encoding of the face at ``box`` in an RGB image, and how good a gallery reference it makes."""
    chips, points = faces.chips_and_landmarks(image, [box])
    face = quality.assess(chips[0], box, image.shape, points[0], min_height=settings.decisive_face_px)
    return [float(x) for x in encoder.encode_chips(chips)[0]], photo_quality(face)


def photo_quality(face: quality.FaceQuality) -> PhotoQuality:
    """What the gallery keeps of a reference face's grade (a poor one is flagged and matched more closely)."""
    return PhotoQuality(
        height_px=face.height_px,
        faceness=face.faceness,
        sharpness=face.sharpness,
        reasons=quality.reference_reasons(face),
    )


def _healthy(
    gallery: Gallery, pending: list[GalleryPerson], report: EnrollReport, *, accept: bool
) -> list[GalleryPerson]:
    """The photos of each person's folder that may join (facepipe.identity.health), ``gallery`` holding everyone:
    those enrolled before and every folder of this run. A photo unlike the folder's other photos or nearer someone
    else is looked for against everyone (a wrong photo is caught whichever folder comes first); a new person too
    like someone, against those enrolled before and the folders before it, less the photos held back (a wrong
    photo is nobody's lookalike; of two alike, the second is held). The others go to ``report.held`` (and still
    join when ``accept``). One matrix for the whole run: O(photos) a photo."""
    people, starts = gallery.blocks()
    _, owners = gallery.matrix()
    ends = [*starts[1:], len(owners)]
    block = {person: (int(start), int(end)) for person, start, end in zip(people, starts, ends, strict=True)}
    counted = np.ones(len(owners), dtype=bool)
    for person in pending:
        counted[slice(*block[person.id])] = False
    out = []
    for person in pending:
        kept = []
        first = block[person.id][0]
        for n, photo in enumerate(person.photos):
            others = [p.encoding for i, p in enumerate(person.photos) if i != n]
            concerns = health.photo_concerns(
                gallery, person.id, photo.encoding, others=others, replacing=True, lookalike=False
            ) or health.photo_concerns(
                gallery, person.id, photo.encoding, others=others, replacing=True, counted=counted
            )
            if concerns:
                report.held.append((photo.source, "; ".join(concerns)))
            if accept or not concerns:
                kept.append(photo)
                counted[first + n] = True
        if kept:
            out.append(GalleryPerson(id=person.id, photos=kept))
    return out


def person_photos(person_dir: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """Image files of a person's folder, and the files that are not images (reported, not enrolled)."""
    photos, others = [], []
    for path in sorted(person_dir.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            photos.append(path)
        else:
            others.append((str(path), "not an image (expected .jpg, .jpeg or .png)"))
    return photos, others


def enroll(
    people_dir: Path,
    settings: Settings,
    *,
    gallery: Gallery | None = None,
    update: bool = False,
    accept_flagged: bool = False,
) -> tuple[Gallery, EnrollReport]:
    """Enroll every person folder under ``people_dir``.

    Without ``update`` a new gallery is built. With ``update`` the given gallery is kept and each person
    found in ``people_dir`` is added or replaced; a person whose photos all have the same hashes as in
    the gallery is not re-encoded. A photo unlike the person's other photos, or too like someone else enrolled
    (facepipe.identity.health), is held back and reported, unless ``accept_flagged``.
    """
    if not people_dir.is_dir():
        raise FacepipeError(f"{people_dir}: not a directory of person folders", code="bad_people_dir")
    report = EnrollReport()
    target = (
        gallery if (update and gallery is not None) else Gallery(model=GalleryModel(detector=settings.detect_model))
    )
    target.library_versions = faces.model_versions()
    person_dirs = [d for d in sorted(people_dir.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    pending: list[GalleryPerson] = []
    if not person_dirs:
        raise FacepipeError(
            f"{people_dir}: no person folders (expected {people_dir}/<person_id>/*.jpg)", code="bad_people_dir"
        )
    for person_dir in person_dirs:
        person_id = person_dir.name
        if not re.match(PERSON_ID_PATTERN, person_id):
            report.errors.append((str(person_dir), f"person id {person_id!r} must match {PERSON_ID_PATTERN}"))
            continue
        photos, others = person_photos(person_dir)
        report.errors.extend(others)
        hashes = {path: sha256_file(path) for path in photos}
        known = target.person(person_id)
        if update and known is not None and sorted(p.sha256 for p in known.photos) == sorted(hashes.values()):
            report.unchanged.append(person_id)
            continue
        enrolled: list[GalleryPhoto] = []
        for path in photos:
            try:
                encoding, graded = enrollment_face(path, settings)
            except (EnrollmentError, ImageError) as exc:
                report.errors.append((str(path), exc.message.removeprefix(f"{path}: ")))
                continue
            report.encoded_photos += 1
            if graded.poor:
                report.flagged.append((str(path), "; ".join(graded.reasons)))
            enrolled.append(
                GalleryPhoto(source=f"{person_id}/{path.name}", sha256=hashes[path], encoding=encoding, quality=graded)
            )
        if enrolled:
            pending.append(GalleryPerson(id=person_id, photos=enrolled))
        elif not photos:
            report.errors.append((str(person_dir), "no photos (expected .jpg, .jpeg or .png files)"))
    everyone = target.model_copy(deep=True)
    everyone.upsert_all(pending)
    healthy = _healthy(everyone, pending, report, accept=accept_flagged)
    target.upsert_all(healthy)
    report.enrolled += [person.id for person in healthy]
    return target, report
