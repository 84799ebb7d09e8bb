"""Biometric data: a person is erased everywhere, the erasure is recorded, and logs never hold encodings."""

from __future__ import annotations

import json
import re
import shutil

import boto3

from facepipe.aws import s3_objects
from facepipe.cli.main import main
from facepipe.identity.gallery import Gallery
from facepipe.identity.records import validate_records
from facepipe.local.client import receive_results, upload_clip
from facepipe.local.stack import local_stack
from tests.integration.conftest import talking_to


def test_people_erase_removes_a_person_everywhere(gallery_path, samples, clip_factory, tmp_path, capsys):
    local_gallery = tmp_path / "gallery.json"
    shutil.copy(gallery_path, local_gallery)
    # Warm recognize workers re-check the gallery every second here (30 s by default).
    with local_stack(workers=1, parameters={"GalleryRefreshSeconds": "1"}) as stack, talking_to(stack):
        out = stack.outputs
        stack.load(gallery=Gallery.load(gallery_path), students=validate_records(samples / "students.json").records)
        stack.add_device("erase")
        queue = stack.queue_url("erase")
        uploads = [
            upload_clip(clip_factory(p), bucket=out.bucket, device_id="erase", seq=i)
            for i, p in enumerate(["kit_with_rose.jpg", "obama-480p.jpg"], 1)
        ]
        receive_results(queue, {u.key: u for u in uploads}, timeout_s=60)

        code = main(
            [
                "people",
                "erase",
                "kit_harington",
                "--gallery",
                str(local_gallery),
                "--bucket",
                out.bucket,
                "--table",
                out.students_table,
            ]
        )
        assert code == 0
        said = capsys.readouterr().out
        assert "Erased kit_harington: 4 gallery photo(s)" in said  # 2 local + 2 in S3
        # Found by the sightings index (the clip that named him), not by decoding every stored clip.
        assert "1 stored clip(s)" in said and "1 sighting(s)" in said

        s3 = boto3.client("s3")
        assert "kit_harington" not in Gallery.load(local_gallery).ids()
        assert "kit_harington" not in Gallery.loads(s3_objects.get_bytes(out.bucket, out.gallery_key)).ids()
        gallery_versions = s3.list_object_versions(Bucket=out.bucket, Prefix=out.gallery_key)["Versions"]
        assert len(gallery_versions) == 1  # no older version still holds the encodings
        record = boto3.client("dynamodb").get_item(TableName=out.students_table, Key={"id": {"S": "kit_harington"}})
        assert "Item" not in record
        # The clip Kit is in is gone with every version; Obama's clip stays. No frames were ever stored.
        remaining = {o["Key"] for o in s3.list_object_versions(Bucket=out.bucket, Prefix="clips/").get("Versions", [])}
        assert remaining == {uploads[1].key}
        assert s3.list_objects_v2(Bucket=out.bucket, Prefix="frames/").get("KeyCount", 0) == 0
        audit = s3.list_objects_v2(Bucket=out.bucket, Prefix="audit/erasures/")["Contents"]
        record = json.loads(s3_objects.get_bytes(out.bucket, audit[0]["Key"]))
        assert record["person_id"] == "kit_harington" and record["record_deleted"] is True
        assert record["clips_deleted"] == 1 and record["status"] == "completed" and record["finished_at"]
        assert "encoding" not in json.dumps(record)
        # The job's folder (with his encodings) is gone; a tombstone with no face keeps him out of the gallery.
        assert s3.list_object_versions(Bucket=out.bucket, Prefix="erase-jobs/").get("Versions", []) == []
        tombstones = Gallery.loads(s3_objects.get_bytes(out.bucket, out.gallery_key)).erased
        assert [t.id for t in tombstones] == ["kit_harington"]
        assert json.loads((tmp_path / "erasures.jsonl").read_text().splitlines()[0])["person_id"] == "kit_harington"

        # And the pipeline no longer knows them (once the warm workers re-checked the gallery).
        import time

        time.sleep(1.5)
        again = upload_clip(clip_factory("kit_with_rose.jpg"), bucket=out.bucket, device_id="erase", seq=3)
        message = receive_results(queue, {again.key: again}, timeout_s=60)[again.key][0]
        assert [p["id"] for p in message["people"]] == ["rose_leslie"] and message["unknown_faces"] == 1
        logs = "".join(p.read_text() for p in stack.log_dir.glob("*.log"))
    # Function logs name people and distances, never a face encoding (128 numbers in a row).
    assert not re.search(r"(-?\d+\.\d+,\s*){127}-?\d+\.\d+", logs)
    assert "encoding" not in logs.lower()


def test_erase_of_someone_unknown_is_a_clear_failure(gallery_path, tmp_path, capsys):
    local_gallery = tmp_path / "gallery.json"
    shutil.copy(gallery_path, local_gallery)
    assert main(["people", "erase", "nobody", "--gallery", str(local_gallery)]) == 1
    assert "nobody: not in" in capsys.readouterr().err
    assert Gallery.load(local_gallery).ids() == Gallery.load(gallery_path).ids()  # nothing changed


def test_the_sweep_finds_clips_the_pipeline_never_named__local_item_reader_reads_one_page(
    gallery_path, samples, clip_factory, capsys
):
    """A clip of Kit from a camera that was never registered got no sighting (the index cannot know it):
    `erase --sweep` runs EraseSweepStateMachine (the Distributed Map, as moto's interpreter runs it: every item
    its own child, one ListObjectsV2 page a prefix; facepipe.local.deployer.for_moto) and deletes it."""
    with local_stack(workers=1, parameters={"GalleryRefreshSeconds": "1"}) as stack, talking_to(stack):
        out = stack.outputs
        stack.load(gallery=Gallery.load(gallery_path), students=validate_records(samples / "students.json").records)
        stray = upload_clip(clip_factory("kit_with_rose.jpg"), bucket=out.bucket, device_id="stray", seq=1)
        other = upload_clip(clip_factory("obama-480p.jpg"), bucket=out.bucket, device_id="stray", seq=2)
        s3 = boto3.client("s3")

        assert main(["people", "erase", "kit_harington", "--sweep", "--no-wait"]) == 0
        said = capsys.readouterr().out
        assert "sweeping" in said and "Run the same command again" in said
        assert main(["people", "erase", "kit_harington", "--sweep"]) == 0  # resumes the job, waits for the sweep
        said = capsys.readouterr().out
        assert "Erased kit_harington" in said and "sweep: 2 clip(s) scanned, 1 more deleted" in said, said

        remaining = {o["Key"] for o in s3.list_object_versions(Bucket=out.bucket, Prefix="clips/").get("Versions", [])}
        assert remaining == {other.key}, stray.key
        (audit,) = s3.list_objects_v2(Bucket=out.bucket, Prefix="audit/erasures/")["Contents"]
        record = json.loads(s3_objects.get_bytes(out.bucket, audit["Key"]))
        assert record["sweep"] and record["sweep_scanned"] == 2 and record["sweep_matched"] == 1
        # The sweep's executions were given a job id, a prefix and a concurrency: never a face, never a name.
        sfn = boto3.client("stepfunctions")
        for arn in record["sweep_executions"]:
            given = sfn.describe_execution(executionArn=arn)["input"]
            assert "kit" not in given and set(json.loads(given)) == {"job", "prefix", "concurrency"}
        assert s3.list_object_versions(Bucket=out.bucket, Prefix="erase-jobs/").get("Versions", []) == []


def test_a_sweep_whose_faces_expired_mid_way_completes_and_says_so(gallery_path, samples, clip_factory, capsys):
    """erase-jobs/ expires a week after a write; a sweep longer than that (a school-sized bucket) loses the faces it
    matches against. Here they vanish as the first batch starts: the batches fail, nothing holds the faces any more
    (the gallery step took them out), so the job completes without the sweep and its audit record says why;
    erasing the id again says it is done."""
    with local_stack(workers=1, parameters={"GalleryRefreshSeconds": "1"}) as stack, talking_to(stack):
        out = stack.outputs
        stack.load(gallery=Gallery.load(gallery_path), students=validate_records(samples / "students.json").records)
        upload_clip(clip_factory("kit_with_rose.jpg"), bucket=out.bucket, device_id="stray", seq=1)
        recognize = stack.runtime.functions[stack.physical_id("RecognizeFunction")]

        def expire(_function, event):
            if "erase_job" in event or "Items" in event:  # a sweep batch
                s3_objects.delete_prefix(out.bucket, "erase-jobs/", s3=boto3.client("s3"))

        recognize.before_invoke = expire
        try:
            assert main(["people", "erase", "kit_harington", "--sweep"]) == 0
        finally:
            recognize.before_invoke = None
        said = capsys.readouterr().out
        assert "Erased kit_harington" in said, said
        (audit,) = boto3.client("s3").list_objects_v2(Bucket=out.bucket, Prefix="audit/erasures/")["Contents"]
        record = json.loads(s3_objects.get_bytes(out.bucket, audit["Key"]))
        assert record["status"] == "completed" and "reference faces were lost" in record["sweep_abandoned"]
        assert main(["people", "erase", "kit_harington"]) == 0
        assert "kit_harington: already erased at" in capsys.readouterr().out
