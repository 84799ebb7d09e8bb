"""Times as the pipeline writes them: ISO 8601, UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_moment(text: str | None) -> datetime | None:
    """An ISO 8601 time (``Z`` accepted) as an aware datetime, UTC when it names no zone; None if not one."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
