"""The stack's bucket as plain objects: clips read within a size limit, bytes in and out, object versions and
prefixes deleted (erase, the unknown faces' crops)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from facepipe.aws.clients import client
from facepipe.core.errors import ClipTooLargeError, EmptyClipError


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
