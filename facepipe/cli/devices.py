"""`facepipe devices add|list|remove`: the cameras a stack serves (facepipe.aws.devices), local or deployed.

Against the local stack: the settings `facepipe local --env-file F` wrote, sourced in the shell. Against a
deployed stack: ``--stack NAME`` (its CloudFormation outputs) with the operator's AWS credentials.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from facepipe.cli.common import stack_option
from facepipe.core.settings import Settings


def register(sub: Any) -> None:
    devices = sub.add_parser("devices", help="register, list or retire the cameras a stack serves").add_subparsers(
        dest="devices_command", required=True, metavar="ACTION"
    )
    p = devices.add_parser(
        "add",
        help="register a device: its results queue and IAM user; print (or write) its settings",
        description="Creates the device's own FIFO results queue and an IAM user tagged with its id holding only "
        "DevicePolicy, registers it, and prints every setting facepipe-device needs (set -a; . F; set +a).",
    )
    p.add_argument("device_id", metavar="ID")
    p.add_argument("--env-file", type=Path, metavar="F", help="write the settings here (mode 600) instead of printing")
    p.add_argument(
        "--no-credentials",
        action="store_true",
        help="no IAM user or key: the device brings its own tagged credentials (IoT credentials provider, "
        "IAM Roles Anywhere)",
    )
    stack_option(p, region=True)
    p.set_defaults(handler=cmd_add)

    p = devices.add_parser("list", help="each device with last seen, clips today and queue depth")
    stack_option(p, region=True)
    p.set_defaults(handler=cmd_list)

    p = devices.add_parser("remove", help="retire a device: its queue, its IAM user and its registration")
    p.add_argument("device_id", metavar="ID")
    stack_option(p, region=True)
    p.set_defaults(handler=cmd_remove)


def _devices(args: argparse.Namespace, settings: Settings) -> Any:
    import boto3

    from facepipe.aws.clients import CLIENT_CONFIG
    from facepipe.aws.devices import DeviceError, Devices
    from facepipe.aws.stack import StackOutputs

    session = boto3.session.Session(region_name=args.region)
    # Without --stack, the settings say which stack (and what is missing, before anything else is asked).
    local = None if args.stack else StackOutputs.from_settings(settings, region="", endpoint_url=None)
    if not session.region_name:
        raise DeviceError("no AWS region: set AWS_DEFAULT_REGION (or pass --region)")
    if local is None:
        cloudformation = session.client("cloudformation", config=CLIENT_CONFIG)
        ref = StackOutputs.of_deployed(args.stack, cloudformation, region=session.region_name)
    else:
        endpoint = session.client("sqs", config=CLIENT_CONFIG).meta.endpoint_url
        ref = replace(local, region=session.region_name, endpoint_url=endpoint if local.local else None)
    return Devices(ref, lambda service: session.client(service, config=CLIENT_CONFIG))


def cmd_add(args: argparse.Namespace, settings: Settings) -> int:
    env = _devices(args, settings).add(args.device_id, credentials=not args.no_credentials)
    text = "".join(f"{key}={value}\n" for key, value in env.items())
    if args.env_file is None:
        sys.stdout.write(text)
        return 0
    # Created 0600, and narrowed to it when the file was there before (touch keeps an existing file's mode): it
    # holds the device's secret key.
    args.env_file.touch(mode=0o600)
    args.env_file.chmod(0o600)
    args.env_file.write_text(text)
    print(f"Registered {args.device_id}; its settings are in {args.env_file} (set -a; . {args.env_file}; set +a)")
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    rows = _devices(args, settings).list()
    print(f"{'device':<24} {'registered':<10} {'last seen':<26} {'clips today':>11} {'refused today':>13} {'queue':>5}")
    for row in rows:
        depth = "-" if row.queue_depth is None else str(row.queue_depth)
        print(
            f"{row.device_id:<24} {'yes' if row.registered else 'NO':<10} {row.last_seen or '-':<26} "
            f"{row.clips_today:>11} {row.refused_today:>13} {depth:>5}"
        )
    if not rows:
        print("(no devices: facepipe devices add ID)")
    return 0


def cmd_remove(args: argparse.Namespace, settings: Settings) -> int:
    _devices(args, settings).remove(args.device_id)
    print(f"Removed {args.device_id}: its queue, IAM user and registration (its later clips are refused)")
    return 0
