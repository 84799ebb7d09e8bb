"""S3: clips in, the gallery (cached per process, reloaded when its ETag changes), enrolled people's photos."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from facepipe.aws_clients import client
from facepipe.errors import ClipTooLargeError, EmptyClipError, GalleryError
from facepipe.gallery import Gallery

# Enrolled people's photos as the console shows them (facepipe.operator): people/<id>/<file>.
PEOPLE_PREFIX = "people/"


def head(bucket: str, key: str, version_id: str | None = None) -> dict[str, Any]:
    kwargs = {"Bucket": bucket, "Key": key} | ({"VersionId": version_id} if version_id else {})
    return dict(client("s3").head_object(**kwargs))


def get_clip(bucket: str, key: str, version_id: str | None, *, max_bytes: int) -> tuple[bytes, dict[str, str]]:
    """A clip's bytes and its metadata (names lower-cased), in one GET: the size is checked from the
    response's headers before the body is read, so no HEAD request is needed (one request less per clip)."""
    kwargs = {"Bucket": bucket, "Key": key} | ({"VersionId": version_id} if version_id else {})
    response = client("s3").get_object(**kwargs)
    size = int(response.get("ContentLength", 0))
    if size == 0:
        response["Body"].close()
        raise EmptyClipError(f"{key}: empty clip (0 bytes)")
    if size > max_bytes:
        response["Body"].close()
        raise ClipTooLargeError(f"{key}: clip is {size} bytes, limit {max_bytes}")
    metadata = {name.lower(): value for name, value in response.get("Metadata", {}).items()}
    return bytes(response["Body"].read()), metadata


def get_bytes(bucket: str, key: str, version_id: str | None = None, *, s3: Any = None) -> bytes:
    kwargs = {"Bucket": bucket, "Key": key} | ({"VersionId": version_id} if version_id else {})
    return bytes((s3 or client("s3")).get_object(**kwargs)["Body"].read())


def put_bytes(
    bucket: str, key: str, data: bytes, content_type: str, metadata: dict[str, str] | None = None, *, s3: Any = None
) -> None:
    (s3 or client("s3")).put_object(
        Bucket=bucket, Key=key, Body=data, ContentType=content_type, Metadata=metadata or {}
    )


def delete_versions(bucket: str, key: str, *, keep_latest: bool = False, s3: Any = None) -> int:
    """Delete every version of ``key`` (and its delete markers), or every older one with ``keep_latest``.

    In a versioned bucket a plain delete only hides an object; erasing data means deleting its versions.
    """
    s3 = s3 or client("s3")
    listed = s3.list_object_versions(Bucket=bucket, Prefix=key)
    versions = [v for v in listed.get("Versions", []) + listed.get("DeleteMarkers", []) if v["Key"] == key]
    doomed = [v for v in versions if not (keep_latest and v.get("IsLatest"))]
    for version in doomed:
        s3.delete_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])
    if not versions and not keep_latest:
        s3.delete_object(Bucket=bucket, Key=key)
    return len(doomed)


def delete_prefix(bucket: str, prefix: str, *, s3: Any = None) -> int:
    """Delete every version of every object under ``prefix``; returns how many objects (keys) there were."""
    s3 = s3 or client("s3")
    keys: set[str] = set()
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        doomed = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
        ]
        keys.update(v["Key"] for v in page.get("Versions", []))
        if doomed:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed, "Quiet": True})
    return len(keys)


def upload_photos(people_dir: Path, gallery: Gallery, *, bucket: str, s3: Any = None) -> int:
    """Put the enrolled people's photos where the console shows them (``people/<id>/<file>`` in the stack's
    bucket; erase deletes them). Returns how many were uploaded."""
    count = 0
    for person in gallery.people:
        folder = people_dir / person.id
        for photo in person.photos:
            path = folder / Path(photo.source).name
            if path.is_file():
                kind = "image/png" if path.suffix.lower() == ".png" else "image/jpeg"
                put_bytes(bucket, f"{PEOPLE_PREFIX}{person.id}/{path.name}", path.read_bytes(), kind, s3=s3)
                count += 1
    return count


def upload_gallery(gallery: Gallery, *, bucket: str, key: str, s3: Any = None) -> None:
    """Publish a gallery where the recognize functions read it (``s3``: a client of your own, else the default)."""
    put_bytes(bucket, key, gallery.dumps(), "application/json", s3=s3)


@dataclass
class _Loaded:
    gallery: Gallery
    etag: str
    checked_at: float


class GalleryCache:
    """The gallery the recognize stage matches against, fetched at cold start.

    It is re-checked (a HEAD request) at most every ``refresh_seconds`` and downloaded again only when its
    ETag changed, so a new enrollment reaches warm functions within that time at the cost of one HEAD.
    """

    def __init__(self, bucket: str, key: str, refresh_seconds: float) -> None:
        self.bucket, self.key, self.refresh_seconds = bucket, key, refresh_seconds
        self._loaded: _Loaded | None = None
        self._lock = threading.Lock()
        self.downloads = 0

    def get(self) -> Gallery:
        with self._lock:
            now = time.monotonic()
            loaded = self._loaded
            if loaded is not None and now - loaded.checked_at < self.refresh_seconds:
                return loaded.gallery
            source = f"s3://{self.bucket}/{self.key}"
            try:
                etag = head(self.bucket, self.key)["ETag"]
                if loaded is not None and etag == loaded.etag:
                    loaded.checked_at = now
                    return loaded.gallery
                gallery = Gallery.loads(get_bytes(self.bucket, self.key), source=source)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code in ("404", "NoSuchKey", "NoSuchBucket", "NotFound"):
                    raise GalleryError(f"{source}: gallery not found (run `facepipe enroll ... --bucket`)") from exc
                raise
            self.downloads += 1
            self._loaded = _Loaded(gallery, etag, now)
            return gallery
