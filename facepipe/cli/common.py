"""What the command modules share: the default gallery file and how a failure is printed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_GALLERY = Path("gallery.json")


def stack_option(p: argparse.ArgumentParser, *, region: bool = False) -> None:
    """``--stack NAME``: a deployed stack; without it, the local stack's settings (the env file). With
    ``region``, ``--region`` too (for commands that make their own session)."""
    p.add_argument("--stack", metavar="NAME", help="a deployed stack (default: the local stack's settings)")
    if region:
        p.add_argument("--region", help="the deployed stack's region (default: the AWS configuration's)")


def err(message: str) -> None:
    print(f"facepipe: {message}", file=sys.stderr)
