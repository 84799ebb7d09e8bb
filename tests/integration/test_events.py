"""Events out of the local stack, received by real parts: an HTTP server as the webhook (and one that keeps
failing), and Debian's mosquitto with a paho subscriber, as Home Assistant would listen.

Clips of real people go through the stack as a camera sends them; the template's schedule (AttendanceFunction's
tick) is fired with the test's clock. On change only: two clips of one person in view are one person.seen.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import socket
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from facepipe.bench.devset import cut_clips
from facepipe.identity.gallery import Gallery
from facepipe.identity.records import validate_records
from facepipe.local.client import receive_results, upload_clip
from facepipe.local.relay import MqttBroker, Webhook
from facepipe.local.stack import free_port, local_stack
from tests.integration.conftest import talking_to

SECRET = "a-shared-secret"


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.got.append((self.path, dict(self.headers), body))  # type: ignore[attr-defined]
        if self.path == "/moved":  # a redirect elsewhere: the relay must not follow it
            self.send_response(302)
            self.send_header("Location", "/ok-elsewhere")
        else:
            self.send_response(204 if self.path in ("/ok", "/also-ok", "/ok-elsewhere") else 503)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture(scope="module")
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.got = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory):
    """Debian's mosquitto on a port of its own (`make test` installs it)."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    assert Path(binary).exists(), "mosquitto is missing: `make test` installs Debian's mosquitto"
    port = free_port()
    config = tmp_path_factory.mktemp("mosquitto") / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    process = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline and process.poll() is None, "mosquitto did not start"
            time.sleep(0.05)
    yield port
    process.terminate()
    process.wait(timeout=10)


class Subscriber:
    def __init__(self, port: int, topic: str = "#") -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, dict, bool]] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_message = lambda _c, _u, m: self.messages.append((m.topic, json.loads(m.payload), m.retain))
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _wait(condition, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_events_reach_a_webhook_signed_and_mqtt_on_change_and_a_failing_webhook_loses_nothing(
    gallery_path, samples, videos, clip_factory, receiver, broker, tmp_path
):
    import jsonschema
    from facepipe_protocol import events_schema

    from facepipe.aws.attendance import AttendanceStore
    from facepipe.identity.timetable import validate_timetable

    base = f"http://127.0.0.1:{receiver.server_address[1]}"
    hooks = (Webhook(f"{base}/ok", SECRET), Webhook(f"{base}/down", SECRET))
    subscriber = Subscriber(broker)
    stranger = cut_clips(videos / "clips" / "stranger_b.mp4", tmp_path, 1)[0]
    with local_stack(workers=1, webhooks=hooks, mqtt=MqttBroker("127.0.0.1", broker)) as stack, talking_to(stack):
        stack.relay.backoff_s = (0.05, 0.1, 0.2)  # the test's patience; 0.5-4 s by default
        stack.load(gallery=Gallery.load(gallery_path), students=validate_records(samples / "students.json").records)
        stack.add_device("door-cam")
        yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
        day = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][yesterday.weekday()]
        (course,) = validate_timetable(
            f"course,rooms,weekdays,start,end,timezone\nhomeroom,door-cam,{day},08:00,08:30,UTC\n",
            "course,student_id\nhomeroom,obama\n",
        ).courses
        AttendanceStore(stack.outputs.values["attendance_table"], dynamodb=stack.client("dynamodb")).replace_courses(
            [course]
        )
        start = datetime.now(UTC)
        sent = [
            (start, clip_factory("obama-480p.jpg")),
            (start + timedelta(seconds=2), clip_factory("obama-480p.jpg")),  # still in view: no event
            (start + timedelta(seconds=4), stranger),
        ]
        for seq, (at, clip) in enumerate(sent, 1):
            upload = upload_clip(clip, bucket=stack.outputs.bucket, device_id="door-cam", seq=seq, captured=at)
            assert upload.key in receive_results(stack.queue_url("door-cam"), {upload.key: upload}, timeout_s=60)
        # Eleven minutes after the last clip was answered (the devices item's last_seen is the cloud's clock):
        # obama has left, the camera is silent, yesterday's homeroom closes. Once only.
        answered = datetime.now(UTC)
        for minutes in (11, 12):
            ((ok, _),) = stack.schedules.fire(answered + timedelta(minutes=minutes))
            assert ok

        def good() -> list[bytes]:
            return [b for p, _, b in receiver.got if p == "/ok"]

        _wait(lambda: len(good()) >= 5 and stack.relay.counts.dead_lettered >= 5)
        time.sleep(1.0)  # anything more would have come by now
        dead = (stack.log_dir / "events-dead-letter.jsonl").read_text().splitlines()
        counts = stack.relay.counts
    subscriber.stop()

    events = [json.loads(body) for body in good()]
    validator = jsonschema.Draft202012Validator(events_schema())
    for event in events:
        validator.validate(event)
    kinds = [(e["detail-type"], e["detail"].get("person_id") or e["detail"].get("change")) for e in events]
    assert kinds[:2] == [("person.seen", "obama"), ("unknown.seen", None)]
    assert sorted(kinds[2:]) == [("attendance.closed", None), ("device.silent", None), ("person.seen", "obama")]
    entered, unknown = events[0]["detail"], events[1]["detail"]
    assert entered["change"] == "entered" and entered["name"] == "Barack Obama" and entered["device_id"] == "door-cam"
    assert unknown["unknown_id"].startswith("unknown")
    left = next(e["detail"] for e in events if e["detail"].get("change") == "left")
    assert left["person_id"] == "obama"
    closed = next(e["detail"] for e in events if e["detail-type"] == "attendance.closed")
    assert (closed["course"], closed["present"], closed["absent"]) == ("homeroom", 0, 1)  # nobody came yesterday
    # Signed: the receiver checks each body and its timestamp against the header with the shared secret, as the
    # README says (HMAC-SHA256 of "<timestamp>.<body>"), and a timestamp within the replay window.
    for _, headers, body in receiver.got:
        stamp = headers["X-Facepipe-Timestamp"]
        expected = "sha256=" + hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
        assert (
            headers["X-Facepipe-Signature"] == expected
            and headers["X-Facepipe-Event"] == json.loads(body)["detail-type"]
            and abs(time.time() - int(stamp)) < 300
        )
    # The failing webhook was tried four times an event, then each event was dead-lettered: none lost.
    assert len([p for p, _, _ in receiver.got if p == "/down"]) == 4 * len(events)
    assert sorted(json.loads(line)["event"]["id"] for line in dead) == sorted(e["id"] for e in events)
    assert all(json.loads(line)["error"] == "HTTP 503" for line in dead)
    assert counts.delivered == len(events) and counts.dead_lettered == len(events)

    topics = [t for t, _, _ in subscriber.messages]
    assert "facepipe/door-cam/person.seen" in topics and "facepipe/person/obama" in topics
    assert "facepipe/door-cam/unknown.seen" in topics and "facepipe/door-cam/device.silent" in topics
    assert "facepipe/attendance/homeroom" in topics
    in_view = [p for t, p, _ in subscriber.messages if t == "facepipe/door-cam/in_view"]
    assert in_view == [{"count": 1, "people": ["Barack Obama"]}, {"count": 0, "people": []}]
    # Home Assistant finds the camera from its retained discovery config; nothing naming a person is retained.
    late = Subscriber(broker)
    _wait(lambda: any(t.endswith("/config") for t, _, _ in late.messages), timeout_s=10)
    time.sleep(0.5)
    late.stop()
    (config,) = [(t, p) for t, p, retained in late.messages if retained]
    assert config[0] == "homeassistant/sensor/facepipe_door-cam/in_view/config"
    assert config[1]["state_topic"] == "facepipe/door-cam/in_view" and "obama" not in json.dumps(config[1])


def test_an_erased_person_is_announced_and_no_later_message_names_them(
    gallery_path, samples, clip_factory, receiver, broker, capsys
):
    """Obama enters the door camera, is erased, then Kit and Rose enter: the bus's recipients get person.erased (his
    id only), the camera's in-view list drops him at once, and no message after the erasure names him."""
    from facepipe.cli.main import main

    subscriber = Subscriber(broker)
    base = f"http://127.0.0.1:{receiver.server_address[1]}"
    with (
        local_stack(
            workers=1,
            webhooks=(Webhook(f"{base}/also-ok", SECRET),),
            mqtt=MqttBroker("127.0.0.1", broker),
            parameters={"GalleryRefreshSeconds": "1"},
        ) as stack,
        talking_to(stack),
    ):
        stack.load(gallery=Gallery.load(gallery_path), students=validate_records(samples / "students.json").records)
        stack.add_device("erasing-cam")
        start = datetime.now(UTC)

        def arrives(seq: int, probe: str) -> None:
            at = start + timedelta(seconds=seq)
            upload = upload_clip(
                clip_factory(probe), bucket=stack.outputs.bucket, device_id="erasing-cam", seq=seq, captured=at
            )
            assert upload.key in receive_results(stack.queue_url("erasing-cam"), {upload.key: upload}, timeout_s=60)

        arrives(1, "obama-480p.jpg")
        _wait(lambda: any(t == "facepipe/erasing-cam/in_view" for t, _, _ in subscriber.messages))
        assert main(["people", "erase", "obama"]) == 0, capsys.readouterr().err
        _wait(
            lambda: any(
                t == "facepipe/person/obama" and p["detail-type"] == "person.erased" for t, p, _ in subscriber.messages
            )
        )
        arrives(2, "kit_with_rose.jpg")
        _wait(lambda: any("Kit Harington" in json.dumps(p) for t, p, _ in subscriber.messages if t.endswith("in_view")))
        time.sleep(1.0)
    subscriber.stop()

    told = next(
        n
        for n, (t, p, _) in enumerate(subscriber.messages)
        if t == "facepipe/person/obama" and p["detail-type"] == "person.erased"
    )
    before, after = subscriber.messages[:told], subscriber.messages[told:]
    assert any("Barack Obama" in json.dumps(p) for _, p, _ in before)
    erased = [p for t, p, _ in after if t == "facepipe/person/obama"]
    assert [e["detail"] for e in erased] == [
        {"schema_version": 1, "person_id": "obama", "erased_at": erased[0]["detail"]["erased_at"]}
    ]
    # Dropped from the camera's list at once, and named nowhere after: not his name, not his id (but the erasure).
    in_view = [p for t, p, _ in after if t == "facepipe/erasing-cam/in_view"]
    assert in_view[0] == {"count": 0, "people": []} and in_view[-1]["people"] == ["Kit Harington", "Rose Leslie"]
    later = [json.dumps(p) for t, p, _ in after if t != "facepipe/person/obama"]
    assert not any("Barack Obama" in text or '"obama"' in text for text in later), later
    hooks = [json.loads(body) for path, _, body in receiver.got if path == "/also-ok"]
    assert [h["detail"]["person_id"] for h in hooks if h["detail-type"] == "person.erased"] == ["obama"]


def _mosquitto(port: int, folder: Path) -> subprocess.Popen:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    config = folder / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    process = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    _wait(lambda: _listening(port), timeout_s=10)
    return process


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def test_the_relay_outlives_a_broker_that_goes_away_and_follows_no_redirect(receiver, tmp_path):
    """The broker stops mid-way: the event it could not take is dead-lettered (the file readable by its owner
    only), the webhooks still get it, and the relay goes on with the next. A webhook answering with a redirect is
    not followed: the event is dead-lettered, and where it pointed gets nothing."""
    from facepipe.core.events import DeviceSilent

    port = free_port()
    broker = _mosquitto(port, tmp_path)
    base = f"http://127.0.0.1:{receiver.server_address[1]}"
    hooks = (Webhook(f"{base}/also-ok", SECRET), Webhook(f"{base}/moved", SECRET))
    try:
        with local_stack(workers=1, webhooks=hooks, mqtt=MqttBroker("127.0.0.1", port)) as stack:
            stack.relay.backoff_s = (0.05,)
            events, bus = stack.client("events"), stack.outputs.values["event_bus_name"]

            def send(device: str) -> None:
                detail = DeviceSilent(device_id=device, last_seen="2026-12-07T10:00:00.000Z", silent_for_s=700)
                entry = {"Source": "facepipe", "DetailType": "device.silent", "Detail": detail.model_dump_json()}
                assert not events.put_events(Entries=[entry | {"EventBusName": bus}])["FailedEntryCount"]

            def webhook_got(device: str) -> bool:
                return any(p == "/also-ok" and device.encode() in b for p, _, b in receiver.got)

            send("cam-before")
            _wait(lambda: webhook_got("cam-before"))
            broker.terminate()
            broker.wait(timeout=10)
            send("cam-after")
            _wait(lambda: webhook_got("cam-after"))
            send("cam-later")  # the relay is still there
            _wait(lambda: webhook_got("cam-later"))
            dead = stack.log_dir / "events-dead-letter.jsonl"
            _wait(lambda: dead.exists() and "cam-later" in dead.read_text() and dead.read_text().count('"mqtt"') >= 2)
            lines = [json.loads(line) for line in dead.read_text().splitlines()]
            mode = dead.stat().st_mode & 0o777
    finally:
        if broker.poll() is None:
            broker.terminate()
    assert mode == 0o600
    assert {line["event"]["detail"]["device_id"] for line in lines if "mqtt" in line} >= {"cam-after", "cam-later"}
    moved = [line for line in lines if line.get("webhook", "").endswith("/moved")]
    assert moved and all("redirect" in line["error"] for line in moved)
    assert not any(p == "/ok-elsewhere" for p, _, _ in receiver.got)
