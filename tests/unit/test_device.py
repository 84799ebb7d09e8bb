"""Device pieces on their own: configuration precedence, the spool's bound, message parsing, ordering."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from facepipe_device.config import ConfigError, load_config
from facepipe_device.results import ResultBoard, parse_result
from facepipe_device.spool import Spool
from facepipe_device.uploader import clip_key

BASE = {"FACEPIPE_BUCKET": "b", "FACEPIPE_QUEUE_URL": "q", "FACEPIPE_DEVICE_ID": "pi-env"}


def test_file_then_environment_then_flags(tmp_path):
    config_file = tmp_path / "device.toml"
    config_file.write_text('device_id = "pi-file"\nbucket = "from-file"\nqueue_url = "qf"\nclip_seconds = 1.0\n')
    assert load_config(config_file, {}).device_id == "pi-file"
    from_env = load_config(config_file, BASE)
    assert (from_env.device_id, from_env.bucket, from_env.clip_seconds) == ("pi-env", "b", 1.0)
    assert load_config(config_file, BASE, device_id="pi-flag").device_id == "pi-flag"


@pytest.mark.parametrize(
    ("text", "message"),
    [('bukcet = "x"\n', "unknown setting\\(s\\) bukcet"), ("device_id = \n", "not valid TOML")],
)
def test_bad_config_files_are_named(tmp_path, text, message):
    config_file = tmp_path / "device.toml"
    config_file.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(config_file, BASE)


def test_missing_settings_are_listed():
    with pytest.raises(ConfigError, match=r"bucket is not set .*queue_url is not set"):
        load_config(None, {"FACEPIPE_DEVICE_ID": "pi"})
    with pytest.raises(ConfigError, match=r"device_id 'pi/../x'"):
        load_config(None, BASE, device_id="pi/../x")


def test_a_configuration_the_cloud_would_refuse_is_refused_on_the_device():
    """Clips over 5 s, or frames over 4096x2160, get only error results from the cloud: the device says so at start
    rather than record hours of clips nobody answers. The limits are the protocol's, the cloud's defaults too."""
    from facepipe_protocol import MAX_CLIP_SECONDS, MAX_FRAME_PIXELS

    with pytest.raises(ConfigError, match=r"clip_seconds 6.0: between 0.1 and 5 \(the cloud refuses longer clips\)"):
        load_config(None, BASE, clip_seconds=6)
    with pytest.raises(ConfigError, match=r"width x height 7680x4320: at most 8847360 pixels"):
        load_config(None, BASE, width=7680, height=4320)
    assert load_config(None, BASE, clip_seconds=5).clip_seconds == MAX_CLIP_SECONDS
    from facepipe.core.settings import explicit_settings

    cloud = explicit_settings()
    assert (cloud.max_clip_seconds, cloud.max_frame_pixels) == (MAX_CLIP_SECONDS, MAX_FRAME_PIXELS)


def test_full_spool_drops_the_oldest_and_counts_it(tmp_path, caplog):
    spool = Spool(tmp_path / "spool", max_bytes=2500)
    for _ in range(3):
        spool.add(b"x" * 1000, seq=spool.next_seq(), ext="mp4", captured_at="2026-11-25T10:00:00.000Z", capture_end=0)
    assert [c.seq for c in spool.pending()] == [2, 3]
    assert spool.dropped == 1
    assert "spool full" in caplog.text and "dropped clip 1" in caplog.text


def test_a_full_disk_drops_the_oldest_clip_and_keeps_capturing(tmp_path, monkeypatch, caplog):
    """The card fills before the spool's own bound (other files on it): the write fails with ENOSPC. The oldest
    queued clip is dropped and the new one spooled, as when the bound is reached; capture never stops for it."""
    import errno

    import facepipe_device.spool as spool_module

    spool = Spool(tmp_path / "spool", max_bytes=10**6)
    for seq in (1, 2):
        spool.add(b"x" * 100, seq=seq, ext="mp4", captured_at="2026-12-02T10:00:00.000Z", capture_end=0)
    real, failures = spool_module.write_durably, iter([True])

    def full_once(path, data):
        if next(failures, False):  # the first write of the next clip finds the disk full
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data)

    monkeypatch.setattr(spool_module, "write_durably", full_once)
    _, dropped = spool.add(b"y" * 100, seq=3, ext="mp4", captured_at="2026-12-02T10:00:01.000Z", capture_end=0)
    assert [c.seq for c in dropped] == [1] and [c.seq for c in spool.pending()] == [2, 3]
    assert spool.dropped == 1 and "disk full: dropped clip 1" in caplog.text


def test_a_full_disk_when_the_sequence_number_is_saved_drops_the_oldest_and_capture_goes_on(
    tmp_path, monkeypatch, caplog
):
    """The sequence number is saved (state.json) before a clip is spooled: on the old main ENOSPC there stopped the
    camera and systemd restarted it until it gave up. The oldest queued clip is dropped to make room; with nothing
    left to drop the number is handed out all the same, and never handed out twice."""
    import errno

    import facepipe_device.spool as spool_module

    spool = Spool(tmp_path / "spool", max_bytes=10**6)
    for _ in range(2):
        spool.add(b"x" * 100, seq=spool.next_seq(), ext="mp4", captured_at="2026-12-02T10:00:00.000Z", capture_end=0)
    real, full = spool_module.write_durably, {"state": 1}

    def state_full(path, data):
        if path.name == "state.json" and full["state"]:
            full["state"] -= 1
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data)

    monkeypatch.setattr(spool_module, "write_durably", state_full)
    assert spool.next_seq() == 3
    assert [c.seq for c in spool.pending()] == [2] and spool.dropped == 1
    assert "disk full: dropped clip 1" in caplog.text
    for clip in spool.pending():
        spool._remove(clip)
    full["state"] = 10**6  # nothing left to drop, and the card stays full
    assert [spool.next_seq(), spool.next_seq()] == [4, 5]
    assert "sequence number 5 not persisted yet; capture goes on" in caplog.text


def test_spool_survives_a_restart_and_cleans_half_written_clips(tmp_path):
    spool = Spool(tmp_path / "spool", max_bytes=10**6)
    spool.add(b"clip", seq=spool.next_seq(), ext="mp4", captured_at="2026-11-25T10:00:00.000Z", capture_end=1.0)
    (tmp_path / "spool" / "000000000002.mp4").write_bytes(b"half")  # killed before its metadata was written
    again = Spool(tmp_path / "spool", max_bytes=10**6)
    assert [c.seq for c in again.pending()] == [1]
    assert not (tmp_path / "spool" / "000000000002.mp4").exists()
    assert again.next_seq() == 2  # sequence numbers are never reused


def test_clip_key_is_what_the_pipeline_parses():
    from facepipe.core.clip_keys import parse_clip_key

    key = clip_key("pi-1", 42, "2026-11-25T10:15:00.123Z", "h264")
    parsed = parse_clip_key(key)
    assert (key, parsed.seq, parsed.captured_at) == (
        "clips/pi-1/000042_20261125T101500123Z.h264",
        42,
        "2026-11-25T10:15:00.123Z",
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "not JSON"),
        ("[1]", "message: \\[1\\] is not of type 'object'"),
        ('{"device_id": "x"}', "message: 'clip' is a required property"),
        (
            json.dumps(
                {
                    "schema_version": 1,
                    "device_id": "d",
                    "clip": {"bucket": "b", "key": "k", "seq": 1, "captured_at": None},
                    "status": "weird",
                    "people": [],
                    "unknown_faces": 0,
                    "frames_analyzed": 0,
                    "error": None,
                    "timings_ms": {},
                    "execution_id": None,
                }
            ),
            "status: 'weird' is not one of \\['ok', 'no_face', 'error'\\]",
        ),
    ],
)
def test_malformed_results_are_named(body, message):
    with pytest.raises(ValueError, match=message):
        parse_result(body)


def test_results_are_shown_in_capture_order_and_missing_ones_reported():
    board = ResultBoard(timeout_s=5.0, stale_after_s=2.0, clock=time.time)
    now = time.time()
    for seq in (1, 2, 3):
        board.expect(seq, now)
    board.offer({"clip": {"seq": 2}}, now=now + 0.5)
    assert board.ready(now + 0.6) == []  # 1 is still on its way: 2 waits
    board.offer({"clip": {"seq": 1}}, now=now + 3.0)
    shown = board.ready(now + 3.1)
    assert [(s.seq, s.stale) for s in shown] == [(1, True), (2, False)]
    board.offer({"clip": {"seq": 1}}, now=now + 3.2)  # a late redelivery is not shown twice
    assert board.late == 1
    assert board.ready(now + 6.0)[0].message is None  # 3 never came: reported missing
    assert board.outstanding() == 0


def test_face_gate_passes_a_face_and_skips_an_empty_room(clip_factory):
    from facepipe_device.gate import FaceGate

    gate = FaceGate()
    assert gate.has_face(clip_factory("obama-480p.jpg").read_bytes(), "mp4") is True
    assert gate.has_face(clip_factory(None).read_bytes(), "mp4") is False


def test_received_results_survive_a_restart_until_shown(tmp_path):
    now = time.time()
    board = ResultBoard(timeout_s=30, stale_after_s=10, store_dir=tmp_path / "results", clock=time.time)
    board.expect(1, now)
    board.expect(2, now)
    board.offer({"clip": {"seq": 2}}, now=now + 0.4)  # waits for clip 1; deleted from the queue already
    restarted = ResultBoard(timeout_s=30, stale_after_s=10, store_dir=tmp_path / "results", clock=time.time)
    restarted.expect(1, now)
    restarted.expect(2, now)
    restarted.offer({"clip": {"seq": 1}}, now=now + 0.6)
    assert [s.seq for s in restarted.ready(now + 0.7)] == [1, 2]
    assert list((tmp_path / "results").glob("*.json")) == []


def test_results_nobody_waits_for_are_shown_as_late_then_deleted(tmp_path):
    """Clips uploaded before a restart are no longer in the spool, so the new run expects nothing of them: their
    results used to sit in results/ for ever (students' names on the SD card), never shown, never reported.
    Now they are shown once, marked late, and deleted."""
    now = time.time()
    board = ResultBoard(timeout_s=30, stale_after_s=10, store_dir=tmp_path / "results", clock=time.time)
    board.expect(1, now)
    board.offer({"clip": {"seq": 2}}, now=now)  # received just before the service stopped: clip 2's upload ended
    restarted = ResultBoard(timeout_s=30, stale_after_s=10, store_dir=tmp_path / "results", clock=time.time)
    restarted.offer({"clip": {"seq": 3}, "people": [{"name": "Kit Harington"}]}, now=now + 1)  # uploaded before
    restarted.expect(4, now + 1)
    shown = restarted.ready(now + 1.5)
    assert [(s.seq, s.late) for s in shown] == [(2, True), (3, True)]  # clip 4 is still on its way
    assert list((tmp_path / "results").glob("*.json")) == []  # nothing with a name left on the card
    assert restarted.outstanding() == 1


def test_a_received_result_is_made_durable_before_its_queue_message_goes(tmp_path, monkeypatch):
    """Its queue message is deleted once the board has it: the file is the only copy, so it is written as the spool
    writes clips (the bytes synced, then the name), not left in the page cache for a power cut to take."""
    import os

    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    board = ResultBoard(timeout_s=30, stale_after_s=10, store_dir=tmp_path / "results")
    board.expect(1, time.time())
    board.offer({"clip": {"seq": 1}})
    assert len(synced) == 2  # the file, then its folder
    assert [p.name for p in (tmp_path / "results").iterdir()] == ["000000000001.json"]


def test_a_result_after_its_clip_was_reported_missing_is_shown_late_not_dropped():
    """A clip throttled in the cloud is started again later: its result may come after the device reported it
    missing. It used to be dropped as a redelivery; who was in the room still matters, so it is shown, marked."""
    ticks = {"t": 100.0}
    board = ResultBoard(timeout_s=30, stale_after_s=10, clock=lambda: ticks["t"], wall=lambda: ticks["t"])
    board.expect(1, 100.0)
    ticks["t"] = 131.0
    assert [(s.seq, s.message) for s in board.ready()] == [(1, None)]  # reported missing
    ticks["t"] = 140.0
    board.offer({"clip": {"seq": 1}, "people": [{"id": "kit"}]})
    (late,) = board.ready()
    assert late.late and late.after_missing and late.message["people"] == [{"id": "kit"}]
    board.offer({"clip": {"seq": 1}, "people": [{"id": "kit"}]})  # a redelivery of it: not shown twice
    assert board.ready() == [] and board.late == 1


def test_a_wall_clock_step_neither_holds_results_nor_drops_them():
    """A Pi has no real-time clock; NTP steps its wall clock. An hour back used to hold every result an hour (the
    deadline was wall time), an hour forward to report real results missing. Deadlines run on a monotonic clock."""
    ticks = {"mono": 1000.0, "wall": 1_800_000_000.0}
    board = ResultBoard(timeout_s=30, stale_after_s=10, clock=lambda: ticks["mono"], wall=lambda: ticks["wall"])
    board.expect(1, ticks["wall"] - 0.2)  # captured just now
    ticks["wall"] -= 3600  # NTP steps the wall clock an hour back
    ticks["mono"] += 31
    (missing,) = board.ready()  # 31 s without a result: reported now, not in an hour
    assert missing.seq == 1 and missing.message is None
    board.expect(2, ticks["wall"] - 0.2)
    ticks["wall"] += 7200  # and an hour forward
    ticks["mono"] += 0.5
    board.offer({"clip": {"seq": 2}})
    (shown,) = board.ready()
    assert shown.message is not None and 0.6 <= shown.latency_s <= 0.8 and not shown.stale


def test_a_real_result_replaces_an_error_for_the_same_clip_not_yet_shown():
    board = ResultBoard(timeout_s=5.0, stale_after_s=2.0, clock=time.time)
    now = time.time()
    board.expect(1, now)
    board.expect(2, now)
    board.offer({"clip": {"seq": 2}, "status": "error"}, now=now + 0.1)  # a failed duplicate's error
    board.offer({"clip": {"seq": 2}, "status": "ok"}, now=now + 0.2)  # the real result
    board.offer({"clip": {"seq": 2}, "status": "error"}, now=now + 0.3)  # never the other way round
    board.offer({"clip": {"seq": 1}, "status": "no_face"}, now=now + 0.4)
    assert [(s.seq, s.message["status"]) for s in board.ready(now + 0.5)] == [(1, "no_face"), (2, "ok")]
    assert board.late == 1


def test_a_camera_that_fails_stops_the_service_with_a_non_zero_exit_and_systemd_restarts_it(
    tmp_path, capsys, monkeypatch
):
    """A source that fails (the camera unplugged, its driver gone) ends capture: the service says why and its
    command exits non-zero (3), and the unit restarts it whatever way it ended, within a start limit: never a quiet
    exit 0 that leaves the room unwatched. S3 and SQS are moto's in-process mock (nothing is uploaded); the
    command runs the real service, with the clients and the failing camera handed in."""
    from pathlib import Path

    import boto3
    import facepipe_device.service as service_module
    from facepipe_device import cli
    from moto import mock_aws

    def camera():
        raise OSError("camera /dev/video0 disappeared")
        yield  # a generator, as every source's clips() is

    class Failing:
        def clips(self):
            return camera()

    with mock_aws():
        s3, sqs = boto3.client("s3", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")
        s3.create_bucket(Bucket="clips")
        queue = sqs.create_queue(QueueName="pi-1.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        real = service_module.DeviceService
        monkeypatch.setattr(cli, "open_source", lambda *args, **options: Failing())
        monkeypatch.setattr(service_module, "DeviceService", lambda config, **o: real(config, s3=s3, sqs=sqs, **o))
        monkeypatch.setenv("FACEPIPE_POLL_WAIT_S", "1")
        code = cli.main(
            ["run", "--device-id", "pi-1", "--bucket", "clips", "--queue-url", queue, "--spool-dir", str(tmp_path)]
        )
    assert code == 3
    assert "capture stopped: camera /dev/video0 disappeared" in capsys.readouterr().err

    unit = (Path(__file__).resolve().parents[2] / "device" / "facepipe-device.service").read_text()
    assert "Restart=always" in unit and "StartLimitIntervalSec=" in unit and "StartLimitBurst=" in unit


def test_the_device_unit_passes_systemd_analyze_verify(tmp_path):
    """The unit as systemd reads it: `systemd-analyze verify` names any key it does not know or a value it
    cannot parse (a misspelt StartLimitBurst is ignored, with only a warning, and the service would never stop
    restarting) but still exits 0, so any output fails here. Its ExecStart points at the venv the Pi's install
    makes; here at an executable of the same name in a temporary folder, every other line as written."""
    import shutil
    import subprocess

    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: `make test` installs Debian's systemd"
    unit = (Path(__file__).resolve().parents[2] / "device" / "facepipe-device.service").read_text()
    installed = "/opt/facepipe/venv/bin/facepipe-device"
    assert f"ExecStart={installed} " in unit
    stand_in = tmp_path / "venv" / "bin" / "facepipe-device"
    stand_in.parent.mkdir(parents=True)
    stand_in.write_text("#!/bin/sh\n")
    stand_in.chmod(0o755)
    checked = tmp_path / "facepipe-device.service"

    def verify(text: str) -> subprocess.CompletedProcess[str]:
        checked.write_text(text.replace(f"ExecStart={installed}", f"ExecStart={stand_in}"))
        return subprocess.run([analyze, "verify", str(checked)], capture_output=True, text=True, timeout=60)

    ran = verify(unit)
    assert ran.returncode == 0 and not (ran.stdout + ran.stderr).strip(), ran.stdout + ran.stderr
    misspelt = verify(unit.replace("StartLimitBurst=", "StartLimitBurts="))  # the check can fail
    assert "Unknown key" in misspelt.stdout + misspelt.stderr


def test_an_unreadable_spooled_clip_is_set_aside_and_the_uploads_go_on(tmp_path, caplog):
    """A bad block or a truncated file: reading one spooled clip fails. It is moved to ``bad/`` (removed at the
    next start), logged and counted; the upload worker lives on and the next clip is uploaded. (S3 is moto's
    in-process mock.)"""
    import boto3
    from facepipe_device.uploader import Uploader
    from moto import mock_aws

    spool = Spool(tmp_path / "spool", max_bytes=10**6)
    bad, _ = spool.add(b"clip-1", seq=1, ext="mp4", captured_at="2026-12-02T10:00:00.000Z", capture_end=0)
    good, _ = spool.add(b"clip-2", seq=2, ext="mp4", captured_at="2026-12-02T10:00:01.000Z", capture_end=0)
    broken = tmp_path / "spool" / f"{bad.stem()}.mp4"
    broken.unlink()
    broken.mkdir()  # reading it now fails with an OSError, as a bad block does
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="clips")
        uploader = Uploader(s3, spool, bucket="clips", device_id="pi-1", workers=1)
        uploader.submit(bad)
        uploader.submit(good)
        assert uploader.drain(timeout_s=30)
        uploader.stop()
        stored = [o["Key"] for o in s3.list_objects_v2(Bucket="clips")["Contents"]]
    assert len(stored) == 1 and "/000002_" in stored[0]
    assert spool.set_aside_count == 1 and spool.pending() == []
    assert (tmp_path / "spool" / "bad" / f"{bad.stem()}.json").exists()
    assert "spooled clip 1 is unreadable" in caplog.text
    # The next start removes what was set aside.
    Spool(tmp_path / "spool", max_bytes=10**6)
    assert not any((tmp_path / "spool" / "bad").iterdir())


def _clips_of(frames, fps: float, tmp_path, name: str) -> list[bytes]:
    """0.5 s mp4 clips cut from frames (BGR), as the camera would record them."""
    import cv2

    per, out = max(1, round(fps / 2)), []
    for n, start in enumerate(range(0, len(frames) - per + 1, per)):
        path = tmp_path / f"{name}-{n}.mp4"
        height, width = frames[0].shape[:2]
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
        for frame in frames[start : start + per]:
            writer.write(frame)
        writer.release()
        out.append(path.read_bytes())
    return out


def test_the_change_gate_sends_a_moving_room_and_only_heartbeats_of_a_still_one(videos, tmp_path):
    """Real corridor footage: people walking in change every clip; the same room still (one real frame held for
    30 s with the camera's sensor noise) sends one clip a heartbeat; someone walking into it is sent at once."""
    import cv2
    import numpy as np
    from facepipe_device.gate import ChangeGate

    capture, frames = cv2.VideoCapture(str(videos / "turning" / "face-demographics-walking.gif")), []
    while (read := capture.read())[0]:
        frames.append(read[1])
    walking = _clips_of(frames, 12.5, tmp_path, "walking")
    rng = np.random.default_rng(0)
    still_frames = [np.clip(frames[0] + rng.normal(0, 3, frames[0].shape), 0, 255).astype(np.uint8) for _ in range(360)]
    still = _clips_of(still_frames, 12.5, tmp_path, "still")
    clock = {"t": 0.0}
    gate = ChangeGate(heartbeat_s=5.0, clock=lambda: clock["t"])

    since: list[str | None] = []

    def sent(clips: list[bytes]) -> int:
        count = 0
        for data in clips:
            at = f"2026-12-02T10:00:{clock['t']:06.3f}Z"
            if gate.should_send(data, "mp4", at):
                count += 1
                since.append(gate.unchanged_since)
            clock["t"] += 0.5
        return count

    assert sent(still) == 6  # 60 clips over 30 s: the first, then one each 5 s
    # Each heartbeat says since when the room is unchanged: the first clip's capture (the results say it too).
    assert since == [None] + ["2026-12-02T10:00:00.000Z"] * 5
    assert sent(walking[1:]) == len(walking) - 1  # people walk in: every clip changed
    assert set(since[6:]) == {None}


def test_a_heartbeat_result_shows_since_when_the_room_is_unchanged():
    from facepipe_device.display import format_result

    message = {
        "device_id": "pi-1",
        "clip": {"seq": 7, "unchanged_since": "2026-12-02T10:00:00.000Z"},
        "status": "ok",
        "people": [],
        "unknown_faces": 1,
    }
    shown = format_result(message, 0.4)
    assert "room unchanged since" in shown and "the clips in between not sent" in shown
    assert "room unchanged" not in format_result(message | {"clip": {"seq": 8}}, 0.4)


def test_the_service_counts_clips_the_change_gate_skips(tmp_path):
    from facepipe_device.config import DeviceConfig
    from facepipe_device.service import Summary

    assert "skipped (unchanged) 3" in Summary(captured=5, unchanged=3).line()
    config = DeviceConfig(device_id="pi-1", bucket="b", queue_url="q", change_gate=True, heartbeat_s=90)
    with pytest.raises(ConfigError, match=r"heartbeat_s 90: between 0.5 and 30 \(the cloud counts someone gone"):
        config.validate()
    flags = load_config(None, {}, device_id="pi-1", bucket="b", queue_url="q", change_gate=True, heartbeat_s=2.5)
    assert flags.change_gate is True and flags.heartbeat_s == 2.5
    # On by default; the command line turns it off.
    from facepipe_device.cli import build_parser, config_from

    assert DeviceConfig(device_id="pi-1", bucket="b", queue_url="q").change_gate is True
    common = ["--device-id", "pi-1", "--bucket", "b", "--queue-url", "q", "--source", "x.mp4"]
    off = config_from(build_parser().parse_args(["run", *common, "--no-change-gate"]))
    assert off.change_gate is False
