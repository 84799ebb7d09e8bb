"""Events out to the stack's EventBridge bus (facepipe.core.events): PutEvents in batches of ten, a failed
entry sent once more. In AWS the bus's rules take them on (the sample alert, the webhook's API destination);
locally the local stack relays them to webhooks and MQTT (facepipe/local/relay.py). Pure Python."""

from __future__ import annotations

from typing import Any

from facepipe.core.events import EVENT_SOURCE, Detail, kind_of


def put_events(bus: str, details: list[Detail], *, events: Any) -> int:
    """Send ``details``; returns how many could not be sent (after one more try)."""
    entries = [
        {"Source": EVENT_SOURCE, "DetailType": kind_of(d).value, "Detail": d.model_dump_json(), "EventBusName": bus}
        for d in details
    ]
    failed = 0
    for start in range(0, len(entries), 10):
        batch = entries[start : start + 10]
        for _ in range(2):
            answer = events.put_events(Entries=batch)
            if not answer.get("FailedEntryCount"):
                batch = []
                break
            batch = [e for e, r in zip(batch, answer["Entries"], strict=True) if r.get("ErrorCode")]
        failed += len(batch)
    return failed
