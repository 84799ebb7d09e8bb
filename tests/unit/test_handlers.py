"""Each stage's handler on its own, fed from the events/ files (what `sam local invoke -e` sends)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import boto3
import numpy as np
import pytest
from moto import mock_aws

from facepipe.aws.clients import reset_clients
from facepipe.core.settings import get_settings
from facepipe.identity.gallery import Gallery
from facepipe.local.lambdas import LambdaContext, load_handler

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"


def event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def create_table(name: str, hash_key: str, range_key: str | None = None) -> None:
    """A table as the template declares it: string keys, on demand."""
    keys = [(hash_key, "HASH")] + ([(range_key, "RANGE")] if range_key else [])
    boto3.client("dynamodb", region_name="us-east-1").create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k, _ in keys],
        KeySchema=[{"AttributeName": k, "KeyType": kind} for k, kind in keys],
        BillingMode="PAY_PER_REQUEST",
    )


def create_template_table(name: str, logical_id: str) -> None:
    """A table exactly as template.yaml declares it (keys and indexes)."""
    from facepipe.local.template import StackTemplate

    props = StackTemplate.load().properties(logical_id)
    boto3.client("dynamodb", region_name="us-east-1").create_table(
        TableName=name,
        **{k: props[k] for k in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes") if k in props},
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture()
def aws(monkeypatch):
    """moto in-process, with the environment of events/env.json (as `sam local invoke --env-vars`)."""
    for key, value in json.loads((EVENTS / "env.json").read_text())["Parameters"].items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.setenv("GALLERY_REFRESH_SECONDS", "0")  # every test brings its own gallery (or none)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    get_settings.cache_clear()
    reset_clients()
    with mock_aws():
        settings = get_settings()
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=settings.bucket_name)
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_table(settings.idempotency_table, "id")
        create_table(settings.devices_table, "device_id")
        create_template_table(settings.sightings_table, "SightingsTable")
        create_table(settings.unknowns_table, "id")
        create_template_table(settings.attendance_table, "AttendanceTable")
        # The events' device is registered (as `facepipe devices add pi-kitchen` leaves it).
        dynamodb.put_item(
            TableName=settings.devices_table,
            Item={"device_id": {"S": "pi-kitchen"}, "registered_at": {"S": "2026-11-30T00:00:00+00:00"}},
        )
        yield s3
    get_settings.cache_clear()
    reset_clients()


def handler(stage: str):
    return load_handler(ROOT / "functions" / stage / "app.py")


def _believe_the_events_times(monkeypatch):
    """The events' clips were captured on 2026-11-25: the capture-time window (7 days by default) is widened so
    these tests do not depend on the day they run (test_extract_clamps_... checks the window itself)."""
    monkeypatch.setenv("CAPTURED_AT_MAX_AGE_S", str(100 * 365 * 86400))
    get_settings.cache_clear()


def test_extract_event_chooses_three_frames_and_writes_nothing(aws, clip_factory, monkeypatch):
    _believe_the_events_times(monkeypatch)
    created = event("extract.json")
    detail = created["detail"]
    aws.put_object(
        Bucket=detail["bucket"]["name"], Key=detail["object"]["key"], Body=clip_factory("obama-480p.jpg").read_bytes()
    )
    created["detail"]["object"].pop("version-id")  # the bucket in this test is not versioned
    result = handler("extract")(created, LambdaContext("ExtractFunction"))
    assert result["clip"] == {
        "bucket": "facepipe-clips-example",
        "key": "clips/pi-kitchen/000042_20261125T101500123Z.mp4",
        "version_id": None,
        "device_id": "pi-kitchen",
        "seq": 42,
        "captured_at": "2026-11-25T10:15:00.123Z",
        "captured_at_claimed": None,  # the device's time was taken
        "unchanged_since": None,  # not a heartbeat of an unchanged room
    }
    # The sharpest frame of each third of the clip, with its sharpness (recognize searches the sharpest).
    indices = [frame["index"] for frame in result["frames"]]
    assert len(indices) == 3 and indices[0] < 5 <= indices[1] < 10 <= indices[2]
    for frame in result["frames"]:
        assert frame["t_ms"] == round(frame["index"] * 1000 / 30, 1) and frame["sharpness"] > 0
    assert result["frames_total"] == 15 and result["timings_ms"]["extract"] > 0
    stored = [o["Key"] for o in aws.list_objects_v2(Bucket=detail["bucket"]["name"])["Contents"]]
    assert stored == [detail["object"]["key"]]  # the clip only: no frame is written


def test_extract_prefers_s3_metadata_over_the_key(aws, clip_factory, monkeypatch):
    _believe_the_events_times(monkeypatch)
    created = event("extract.json")
    detail = created["detail"]
    detail["object"].pop("version-id")
    aws.put_object(
        Bucket=detail["bucket"]["name"],
        Key=detail["object"]["key"],
        Body=clip_factory("obama-480p.jpg").read_bytes(),
        Metadata={"seq": "7", "captured-at": "2026-11-25T09:00:00.000Z"},
    )
    clip = handler("extract")(created, LambdaContext("ExtractFunction"))["clip"]
    assert (clip["seq"], clip["captured_at"]) == (7, "2026-11-25T09:00:00.000Z")


@pytest.mark.parametrize(
    ("claimed", "kept"),
    [
        ("2026-12-02T09:58:30.500Z", "2026-12-02T09:58:30.500Z"),  # the room as it was since then
        ("2026-12-02T10:00:00.000+00:00", "2026-12-02T10:00:00.000Z"),
        ("2026-12-02T10:00:01.000Z", None),  # after the clip's own capture: not believed
        ("yesterday", None),
        (None, None),
    ],
)
def test_extract_carries_the_change_gates_unchanged_since_to_the_result(claimed, kept):
    """A heartbeat clip of an unchanged room says since when (x-amz-meta-unchanged-since): the result carries it,
    and a value that is not a time before the clip is dropped without failing the clip (it decides nothing)."""
    from facepipe.core.settings import explicit_settings
    from facepipe.pipeline.extract import clip_ref

    now = datetime(2026, 12, 2, 10, 5, tzinfo=UTC)
    metadata = {"captured-at": "2026-12-02T10:00:00.000Z"} | ({"unchanged-since": claimed} if claimed else {})
    ref = clip_ref("b", "clips/pi-kitchen/000042_20261202T100000000Z.mp4", None, metadata, explicit_settings(), now=now)
    assert ref.unchanged_since == kept


@pytest.mark.parametrize(
    ("claimed", "key_time", "taken", "kept"),
    [
        ("2026-12-02T10:00:00.000Z", "20261202T100000000Z", "2026-12-02T10:00:00.000Z", None),  # believable
        ("2999-01-01T00:00:00.000Z", "20261202T100000000Z", "2026-12-02T10:00:00.000Z", "2999-01-01T00:00:00.000Z"),
        ("2999-01-01T00:00:00.000Z", "29990101T000000000Z", "2026-12-02T10:05:00.000Z", "2999-01-01T00:00:00.000Z"),
        ("2026-11-01T00:00:00.000Z", "20261101T000000000Z", "2026-12-02T10:05:00.000Z", "2026-11-01T00:00:00.000Z"),
        ("not a time", "20261202T100000000Z", "2026-12-02T10:00:00.000Z", "not a time"),
    ],
)
def test_extract_clamps_the_devices_capture_time_to_a_window_around_the_clouds_clock(claimed, key_time, taken, kept):
    """A device that says year 2999 would pin an unknown face's expiry (and its encoding) into the far future
    and put wrong times into history and plots. Its time is taken within 7 days before and 5 minutes after the
    cloud's clock; else the key's time; else the cloud's own. The result keeps what the device claimed."""
    from facepipe.core.settings import explicit_settings
    from facepipe.pipeline.extract import clip_ref

    now = datetime(2026, 12, 2, 10, 5, tzinfo=UTC)
    key = f"clips/pi-kitchen/000042_{key_time}.mp4"
    ref = clip_ref("b", key, None, {"captured-at": claimed}, explicit_settings(), now=now)
    assert (ref.captured_at, ref.captured_at_claimed) == (taken, kept)


def test_extract_rejects_a_malformed_event_naming_the_field(aws):
    bad = event("extract.json")
    del bad["detail"]["bucket"]
    with pytest.raises(Exception, match=r"detail\.bucket\s+Field required"):
        handler("extract")(bad, LambdaContext("ExtractFunction"))


def _put_clip(aws, request: dict, path) -> dict:
    """Store a clip at the request's key (this test bucket is not versioned: the request names no version)."""
    aws.put_object(Bucket=request["clip"]["bucket"], Key=request["clip"]["key"], Body=path.read_bytes())
    request["clip"]["version_id"] = None
    return request


def test_recognize_event_finds_obama_in_each_chosen_frame_of_the_clip(aws, gallery_path, clip_factory):
    request = _put_clip(aws, event("recognize.json"), clip_factory("obama-480p.jpg"))
    aws.put_object(Bucket="facepipe-clips-example", Key="gallery/gallery.json", Body=gallery_path.read_bytes())
    result = handler("recognize")(request, LambdaContext("RecognizeFunction"))
    assert [(f["index"], f["t_ms"]) for f in result["frames"]] == [(4, 133.3), (7, 233.3), (10, 333.3)]
    for frame in result["frames"]:
        assert [f["id"] for f in frame["faces"]] == ["obama"] and frame["faces_detected"] == 1
        assert frame["faces"][0]["distance"] < 0.4
    assert result["ms"] >= sum(f["ms"] for f in result["frames"]) * 0.9


def test_recognize_refuses_a_frame_the_clip_does_not_have(aws, gallery_path, clip_factory):
    request = _put_clip(aws, event("recognize.json"), clip_factory("obama-480p.jpg"))
    request["frames"].append({"index": 40, "t_ms": 1333.3})
    aws.put_object(Bucket="facepipe-clips-example", Key="gallery/gallery.json", Body=gallery_path.read_bytes())
    with pytest.raises(Exception, match=r"000042_20261125T101500123Z.mp4: frame\(s\) \[40\] do not decode"):
        handler("recognize")(request, LambdaContext("RecognizeFunction"))


def test_recognize_sweeps_a_batch_of_an_erase_job(aws, gallery_path, clip_factory):
    """The erase sweep's batch (events/recognize-sweep.json, as the Distributed Map's ItemBatcher sends it):
    each clip decoded and matched against the job's encodings; the matches recorded in the job's folder, and
    only counts returned (the map run's results never hold a face or a key)."""
    sweep = event("recognize-sweep.json")
    job = sweep["Items"][0]["erase_job"]
    obama = Gallery.load(gallery_path).person("obama")
    bucket = "facepipe-clips-example"
    aws.put_object(
        Bucket=bucket, Key=f"erase-jobs/{job}/encodings.json", Body=json.dumps([p.encoding for p in obama.photos])
    )
    aws.put_object(Bucket=bucket, Key=sweep["Items"][0]["key"], Body=clip_factory("obama-480p.jpg").read_bytes())
    aws.put_object(Bucket=bucket, Key=sweep["Items"][1]["key"], Body=clip_factory("kit_with_rose.jpg").read_bytes())

    result = handler("recognize")(sweep, LambdaContext("RecognizeFunction"))

    assert result == {"scanned": 2, "matched": 1, "unreadable": 0, "unscanned": 0}
    (found,) = aws.list_objects_v2(Bucket=bucket, Prefix=f"erase-jobs/{job}/sweep/")["Contents"]
    assert found["Key"].rsplit("/", 1)[1].startswith("2_1_")
    assert json.loads(aws.get_object(Bucket=bucket, Key=found["Key"])["Body"].read())["matched"] == [
        sweep["Items"][0]["key"]
    ]
    # One item alone (the local stack's interpreter has no ItemBatcher) is a batch of one.
    assert handler("recognize")(sweep["Items"][1], LambdaContext("RecognizeFunction"))["matched"] == 0


def test_a_sweep_batch_near_its_invocations_end_hands_back_the_clips_it_did_not_reach(aws, gallery_path, clip_factory):
    """A batch stops taking clips when less than SWEEP_MARGIN_S is left of its invocation (never timing out with
    its findings unwritten): what it matched is recorded, the rest listed as unscanned for erase to sweep itself."""
    sweep = event("recognize-sweep.json")
    job = sweep["Items"][0]["erase_job"]
    bucket = "facepipe-clips-example"
    obama = Gallery.load(gallery_path).person("obama")
    aws.put_object(
        Bucket=bucket, Key=f"erase-jobs/{job}/encodings.json", Body=json.dumps([p.encoding for p in obama.photos])
    )
    for item in sweep["Items"]:
        aws.put_object(Bucket=bucket, Key=item["key"], Body=clip_factory("obama-480p.jpg").read_bytes())

    result = handler("recognize")(sweep, LambdaContext("RecognizeFunction", timeout_s=5.0))

    assert result == {"scanned": 0, "matched": 0, "unreadable": 0, "unscanned": 2}
    (found,) = aws.list_objects_v2(Bucket=bucket, Prefix=f"erase-jobs/{job}/sweep/")["Contents"]
    record = json.loads(aws.get_object(Bucket=bucket, Key=found["Key"])["Body"].read())
    assert record["unscanned"] == [item["key"] for item in sweep["Items"]] and record["matched"] == []


def test_recognize_without_a_gallery_says_so(aws, samples):
    request = event("recognize.json")
    with pytest.raises(Exception, match=r"s3://facepipe-clips-example/gallery/gallery.json: gallery not found"):
        handler("recognize")(request, LambdaContext("RecognizeFunction"))


def test_recognize_rejects_a_malformed_event(aws):
    with pytest.raises(Exception, match=r"frames\s+Field required"):
        handler("recognize")({"clip": event("recognize.json")["clip"]}, LambdaContext("RecognizeFunction"))


@pytest.fixture()
def students_table(aws, samples):
    from facepipe.aws.dynamo_records import put_records
    from facepipe.identity.records import validate_records

    name = get_settings().students_table
    create_table(name, "id")
    put_records(validate_records(samples / "students.json").records, table=name)
    return name


def test_enrich_builds_people_from_the_tracks_and_adds_records(students_table, result_validator):
    published = handler("enrich")(event("enrich.json"), LambdaContext("EnrichFunction"))
    message = published["message"]
    # To the device's own queue, and counted on its item.
    assert published["queue_url"] == "https://sqs.us-east-1.amazonaws.com/123456789012/facepipe-pi-kitchen.fifo"
    assert published["refused"] is False
    item = boto3.client("dynamodb").get_item(
        TableName=get_settings().devices_table, Key={"device_id": {"S": "pi-kitchen"}}
    )["Item"]
    assert item["last_seen"]["S"] and sum(int(v["N"]) for k, v in item.items() if k.startswith("clips_")) == 1
    result_validator.validate(message)
    assert published["group_id"] == "pi-kitchen" and len(published["dedup_id"]) == 64
    assert message["status"] == "ok" and message["unknown_faces"] == 1
    obama, ghost = message["people"]
    assert obama == {
        "id": "obama",
        "name": "Barack Obama",
        "record": {"id": "obama", "name": "Barack Obama", "major": "Political Science", "year": "Senior"},
        "distance": 0.35,
        "frames_seen": 2,
        "box": [122, 414, 242, 294],
    }
    # Enrolled but without a record: still reported, with record null.
    assert ghost == {
        "id": "ghost",
        "name": None,
        "record": None,
        "distance": 0.41,
        "frames_seen": 1,
        "box": [10, 60, 60, 10],
    }
    assert message["timings_ms"]["extract"] == 61.2 and message["timings_ms"]["recognize"] == 412.0
    assert message["timings_ms"]["recognize_frames"] == 296.7  # 101.5 + 98.2 + 97.0
    assert message["clip"]["seq"] == 42 and len(message["frames"]) == 3
    # The console's copies: the sighting (who, their crops, when) and the unknown face's cluster with its crop.
    dynamodb, settings = boto3.client("dynamodb"), get_settings()
    items = dynamodb.scan(TableName=settings.sightings_table)["Items"]
    (sighting,) = [item for item in items if "person_id" not in item]
    assert sighting["at"]["S"].startswith("2026-11-25T10:15:00.123+00:00#42#")
    assert [f["M"]["id"]["S"] for f in sighting["faces"]["L"]] == ["obama", "unknown-1", "ghost"]
    assert sighting["faces"]["L"][0]["M"]["name"]["S"] == "Barack Obama"
    # ...and the index erase reads: one mention per id, with the clip's key and no face.
    mentions = sorted((m for m in items if "person_id" in m), key=lambda m: m["person_id"]["S"])
    assert [(m["person_id"]["S"], m["key"]["S"]) for m in mentions] == [
        ("ghost", sighting["key"]["S"]),
        ("obama", sighting["key"]["S"]),
        ("unknown-1", sighting["key"]["S"]),
    ]
    assert all(set(m) <= {"device_id", "at", "person_id", "key", "version", "expires_at"} for m in mentions)
    cluster = dynamodb.get_item(TableName=settings.unknowns_table, Key={"id": {"S": "unknown-1"}})["Item"]
    (crop,) = cluster["crops"]["L"]
    assert re.fullmatch(
        r"unknowns/unknown-1/pi-kitchen-000042_20261125T101500123Z-[0-9a-f]{12}\.jpg", crop["M"]["key"]["S"]
    )
    boto3.client("s3").head_object(Bucket=settings.bucket_name, Key=crop["M"]["key"]["S"])


def test_enrich_error_event_builds_the_error_result(aws, result_validator):
    published = handler("enrich")(event("enrich-error.json"), LambdaContext("EnrichFunction"))
    message = published["message"]
    result_validator.validate(message)
    assert message["status"] == "error" and message["people"] == []
    assert message["error"] == {
        "code": "undecodable",
        "message": "clips/pi-kitchen/000043_20261125T101500623Z.mp4: "
        "no decodable frames (empty, truncated or corrupt clip)",
    }
    assert (message["device_id"], message["clip"]["seq"]) == ("pi-kitchen", 43)
    assert published["queue_url"].endswith("/facepipe-pi-kitchen.fifo") and published["refused"] is False


def test_the_error_result_clamps_a_capture_time_from_the_future_as_extract_does(aws, result_validator):
    """A clip that failed is reported with the time in its key, which is the device's word too: year 2999 is
    replaced by the cloud's clock and kept as the claim (facepipe.core.moments.capture_time, as in extract)."""
    failed = event("enrich-error.json")
    key = "clips/pi-kitchen/000043_29990101T000000000Z.mp4"
    failed["event"]["detail"]["object"]["key"] = key
    message = handler("enrich")(failed, LambdaContext("EnrichFunction"))["message"]
    result_validator.validate(message)
    assert message["clip"]["captured_at_claimed"] == "2999-01-01T00:00:00.000Z"
    assert message["clip"]["captured_at"] < "2100"  # the cloud's own clock


def test_enrich_refuses_a_device_that_is_not_registered_and_counts_it(aws):
    answer = event("enrich.json")
    answer["clip"]["device_id"] = "pi-typo"
    answer["clip"]["key"] = answer["clip"]["key"].replace("pi-kitchen", "pi-typo")
    for frame in answer["frames"]:
        frame["faces"] = []  # nobody: no records to read
    answer["seen"] = []
    published = handler("enrich")(answer, LambdaContext("EnrichFunction"))
    assert published["refused"] is True and published["queue_url"] is None  # the state machine stops there
    item = boto3.client("dynamodb").get_item(
        TableName=get_settings().devices_table, Key={"device_id": {"S": "pi-typo"}}
    )
    assert "registered_at" not in item["Item"]  # a refusal never registers anyone
    assert sum(int(v["N"]) for k, v in item["Item"].items() if k.startswith("refused_")) == 1


def test_state_machine_event_is_what_eventbridge_delivers():
    assert event("statemachine.json")["detail-type"] == "Object Created"
    assert event("statemachine.json")["detail"]["object"]["key"].startswith("clips/")


def test_thirty_faces_in_a_frame_are_capped_to_the_largest(aws, gallery_path, samples, tmp_path):
    """A crowd: every face is detected, the largest MAX_FACES_PER_FRAME are recognized, and it says so."""
    import cv2

    from facepipe.core.contracts import RecognizeRequest
    from facepipe.media.clipmaker import make_clip
    from facepipe.media.images import load_rgb
    from facepipe.pipeline.recognize import recognize_clip
    from facepipe.vision import faces

    tiles = []
    for probe in ("obama-480p.jpg", "alex_lacamoire1.jpg", "johnsnow_test1.jpg", "two_people.jpg", "kit_with_rose.jpg"):
        image = load_rgb(samples / "probes" / probe, max_bytes=10**8, max_pixels=10**8)
        for top, right, bottom, left in faces.detect_faces(image, max_side=1024):
            pad = (bottom - top) // 2
            crop = image[max(0, top - pad) : bottom + pad, max(0, left - pad) : right + pad]
            tiles.append(cv2.resize(crop, (200, 200)))
    tiles = (tiles * 10)[:30]
    sheet = np.vstack([np.hstack(tiles[r * 6 : (r + 1) * 6]) for r in range(5)])  # 1200x1000, 30 faces
    clip = make_clip(sheet, tmp_path / "crowd.mp4", size=(1200, 1000), motion="still", noise=1.0)
    request = _put_clip(aws, event("recognize.json"), clip)
    request["frames"] = [{"index": 7, "t_ms": 233.3}]
    aws.put_object(Bucket="facepipe-clips-example", Key="gallery/gallery.json", Body=gallery_path.read_bytes())
    settings = get_settings().model_copy(update={"detect_max_side": 1200, "max_faces_per_frame": 20})
    (frame,) = recognize_clip(RecognizeRequest.model_validate(request), settings).frames
    assert frame.faces_detected == 30
    assert len(frame.faces) == 20
    assert {f.id for f in frame.faces} <= {"obama", "alex_lacamoire", "kit_harington", "biden", "rose_leslie"}


def test_the_attendance_event_closes_the_sessions_that_ended(aws):
    """events/attendance.json is what EventBridge Scheduler sends (its scheduled time as ``now``): the session that
    ended before it (by more than the ten minutes clips on their way get) is closed from the sightings' mentions,
    once; the one still under way is not."""
    from datetime import datetime, timedelta

    from facepipe.aws.attendance import AttendanceStore
    from facepipe.aws.sightings import SeenEntry, Sighting, Sightings
    from facepipe.identity.timetable import validate_timetable

    settings = get_settings()
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    timetable = (
        "course,rooms,weekdays,start,end,timezone\n"
        "bio101,pi-kitchen,Wed,10:00,11:00,UTC\n"  # 2026-11-25 is a Wednesday
        "late101,pi-kitchen,Wed,11:30,11:55,UTC\n"  # ends 11:55: still within the ten minutes at 12:00
    )
    (bio, late) = validate_timetable(timetable, "course,student_id\nbio101,obama\nbio101,biden\n").courses
    AttendanceStore(settings.attendance_table, dynamodb=dynamodb).replace_courses([bio, late])
    seen_at = datetime.fromisoformat("2026-11-25T10:05:00.123+00:00")  # within the ten minutes of grace
    Sightings(settings.sightings_table, dynamodb=dynamodb, clips_retention_days=3650).put(
        Sighting(
            device_id="pi-kitchen",
            at=seen_at.isoformat(timespec="milliseconds"),
            seq=42,
            key="clips/pi-kitchen/000042_20261125T101500123Z.mp4",
            status="ok",
            latency_ms=300.0,
            faces=[SeenEntry(id="obama", name="Barack Obama", distance=0.35, crop=b"jpeg")],
            error=None,
        ),
        now=seen_at + timedelta(minutes=1),
    )
    closed = handler("attendance")(event("attendance.json"), LambdaContext("AttendanceFunction"))
    assert closed == {
        "closed": [
            {
                "session": "bio101#2026-11-25#1000",
                "present": 1,
                "late": 0,
                "absent": 1,
                "visitors": 0,
                "unknown_faces": 0,
            }
        ]
    }
    again = handler("attendance")(event("attendance.json"), LambdaContext("AttendanceFunction"))
    assert again == {"closed": []}
    with pytest.raises(Exception, match="not an ISO 8601 time"):
        handler("attendance")({"now": "noon"}, LambdaContext("AttendanceFunction"))
