"""The unknown-face store (facepipe.aws.unknowns) on real boto3 calls to moto: clusters, crops, retention, actions.

Encodings here are made-up 128-d points at known distances (the store's arithmetic is what is tested); real
faces clustered through the whole pipeline are in tests/integration/test_unknowns.py.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from facepipe.aws.unknowns import NewFace, UnknownStore
from facepipe.identity.clusters import MAX_CROPS, UnknownError, check_id, distance

BUCKET, TABLE = "clips", "unknowns"


def _point(seed: int) -> list[float]:
    rng = random.Random(seed)
    raw = [rng.gauss(0, 1) for _ in range(128)]
    norm = math.sqrt(sum(x * x for x in raw))
    return [x / norm for x in raw]  # unit vectors: two of them are ~1.4 apart, as two strangers' faces


def _near(base: list[float], seed: int, spread: float = 0.02) -> list[float]:
    rng = random.Random(seed)
    return [x + rng.gauss(0, spread) for x in base]  # ~0.2-0.3 away: the same face again


NOON = datetime(2026, 11, 30, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    """The store's clock at noon of the faces' day (retention is counted from when a face was seen)."""
    now = {"t": NOON.timestamp()}
    monkeypatch.setattr("facepipe.aws.unknowns.time.time", lambda: now["t"])
    return now


def _face(encoding: list[float], n: int, height: int = 80, device: str = "cam1") -> NewFace:
    at = (NOON + timedelta(seconds=n)).isoformat(timespec="milliseconds")
    return NewFace(encoding, f"jpeg-{n}".encode(), f"clips/{device}/{n:06d}_x.mp4", device, at, height, 100.0)


@pytest.fixture()
def store(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        s3, dynamodb = boto3.client("s3"), boto3.client("dynamodb")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        dynamodb.create_table(
            TableName=TABLE,
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield UnknownStore(TABLE, BUCKET, dynamodb=dynamodb, s3=s3, tolerance=0.5, retention_days=1, refresh_s=0)


def _item_bytes(value: dict) -> int:
    """An item's size as DynamoDB bills it: attribute names and values (numbers ~ their digits), plus the
    per-element overhead of lists and maps."""

    def size(typed: dict) -> int:
        ((kind, inner),) = typed.items()
        if kind in ("S", "N"):
            return len(str(inner).encode())
        if kind == "B":
            return len(inner)
        if kind == "BOOL":
            return 1
        if kind == "SS":
            return sum(len(x.encode()) for x in inner)
        if kind == "L":
            return 3 + sum(1 + size(x) for x in inner)
        return 3 + sum(len(k) + 1 + size(v) for k, v in inner.items())  # M

    return sum(len(name) + size(typed) for name, typed in value.items())


def _keys(store: UnknownStore) -> list[str]:
    return sorted(o["Key"] for o in store.s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_the_same_stranger_again_is_one_stable_id_and_another_stranger_a_new_one(store):
    a, b = _point(1), _point(2)
    assert distance(a, _near(a, 10)) < 0.5 < distance(a, b)
    ids = [store.assign(_face(_near(a, 10 + n), n)) for n in range(5)]
    assert ids == ["unknown-1"] * 5
    assert store.assign(_face(b, 9)) == "unknown-2"
    assert store.assign(_face(_near(a, 99), 10)) == "unknown-1"
    one = store.get("unknown-1")
    assert one.seen == 6 and one.devices == ["cam1"] and one.first_seen < one.last_seen
    assert [c.id for c in store.all()] == ["unknown-1", "unknown-2"]  # newest first (last seen)


def test_a_cluster_keeps_only_its_best_crops_and_deletes_the_rest(store):
    a = _point(3)
    heights = [50, 120, 60, 90, 45, 200, 70, 110, 55]
    for n, height in enumerate(heights):
        store.assign(_face(_near(a, n), n, height=height))
    cluster = store.get("unknown-1")
    assert len(cluster.crops) == MAX_CROPS
    assert sorted(c.height_px for c in cluster.crops) == sorted(heights)[-MAX_CROPS:]
    # Exactly the kept crops are in the bucket, each with its face's encoding in its metadata.
    assert _keys(store) == sorted(c.key for c in cluster.crops)
    data, encoding = store.crop_face(cluster.crops[0])
    assert data == b"jpeg-5" and encoding == pytest.approx(_near(a, 5), abs=1e-6)  # the 200-px face
    # ...so the item stays small: it is read and rewritten for every clip the stranger is in.
    item = store.dynamodb.get_item(TableName=TABLE, Key={"id": {"S": "unknown-1"}})["Item"]
    assert _item_bytes(item) <= 2048  # two write units


def test_items_expire_a_retention_after_the_stranger_was_last_seen(store, clock):
    store.assign(_face(_point(4), 0))
    item = store.dynamodb.get_item(TableName=TABLE, Key={"id": {"S": "unknown-1"}})["Item"]
    assert int(item["expires_at"]["N"]) == int((NOON + timedelta(days=1)).timestamp())
    clock["t"] = (NOON + timedelta(days=1, seconds=1)).timestamp()
    # Past it, the store no longer shows it (DynamoDB's TTL deletes it within a day or two).
    with pytest.raises(UnknownError, match="no such unknown face"):
        store.get("unknown-1")
    assert store.all() == []


def test_dismissed_keeps_absorbing_its_face_without_keeping_crops(store):
    a = _point(5)
    store.assign(_face(a, 0))
    store.dismiss("unknown-1")
    assert _keys(store) == []
    assert store.assign(_face(_near(a, 1), 1)) == "unknown-1"  # not a new row in the inbox
    cluster = store.get("unknown-1")
    assert cluster.dismissed and cluster.crops == [] and cluster.seen == 2
    assert _keys(store) == []


def test_forget_deletes_every_version_of_every_crop_and_ids_are_never_reused(store):
    a = _point(6)
    for n in range(3):
        store.assign(_face(_near(a, n), n))
    store.forget("unknown-1")
    assert store.s3.list_object_versions(Bucket=BUCKET).get("Versions", []) == []
    with pytest.raises(UnknownError):
        store.get("unknown-1")
    assert store.assign(_face(a, 7)) == "unknown-2"


def test_near_finds_the_clusters_of_a_face(store):
    a, b = _point(7), _point(8)
    store.assign(_face(a, 0))
    store.assign(_face(b, 1))
    assert store.near([_near(a, 3)], 0.6) == ["unknown-1"]


@pytest.mark.parametrize("bad", ["unknown-0", "unknown-", "7", "unknown-7/../x", "UNKNOWN-7", "unknown-1 "])
def test_an_id_that_is_not_an_unknown_faces_is_refused_by_name(bad):
    with pytest.raises(UnknownError, match="not an unknown face's id"):
        check_id(bad)


def test_only_enrollable_unknown_faces_are_clustered(store):
    """The gate (facepipe.identity.face_crops): a tiny or blurred unknown face is shown as 'unknown' but never kept, so
    it can never be labelled into the gallery; an enrolled person's face is never clustered either."""
    import base64

    from facepipe.aws.sightings import assign_unknowns
    from facepipe.core.contracts import ResultClip, ResultMessage, SeenFace, Status

    def seen(face_id: str, enrollable: bool, encoding: list[float] | None) -> SeenFace:
        crop = base64.b64encode(b"jpeg").decode()
        return SeenFace(
            id=face_id,
            frames=[0],
            frame_index=0,
            box=[0, 40, 40, 0],
            height_px=40 if enrollable else 24,
            sharpness=80.0,
            enrollable=enrollable,
            crop_jpeg=crop,
            encoding=encoding,
        )

    message = ResultMessage(
        device_id="cam1",
        clip=ResultClip(bucket=BUCKET, key="clips/cam1/000001_x.mp4", seq=1, captured_at=None),
        status=Status.OK,
        people=[],
        unknown_faces=2,
        frames_analyzed=3,
        error=None,
        timings_ms={},
        execution_id=None,
    )
    faces = [seen("obama", True, None), seen("unknown", False, _point(9)), seen("unknown", True, _point(10))]
    assert assign_unknowns(faces, message, store, NOON) == ["obama", "unknown", "unknown-1"]
    assert [c.id for c in store.all()] == ["unknown-1"] and len(_keys(store)) == 1


def test_two_faces_of_one_clip_keep_two_crops(store):
    """On the old main two faces of one clip in one cluster shared a key: evicting one deleted the other's."""
    a = _point(20)
    first = NewFace(_near(a, 1), b"jpeg-left", "clips/cam1/000001_x.mp4", "cam1", NOON.isoformat(), 90, 100.0)
    second = NewFace(_near(a, 2), b"jpeg-right", "clips/cam1/000001_x.mp4", "cam1", NOON.isoformat(), 80, 100.0)
    assert store.assign(first) == store.assign(second) == "unknown-1"
    crops = store.get("unknown-1").crops
    assert len({c.key for c in crops}) == 2 and _keys(store) == sorted(c.key for c in crops)
    assert sorted(store.crop_face(c)[0] for c in crops) == [b"jpeg-left", b"jpeg-right"]  # type: ignore[index]
    # The same face again (the clip's answer retried) is linked once, not twice.
    store.assign(first)
    assert len(store.get("unknown-1").crops) == 2


def test_a_missing_crop_reads_as_gone(store):
    a = _point(21)
    store.assign(_face(a, 0))
    (crop,) = store.get("unknown-1").crops
    store.s3.delete_object(Bucket=BUCKET, Key=crop.key)
    assert store.crop_face(crop) is None and store.crop_encoding(crop) is None
    assert store.near([a], 0.5) == ["unknown-1"]  # the centre still finds it; the missing crop is skipped


def test_dismiss_writes_the_cluster_before_deleting_its_crops(store):
    store.assign(_face(_point(22), 0))

    def fail(**_):
        raise ConnectionError("lost mid-dismiss")

    store.s3.meta.events.register("before-call.s3.DeleteObjects", fail)
    with pytest.raises(ConnectionError):
        store.dismiss("unknown-1")
    store.s3.meta.events.unregister("before-call.s3.DeleteObjects", fail)
    cluster = store.get("unknown-1")
    assert cluster.dismissed and cluster.crops == []  # nobody is left holding a link to a crop about to go


def test_a_cluster_lists_only_crops_its_lifecycle_rule_still_keeps(store, clock):
    a = _point(23)
    store.assign(_face(a, 0))
    clock["t"] = (NOON + timedelta(hours=20)).timestamp()
    store.assign(_face(_near(a, 5), 20 * 3600))  # seen again 20 hours later: the cluster lives on
    clock["t"] = (NOON + timedelta(days=1, hours=1)).timestamp()
    (kept,) = store.get("unknown-1").crops  # the first crop is past FaceCropRetentionDays: S3 deletes it
    assert kept.at == (NOON + timedelta(hours=20)).isoformat(timespec="milliseconds")
