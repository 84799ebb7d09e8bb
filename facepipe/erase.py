"""Erase a person everywhere: gallery (local and S3), student record, the stored clips they are in, their
photos in the bucket, the console's history of them and any unknown-face cluster of their face.

Face data is biometric data: when someone asks to be forgotten, every copy goes, and the erasure itself is
recorded (who, when, what was removed; never a face or an encoding).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from facepipe import faces, recognition, s3_store
from facepipe.aws_clients import client
from facepipe.clip_keys import CLIPS_PREFIX
from facepipe.errors import ClipError, FacepipeError
from facepipe.gallery import Gallery
from facepipe.settings import Settings
from facepipe.sightings import Sightings
from facepipe.unknowns import UnknownStore
from facepipe.video import clip_file, decode_chosen

AUDIT_PREFIX = "audit/erasures/"


@dataclass
class ErasureRecord:
    person_id: str
    erased_at: str
    gallery_files: list[str] = field(default_factory=list)
    gallery_photos_removed: int = 0
    record_deleted: bool = False
    clips_scanned: int = 0
    clips_deleted: list[str] = field(default_factory=list)
    clips_unreadable: list[str] = field(default_factory=list)
    photos_deleted: int = 0
    sightings_deleted: int = 0
    unknowns_deleted: list[str] = field(default_factory=list)


def _person_encodings(galleries: list[Gallery], person_id: str) -> np.ndarray:
    rows = [photo.encoding for g in galleries for p in g.people if p.id == person_id for photo in p.photos]
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), 128)


def _clip_shows(bucket: str, key: str, known: np.ndarray, settings: Settings) -> bool:
    """Whether any face in the clip's analysed frames is within the tolerance of ``known``."""
    data, _ = s3_store.get_clip(bucket, key, None, max_bytes=settings.max_clip_bytes)
    with clip_file(data, key) as path:
        decoded = decode_chosen(path, settings, name=key)
    images = decoded.rgb()
    # Faces found as the pipeline finds them (small ones included), so every clip it named them in is found.
    for image, (boxes, _) in zip(images, recognition.detect_chosen(images, decoded.sharpness, settings), strict=True):
        encodings = faces.encode_faces(image, boxes)
        if len(encodings) and faces.pairwise_distances(encodings, known).min() <= settings.match_tolerance:
            return True
    return False


def erase_person(
    person_id: str,
    settings: Settings,
    *,
    gallery_path: Path | None = None,
    bucket: str | None = None,
    gallery_key: str | None = None,
    table: str | None = None,
    sightings_table: str | None = None,
    unknowns_table: str | None = None,
) -> ErasureRecord:
    """Remove ``person_id`` from every place named; clips are matched against their encodings first."""
    record = ErasureRecord(person_id=person_id, erased_at=datetime.now(UTC).isoformat(timespec="seconds"))
    galleries: list[tuple[Gallery, str]] = []
    if gallery_path is not None:
        galleries.append((Gallery.load(gallery_path), str(gallery_path)))
    if bucket is not None:
        key = gallery_key or settings.gallery_key
        source = f"s3://{bucket}/{key}"
        galleries.append((Gallery.loads(s3_store.get_bytes(bucket, key), source=source), source))
    if not galleries and table is None:
        raise FacepipeError("people erase needs --gallery, --bucket or --table (where to erase from)")
    known = _person_encodings([g for g, _ in galleries], person_id)
    if galleries and len(known) == 0:
        raise FacepipeError(f"{person_id}: not in {', '.join(s for _, s in galleries)}")

    # Clips first, while the encodings to find them are still at hand: every clip the person is seen in
    # (in the frames the pipeline looks at) goes, with all its versions. No frames are stored to search.
    if bucket is not None and len(known):
        paginator = client("s3").get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=CLIPS_PREFIX):
            for obj in page.get("Contents", []):
                record.clips_scanned += 1
                try:
                    seen = _clip_shows(bucket, obj["Key"], known, settings)
                except ClipError:
                    record.clips_unreadable.append(obj["Key"])  # expires with the clips' retention
                    continue
                if seen:
                    s3_store.delete_versions(bucket, obj["Key"])
                    record.clips_deleted.append(obj["Key"])

    for gallery, source in galleries:
        person = gallery.person(person_id)
        if person is None:
            continue
        record.gallery_photos_removed += len(person.photos)
        gallery.remove(person_id)
        # Their face kept as someone else's rejected match (`facepipe people reject`) goes too.
        gallery.forget_rejections_like(known, settings.match_tolerance)
        if source.startswith("s3://"):
            key = source.split("/", 3)[3]
            s3_store.upload_gallery(gallery, bucket=bucket or "", key=key)
            # Earlier versions of the gallery still hold the encodings: remove them too.
            s3_store.delete_versions(bucket or "", key, keep_latest=True)
        else:
            gallery.save(Path(source))
        record.gallery_files.append(source)

    if bucket is not None:
        record.photos_deleted = s3_store.delete_prefix(bucket, f"{s3_store.PEOPLE_PREFIX}{person_id}/")
    # The console's copies: clusters of their face kept as unknown (before they were enrolled, or missed),
    # then every sighting naming them or one of those clusters.
    if unknowns_table and bucket is not None and len(known):
        store = UnknownStore(unknowns_table, bucket, dynamodb=client("dynamodb"), s3=client("s3"))
        record.unknowns_deleted = store.near(known.tolist(), settings.match_tolerance)
        for unknown_id in record.unknowns_deleted:
            store.forget(unknown_id)
    if sightings_table:
        history = Sightings(sightings_table, dynamodb=client("dynamodb"))
        for seen_as in [person_id, *record.unknowns_deleted]:
            record.sightings_deleted += history.forget_person(seen_as)

    if table is not None:
        response = client("dynamodb").delete_item(TableName=table, Key={"id": {"S": person_id}}, ReturnValues="ALL_OLD")
        record.record_deleted = "Attributes" in response

    audit = json.dumps(asdict(record), indent=1).encode()
    if bucket is not None:
        stamp = record.erased_at.replace(":", "").replace("-", "")
        s3_store.put_bytes(bucket, f"{AUDIT_PREFIX}{stamp}_{person_id}.json", audit, "application/json")
    if gallery_path is not None:
        with (gallery_path.parent / "erasures.jsonl").open("a") as log:
            log.write(json.dumps(asdict(record)) + "\n")
    return record
