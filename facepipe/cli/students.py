"""`facepipe students validate|import`: the student records enrich reads."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from facepipe.cli.common import err
from facepipe.core.settings import Settings


def cmd_students_validate(args: argparse.Namespace, settings: Settings) -> int:
    from facepipe.identity.records import validate_records

    report = validate_records(args.file)
    for _line, message in report.problems:
        print(f"{args.file}: {message}")
    print(f"{args.file}: {len(report.records)} valid record(s), {len(report.problems)} problem(s)")
    return 0 if report.ok else 1


def cmd_students_import(args: argparse.Namespace, settings: Settings) -> int:
    from facepipe.aws.dynamo_records import put_records
    from facepipe.identity.records import validate_records
    from facepipe.ops.tombstones import refuse_erased, stack_gallery

    report = validate_records(args.file)
    for _line, message in report.problems:
        err(f"{args.file}: {message} (skipped)")
    if not args.allow_erased:
        stack = settings.model_copy(update={"bucket_name": args.bucket}) if args.bucket else settings
        refuse_erased([r.id for r in report.records], [stack_gallery(stack)], what="importing their records")
    count = put_records(report.records, table=args.table)
    print(f"Imported {count} record(s) into {args.table}; {len(report.problems)} row(s) skipped.")
    return 0 if report.ok else 1


def register(sub: Any) -> None:
    students = sub.add_parser("students", help="validate or import student records").add_subparsers(
        dest="students_command", required=True, metavar="ACTION"
    )
    p = students.add_parser("validate", help="check a JSON list or CSV of records (id and name required)")
    p.add_argument("file", type=Path, metavar="FILE")
    p.set_defaults(handler=cmd_students_validate)
    p = students.add_parser("import", help="load valid records into the students DynamoDB table")
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("--table", required=True, help="the stack's StudentsTable name")
    p.add_argument(
        "--bucket", help="the stack's ClipsBucket, whose gallery lists who was erased (default: FACEPIPE_BUCKET)"
    )
    p.add_argument("--allow-erased", action="store_true", help="import records of people erased before, on purpose")
    p.set_defaults(handler=cmd_students_import)
