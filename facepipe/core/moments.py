"""Times as the pipeline writes them: ISO 8601, UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from facepipe_protocol import iso_time


def parse_moment(text: str | None) -> datetime | None:
    """An ISO 8601 time (``Z`` accepted) as an aware datetime, UTC when it names no zone; None if not one."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def capture_time(
    claimed: str | None, from_key: str | None, *, now: datetime, max_age_s: float, max_ahead_s: float
) -> tuple[str, str | None]:
    """A clip's capture time as the cloud takes it, and what the device claimed when that was not taken.

    The device's word is taken only within ``max_age_s`` before and ``max_ahead_s`` after the cloud's clock;
    otherwise the key's time, or else the cloud's own (extract and the error report both ask here)."""
    earliest, latest = now - timedelta(seconds=max_age_s), now + timedelta(seconds=max_ahead_s)

    def believable(text: str | None) -> bool:
        moment = parse_moment(text)
        return moment is not None and earliest <= moment <= latest

    if believable(claimed):
        return str(claimed), None
    if believable(from_key):
        return str(from_key), claimed
    return iso_time(now), claimed
