"""`facepipe unknowns list|label|dismiss`: the unknown faces a stack keeps meeting (facepipe.aws.unknowns).

Against the local stack: the settings `facepipe local --env-file F` wrote, sourced in the shell. Against a
deployed stack: ``--stack NAME`` with the operator's AWS credentials.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from facepipe.cli.common import stack_option
from facepipe.core.settings import Settings


def register(sub: Any) -> None:
    unknowns = sub.add_parser(
        "unknowns", help="the unknown faces a stack keeps meeting: list, label as a person, dismiss"
    ).add_subparsers(dest="unknowns_command", required=True, metavar="ACTION")
    p = unknowns.add_parser("list", help="unknown faces waiting for a name (unknown-<n>), most seen first")
    p.add_argument("--all", action="store_true", help="also dismissed ones and those with no crop kept")
    p.add_argument("--json", action="store_true", help="one JSON object per unknown face")
    stack_option(p)
    p.set_defaults(handler=cmd_list)

    p = unknowns.add_parser(
        "label",
        help="UNKNOWN is PERSON_ID: its best crops join the gallery (enrollment from the camera's own view)",
        description="Adds the unknown face's kept crops (tall and sharp enough: facepipe/identity/face_crops.py) to "
        "PERSON_ID's gallery photos and publishes the gallery; warm recognize functions read it within "
        "GalleryRefreshSeconds. A person not enrolled yet needs --name (their record).",
    )
    p.add_argument("unknown_id", metavar="UNKNOWN")
    p.add_argument("person_id", metavar="PERSON_ID")
    p.add_argument("--name", help="the person's name (written to their record; its other fields are kept)")
    p.add_argument("--allow-erased", action="store_true", help="label as someone erased before (lifts their tombstone)")
    p.add_argument(
        "--accept-flagged",
        action="store_true",
        help="add crops held back as unlike the person's photos or too like someone else's",
    )
    stack_option(p)
    p.set_defaults(handler=cmd_label)

    p = unknowns.add_parser(
        "dismiss", help="not someone to enroll: its crops deleted, its later faces no longer shown as new"
    )
    p.add_argument("unknown_id", metavar="UNKNOWN")
    stack_option(p)
    p.set_defaults(handler=cmd_dismiss)


def _operator(args: argparse.Namespace, settings: Settings) -> Any:
    from facepipe.ops.operator import Operator, stack_settings

    return Operator(stack_settings(settings, args.stack))


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    operator = _operator(args, settings)
    clusters = operator.unknowns.all() if args.all else operator.inbox()
    for c in clusters:
        if args.json:
            row = {
                "id": c.id,
                "seen": c.seen,
                "first_seen": c.first_seen,
                "last_seen": c.last_seen,
                "devices": c.devices,
                "dismissed": c.dismissed,
                "crops": [crop.key for crop in c.crops],
            }
            print(json.dumps(row))
        else:
            state = " (dismissed)" if c.dismissed else ""
            print(
                f"{c.id:<14} seen {c.seen:>4} time(s)  last {c.last_seen}  on {', '.join(c.devices) or '-'}  "
                f"{len(c.crops)} crop(s){state}"
            )
    if not clusters and not args.json:
        print("(no unknown faces waiting)")
    return 0


def cmd_label(args: argparse.Namespace, settings: Settings) -> int:
    report = _operator(args, settings).label(
        args.unknown_id, args.person_id, args.name, allow_erased=args.allow_erased, accept_flagged=args.accept_flagged
    )
    who = f"new person {report.person_id}" if report.new_person else report.person_id
    print(
        f"{report.unknown_id} is {who}: {report.photos_added} crop(s) added to the gallery and published "
        "(warm recognize functions read it within GalleryRefreshSeconds)"
    )
    for photo, why in report.poor_references:
        print(f"facepipe: {photo}: a poor reference ({why}); it is matched more closely", file=sys.stderr)
    for crop, why in report.held:
        what = "added as told (--accept-flagged)" if args.accept_flagged else "held back (--accept-flagged adds it)"
        print(f"facepipe: {crop}: {what}: {why}", file=sys.stderr)
    return 0


def cmd_dismiss(args: argparse.Namespace, settings: Settings) -> int:
    cluster = _operator(args, settings).dismiss(args.unknown_id)
    print(f"Dismissed {cluster.id}: its crops are deleted; its face is no longer shown as new")
    return 0
