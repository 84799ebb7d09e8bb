"""The gallery in the bucket: read, edited with conditional writes (an edit never undoes another), published,
cached per process (reloaded when its ETag changes); enrolled people's photos where the console shows them."""

from __future__ import annotations

import mimetypes
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from facepipe.aws.clients import client
from facepipe.aws.s3_objects import get_bytes, head, put_bytes
from facepipe.core.errors import GalleryError
from facepipe.identity.gallery import Gallery

T = TypeVar("T")
# S3's answers to a conditional write that lost: the object changed (412), or another write to it was under
# way at the same moment (409).
_LOST_RACE = ("PreconditionFailed", "412", "ConditionalRequestConflict", "409")
# A gallery of 2,000 people takes ~140 ms to read, change and write here: four editors at once need up to ~10 tries
# for the last one to land (`facepipe bench --scale`, the gallery's cost).
GALLERY_UPDATE_ATTEMPTS = 12

# Enrolled people's photos as the console shows them (facepipe.ops.operator): people/<id>/<file>.
PEOPLE_PREFIX = "people/"


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
        started = time.monotonic()
        gallery, etag = get_gallery(bucket, key, s3=s3)
        result = change(gallery)
        condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=gallery.dumps(), ContentType="application/json", **condition)
            return result
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in _LOST_RACE:
                raise
        # Full jitter, in units of what one try takes (a large gallery's tries are long): racing editors spread out.
        time.sleep(random.uniform(0, max(0.05, time.monotonic() - started) * 2 ** min(attempt, 4)))
    raise GalleryError(f"s3://{bucket}/{key}: changed by others {attempts} times during this edit; nothing was written")


def upload_photos(people_dir: Path, gallery: Gallery, *, bucket: str, s3: Any = None) -> int:
    """Put the enrolled people's photos where the console shows them (``people/<id>/<file>`` in the stack's
    bucket; erase deletes them). Returns how many were uploaded."""
    count = 0
    for person in gallery.people:
        folder = people_dir / person.id
        for photo in person.photos:
            path = folder / Path(photo.source).name
            if path.is_file():
                kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
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
