"""`facepipe attendance import|courses|close|report|student`: who attended which class (facepipe.ops.attendance).

Against the local stack: the settings `facepipe local --env-file F` wrote, sourced in the shell. Against a
deployed stack: ``--stack NAME`` with the operator's AWS credentials.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from facepipe.cli.common import stack_option
from facepipe.core.settings import Settings


def _attendance(args: argparse.Namespace, settings: Settings) -> Any:
    from facepipe.ops.attendance import Attendance
    from facepipe.ops.operator import stack_settings

    return Attendance(stack_settings(settings, args.stack))


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from facepipe.ops.attendance import read_timetable

    report = read_timetable(args.timetable, args.roster)
    if not report.ok:
        print(report.describe(), file=sys.stderr)
        print(f"{len(report.problems)} problem(s): nothing imported", file=sys.stderr)
        return 1
    if args.check:
        print(f"{len(report.courses)} course(s), {sum(len(c.roster) for c in report.courses)} roster place(s): valid")
        return 0
    if not args.allow_erased:
        from facepipe.ops.operator import stack_settings
        from facepipe.ops.tombstones import refuse_erased, stack_gallery

        roster = {student for course in report.courses for student in course.roster}
        refuse_erased(roster, [stack_gallery(stack_settings(settings, args.stack))], what="putting them on a roster")
    removed = _attendance(args, settings).import_timetable(report)
    print(
        f"Imported {len(report.courses)} course(s) with {sum(len(c.roster) for c in report.courses)} roster "
        f"place(s)" + (f"; removed {', '.join(removed)}" if removed else "")
    )
    return 0


def cmd_courses(args: argparse.Namespace, settings: Settings) -> int:
    days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    for c in _attendance(args, settings).courses():
        print(
            f"{c.id:<16} {' '.join(days[d] for d in c.weekdays):<20} {c.start:%H:%M}-{c.end:%H:%M} {c.timezone:<18} "
            f"rooms {', '.join(c.rooms)}  {len(c.roster)} student(s)"
        )
    return 0


def cmd_close(args: argparse.Namespace, settings: Settings) -> int:
    from facepipe.core.moments import parse_moment

    now = parse_moment(args.now) if args.now else datetime.now(UTC)
    if now is None:
        raise SystemExit(f"facepipe: --now {args.now!r} is not an ISO 8601 time")
    closed = _attendance(args, settings).close(now)
    for a in closed:
        print(
            f"{a.session.id}: {a.count('present')} present, {a.count('late')} late, {a.count('absent')} absent, "
            f"{a.count('visitor')} visitor(s), {a.unknown_faces} unknown face(s)"
        )
    print(f"{len(closed)} session(s) closed")
    return 0


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from facepipe.ops.attendance import to_csv

    sessions = _attendance(args, settings).sessions(args.course, args.date)
    rows = [row for s in sessions for row in s["rows"]]
    if args.csv:
        sys.stdout.write(to_csv(rows))
        return 0
    if not sessions:
        print(f"{args.course}: no closed session on {args.date}")
        return 0
    for s in sessions:
        print(
            f"{args.course} {s['day']} {s['start']}: {s['present']} present, {s['late']} late, {s['absent']} absent, "
            f"{s['visitor']} visitor(s), {s['unknown_faces']} unknown face(s)"
        )
        for r in s["rows"]:
            seen = f"{r.first_seen}-{r.last_seen}, {r.minutes:g} min" if r.first_seen else ""
            print(f"  {r.student_id:<16} {r.name:<24} {r.status:<8} {seen}")
    return 0


def cmd_student(args: argparse.Namespace, settings: Settings) -> int:
    from facepipe.ops.attendance import to_csv

    rows = _attendance(args, settings).student(args.student_id)
    if args.csv:
        sys.stdout.write(to_csv(rows))
        return 0
    for r in rows:
        print(f"{r.date} {r.start} {r.course:<16} {r.status:<8} {r.minutes:g} min")
    counts = {s: sum(1 for r in rows if r.status == s) for s in ("present", "late", "absent", "visitor")}
    print(f"{args.student_id}: {len(rows)} session(s): " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    return 0


def register(sub: Any) -> None:
    attendance = sub.add_parser("attendance", help="timetable, rosters and who attended which class").add_subparsers(
        dest="attendance_command", required=True, metavar="ACTION"
    )
    p = attendance.add_parser(
        "import",
        help="load a timetable and its rosters (CSV), replacing the stack's",
        description="TIMETABLE: course,rooms,weekdays,start,end,timezone[,grace_minutes]; ROSTER: course,student_id. "
        "Every problem is named with its file and line; nothing is imported while there is one.",
    )
    p.add_argument("--timetable", type=Path, required=True, metavar="CSV")
    p.add_argument("--roster", type=Path, required=True, metavar="CSV")
    p.add_argument("--check", action="store_true", help="only check the files (no stack needed)")
    p.add_argument("--allow-erased", action="store_true", help="put people erased before on rosters, on purpose")
    stack_option(p)
    p.set_defaults(handler=cmd_import)
    p = attendance.add_parser("courses", help="the timetable's courses")
    stack_option(p)
    p.set_defaults(handler=cmd_courses)
    p = attendance.add_parser("close", help="close the sessions that have ended (the scheduled function does this)")
    p.add_argument("--now", help="close up to this moment (ISO 8601; default: now)")
    stack_option(p)
    p.set_defaults(handler=cmd_close)
    p = attendance.add_parser("report", help="a course's sessions on a day: present, late, absent, visitors")
    p.add_argument("--course", required=True)
    p.add_argument("--date", required=True, metavar="YYYY-MM-DD", help="a day (or a month, YYYY-MM)")
    p.add_argument("--csv", action="store_true", help="as CSV, one row per person and session")
    stack_option(p)
    p.set_defaults(handler=cmd_report)
    p = attendance.add_parser("student", help="one student's sessions over the term")
    p.add_argument("student_id", metavar="STUDENT_ID")
    p.add_argument("--csv", action="store_true")
    stack_option(p)
    p.set_defaults(handler=cmd_student)
