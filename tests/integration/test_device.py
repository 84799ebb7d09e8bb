"""The device service against the local stack: every result in order, and the faults it must survive."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
from facepipe_device.config import DeviceConfig
from facepipe_device.results import ResultPoller
from facepipe_device.service import DeviceService
from facepipe_device.sources import FileSource, Picamera2Source

from tests.integration.conftest import run_clips


def device_config(stack, device_id: str, spool: Path, endpoint: str | None = None) -> DeviceConfig:
    return DeviceConfig(
        device_id=device_id,
        bucket=stack.outputs.bucket,
        queue_url=stack.queue_url(device_id),
        endpoint_url=endpoint or stack.outputs.endpoint_url,
        spool_dir=spool,
        result_timeout_s=60,
        stale_after_s=30,
        upload_workers=2,
        poll_wait_s=1,
    ).validate()


def clip_folder(tmp_path: Path, clip_factory, probes: list[str | None]) -> Path:
    folder = tmp_path / "clips"
    folder.mkdir()
    for i, probe in enumerate(probes):
        shutil.copy(clip_factory(probe), folder / f"{i:02d}.mp4")
    return folder


def versions(stack, device_id: str) -> dict[str, int]:
    listed = boto3.client("s3").list_object_versions(Bucket=stack.outputs.bucket, Prefix=f"clips/{device_id}/")
    counts: dict[str, int] = {}
    for version in listed.get("Versions", []):
        counts[version["Key"]] = counts.get(version["Key"], 0) + 1
    return counts


def test_a_file_source_yields_every_result_in_capture_order(stack, device_id, clip_factory, tmp_path):
    probes = ["obama-480p.jpg", None, "kit_with_rose.jpg", "two_people.jpg", "johnsnow_test1.jpg"]
    out = io.StringIO()
    service = DeviceService(device_config(stack, device_id, tmp_path / "spool"), out=out, json_lines=True)
    summary = service.run(FileSource(clip_folder(tmp_path, clip_factory, probes), realtime=False).clips())
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["clip"]["seq"] for line in lines] == [1, 2, 3, 4, 5]
    assert [sorted(p["id"] for p in line["people"]) for line in lines] == [
        ["obama"],
        [],
        ["kit_harington", "rose_leslie"],
        ["biden", "obama"],
        ["kit_harington"],
    ]
    assert all(0 < line["latency_s"] < 30 for line in lines), [line["latency_s"] for line in lines]
    assert (summary.captured, summary.uploaded, summary.results, summary.missing) == (5, 5, 5, 0)
    assert list(service.spool.pending()) == []  # everything confirmed by S3 left the spool


def test_a_still_rooms_heartbeat_result_says_since_when_it_is_unchanged(stack, device_id, clip_factory, tmp_path):
    """The change gate on (the device's default): the same room three times sends the first clip and, once the
    heartbeat is due, the third; its result, through the whole stack, says the room is unchanged since the first
    clip's capture (the clip in between was not sent)."""
    from facepipe_device.gate import ChangeGate

    clock = {"t": 0.0}
    gate = ChangeGate(heartbeat_s=1.0, clock=lambda: clock["t"])
    out = io.StringIO()
    service = DeviceService(
        device_config(stack, device_id, tmp_path / "spool"), out=out, json_lines=True, change_gate=gate
    )

    folder = tmp_path / "still"
    folder.mkdir()
    for n in range(3):  # the camera held still on him: only its sensor noise differs
        shutil.copy(clip_factory("obama-480p.jpg", motion="still", seed=n), folder / f"{n:02d}.mp4")

    def clips():
        for clip in FileSource(folder, realtime=False).clips():
            yield clip
            clock["t"] += 0.6

    summary = service.run(clips())
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert (summary.captured, summary.unchanged, summary.uploaded, summary.results) == (3, 1, 2, 2)
    first, heartbeat = lines
    assert first["clip"]["unchanged_since"] is None
    assert heartbeat["clip"]["unchanged_since"] == first["clip"]["captured_at"]
    assert [p["id"] for p in heartbeat["people"]] == ["obama"]


class Proxy:
    """A TCP forwarder on loopback that can be taken down and brought back (the network comes and goes)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._server: socket.socket | None = None
        self._stop = threading.Event()

    def up(self) -> None:
        self._stop.clear()
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", self.port))
        self._server.listen(64)
        self._server.settimeout(0.2)
        threading.Thread(target=self._accept, daemon=True).start()

    def down(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.close()

    def _accept(self) -> None:
        server = self._server
        while not self._stop.is_set():
            try:
                client, _ = server.accept()  # type: ignore[union-attr]
            except OSError:
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while not self._stop.is_set():
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.close()


def test_the_endpoint_goes_away_and_comes_back_every_clip_uploaded_once(stack, device_id, clip_factory, tmp_path):
    proxy = Proxy(int(stack.outputs.endpoint_url.rsplit(":", 1)[1]))
    folder = clip_folder(tmp_path, clip_factory, ["obama-480p.jpg", None, "two_people.jpg", None])
    config = device_config(stack, device_id, tmp_path / "spool", endpoint=f"http://127.0.0.1:{proxy.port}")
    service = DeviceService(config, out=io.StringIO(), json_lines=True)
    service.uploader.base_delay_s, service.uploader.max_delay_s = 0.1, 0.5
    # The network is down while the clips are captured, and comes back 2 s later.
    threading.Timer(2.0, proxy.up).start()
    summary = service.run(FileSource(folder, realtime=False).clips())
    proxy.down()
    assert service.uploader.retries > 0
    assert (summary.uploaded, summary.results, summary.missing) == (4, 4, 0)
    assert sorted(versions(stack, device_id).values()) == [1, 1, 1, 1]


def device_cli(folder: Path, spool: Path, endpoint: str, *extra: str) -> list[str]:
    """`facepipe-device run` replaying ``folder`` through ``spool`` against ``endpoint``, as a separate process."""
    return [
        sys.executable,
        "-m",
        "facepipe_device",
        "run",
        "--source",
        f"file:{folder}",
        "--spool-dir",
        str(spool),
        "--endpoint-url",
        endpoint,
        *extra,
    ]


def test_killed_between_spooling_and_upload_the_next_run_uploads_the_rest(stack, device_id, clip_factory, tmp_path):
    folder = clip_folder(tmp_path, clip_factory, ["obama-480p.jpg", "kit_with_rose.jpg", None])
    spool = tmp_path / "spool"
    env = os.environ | {
        "FACEPIPE_BUCKET": stack.outputs.bucket,
        "FACEPIPE_QUEUE_URL": stack.queue_url(device_id),
        "FACEPIPE_DEVICE_ID": device_id,
        "FACEPIPE_POLL_WAIT_S": "1",
    }
    # First run: nothing listens on this endpoint, so the clips stay spooled; then kill -9.
    first = subprocess.Popen(
        device_cli(folder, spool, "http://127.0.0.1:9"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 30
    while len(list(spool.glob("0*.json"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert len(list(spool.glob("0*.json"))) == 3
    # Second run: resumes from the spool, captures nothing new, and shows the three results.
    second = subprocess.run(
        device_cli(folder, spool, stack.outputs.endpoint_url, "--max-clips", "0", "--json"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 0, second.stderr + second.stdout
    lines = [json.loads(line) for line in second.stdout.splitlines()]
    assert [line["clip"]["seq"] for line in lines] == [1, 2, 3]
    assert sorted(versions(stack, device_id).values()) == [1, 1, 1]
    assert list(spool.glob("0*.json")) == []


def _poll_after_sending(stack, device_id: str, body: str, group: str, dedup: str, until: str) -> tuple[object, list]:
    """Put ``body`` on the device's queue as the state machine would, and poll as the device does until the
    poller's counter ``until`` moves (10 s at most). Returns the poller and what it showed."""
    sqs = boto3.client("sqs")
    url = stack.queue_url(device_id)
    sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=dedup)
    seen: list = []
    poller = ResultPoller(sqs, url, device_id, seen.append)
    deadline = time.monotonic() + 10
    while not getattr(poller, until) and time.monotonic() < deadline:
        poller.poll_once(wait_s=1)
    return poller, seen


def _queue_counts(stack, device_id: str) -> tuple[str, str]:
    """(visible, in flight) messages on the device's queue."""
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=stack.queue_url(device_id),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"]


def test_a_garbage_message_is_logged_and_deleted(stack, device_id, caplog):
    poller, seen = _poll_after_sending(stack, device_id, "{not json", device_id, f"garbage-{device_id}", "malformed")
    assert poller.malformed == 1 and seen == []
    assert "malformed result message" in caplog.text and "not JSON" in caplog.text
    assert _queue_counts(stack, device_id)[1] == "0"


def test_another_devices_result_on_this_devices_queue_is_counted_and_deleted_never_shown(
    stack, device_id, clip_factory, caplog
):
    """Each device has a queue of its own; a result of another device found there (a queue URL copied to
    the wrong Pi) is never shown and never handed back to circulate: logged, counted, deleted."""
    (foreign,) = run_clips(stack, [clip_factory("obama-480p.jpg")], device_id)
    foreign["device_id"] = "pi-elsewhere"
    body = json.dumps(foreign)
    poller, seen = _poll_after_sending(stack, device_id, body, "pi-elsewhere", f"foreign-{device_id}", "misrouted")
    assert poller.misrouted == 1 and seen == []
    assert "result of device pi-elsewhere on this device's queue deleted" in caplog.text
    assert _queue_counts(stack, device_id) == (
        "0",
        "0",
    )


class FakeCamera:
    """Only the camera object is fake: each encoder run writes a real clip, as the Pi's encoder would."""

    def __init__(self, clips: list[Path]) -> None:
        self.clips = clips
        self.calls: list[str] = []
        self._output: str | None = None

    def create_video_configuration(self, main, controls):
        return {"main": main, "controls": controls}

    def configure(self, config):
        self.calls.append(f"configure {config['main']['size']}")

    def start(self):
        self.calls.append("start")

    def start_encoder(self, encoder, output):
        self._output = output

    def stop_encoder(self):
        Path(self._output).write_bytes(
            self.clips[len([c for c in self.calls if c == "clip"]) % len(self.clips)].read_bytes()
        )
        self.calls.append("clip")

    def stop(self):
        self.calls.append("stop")

    def close(self):
        self.calls.append("close")


def test_picamera2_source_through_the_whole_pipeline(stack, device_id, clip_factory, tmp_path):
    camera = FakeCamera([clip_factory("obama-480p.jpg"), clip_factory(None)])
    source = Picamera2Source(
        seconds=0.1, camera=camera, encoder_factory=lambda rate: ("h264", rate), output_factory=lambda path: path
    )
    out = io.StringIO()
    service = DeviceService(device_config(stack, device_id, tmp_path / "spool"), out=out, json_lines=True)
    summary = service.run(source.clips(), max_clips=2)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["status"] for line in lines] == ["ok", "no_face"]
    assert lines[0]["clip"]["key"].endswith(".h264")
    assert camera.calls[:2] == ["configure (640, 480)", "start"] and camera.calls[-2:] == ["stop", "close"]
    assert summary.results == 2


def test_check_says_what_works_and_what_does_not(stack, device_id, clip_factory, tmp_path, capsys):
    from facepipe_device.check import run_checks

    folder = clip_folder(tmp_path, clip_factory, [None])
    good = device_config(stack, device_id, tmp_path / "spool")
    good.source = f"file:{folder}"
    started = stack.executions_started
    assert run_checks(good) == 0
    out = capsys.readouterr().out
    for line in (f"[ok] bucket: can write to s3://{stack.outputs.bucket}/checks/{device_id}/", "[ok] results queue"):
        assert line in out
    assert "[ok] camera: file:" in out
    time.sleep(1.5)  # the trigger bridge polls every second
    assert stack.executions_started == started  # the probe starts no pipeline execution
    bad = device_config(stack, device_id, tmp_path / "spool")
    bad.bucket, bad.source = "no-such-bucket", "opencv:7"
    assert run_checks(bad) == 1
    out = capsys.readouterr().out
    assert "[FAIL] bucket: cannot write to s3://no-such-bucket/checks/" in out
    assert "[FAIL] camera: opencv source '7': cannot open the camera or stream" in out


def lose_first_put_answer(s3) -> list[str]:
    """Make the first PutObject reach S3 but its answer never reach the device (a dropped connection)."""
    from botocore.exceptions import ReadTimeoutError

    lost: list[str] = []

    def drop(http_response, parsed, model, **_):
        if not lost and http_response.status_code == 200:
            lost.append("put")
            raise ReadTimeoutError(endpoint_url="lost on the way back")

    s3.meta.events.register("after-call.s3.PutObject", drop)
    return lost


def test_a_lost_upload_answer_is_retried_and_the_clip_stored_and_run_once(stack, device_id, clip_factory, tmp_path):
    """The retry's conditional put (If-None-Match) finds the first attempt's object: one version, one result."""
    folder = clip_folder(tmp_path, clip_factory, ["obama-480p.jpg", None])
    service = DeviceService(device_config(stack, device_id, tmp_path / "spool"), out=io.StringIO(), json_lines=True)
    service.uploader.base_delay_s, service.uploader.max_delay_s = 0.05, 0.2
    lost = lose_first_put_answer(service.uploader.s3)
    before = stack.executions_started
    summary = service.run(FileSource(folder, realtime=False).clips())
    assert lost == ["put"] and service.uploader.already_there == 1
    assert (summary.uploaded, summary.results, summary.missing) == (2, 2, 0)
    assert sorted(versions(stack, device_id).values()) == [1, 1]
    assert stack.executions_started - before == 2  # one execution per clip, not one per attempt
