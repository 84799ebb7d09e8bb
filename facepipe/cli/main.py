"""The ``facepipe`` command line: one parser, each noun's commands registered by its module (people, photos,
students, attendance, devices, unknowns here; local, console and bench in their packages).

Exit codes: 0 success, 1 failure (something could not be done), 2 usage error (argparse's own).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from facepipe.cli.common import err
from facepipe.core.errors import FacepipeError
from facepipe.core.settings import Settings, get_settings

Handler = Callable[[argparse.Namespace, Settings], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facepipe",
        description="Real-time face recognition from edge cameras on AWS: enroll people, recognize faces, "
        "run the pipeline locally or deploy it with SAM.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for register in _commands():
        register(sub)
    return parser


def _commands() -> list[Callable[[argparse._SubParsersAction], None]]:  # type: ignore[type-arg]
    """Every command, registered by its own module."""
    from facepipe import bench
    from facepipe.cli import attendance, people, photos, students
    from facepipe.cli import devices as device_commands
    from facepipe.cli import unknowns as unknown_commands
    from facepipe.console import command as console_command
    from facepipe.local import commands as local_commands

    return [
        people.register,
        photos.register,
        students.register,
        attendance.register,
        local_commands.register,
        device_commands.register,
        unknown_commands.register,
        console_command.register,
        bench.register,
    ]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args, get_settings()))
    except FacepipeError as exc:
        err(exc.message)
        return 1
    except KeyboardInterrupt:
        return 130
