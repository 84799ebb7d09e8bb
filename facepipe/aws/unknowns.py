"""Unknown faces, kept briefly and on purpose: "the same stranger, 40 times today" is one ``unknown-<n>``.

The enrich stage gives every enrollable unknown face (facepipe.identity.face_crops: tall and sharp enough) to
:meth:`UnknownStore.assign`: it joins the nearest cluster within ``unknown_cluster_tolerance`` of the cluster's
centre (a running mean of its faces' encodings), or starts ``unknown-<n>``, numbered by an atomic counter so
ids are stable and never reused. Each cluster keeps its ``MAX_CROPS`` best crops (tallest, then sharpest) in
the bucket under ``unknowns/<id>/``, each with its face's encoding in the object's metadata: `facepipe unknowns
label` turns them into gallery photos (enrollment from the camera's own view) without detecting faces again.
The encodings live with the crops, not in the cluster's item, because every clip that sees the stranger reads
and rewrites the item and DynamoDB bills by its size: ~2 KB (2 write units) instead of ~5 KB (5).

Retention: items expire by the table's TTL ``FaceCropRetentionDays`` (1 day by default) after the stranger was
last seen; each crop by the bucket's ``unknowns/`` lifecycle rule, the same number of days after it was kept.
So that the two agree, a cluster read here lists only crops younger than that (an older one is gone or about
to be), and a crop found missing anyway reads as gone, never as an error. A dismissed cluster keeps absorbing
its stranger's faces (so they do not come back as a new row) but keeps no crop.

Crop keys are unique per face (``<device>-<clip>-<hash of the crop>.jpg``): two faces of one clip never share
an object, and a crop is deleted only once no version of its cluster links it.

Pure Python (the enrich function's zip has no numpy): 128-d distances over at most a day's strangers.

Longer than ~250 lines: the conditional writes, the crops and their expiry are one consistency protocol
(a reader never finds a link to a deleted crop); the clusters' arithmetic is facepipe.identity.clusters.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from facepipe.aws.clients import client
from facepipe.aws.items import from_item, to_item
from facepipe.aws.s3_objects import delete_prefix
from facepipe.core.moments import parse_moment
from facepipe.core.settings import Settings
from facepipe.identity.clusters import (
    MAX_CROPS,
    Cluster,
    Crop,
    UnknownError,
    check_id,
    distance,
    follow,
    pack,
    unpack,
)

PREFIX = "unknowns/"
# The counter item's key: not a valid cluster id, so listing skips it.
_COUNTER = "#counter"
# The S3 metadata of a kept crop holding its face's encoding (base64 of 128 little-endian float32: 684 chars).
ENCODING_METADATA = "face-encoding"


def _from_item(item: dict[str, Any]) -> Cluster:
    values = from_item(item)
    return Cluster(
        id=values["id"],
        centre=unpack(values["centre"]),
        seen=values["seen"],
        first_seen=values["first_seen"],
        last_seen=values["last_seen"],
        devices=sorted(values.get("devices", set())),
        dismissed=values.get("dismissed", False),
        crops=[
            Crop(
                key=c["key"],
                clip=c["clip"],
                device_id=c["device_id"],
                at=c["at"],
                height_px=c["height_px"],
                sharpness=float(c["sharpness"]),
            )
            for c in values.get("crops", [])
        ],
        version=values.get("version", 0),
    )


def _to_item(cluster: Cluster, expires_at: int) -> dict[str, Any]:
    return to_item(
        {
            "id": cluster.id,
            "centre": pack(cluster.centre),
            "seen": cluster.seen,
            "first_seen": cluster.first_seen,
            "last_seen": cluster.last_seen,
            "dismissed": cluster.dismissed,
            "crops": [
                {
                    "key": c.key,
                    "clip": c.clip,
                    "device_id": c.device_id,
                    "at": c.at,
                    "height_px": c.height_px,
                    "sharpness": float(c.sharpness),
                }
                for c in cluster.crops
            ],
            "version": cluster.version,
            "expires_at": expires_at,
            "devices": set(cluster.devices) or None,
        }
    )


@dataclass(frozen=True)
class NewFace:
    """An unknown face to assign: its encoding and crop, and where it was seen."""

    encoding: list[float]
    jpeg: bytes
    clip: str
    device_id: str
    at: str
    height_px: int
    sharpness: float


class UnknownStore:
    """The unknown-face clusters of one stack: ``table`` (UnknownsTable) and the crops in ``bucket``."""

    def __init__(
        self,
        table: str,
        bucket: str,
        *,
        dynamodb: Any,
        s3: Any,
        tolerance: float = 0.5,
        retention_days: int = 1,
        refresh_s: float = 30.0,
    ) -> None:
        self.table, self.bucket = table, bucket
        self.dynamodb, self.s3 = dynamodb, s3
        self.tolerance, self.retention_days, self.refresh_s = tolerance, retention_days, refresh_s
        self._centres: list[tuple[str, list[float]]] = []
        self._loaded_at = -math.inf

    @classmethod
    def from_settings(cls, settings: Settings, *, dynamodb: Any = None, s3: Any = None) -> UnknownStore:
        """The stack's store, with its clustering tolerance and FaceCropRetentionDays: the one way every part
        builds it."""
        return cls(
            settings.unknowns_table,
            settings.bucket_name,
            dynamodb=dynamodb or client("dynamodb"),
            s3=s3 or client("s3"),
            tolerance=settings.unknown_cluster_tolerance,
            retention_days=settings.face_crop_retention_days,
        )

    # --- reading ----------------------------------------------------------------------------------
    def all(self) -> list[Cluster]:
        """Every cluster within retention, newest first (a consistent scan: the store is a day's strangers)."""
        clusters: list[Cluster] = []
        now = time.time()
        for page in self.dynamodb.get_paginator("scan").paginate(TableName=self.table, ConsistentRead=True):
            for item in page.get("Items", []):
                values = from_item(item)
                if values["id"] == _COUNTER or values.get("expires_at", math.inf) < now:
                    continue
                clusters.append(self._live(_from_item(item)))
        return sorted(clusters, key=lambda c: c.last_seen, reverse=True)

    def get(self, unknown_id: str) -> Cluster:
        check_id(unknown_id)
        item = self.dynamodb.get_item(TableName=self.table, Key=to_item({"id": unknown_id}), ConsistentRead=True)
        if "Item" not in item or from_item(item["Item"]).get("expires_at", math.inf) < time.time():
            raise UnknownError(f"{unknown_id}: no such unknown face (labelled, expired, or never seen)")
        return self._live(_from_item(item["Item"]))

    def _live(self, cluster: Cluster) -> Cluster:
        """The cluster with only the crops its lifecycle rule still keeps (kept less than the retention ago)."""
        oldest = time.time() - self.retention_days * 86400
        cluster.crops = [c for c in cluster.crops if _timestamp(c.at, default=time.time()) > oldest]
        return cluster

    def crop_face(self, crop: Crop) -> tuple[bytes, list[float]] | None:
        """A kept crop's JPEG and its face's encoding; None when the crop is gone (expired meanwhile)."""
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=crop.key)
        except ClientError as exc:
            if _gone(exc):
                return None
            raise
        return bytes(response["Body"].read()), self._encoding(response, crop)

    def crop_encoding(self, crop: Crop) -> list[float] | None:
        """A kept crop's encoding (one HEAD); None when the crop is gone."""
        try:
            return self._encoding(self.s3.head_object(Bucket=self.bucket, Key=crop.key), crop)
        except ClientError as exc:
            if _gone(exc):
                return None
            raise

    @staticmethod
    def _encoding(response: dict[str, Any], crop: Crop) -> list[float]:
        value = response.get("Metadata", {}).get(ENCODING_METADATA)
        if not value:
            raise UnknownError(f"{crop.key}: the crop has no face encoding (not written by facepipe)")
        return unpack(base64.b64decode(value))

    # --- assigning (the enrich stage) -------------------------------------------------------------
    def _nearest(self, encoding: list[float], fresh: bool) -> str | None:
        if fresh or time.monotonic() - self._loaded_at > self.refresh_s:
            self._centres = [(c.id, c.centre) for c in self.all()]
            self._loaded_at = time.monotonic()
        best = min(((distance(encoding, centre), cid) for cid, centre in self._centres), default=None)
        return best[1] if best is not None and best[0] <= self.tolerance else None

    def assign(self, face: NewFace) -> str:
        """The cluster ``face`` belongs to (made if none is near), its crop kept when among the best."""
        cluster_id = self._nearest(face.encoding, fresh=False) or self._nearest(face.encoding, fresh=True)
        for _ in range(5):
            if cluster_id is None:
                cluster_id = self._create(face)
                self._centres.append((cluster_id, face.encoding))
                return cluster_id
            try:
                cluster = self.get(cluster_id)
            except UnknownError:  # labelled or dismissed-and-expired meanwhile: this face starts a new one
                self._centres = [(cid, c) for cid, c in self._centres if cid != cluster_id]
                cluster_id = None
                continue
            if self._join(cluster, face):
                return cluster_id
        # The crop put by a lost attempt stays under the cluster's prefix until its lifecycle (or erase) takes it:
        # another writer may have linked the same face (a retried clip), so it is never deleted blindly.
        raise UnknownError(f"{cluster_id}: too many concurrent updates")

    def _create(self, face: NewFace) -> str:
        counter = self.dynamodb.update_item(
            TableName=self.table,
            Key=to_item({"id": _COUNTER}),
            UpdateExpression="ADD n :one",
            ExpressionAttributeValues=to_item({":one": 1}),
            ReturnValues="UPDATED_NEW",
        )
        cluster = Cluster(
            id=f"unknown-{from_item(counter['Attributes'])['n']}",
            centre=face.encoding,
            seen=0,
            first_seen=face.at,
            last_seen=face.at,
        )
        if not self._join(cluster, face, new=True):
            raise UnknownError(f"{cluster.id}: made twice")  # the counter never repeats: cannot happen
        return cluster.id

    def _join(self, cluster: Cluster, face: NewFace, *, new: bool = False) -> bool:
        """Add ``face`` to ``cluster`` (one conditional write); False when another writer got there first."""
        cluster.centre = follow(cluster.centre, cluster.seen, face.encoding)
        cluster.seen += 1
        cluster.last_seen = max(cluster.last_seen, face.at)
        cluster.devices = sorted({*cluster.devices, face.device_id})
        evicted: list[Crop] = []
        kept: Crop | None = None
        if not cluster.dismissed:
            stem = re.sub(r"[^A-Za-z0-9_.-]", "_", face.clip.rsplit("/", 1)[-1].rsplit(".", 1)[0])
            digest = hashlib.sha256(face.jpeg).hexdigest()[:12]  # one object per face, even two of one clip
            kept = Crop(
                key=f"{PREFIX}{cluster.id}/{face.device_id}-{stem}-{digest}.jpg",
                clip=face.clip,
                device_id=face.device_id,
                at=face.at,
                height_px=face.height_px,
                sharpness=face.sharpness,
            )
            if any(c.key == kept.key for c in cluster.crops):
                kept = None  # this very face is linked already (the clip's answer retried)
            else:
                ranked = sorted([*cluster.crops, kept], key=lambda c: c.quality, reverse=True)
                cluster.crops, evicted = ranked[:MAX_CROPS], ranked[MAX_CROPS:]
                if kept in evicted:
                    evicted.remove(kept)
                    kept = None
        version = cluster.version
        cluster.version += 1
        if kept is not None:
            self.s3.put_object(
                Bucket=self.bucket,
                Key=kept.key,
                Body=face.jpeg,
                ContentType="image/jpeg",
                Metadata={ENCODING_METADATA: base64.b64encode(pack(face.encoding)).decode()},
            )
        try:
            self.dynamodb.put_item(
                TableName=self.table,
                Item=_to_item(cluster, self._expiry(cluster.last_seen)),
                ConditionExpression="attribute_not_exists(id)" if new else "version = :v",
                **({} if new else {"ExpressionAttributeValues": to_item({":v": version})}),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False  # the caller re-reads the cluster and tries again (the same key: idempotent)
        linked = {c.key for c in cluster.crops}
        for crop in evicted:  # unlinked by the write just made, and linked by no other crop entry
            if crop.key not in linked:
                self.s3.delete_object(Bucket=self.bucket, Key=crop.key)
        return True

    def _expiry(self, last_seen: str) -> int:
        seen = parse_moment(last_seen) or datetime.now(UTC)
        return int((seen + timedelta(days=self.retention_days)).timestamp())

    # --- the operator's actions -------------------------------------------------------------------
    def dismiss(self, unknown_id: str) -> Cluster:
        """Out of the inbox: its crops deleted; its stranger's next faces are absorbed, not shown as new.

        The cluster is written first (no crop linked, dismissed) and the crops deleted after: a reader never
        finds a link to a deleted crop, and a failure in between leaves only unlinked crops, which expire."""
        cluster = self.get(unknown_id)
        cluster.crops, cluster.dismissed = [], True
        version = cluster.version
        cluster.version += 1
        self.dynamodb.put_item(
            TableName=self.table,
            Item=_to_item(cluster, self._expiry(cluster.last_seen)),
            ConditionExpression="version = :v",
            ExpressionAttributeValues=to_item({":v": version}),
        )
        self._delete_crops(cluster.id)
        return cluster

    def forget(self, unknown_id: str) -> None:
        """The cluster and every crop of it, gone (labelled into the gallery, or erased); the item first, so no
        reader is left holding links to deleted crops. Idempotent: a cluster already gone is fine."""
        self.dynamodb.delete_item(TableName=self.table, Key=to_item({"id": unknown_id}))
        self._delete_crops(unknown_id)

    def _delete_crops(self, unknown_id: str) -> None:
        """Every version of every object under the cluster's prefix (the bucket is versioned)."""
        delete_prefix(self.bucket, f"{PREFIX}{unknown_id}/", s3=self.s3)

    def near(self, encodings: list[list[float]], tolerance: float) -> list[str]:
        """Clusters whose centre or a kept crop is within ``tolerance`` of one of ``encodings`` (erase)."""
        hits = []
        for cluster in self.all():
            kept = [e for e in (self.crop_encoding(c) for c in cluster.crops) if e is not None]  # gone: skipped
            if any(distance(a, b) <= tolerance for a in [cluster.centre, *kept] for b in encodings):
                hits.append(cluster.id)
        return hits


def _timestamp(text: str, *, default: float) -> float:
    moment = parse_moment(text)
    return moment.timestamp() if moment else default


def _gone(exc: ClientError) -> bool:
    """An S3 error that means the object is not there (any more): deleted, expired, never written."""
    return exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound", "NoSuchVersion")
