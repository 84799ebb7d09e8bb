"""`facepipe local` (long-running stack) and `facepipe run` (one-shot: clips in, results out)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from facepipe.core.errors import FacepipeError
from facepipe.core.settings import Settings


def register(sub: Any) -> None:
    p = sub.add_parser(
        "local",
        help="run the whole stack on 127.0.0.1 (no AWS account) until Ctrl-C",
        description="An AWS-compatible endpoint (moto) on 127.0.0.1 with the template's resources, the real "
        "state machine and the real handlers. Prints the operator's settings (`facepipe devices add` in another "
        "shell uses them).",
    )
    p.add_argument("--port", type=int, default=4566, help="endpoint port on 127.0.0.1 (default: %(default)s)")
    p.add_argument("--workers", type=int, help="recognize worker processes (default: one per core)")
    p.add_argument("--people", type=Path, metavar="DIR", help="enroll these people at start")
    p.add_argument("--gallery", type=Path, metavar="G", help="upload this gallery at start")
    p.add_argument("--students", type=Path, metavar="FILE", help="import these records at start")
    p.add_argument("--env-file", type=Path, metavar="F", help="also write the device settings to this file")
    p.add_argument(
        "--enforce-iam",
        action="store_true",
        help="run every part as its own IAM principal (the template's roles; DevicePolicy for devices) and "
        "authorize every request, as AWS does (what moto can check: see facepipe/local/iam.py)",
    )
    p.add_argument(
        "--device",
        action="append",
        default=[],
        metavar="ID",
        help="register device ID (its queue, an IAM user with only DevicePolicy) as `facepipe devices add` "
        "does; its settings go to F.ID beside --env-file F (repeatable)",
    )
    p.add_argument(
        "--webhook",
        action="append",
        default=[],
        metavar="URL",
        help="POST every event to URL (https, or http on this machine), signed with HMAC-SHA256 over a timestamp "
        "and the body under FACEPIPE_WEBHOOK_SECRET (repeatable)",
    )
    p.add_argument(
        "--mqtt", metavar="HOST[:PORT]", help="publish every event to this MQTT broker (Home Assistant discovery)"
    )
    p.add_argument("--mqtt-user", metavar="USER", help="the broker's user (its password: FACEPIPE_MQTT_PASSWORD)")
    p.add_argument("--mqtt-tls", action="store_true", help="reach the broker over TLS (port 8883 by default)")
    p.add_argument(
        "--mqtt-ca", metavar="FILE", help="with --mqtt-tls: the broker's CA certificate (default: the system's)"
    )
    p.set_defaults(handler=cmd_local)

    p = sub.add_parser(
        "run",
        help="one shot: start the stack, upload clips as a device does, print each result",
        description="Starts the local stack in-process, enrolls and imports when asked, uploads each clip, waits "
        "for its result on the queue, prints it with the measured latency, and exits.",
    )
    p.add_argument("clips", nargs="+", type=Path, metavar="CLIP")
    p.add_argument("--people", type=Path, metavar="DIR", help="enroll people from DIR/<person_id>/*.jpg first")
    p.add_argument("--gallery", type=Path, metavar="G", help="use this gallery (instead of --people)")
    p.add_argument("--students", type=Path, metavar="FILE", help="import student records (JSON or CSV) first")
    p.add_argument("--device-id", default="local-pi", metavar="D")
    p.add_argument("--json", action="store_true", help="print the result messages, one per line, with latency_s")
    p.add_argument("--annotate", type=Path, metavar="DIR", help="write each analysed frame with boxes and names")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each clip's result")
    p.add_argument("--workers", type=int, help="recognize worker processes (default: one per core)")
    p.set_defaults(handler=cmd_run)


def _event_sinks(args: argparse.Namespace) -> dict[str, Any]:
    import os

    from facepipe.local.relay import MqttBroker, Webhook

    secret = os.environ.get("FACEPIPE_WEBHOOK_SECRET", "")
    if args.webhook and not secret:
        raise FacepipeError("--webhook needs FACEPIPE_WEBHOOK_SECRET (the key its receiver checks signatures with)")
    mqtt = None
    if args.mqtt:
        host, _, port = args.mqtt.partition(":")
        if port and not port.isdigit():
            raise FacepipeError(f"--mqtt {args.mqtt!r}: the port is not a number")
        password = os.environ.get("FACEPIPE_MQTT_PASSWORD") or None
        if args.mqtt_user and not password:
            raise FacepipeError("--mqtt-user needs FACEPIPE_MQTT_PASSWORD (the broker's password for that user)")
        if args.mqtt_ca and not Path(args.mqtt_ca).is_file():
            raise FacepipeError(f"--mqtt-ca {args.mqtt_ca}: no such file")
        mqtt = MqttBroker(
            host,
            int(port or (8883 if args.mqtt_tls else 1883)),
            username=args.mqtt_user,
            password=password,
            tls=args.mqtt_tls,
            ca_file=args.mqtt_ca,
        )
    try:
        webhooks = tuple(Webhook(url, secret) for url in args.webhook)
    except ValueError as exc:
        raise FacepipeError(f"--webhook: {exc}") from None
    return {"webhooks": webhooks, "mqtt": mqtt}


def prepare(stack: Any, args: argparse.Namespace, settings: Settings) -> list[str]:
    """Enroll/upload the gallery and import records as asked; returns lines to tell the user."""
    from facepipe.identity.enroll import enroll
    from facepipe.identity.gallery import Gallery
    from facepipe.identity.records import validate_records

    said: list[str] = []
    gallery = None
    if args.people is not None:
        gallery, enrolled = enroll(args.people, settings)
        for path, reason in enrolled.errors:
            print(f"facepipe: {path}: {reason} (not enrolled)", file=sys.stderr)
        said.append(f"Enrolled {len(gallery.people)} people from {args.people}.")
    elif args.gallery is not None:
        gallery = Gallery.load(args.gallery)
    records = []
    if args.students is not None:
        report = validate_records(args.students)
        for _line, problem in report.problems:
            print(f"facepipe: {args.students}: {problem} (skipped)", file=sys.stderr)
        records = report.records
        said.append(f"Imported {len(report.records)} student records.")
    stack.load(gallery=gallery, students=records)
    return said


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from facepipe_device.display import format_result

    from facepipe.local.client import receive_results, upload_clip
    from facepipe.local.stack import local_stack

    if args.people is None and args.gallery is None:
        raise FacepipeError("facepipe run needs --people DIR or --gallery G (who to recognize)")
    for clip in args.clips:
        if not clip.is_file():
            raise FacepipeError(f"{clip}: no such clip")
    missing = 0
    with local_stack(workers=args.workers) as stack:
        s3, sqs = stack.client("s3"), stack.client("sqs")
        for line in prepare(stack, args, settings):
            if not args.json:
                print(line)
        stack.add_device(args.device_id)
        queue = stack.queue_url(args.device_id)
        for seq, clip in enumerate(args.clips, start=1):
            upload = upload_clip(clip, bucket=stack.outputs.bucket, device_id=args.device_id, seq=seq, s3=s3)
            got = receive_results(queue, {upload.key: upload}, timeout_s=args.timeout, sqs=sqs)
            if upload.key not in got:
                missing += 1
                print(f"clip {seq:06d}: no result within {args.timeout:g} s ({clip})", file=sys.stderr)
                continue
            message, latency = got[upload.key]
            if args.json:
                print(json.dumps(message | {"file": str(clip), "latency_s": round(latency, 3)}))
            else:
                print(f"{clip} -> {args.device_id}")
                print(format_result(message, latency))
            sys.stdout.flush()
            if args.annotate is not None:
                from facepipe.ops.annotate import annotate_result

                annotate_result(message, args.annotate, s3=s3)
    return 1 if missing else 0


def cmd_local(args: argparse.Namespace, settings: Settings) -> int:
    from facepipe.local.stack import local_stack

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sinks = _event_sinks(args)
    with local_stack(
        port=args.port, workers=args.workers, enforce_iam=args.enforce_iam, run_schedules=True, **sinks
    ) as stack:
        for line in prepare(stack, args, settings):
            print(line)
        outputs = stack.outputs
        env = stack.env()
        print(f"facepipe local stack on {outputs.endpoint_url} (127.0.0.1 only)")
        print(f"  bucket:        {outputs.bucket}")
        print(f"  devices table: {outputs.devices_table}")
        print(f"  results queues: {outputs.queue_prefix}<device_id>.fifo, one per registered device")
        print(f"  table:         {outputs.students_table}")
        print(f"  state machine: {outputs.state_machine_arn}")
        print(f"  attendance:    {outputs.values['attendance_table']} (sessions closed every 5 minutes)")
        print(f"  recognize workers: {stack.workers} (cold start {stack.cold_start_s:.1f} s)")
        print(f"  function logs: {stack.log_dir}/<function>.log")
        print(
            "Operator settings, for `facepipe devices add ID --env-file F`, `facepipe unknowns` and "
            "`facepipe console` in another shell (or use --env-file):"
        )
        for key, value in env.items():
            print(f"  {key}={value}")
        if args.enforce_iam:
            print("  IAM: enforced (these settings are the operator; each device gets DevicePolicy only)")
        if args.env_file is not None:
            args.env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
            print(f"Wrote {args.env_file}")
        for device_id in args.device:
            device_env = stack.add_device(device_id)
            if args.env_file is not None:
                path = args.env_file.with_name(f"{args.env_file.name}.{device_id}")
                path.write_text("".join(f"{k}={v}\n" for k, v in device_env.items()))
                print(f"Wrote {path} (device {device_id}: its own queue and credentials, DevicePolicy only)")
            else:
                print(f"Registered device {device_id}: results queue {device_env['FACEPIPE_QUEUE_URL']}")
        stack.settle()  # what was loaded and created above is long-lived (see LocalStack.settle)
        print("Ctrl-C stops it.")
        sys.stdout.flush()
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        print("Stopping.")
    return 0
