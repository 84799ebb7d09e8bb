"""S3: clips in, the gallery (cached per process, reloaded when its ETag changes), enrolled people's photos."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from facepipe.aws_clients import client
from facepipe.errors import ClipTooLargeError, EmptyClipError, GalleryError
from facepipe.gallery import Gallery

T = TypeVar("T")
# S3's answers to a conditional write that lost: the object changed (412), or another write to it was under
# way at the same moment (409).
_LOST_RACE = ("PreconditionFailed", "412", "ConditionalRequestConflict", "409")
GALLERY_UPDATE_ATTEMPTS = 8

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


def versions(bucket: str, key: str, *, s3: Any = None) -> list[dict[str, Any]]:
    """Every version and delete marker of exactly ``key``, newest first (every page of the listing)."""
    s3 = s3 or client("s3")
    found: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
        found.extend(v for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])] if v["Key"] == key)
    return sorted(found, key=lambda v: v["LastModified"], reverse=True)


def delete_versions(bucket: str, key: str, *, keep_latest: bool = False, s3: Any = None) -> int:
    """Delete every version of ``key`` (and its delete markers), or every older one with ``keep_latest``.

    In a versioned bucket a plain delete only hides an object; erasing data means deleting its versions. A key
    already gone counts as deleted (nothing to do): erase runs again after a failure.
    """
    s3 = s3 or client("s3")
    doomed = [v["VersionId"] for v in versions(bucket, key, s3=s3) if not (keep_latest and v.get("IsLatest"))]
    delete_exact_versions(bucket, [(key, version) for version in doomed], s3=s3)
    return len(doomed)


def delete_exact_versions(bucket: str, versions: list[tuple[str, str]], *, s3: Any = None) -> None:
    """Delete these (key, version id) pairs for good, 1,000 to a request (DeleteObjects' limit), with no
    listing. A version already gone counts as deleted; any other key DeleteObjects reports it could not delete
    (it answers 200 and lists them) raises, so an erasure never counts what is still there."""
    s3 = s3 or client("s3")
    for start in range(0, len(versions), 1000):
        batch = [{"Key": key, "VersionId": version} for key, version in versions[start : start + 1000]]
        failed = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True}).get("Errors", [])
        failed = [e for e in failed if e.get("Code") not in ("NoSuchVersion", "NoSuchKey")]
        if failed:
            raise ClientError({"Error": {"Code": failed[0]["Code"], "Message": failed[0]["Message"]}}, "DeleteObjects")


def get_gallery(bucket: str, key: str, *, s3: Any = None, version_id: str | None = None) -> tuple[Gallery, str | None]:
    """The gallery at ``key`` and its ETag; an empty gallery and None when nobody was ever enrolled there."""
    s3 = s3 or client("s3")
    source = f"s3://{bucket}/{key}"
    try:
        response = s3.get_object(Bucket=bucket, Key=key, **({"VersionId": version_id} if version_id else {}))
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("NoSuchKey", "404", "NoSuchVersion"):
            return Gallery(), None
        raise
    return Gallery.loads(response["Body"].read(), source=source), str(response["ETag"])


def update_gallery(
    bucket: str,
    key: str,
    change: Callable[[Gallery], T],
    *,
    s3: Any = None,
    attempts: int = GALLERY_UPDATE_ATTEMPTS,
) -> T:
    """Apply ``change`` to the stack's gallery and write it back only if nobody wrote it meanwhile.

    The write is conditional on the version read (``If-Match`` on its ETag, ``If-None-Match: *`` when there was
    none): when another edit won (412, or 409 while its write was under way), the gallery is read again and
    ``change`` applied to the new one, so two edits at once both survive. ``change`` may raise to refuse (then
    nothing is written); it returns what the caller wants back.
    """
    s3 = s3 or client("s3")
    for attempt in range(attempts):
        gallery, etag = get_gallery(bucket, key, s3=s3)
        result = change(gallery)
        condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=gallery.dumps(), ContentType="application/json", **condition)
            return result
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in _LOST_RACE:
                raise
        time.sleep(random.uniform(0, 0.05 * 2**attempt))  # full jitter: racing editors spread out
    raise GalleryError(f"s3://{bucket}/{key}: changed by others {attempts} times during this edit; nothing was written")


def delete_prefix(bucket: str, prefix: str, *, s3: Any = None) -> int:
    """Delete every version of every object under ``prefix``; returns how many objects (keys) there were."""
    s3 = s3 or client("s3")
    keys: set[str] = set()
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        found = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
        keys.update(v["Key"] for v in page.get("Versions", []))
        delete_exact_versions(bucket, [(v["Key"], v["VersionId"]) for v in found], s3=s3)
    return len(keys)


def keys_under(bucket: str, prefix: str, *, s3: Any = None) -> list[str]:
    """The current objects' keys under ``prefix`` (every page of the listing)."""
    pages = (s3 or client("s3")).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [obj["Key"] for page in pages for obj in page.get("Contents", [])]


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
    """Publish a whole gallery where the recognize functions read it, replacing what is there (a new stack's
    first gallery; every later edit goes through :func:`update_gallery`)."""
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
