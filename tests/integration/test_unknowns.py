"""Unknown faces through the whole local stack, and `facepipe unknowns` / `facepipe people erase` as an operator
runs them (another process, with the settings `facepipe local --env-file` writes).

Real video of people who are not enrolled (../shared/videos: Ed Markey, Eric Swalwell), cut into 0.5 s clips:
the same stranger across clips is one ``unknown-<n>``; labelled, the next clip names him; erased, nothing of
him is left in the bucket, the history or the inbox.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from facepipe.bench.devset import cut_clips
from facepipe.identity.gallery import Gallery
from facepipe.identity.records import validate_records
from facepipe.local.client import receive_results, upload_clip
from facepipe.local.stack import LocalStack, local_stack
from tests.integration.conftest import talking_to

DEVICE = "corridor-cam"  # IAM users are moto-process-wide: not a name the browser tests use


@pytest.fixture(scope="module")
def stack(gallery_path: Path, samples: Path):
    """A stack of its own whose warm functions re-read the gallery every second (labels reach them at once)."""
    with local_stack(workers=1, parameters={"GalleryRefreshSeconds": "1"}) as running, talking_to(running):
        running.load(gallery=Gallery.load(gallery_path), students=validate_records(samples / "students.json").records)
        running.add_device(DEVICE)
        yield running


@pytest.fixture(scope="module")
def clips(videos: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    out = tmp_path_factory.mktemp("unknown-clips")
    return {who: cut_clips(videos / "clips" / f"{who}.mp4", out, 4) for who in ("markey", "swalwell")}


_seq = iter(range(1, 10_000))


def send(stack: LocalStack, clip: Path) -> dict:
    upload = upload_clip(clip, bucket=stack.outputs.bucket, device_id=DEVICE, seq=next(_seq))
    got = receive_results(stack.queue_url(DEVICE), {upload.key: upload}, timeout_s=60)
    assert upload.key in got, "the clip got no result"
    return got[upload.key][0]


def facepipe(stack: LocalStack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | stack.env()
    return subprocess.run(
        [sys.executable, "-m", "facepipe", *args], env=env, capture_output=True, text=True, timeout=300
    )


def listed(stack: LocalStack) -> list[dict]:
    done = facepipe(stack, "unknowns", "list", "--json")
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def sightings_of(stack: LocalStack, face_id: str) -> list[dict]:
    items = boto3.client("dynamodb").scan(TableName=stack.outputs.sightings_table)["Items"]
    return [i for i in items if face_id in i.get("ids", {}).get("SS", [])]


def test_a_stranger_is_one_unknown_labelled_then_named_in_the_next_clip(stack, clips):
    first, second = send(stack, clips["markey"][0]), send(stack, clips["markey"][1])
    assert first["people"] == second["people"] == [] and first["unknown_faces"] == second["unknown_faces"] == 1

    (row,) = listed(stack)
    assert row["id"].startswith("unknown-") and row["seen"] == 2 and row["devices"] == [DEVICE]
    assert len(row["crops"]) == 2 and all(key.startswith(f"unknowns/{row['id']}/") for key in row["crops"])
    # The sightings name the cluster; crops and items expire a day after (FaceCropRetentionDays).
    seen = sightings_of(stack, row["id"])
    assert len(seen) == 2
    assert all(abs(int(i["expires_at"]["N"]) - (time.time() + 86400)) < 120 for i in seen)

    done = facepipe(stack, "unknowns", "label", row["id"], "markey", "--name", "Ed Markey")
    assert done.returncode == 0, done.stderr
    assert f"{row['id']} is new person markey: 2 crop(s) added" in done.stdout
    time.sleep(1.5)  # GalleryRefreshSeconds=1 here (30 s by default)

    third = send(stack, clips["markey"][2])
    assert [(p["id"], p["name"]) for p in third["people"]] == [("markey", "Ed Markey")]
    # Enrolled from the camera's own view: the crops are his photos, the cluster is gone, his earlier
    # sightings now name him (history finds them; erasing him erases them).
    s3 = boto3.client("s3")
    photos = s3.list_objects_v2(Bucket=stack.outputs.bucket, Prefix="people/markey/").get("Contents", [])
    assert len(photos) == 2
    # Each crop joined graded as a reference (its recorded height and sharpness, the detector's score of the
    # crop): a poor one is named on the command's stderr and matched more closely.
    stored = Gallery.loads(s3.get_object(Bucket=stack.outputs.bucket, Key=stack.outputs.gallery_key)["Body"].read())
    graded = [photo.quality for photo in stored.person("markey").photos]
    assert all(q is not None and q.height_px >= 40 and q.sharpness > 0 for q in graded)
    assert done.stderr.count("a poor reference") == sum(q.poor for q in graded if q is not None)
    assert s3.list_objects_v2(Bucket=stack.outputs.bucket, Prefix=f"unknowns/{row['id']}/").get("KeyCount") == 0
    assert listed(stack) == []
    assert len(sightings_of(stack, "markey")) == 3 and sightings_of(stack, row["id"]) == []


def test_label_and_dismiss_refuse_bad_input_by_name_and_change_nothing(stack, clips):
    bucket, key = stack.outputs.bucket, stack.outputs.gallery_key
    before = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    cases = [
        (("unknowns", "label", "unknown-999", "someone", "--name", "X"), "unknown-999: no such unknown face"),
        (("unknowns", "label", "seven", "someone"), "'seven' is not an unknown face's id"),
        (("unknowns", "dismiss", "unknown-999"), "unknown-999: no such unknown face"),
    ]
    send(stack, clips["swalwell"][0])
    (row,) = listed(stack)
    cases += [
        (("unknowns", "label", row["id"], "bad id!"), "'bad id!' is not a valid person id"),
        (("unknowns", "label", row["id"], "nobody_yet"), "nobody_yet: not enrolled yet; give a name"),
        # A name is capped as the console's Enroll caps it: it is read into every result naming them.
        (("unknowns", "label", row["id"], "nobody_yet", "--name", "x" * 201), "a name is required (1 to 200"),
    ]
    for args, message in cases:
        done = facepipe(stack, *args)
        assert done.returncode == 1 and message in done.stderr, (args, done.stderr)
    assert boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read() == before
    assert [r["id"] for r in listed(stack)] == [row["id"]]


def test_erasing_a_person_removes_their_photos_sightings_and_unknown_faces(stack, clips):
    """Swalwell is seen unknown (a cluster of his face), then enrolled from his portrait by the console's
    operator; erasing him leaves nothing: his sightings, his cluster and its crops, his photos."""
    from facepipe.core.settings import Settings
    from facepipe.ops.operator import Operator

    (row,) = [r for r in listed(stack)]  # his cluster, from the test before (or made now)
    operator = Operator(Settings())
    portrait = (Path(os.environ.get("FACEPIPE_VIDEOS", "../shared/videos")) / "people/swalwell/1.jpg").resolve()
    operator.add_person("swalwell", "Eric Swalwell", [("1.jpg", portrait.read_bytes())])
    assert sightings_of(stack, row["id"]), "the sighting of his unknown face"

    out = stack.outputs
    # One of his cluster's crops is gone (evicted, or expired by the lifecycle rule) while the cluster still links
    # it: on the old main erase crashed here halfway (404 HeadObject in UnknownStore.near) and could not be re-run.
    s3 = boto3.client("s3")
    crop = s3.list_objects_v2(Bucket=out.bucket, Prefix=f"unknowns/{row['id']}/")["Contents"][0]["Key"]
    for version in s3.list_object_versions(Bucket=out.bucket, Prefix=crop).get("Versions", []):
        s3.delete_object(Bucket=out.bucket, Key=version["Key"], VersionId=version["VersionId"])
    done = facepipe(stack, "people", "erase", "swalwell", "--bucket", out.bucket, "--table", out.students_table)
    assert done.returncode == 0, done.stderr
    assert "1 unknown-face cluster(s) deleted" in done.stdout
    for prefix in ("people/swalwell/", f"unknowns/{row['id']}/"):
        assert s3.list_object_versions(Bucket=stack.outputs.bucket, Prefix=prefix).get("Versions", []) == []
    assert sightings_of(stack, row["id"]) == [] and sightings_of(stack, "swalwell") == []
    assert listed(stack) == []
    assert "swalwell" not in operator.gallery().ids()
    audit = s3.list_objects_v2(Bucket=stack.outputs.bucket, Prefix="audit/erasures/")["Contents"]
    record = json.loads(s3.get_object(Bucket=stack.outputs.bucket, Key=audit[-1]["Key"])["Body"].read())
    assert record["unknowns_deleted"] == [row["id"]] and record["photos_deleted"] == 1
    assert datetime.fromisoformat(record["erased_at"]).date() == datetime.now(UTC).date()
