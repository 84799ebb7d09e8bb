"""The command line: help, usage errors (exit 2), failures (exit 1) and the --json contract."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from facepipe.cli.main import main


def test_help_names_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("enroll", "people", "recognize", "students"):
        assert command in out


def test_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["recognize"])
    assert exit_info.value.code == 2
    assert "the following arguments are required: IMAGE" in capsys.readouterr().err


def test_recognize_json_lines(samples, gallery_path, capsys):
    probes = samples / "probes"
    code = main(
        [
            "recognize",
            str(probes / "obama_and_biden.jpg"),
            str(probes / "kit_with_rose.jpg"),
            "--gallery",
            str(gallery_path),
            "--json",
        ]
    )
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["file"] for line in lines] == [str(probes / "obama_and_biden.jpg"), str(probes / "kit_with_rose.jpg")]
    assert sorted(f["id"] for f in lines[0]["faces"]) == ["biden", "obama", "unknown"]
    assert lines[0]["unknown_faces"] == 1
    assert sorted(f["id"] for f in lines[1]["faces"]) == ["kit_harington", "rose_leslie"]
    for face in lines[0]["faces"]:
        top, right, bottom, left = face["box"]
        assert 0 <= top < bottom <= 1428 and 0 <= left < right <= 2000
        assert 0 <= face["distance"] < 1.5
    assert lines[0]["ms"] > 0


def test_recognize_reports_a_bad_image_and_goes_on(samples, gallery_path, tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    code = main(["recognize", str(bad), str(samples / "probes" / "obama_small.jpg"), "--gallery", str(gallery_path)])
    captured = capsys.readouterr()
    assert code == 1
    assert "bad.jpg: not an image" in captured.err
    assert "obama_small.jpg: obama (distance" in captured.out


def test_missing_gallery_is_a_clear_failure(samples, tmp_path, capsys):
    assert main(["recognize", str(samples / "probes" / "obama1.jpg"), "--gallery", str(tmp_path / "g.json")]) == 1
    assert "gallery not found" in capsys.readouterr().err


def test_installed_command_runs(tmp_path):
    result = subprocess.run([sys.executable, "-m", "facepipe", "students", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "validate" in result.stdout


def test_the_demo_without_console_ends_after_the_clips(samples, tmp_path, monkeypatch, capsys):
    """`make demo DEMO_ARGS=--no-console`: the demo's steps run and the stack is asked for no console. The whole
    demo through the stack, console included, is tests/integration/test_commands.py; here only where the flag goes
    (run_device is where the stack starts: recorded instead)."""
    from facepipe.cli import demo
    from facepipe.core.settings import get_settings

    asked: list[dict] = []
    monkeypatch.setattr(demo, "run_device", lambda clips, *args, **options: asked.append(options) or 0)
    monkeypatch.setenv("FACEPIPE_SAMPLES", str(samples))
    get_settings.cache_clear()
    try:
        assert demo.main(["--out", str(tmp_path / "demo-out"), "--no-console"]) == 0
    finally:
        get_settings.cache_clear()
    assert [a["console"] for a in asked] == [False]
    assert len(list((tmp_path / "demo-out" / "clips").glob("*.mp4"))) == len(demo.DEMO_CLIPS)


@pytest.mark.parametrize(
    ("argv", "region"),
    [
        (["devices", "add", "pi-1", "--stack", "s", "--region", "eu-west-1"], True),
        (["devices", "list", "--stack", "s", "--region", "eu-west-1"], True),
        (["devices", "remove", "pi-1", "--stack", "s", "--region", "eu-west-1"], True),
        (["unknowns", "list", "--stack", "s"], False),
        (["attendance", "courses", "--stack", "s"], False),
    ],
)
def test_every_command_on_a_deployed_stack_takes_stack_and_the_devices_commands_their_region(argv, region):
    """`--stack` comes from one place (facepipe.cli.common.stack_option); the devices commands, which make
    their own AWS session, also take `--region` (a shared option once lost it: every `devices` command failed)."""
    from facepipe.cli.main import build_parser

    args = build_parser().parse_args(argv)
    assert args.stack == "s"
    assert (getattr(args, "region", None) == "eu-west-1") is region
