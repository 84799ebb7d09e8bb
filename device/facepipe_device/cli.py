"""`facepipe-device run|check`: the camera service and its self-check."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from facepipe_device.config import ConfigError, DeviceConfig, load_config
from facepipe_device.sources import SourceError, open_source


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facepipe-device",
        description="Record 0.5 s clips, upload them durably to the facepipe stack, and show who was seen.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in (
        ("run", "capture, upload and show results"),
        ("check", "verify configuration, access and camera"),
    ):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--config", type=Path, metavar="FILE", help="TOML settings (then environment, then flags)")
        p.add_argument("--endpoint-url", help="AWS-compatible endpoint (the local stack's, from `facepipe local`)")
        p.add_argument("--source", help="picamera2 | opencv:INDEX_OR_URL | file:PATH (default: picamera2)")
        p.add_argument("--device-id", help="this device's id (the clips/<device_id>/ prefix)")
        p.add_argument("--bucket", help="the stack's ClipsBucketName")
        p.add_argument("--queue-url", help="the stack's ResultsQueueUrl")
        p.add_argument("--region")
        p.add_argument("--spool-dir", type=Path)
        if name == "run":
            p.add_argument("--loop", action="store_true", help="replay a file: source forever")
            p.add_argument("--json", action="store_true", help="results as JSON lines")
            p.add_argument("--max-clips", type=int, metavar="N", help="stop capturing after N clips")
            p.add_argument(
                "--face-gate",
                action="store_true",
                default=None,
                help="skip clips in which a cheap on-device detector finds no face",
            )
            p.add_argument(
                "--change-gate",
                action=argparse.BooleanOptionalAction,
                default=None,
                help="send a clip only when the room changed since the last one sent, or a heartbeat is due (on by "
                "default; --no-change-gate sends every clip)",
            )
            p.add_argument("--heartbeat", type=float, metavar="S", help="with --change-gate: seconds (default 5)")
    return parser


def config_from(args: argparse.Namespace) -> DeviceConfig:
    return load_config(
        args.config,
        endpoint_url=args.endpoint_url,
        source=args.source,
        device_id=args.device_id,
        bucket=args.bucket,
        queue_url=args.queue_url,
        region=args.region,
        spool_dir=args.spool_dir,
        face_gate=getattr(args, "face_gate", None),
        change_gate=getattr(args, "change_gate", None),
        heartbeat_s=getattr(args, "heartbeat", None),
    )


def cmd_run(args: argparse.Namespace) -> int:
    from facepipe_device.service import DeviceService

    config = config_from(args)
    source = open_source(
        config.source, seconds=config.clip_seconds, size=(config.width, config.height), fps=config.fps, loop=args.loop
    )
    gate = None
    if config.face_gate:
        from facepipe_device.gate import FaceGate

        gate = FaceGate()
    change_gate = None
    if config.change_gate:
        from facepipe_device.gate import ChangeGate

        change_gate = ChangeGate(heartbeat_s=config.heartbeat_s)
    service = DeviceService(config, json_lines=args.json, gate=gate, change_gate=change_gate)
    try:
        summary = service.run(source.clips(), max_clips=args.max_clips)
    except KeyboardInterrupt:
        print(service.summary.line(), file=sys.stderr)
        return 130
    if summary.source_failed:
        # The camera stopped: exit non-zero so systemd restarts the service (facepipe-device.service), never a
        # quiet exit 0 that leaves the room unwatched.
        return 3
    return 1 if summary.missing else 0


def cmd_check(args: argparse.Namespace) -> int:
    from facepipe_device.check import run_checks

    return run_checks(config_from(args))


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return cmd_run(args) if args.command == "run" else cmd_check(args)
    except (ConfigError, SourceError) as exc:
        print(f"facepipe-device: {exc}", file=sys.stderr)
        return 1
