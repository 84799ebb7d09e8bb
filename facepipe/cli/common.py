"""What the command modules share: the default gallery file and how a failure is printed."""

from __future__ import annotations

import sys
from pathlib import Path

DEFAULT_GALLERY = Path("gallery.json")


def err(message: str) -> None:
    print(f"facepipe: {message}", file=sys.stderr)
