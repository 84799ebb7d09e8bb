"""Erase as a job (facepipe.ops.erase) on real boto3 calls to moto: the index finds a person's clips without
decoding any, a failure partway resumes, someone only removed from the gallery is still erasable, a cluster
that lost a crop does not stop it; and gallery edits (facepipe.aws.gallery_store.update_gallery) never undo each other.

Tables are created exactly as template.yaml declares them (the ``ByPerson`` index included). Encodings are
made-up 128-d points (the bookkeeping is what is tested); real faces go through the local stack in
tests/integration/test_privacy.py and test_unknowns.py.
"""

from __future__ import annotations

import json
import math
import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from facepipe.aws import gallery_store, s3_objects
from facepipe.aws.clients import client
from facepipe.aws.sightings import SeenEntry, Sighting, Sightings
from facepipe.aws.unknowns import NewFace, UnknownStore
from facepipe.core.errors import GalleryError
from facepipe.core.settings import explicit_settings
from facepipe.identity.gallery import Gallery, GalleryPhoto
from facepipe.ops.erase import EraseError, EraseJobs, sweep_prefixes
from tests.unit.test_handlers import create_template_table

BUCKET = "clips-erase"


def _point(seed: int) -> list[float]:
    rng = random.Random(seed)
    raw = [rng.gauss(0, 1) for _ in range(128)]
    norm = math.sqrt(sum(x * x for x in raw))
    return [x / norm for x in raw]


OBAMA, BIDEN = _point(1), _point(2)


def _photo(person: str, encoding: list[float], n: int = 0) -> GalleryPhoto:
    return GalleryPhoto(source=f"people/{person}/{n}.jpg", sha256=f"{n:064x}", encoding=encoding)


@pytest.fixture()
def stack(aws_env):
    """A stack's storage on moto: the versioned bucket and the tables as the template declares them."""
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        for logical in ("StudentsTable", "SightingsTable", "UnknownsTable"):
            create_template_table(logical.lower(), logical)
        yield explicit_settings(
            bucket_name=BUCKET,
            students_table="studentstable",
            sightings_table="sightingstable",
            unknowns_table="unknownstable",
            # No warm recognize function here holds the gallery: the index is read again at once.
            gallery_refresh_seconds=0,
            erase_settle_seconds=0,
        )


def _enroll(settings, people: dict[str, list[float]]) -> None:
    def add(gallery: Gallery) -> None:
        for person, encoding in people.items():
            gallery.add_photos(person, [_photo(person, encoding)])

    gallery_store.update_gallery(BUCKET, settings.gallery_key, add)
    for person in people:
        s3_objects.put_bytes(BUCKET, f"people/{person}/0.jpg", b"photo", "image/jpeg")
        client("dynamodb").put_item(
            TableName=settings.students_table,
            Item={"id": {"S": person}, "name": {"S": person.title()}, "major": {"S": "History"}},
        )


def _seen(settings, device: str, seq: int, ids: list[str], uncropped: list[str] | None = None) -> str:
    """A clip stored and its sighting written as the enrich stage writes them (``uncropped``: named faces beyond the
    16 whose crops are kept)."""
    at = (datetime.now(UTC) - timedelta(minutes=10) + timedelta(seconds=seq)).isoformat(timespec="milliseconds")
    key = f"clips/{device}/{seq:06d}_x.mp4"
    version = client("s3").put_object(Bucket=BUCKET, Key=key, Body=b"not decoded by erase")["VersionId"]
    faces = [SeenEntry(id=i, name=None, distance=0.3, crop=b"crop") for i in ids]
    Sightings(settings.sightings_table, dynamodb=client("dynamodb")).put(
        Sighting(
            device_id=device,
            at=at,
            seq=seq,
            key=key,
            status="ok",
            latency_ms=250.0,
            faces=faces,
            # Odd clips' sightings name no version (as for a bucket without versioning): listed, then deleted.
            version_id=version if seq % 2 == 0 else None,
            uncropped=uncropped or [],
        )
    )
    return key


def _clips() -> set[str]:
    listed = client("s3").list_object_versions(Bucket=BUCKET, Prefix="clips/")
    return {v["Key"] for v in listed.get("Versions", [])}


def _audit() -> dict:
    (obj,) = client("s3").list_objects_v2(Bucket=BUCKET, Prefix="audit/erasures/")["Contents"]
    return json.loads(s3_objects.get_bytes(BUCKET, obj["Key"]))


@pytest.fixture()
def no_decoding(monkeypatch):
    """Erase by the index decodes no clip: any attempt fails the test."""

    def refuse(*_, **__):
        raise AssertionError("a clip was decoded")

    monkeypatch.setattr("facepipe.media.video.decode_chosen", refuse)


def test_erase_finds_their_clips_by_the_index_and_decodes_none(stack, no_decoding):
    _enroll(stack, {"obama": OBAMA, "biden": BIDEN})
    store = UnknownStore(stack.unknowns_table, BUCKET, dynamodb=client("dynamodb"), s3=client("s3"))
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    cluster = store.assign(NewFace(OBAMA, b"jpeg", "clips/cam/000009_x.mp4", "cam", now, 80, 100.0))
    his = [_seen(stack, "cam", n, ["obama"]) for n in range(1, 4)] + [_seen(stack, "cam", 9, [cluster])]
    theirs = [_seen(stack, "cam", 5, ["biden"]), _seen(stack, "door", 6, ["biden", "unknown"])]
    both = _seen(stack, "door", 7, ["obama", "biden"])

    job = EraseJobs(stack).erase("obama")

    assert job.status == "completed" and job.clips_deleted == 5 and job.sightings_deleted == 5
    assert _clips() == set(theirs)
    assert not {*his, both} & _clips()
    history = Sightings(stack.sightings_table, dynamodb=client("dynamodb"))
    assert history.mentions("obama") == [] and history.mentions(cluster) == []
    # The clip naming both went (it showed him), and so did its sighting (his crop and name). Biden's mention of it
    # stays: it is Biden's own record, which his attendance is read from (erasing one student marks no classmate
    # absent).
    assert sorted(m.key for m in history.mentions("biden")) == sorted([*theirs, both])
    assert store.all() == [] and job.unknowns_deleted == [cluster]
    gallery, _ = gallery_store.get_gallery(BUCKET, stack.gallery_key)
    assert gallery.ids() == ["biden"] and gallery.erased_ids() == {"obama"}
    assert len(s3_objects.versions(BUCKET, stack.gallery_key)) == 1  # no older version holds his encodings
    dynamodb = client("dynamodb")
    assert "Item" not in dynamodb.get_item(TableName=stack.students_table, Key={"id": {"S": "obama"}})
    assert "Item" in dynamodb.get_item(TableName=stack.students_table, Key={"id": {"S": "biden"}})
    assert client("s3").list_object_versions(Bucket=BUCKET, Prefix="people/obama/").get("Versions", []) == []
    record = _audit()
    assert record["status"] == "completed" and record["person_id"] == "obama" and record["reference_faces"] == 1
    assert client("s3").list_object_versions(Bucket=BUCKET, Prefix="erase-jobs/").get("Versions", []) == []


def test_erase_reaches_a_student_named_in_a_full_classroom_without_a_crop(stack, no_decoding):
    """A clip naming more than 16 people keeps the 16 largest faces' crops; the back row is named all the same
    (issue 32): erasing a back-row student finds and deletes that clip, its sighting and their mention of it; a
    classmate's mention of it stays (their attendance)."""
    _enroll(stack, {"obama": OBAMA, "biden": BIDEN})
    full = _seen(stack, "room-12", 4, ["biden"], uncropped=["obama"])
    other = _seen(stack, "room-12", 6, ["biden"])

    job = EraseJobs(stack).erase("obama")

    assert job.status == "completed" and job.clips_deleted == 1 and job.sightings_deleted == 1
    assert _clips() == {other} and full not in _clips()
    history = Sightings(stack.sightings_table, dynamodb=client("dynamodb"))
    assert history.mentions("obama") == []
    assert sorted(m.key for m in history.mentions("biden")) == [full, other]
    assert all("obama" not in s.person_ids for s in history.query("room-12", after="2000"))


def test_erase_after_a_cluster_lost_a_crop(stack, no_decoding):
    """On the old main this crashed in UnknownStore.near with 404 HeadObject, halfway through."""
    _enroll(stack, {"obama": OBAMA})
    store = UnknownStore(stack.unknowns_table, BUCKET, dynamodb=client("dynamodb"), s3=client("s3"))
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    cluster = store.assign(NewFace(OBAMA, b"jpeg-a", "clips/cam/000001_x.mp4", "cam", now, 80, 100.0))
    (crop,) = store.get(cluster).crops
    s3_objects.delete_versions(BUCKET, crop.key)  # gone (evicted, or expired by the lifecycle rule)

    job = EraseJobs(stack).erase("obama")

    assert job.status == "completed" and job.unknowns_deleted == [cluster] and store.all() == []


def test_erase_resumes_after_a_failure_partway(stack, no_decoding):
    """On the old main a second `people erase` was refused ("obama: not in s3://...") once the gallery step
    had run: a crash after it left the rest for ever. Here the job resumes and completes."""
    _enroll(stack, {"obama": OBAMA, "biden": BIDEN})
    clip = _seen(stack, "cam", 1, ["obama"])
    calls = {"n": 0}

    def fail_second_bulk_delete(**_):
        calls["n"] += 1
        if calls["n"] == 2:  # the first is the gallery's old versions; the second, his clip
            raise ConnectionError("network lost mid-erase")

    s3 = client("s3")
    s3.meta.events.register("before-call.s3.DeleteObjects", fail_second_bulk_delete)
    with pytest.raises(ConnectionError):
        EraseJobs(stack).erase("obama")
    s3.meta.events.unregister("before-call.s3.DeleteObjects", fail_second_bulk_delete)
    assert _audit()["status"] == "pending"  # on record from its first moment
    assert "obama" not in gallery_store.get_gallery(BUCKET, stack.gallery_key)[0].ids()  # the gallery went first
    assert clip in _clips()

    job = EraseJobs(stack).erase("obama")  # run again: resumes the same job

    assert job.status == "completed" and job.clips_deleted == 1 and clip not in _clips()
    assert _audit()["status"] == "completed" and _audit()["id"] == job.id
    assert "Item" not in client("dynamodb").get_item(TableName=stack.students_table, Key={"id": {"S": "obama"}})


def test_a_clip_named_by_a_warm_function_after_the_gallery_changed_is_found_too(stack, no_decoding, monkeypatch):
    """Warm recognize functions keep the gallery up to GalleryRefreshSeconds: a clip they answer meanwhile still
    names the person. Erase reads the index again once that time (and ERASE_SETTLE_SECONDS) has passed."""
    _enroll(stack, {"obama": OBAMA})
    late: list[str] = []
    unknowns = EraseJobs._step_unknowns

    def then_a_warm_function_answers(self, job):
        late.append(_seen(stack, "cam", 40, ["obama"]))  # written after the index was first read
        unknowns(self, job)

    monkeypatch.setattr(EraseJobs, "_step_unknowns", then_a_warm_function_answers)
    early = _seen(stack, "cam", 41, ["obama"])
    job = EraseJobs(stack).erase("obama")
    assert not {early, *late} & _clips() and job.clips_deleted == 2


def test_erase_of_a_person_only_removed_from_the_gallery(stack, no_decoding):
    """Removed (the console's Remove keeps record, photos and history): their encodings are still found in the
    gallery's older versions, so their unknown-face cluster goes too. On the old main: "obama: not in s3://..."."""
    _enroll(stack, {"obama": OBAMA, "biden": BIDEN})
    store = UnknownStore(stack.unknowns_table, BUCKET, dynamodb=client("dynamodb"), s3=client("s3"))
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    cluster = store.assign(NewFace(OBAMA, b"jpeg", "clips/cam/000002_x.mp4", "cam", now, 80, 100.0))
    clip = _seen(stack, "cam", 2, [cluster])
    gallery_store.update_gallery(BUCKET, stack.gallery_key, lambda g: g.remove("obama"))

    job = EraseJobs(stack).erase("obama")

    assert job.reference_faces == 1 and job.unknowns_deleted == [cluster] and clip not in _clips()
    assert job.photos_deleted == 1 and job.record_deleted


def test_erase_of_someone_never_known_is_a_clear_error_and_starts_nothing(stack):
    _enroll(stack, {"biden": BIDEN})
    with pytest.raises(EraseError, match="nobody: not known to this stack"):
        EraseJobs(stack).erase("nobody")
    assert client("s3").list_objects_v2(Bucket=BUCKET, Prefix="audit/").get("KeyCount", 0) == 0


def test_erasing_someone_already_erased_says_when_and_succeeds(stack, no_decoding, tmp_path, capsys):
    """A consent-withdrawal list re-run by a script: the second erase of an id finds its tombstone, says when, and
    exits 0 (from the stack and from a gallery file alike), starting no job."""
    from facepipe.cli.main import main
    from facepipe.ops.erase import AlreadyErased, erase_from_file

    _enroll(stack, {"obama": OBAMA, "biden": BIDEN})
    first = EraseJobs(stack).erase("obama")
    with pytest.raises(AlreadyErased, match=re.escape(f"obama: already erased at {first.erased_at}")) as again:
        EraseJobs(stack).erase("obama")
    assert again.value.erased_at == first.erased_at
    assert EraseJobs(stack).jobs() == []

    gallery = Gallery()
    gallery.add_photos("biden", [_photo("biden", BIDEN)])
    path = tmp_path / "gallery.json"
    gallery.save(path)
    erased = erase_from_file("biden", path, stack)
    assert main(["people", "erase", "biden", "--gallery", str(path)]) == 0
    assert f"biden: already erased at {erased.erased_at}; nothing left to erase." in capsys.readouterr().out


def test_two_concurrent_gallery_edits_both_survive(stack):
    """Edit A reads the gallery; edit B reads, changes and writes it; A's write is then refused (412) and A is
    applied again on B's gallery. On the old main the last writer replaced the gallery: B's person was lost."""
    _enroll(stack, {"biden": BIDEN})
    attempts = {"a": 0}

    def edit_a(gallery: Gallery) -> None:
        attempts["a"] += 1
        if attempts["a"] == 1:  # B lands between A's read and A's write
            gallery_store.update_gallery(
                BUCKET, stack.gallery_key, lambda g: g.add_photos("b_person", [_photo("b", OBAMA)])
            )
        gallery.add_photos("a_person", [_photo("a", _point(3))])

    gallery_store.update_gallery(BUCKET, stack.gallery_key, edit_a)

    gallery, _ = gallery_store.get_gallery(BUCKET, stack.gallery_key)
    assert attempts["a"] == 2 and gallery.ids() == ["a_person", "b_person", "biden"]


def test_a_refused_gallery_edit_writes_nothing(stack):
    _enroll(stack, {"biden": BIDEN})
    before = s3_objects.versions(BUCKET, stack.gallery_key)

    def refuse(gallery: Gallery) -> None:
        gallery.remove("biden")
        raise GalleryError("refused after changing the copy read")

    with pytest.raises(GalleryError):
        gallery_store.update_gallery(BUCKET, stack.gallery_key, refuse)
    assert s3_objects.versions(BUCKET, stack.gallery_key) == before


def test_an_erased_person_stays_out_unless_the_operator_says_so(stack, no_decoding):
    _enroll(stack, {"obama": OBAMA})
    EraseJobs(stack).erase("obama")
    again = Gallery()
    again.add_photos("obama", [_photo("obama", OBAMA, 5)])

    def merge(gallery: Gallery, allow: bool = False) -> list[str]:
        gallery.check_not_erased(again.ids(), allow=allow)
        return gallery.merge(again)

    with pytest.raises(GalleryError, match="obama: erased before"):
        gallery_store.update_gallery(BUCKET, stack.gallery_key, merge)
    assert gallery_store.update_gallery(BUCKET, stack.gallery_key, lambda g: merge(g, allow=True)) == ["obama"]
    gallery, _ = gallery_store.get_gallery(BUCKET, stack.gallery_key)
    assert gallery.ids() == ["obama"] and gallery.erased_ids() == set()


def test_sweep_prefixes_cover_every_clip_in_pages_moto_reads_whole():
    keys = [f"clips/cam{d}/{n:06d}_x.mp4" for d in range(3) for n in range(1500 if d == 0 else 10)]
    prefixes = sweep_prefixes(keys, page=1000)
    assert all(sum(k.startswith(p) for k in keys) <= 1000 for p in prefixes)
    assert all(sum(k.startswith(p) for p in prefixes) == 1 for k in keys)  # each clip in exactly one
    assert sweep_prefixes([]) == [] and sweep_prefixes(keys[:5]) == ["clips/"]


def test_a_version_s3_would_not_delete_stops_the_erase_instead_of_being_counted(stack):
    """DeleteObjects answers 200 and lists the keys it could not delete: one refused (here AccessDenied, as an
    object lock would) is an error, never counted as erased; one already gone is fine."""
    from botocore.awsrequest import AWSResponse
    from botocore.exceptions import ClientError

    key = "clips/cam/000001_x.mp4"
    version = client("s3").put_object(Bucket=BUCKET, Key=key, Body=b"clip")["VersionId"]
    s3_objects.delete_exact_versions(BUCKET, [("clips/cam/gone.mp4", "no-such-version")])  # already gone: fine

    def refuse(**_):
        error = {"Key": key, "VersionId": version, "Code": "AccessDenied", "Message": "Access Denied"}
        return AWSResponse("", 200, {}, None), {"Errors": [error], "ResponseMetadata": {"HTTPStatusCode": 200}}

    s3 = client("s3")
    s3.meta.events.register("before-call.s3.DeleteObjects", refuse)
    try:
        with pytest.raises(ClientError, match="AccessDenied"):
            s3_objects.delete_versions(BUCKET, key)
    finally:
        s3.meta.events.unregister("before-call.s3.DeleteObjects", refuse)
    assert key in _clips()


def test_erase_takes_them_out_of_every_cameras_view(stack, no_decoding):
    """Who is in each camera's view (kept for the events sent on change: facepipe.aws.presence) names people:
    erase removes them (and their unknown-face clusters) from every device's item, and no one else."""
    from facepipe.aws import presence

    create_template_table("devicestable", "DevicesTable")
    settings = stack.model_copy(update={"devices_table": "devicestable"})
    _enroll(settings, {"obama": OBAMA, "biden": BIDEN})
    dynamodb = client("dynamodb")
    for device in ("cam", "door"):
        dynamodb.put_item(TableName="devicestable", Item={"device_id": {"S": device}, "registered_at": {"S": "x"}})
        presence.entered("devicestable", device, {"obama", "biden"}, datetime.now(UTC), dynamodb=dynamodb, gap_s=60)

    job = EraseJobs(settings).erase("obama")

    assert job.in_view_removed == 2
    for device in ("cam", "door"):
        item = dynamodb.get_item(TableName="devicestable", Key={"device_id": {"S": device}})["Item"]
        assert "in_view#obama" not in item and "in_view#biden" in item


def _plant(key: str, body: object) -> None:
    client("s3").put_object(Bucket=BUCKET, Key=key, Body=json.dumps(body).encode())


def test_a_planted_sweep_result_naming_the_gallery_is_refused_and_the_gallery_survives(stack, no_decoding):
    """A sweep batch records only clips; a result naming anything else (written by whatever could write the job's
    sweep folder: the recognize function decodes untrusted clips) is refused, counted, and deletes nothing."""
    from facepipe.ops.erase import EraseJob

    _enroll(stack, {"obama": OBAMA, "biden": BIDEN})
    clip = _seen(stack, "cam", 1, ["biden"])
    jobs = EraseJobs(stack)
    job = EraseJob(id="a" * 32, person_id="obama", erased_at="2026-12-07T10:00:00+00:00", sweep=True)
    planted = ["gallery/gallery.json", "people/biden/0.jpg", "audit/erasures/x.json", "clips/../gallery/gallery.json"]
    _plant(f"{job.folder}sweep/9_9_planted.json", {"matched": [*planted, clip]})

    assert jobs.sweep.collect(job, wait=True, progress=None)

    assert job.sweep_refused == 4 and job.clips_deleted == 1 and clip not in _clips()
    gallery, _ = gallery_store.get_gallery(BUCKET, stack.gallery_key)
    assert gallery.ids() == ["biden", "obama"]
    assert s3_objects.keys_under(BUCKET, "people/biden/") == ["people/biden/0.jpg"]


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"unknowns_deleted": ["biden"]}, "not an unknown-face cluster's id"),
        ({"steps_done": ["gallery", "everything"]}, "not a step of erase"),
        ({"sightings_done": ["biden"]}, "neither the person nor one of their clusters"),
        ({"person_id": "../biden"}, "person_id"),
        ({"id": "b" * 32}, "is not its folder's"),
    ],
)
def test_a_planted_job_record_is_refused_never_run_and_a_page_view_changes_nothing(stack, fields, why):
    """A job record erase could not have written is refused by name and never run; a valid-looking one is only
    shown by a page view (the console's GET): nothing is erased until the operator continues it."""
    _enroll(stack, {"obama": OBAMA, "biden": BIDEN})
    record = {"id": "c" * 32, "person_id": "obama", "erased_at": "2026-12-07T10:00:00+00:00"} | fields
    _plant(f"erase-jobs/{'c' * 32}/job.json", record)
    valid = {"id": "d" * 32, "person_id": "biden", "erased_at": "2026-12-07"}
    _plant(f"erase-jobs/{'d' * 32}/job.json", valid)

    jobs = EraseJobs(stack)
    shown = jobs.unfinished()

    assert [j.person_id for j in shown] == ["biden"]  # shown as it stands...
    ((key, reason),) = jobs.refused
    assert key == f"erase-jobs/{'c' * 32}/job.json" and why in reason
    gallery, _ = gallery_store.get_gallery(BUCKET, stack.gallery_key)
    assert gallery.ids() == ["biden", "obama"]  # ...and nothing ran
    assert json.loads(s3_objects.get_bytes(BUCKET, f"erase-jobs/{'d' * 32}/job.json")) == valid  # not advanced
    with pytest.raises(EraseError, match=f"{'c' * 32}: no erase job under way"):
        jobs.advance("c" * 32)


def test_one_job_is_never_run_twice_at_once(stack, no_decoding):
    """Two console tabs and the CLI: a run holds the job's lease; a second is refused while it is held, and a
    lease left by a run that died is taken over."""
    import time as clock

    from facepipe.ops.erase import LEASE_SECONDS

    _enroll(stack, {"obama": OBAMA})
    job = EraseJobs(stack)._start("obama", sweep=False)
    _plant(f"{job.folder}lease.json", {"since": clock.time()})
    with pytest.raises(EraseError, match=f"obama: erase job {job.id} is being run elsewhere"):
        EraseJobs(stack).erase("obama")
    _plant(f"{job.folder}lease.json", {"since": clock.time() - LEASE_SECONDS - 1})
    assert EraseJobs(stack).erase("obama").status == "completed"
    assert s3_objects.keys_under(BUCKET, "erase-jobs/") == []


def test_a_job_whose_record_expired_is_redone_and_its_pending_audit_completed(stack, no_decoding):
    """erase-jobs/ expires a week after a write: a job left standing that long loses its record and its faces. Its
    audit record stays pending; erasing the id again redoes every step (each idempotent) and completes it."""
    _enroll(stack, {"obama": OBAMA, "biden": BIDEN})
    clip = _seen(stack, "cam", 1, ["obama"])
    jobs = EraseJobs(stack)
    stranded = jobs._start("obama", sweep=False)
    s3_objects.delete_prefix(BUCKET, stranded.folder)  # what the lifecycle rule does after a week

    job = EraseJobs(stack).erase("obama")

    assert job.status == "completed" and job.completes == [stranded.audit_key]
    records = {
        key: json.loads(s3_objects.get_bytes(BUCKET, key)) for key in s3_objects.keys_under(BUCKET, "audit/erasures/")
    }
    assert {r["status"] for r in records.values()} == {"completed"}
    assert records[stranded.audit_key]["completed_by"] == job.id
    assert clip not in _clips() and gallery_store.get_gallery(BUCKET, stack.gallery_key)[0].ids() == ["biden"]
    assert s3_objects.keys_under(BUCKET, "erase-jobs/") == []


def test_a_job_that_lost_its_faces_gathers_them_again_while_the_gallery_holds_them(stack, no_decoding):
    """The job's encodings gone before the gallery step (the folder expired while it stood still): they are taken
    again from the gallery, and its clusters are still found by them."""
    _enroll(stack, {"obama": OBAMA})
    store = UnknownStore(stack.unknowns_table, BUCKET, dynamodb=client("dynamodb"), s3=client("s3"))
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    cluster = store.assign(NewFace(OBAMA, b"jpeg", "clips/cam/000009_x.mp4", "cam", now, 80, 100.0))
    started = EraseJobs(stack)._start("obama", sweep=False)
    client("s3").delete_object(Bucket=BUCKET, Key=f"{started.folder}encodings.json")

    job = EraseJobs(stack).erase("obama")

    assert job.status == "completed" and job.unknowns_deleted == [cluster]


def test_clips_a_sweep_batch_handed_back_are_swept_by_erase_itself(stack, gallery_path, clip_factory):
    """A batch that drew near its invocation's end lists the clips it did not reach: erase decodes and matches them
    itself (the same code), and deletes the one that shows him."""
    from facepipe.ops.erase import EraseJob
    from facepipe.pipeline.sweep import encodings_key

    obama = Gallery.load(gallery_path).person("obama")
    job = EraseJob(id="f" * 32, person_id="obama", erased_at="2026-12-07T10:00:00+00:00", sweep=True)
    _plant(encodings_key(job.id), [p.encoding for p in obama.photos])
    s3 = client("s3")
    his, theirs = "clips/cam/000001_x.mp4", "clips/cam/000002_x.mp4"
    s3.put_object(Bucket=BUCKET, Key=his, Body=clip_factory("obama-480p.jpg").read_bytes())
    s3.put_object(Bucket=BUCKET, Key=theirs, Body=clip_factory("kit_with_rose.jpg").read_bytes())
    _plant(f"{job.folder}sweep/0_0_handedback.json", {"matched": [], "unreadable": [], "unscanned": [his, theirs]})

    assert EraseJobs(stack).sweep.collect(job, wait=True, progress=None)

    assert _clips() == {theirs} and job.clips_deleted == 1 and job.sweep_scanned == 2


def test_what_a_warm_gallery_wrote_after_the_in_view_step_is_gone_after_the_job(stack, no_decoding, monkeypatch):
    """A warm function still holding the old gallery names him after erase took him out of each camera's view
    (an execution under way: its enrich writes `in_view#obama` and a mention again). The late pass, after the
    settle time, reads every person-keyed store again: after the job nothing names him."""
    from facepipe.aws import presence
    from facepipe.ops.erase import EraseJobs as Jobs

    create_template_table("devicestable", "DevicesTable")
    settings = stack.model_copy(update={"devices_table": "devicestable"})
    _enroll(settings, {"obama": OBAMA})
    dynamodb = client("dynamodb")
    dynamodb.put_item(TableName="devicestable", Item={"device_id": {"S": "cam"}, "registered_at": {"S": "x"}})
    late: list[str] = []
    in_view = Jobs._step_in_view

    def then_named_again(self, job):
        in_view(self, job)
        if not late:  # the stale execution's answer lands now, after the first in-view step
            late.append(_seen(settings, "cam", 7, ["obama"]))
            presence.entered("devicestable", "cam", {"obama"}, datetime.now(UTC), dynamodb=dynamodb, gap_s=60)

    monkeypatch.setattr(Jobs, "_step_in_view", then_named_again)
    EraseJobs(settings).erase("obama")

    item = dynamodb.get_item(TableName="devicestable", Key={"device_id": {"S": "cam"}})["Item"]
    assert "in_view#obama" not in item
    assert late[0] not in _clips()
    assert Sightings(stack.sightings_table, dynamodb=dynamodb).mentions("obama") == []


def test_the_settle_time_is_derived_from_the_pipelines_own_timeouts_and_retries():
    """Recognize (30 s, one rerun after a service error) and Enrich (10 s, likewise), with every retrier's waits:
    a change of a timeout or a retry in statemachine/pipeline.asl.json changes how long erase waits."""
    from facepipe.ops.settle import answer_window_s, pipeline_window_s

    definition = json.loads((Path(__file__).resolve().parents[2] / "statemachine/pipeline.asl.json").read_text())
    assert pipeline_window_s() == round(answer_window_s(definition), 1) > 85  # the issue's ~85 s was a floor
    definition["States"]["Recognize"]["TimeoutSeconds"] += 30
    assert answer_window_s(definition) == pytest.approx(pipeline_window_s() + 60, abs=0.1)  # and its rerun
    assert explicit_settings().erase_settle_seconds is None  # unset: derived


def test_erase_runs_each_step_of_its_list_from_one_table(stack):
    """Erase reads like its step list: every name of STEPS has exactly one function (no method names built from
    strings), in that order."""
    from facepipe.ops.erase import STEPS

    assert tuple(EraseJobs(stack).steps) == STEPS
