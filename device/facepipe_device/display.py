"""How a result reads to a person: the readable block `facepipe run` and the device print."""

from __future__ import annotations

from datetime import datetime
from typing import Any

HIDDEN_FIELDS = {"id", "name"}


def clip_label(message: dict[str, Any]) -> str:
    """``<device> clip 000042``: which device's clip (several cameras may print to one place)."""
    device = message.get("device_id") or "?"
    seq = message.get("clip", {}).get("seq")
    if seq is not None:
        return f"{device} clip {int(seq):06d}"
    key = str(message.get("clip", {}).get("key", "?"))
    return f"{device} clip {key.rsplit('/', 1)[-1]}"


def _clock(moment: str) -> str:
    """An ISO 8601 moment as this device's local time of day (10:15:03), or as given when it is not one."""
    try:
        return datetime.fromisoformat(moment.replace("Z", "+00:00")).astimezone().strftime("%H:%M:%S")
    except ValueError:
        return moment


def person_line(person: dict[str, Any]) -> str:
    """`Barack Obama (obama), Political Science, Senior [distance 0.38]`."""
    record = person.get("record") or {}
    details = [str(v) for k, v in record.items() if k not in HIDDEN_FIELDS and v not in (None, "")]
    name = person.get("name") or person["id"]
    text = f"{name} ({person['id']})"
    if details:
        text += ", " + ", ".join(details)
    elif person.get("record") is None:
        text += ", no record"
    return f"{text} [distance {person['distance']:.2f}]"


def format_result(message: dict[str, Any], latency_s: float | None) -> str:
    """One readable block per clip: who was seen, then the latency."""
    label = clip_label(message)
    status = message.get("status")
    lines: list[str] = []
    if status == "error":
        error = message.get("error") or {}
        lines.append(f"{label}: error ({error.get('code', '?')}): {error.get('message', '')}")
    else:
        people = message.get("people", [])
        unknown = int(message.get("unknown_faces", 0))
        if not people and not unknown:
            lines.append(f"{label}: nobody")
        for i, person in enumerate(people):
            lines.append(f"{label if i == 0 else ' ' * len(label)}: {person_line(person)}")
        if unknown:
            prefix = label if not people else " " * len(label)
            lines.append(f"{prefix}: {unknown} unknown face{'s' if unknown != 1 else ''}")
        since = (message.get("clip") or {}).get("unchanged_since")
        if since:
            lines.append(f"{' ' * len(label)}  (room unchanged since {_clock(since)}: the clips in between not sent)")
        if message.get("truncated"):
            lines.append(f"{' ' * len(label)}  (list truncated to fit the message size)")
    if latency_s is not None:
        lines.append(f"Latency: {latency_s:.2f} seconds.")
    return "\n".join(lines)
