"""Events out: what facepipe tells the systems that care (EventBridge in AWS; webhooks and MQTT locally).

Five kinds, each an EventBridge event of source ``facepipe`` with the kind as its ``detail-type`` and one of
these models as its ``detail`` (protocol/facepipe_protocol/schemas/events.schema.json; a test keeps it equal):

- ``person.seen``: an enrolled person **entered** a camera's view (first named after ``PRESENCE_GAP_S`` unseen)
  or **left** it (unseen for ``PRESENCE_GAP_S``). On change only, never a clip at a time: a class of 30 in view
  for an hour is 60 events, not 216,000.
- ``unknown.seen``: an unknown face entered a camera's view (a kept ``unknown-<n>``, or ``unknown`` when too
  small or blurred to keep).
- ``attendance.closed``: a session closed, with its counts (no names: the report has them).
- ``device.silent``: a registered camera sent nothing for ``DEVICE_SILENT_AFTER_S``, once per silence.
- ``person.erased``: a person was erased (their id only): whatever kept ``person.seen`` events or a name must
  forget them too (GDPR art. 17(2): the recipients of what was sent are told). Sent by erase as its last step.

``local_hour`` (0-23, in the site's time zone) lets a rule match "outside school hours" without code.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EVENT_SOURCE = "facepipe"
EVENTS_SCHEMA_VERSION = 1
PRESENCE_GAP_S = 60.0
DEVICE_SILENT_AFTER_S = 600.0


class EventType(StrEnum):
    PERSON_SEEN = "person.seen"
    UNKNOWN_SEEN = "unknown.seen"
    ATTENDANCE_CLOSED = "attendance.closed"
    DEVICE_SILENT = "device.silent"
    PERSON_ERASED = "person.erased"


class Detail(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schema_version: int = EVENTS_SCHEMA_VERSION


class PersonSeen(Detail):
    device_id: str
    person_id: str
    name: str | None
    change: Literal["entered", "left"]
    at: str = Field(description="entered: the capture time of the clip that named them; left: of the last one")
    clip_key: str | None
    local_hour: int = Field(ge=0, le=23)


class UnknownSeen(Detail):
    device_id: str
    unknown_id: str = Field(description="unknown-<n> (kept by the console) or 'unknown' (too weak to keep)")
    at: str
    clip_key: str
    local_hour: int = Field(ge=0, le=23)


class AttendanceClosed(Detail):
    course: str
    session: str
    day: str
    starts: str
    ends: str
    present: int = Field(ge=0)
    late: int = Field(ge=0)
    absent: int = Field(ge=0)
    visitors: int = Field(ge=0)
    unknown_faces: int = Field(ge=0)


class DeviceSilent(Detail):
    device_id: str
    last_seen: str
    silent_for_s: float = Field(ge=0)


class PersonErased(Detail):
    person_id: str
    erased_at: str = Field(description="when the erasure began (its audit record's time)")


DETAILS: dict[EventType, type[Detail]] = {
    EventType.PERSON_SEEN: PersonSeen,
    EventType.UNKNOWN_SEEN: UnknownSeen,
    EventType.ATTENDANCE_CLOSED: AttendanceClosed,
    EventType.DEVICE_SILENT: DeviceSilent,
    EventType.PERSON_ERASED: PersonErased,
}


def kind_of(detail: Detail) -> EventType:
    return next(kind for kind, model in DETAILS.items() if isinstance(detail, model))


def events_schema() -> dict[str, Any]:
    """One JSON Schema for the five events as delivered (EventBridge's envelope, a webhook's body): the
    ``detail-type`` names which ``detail`` follows."""
    defs: dict[str, Any] = {}
    branches = []
    for kind, model in DETAILS.items():
        schema = model.model_json_schema(ref_template="#/$defs/{model}")
        defs.update(schema.pop("$defs", {}))
        defs[model.__name__] = schema
        branches.append(
            {
                "properties": {"detail-type": {"const": kind.value}, "detail": {"$ref": f"#/$defs/{model.__name__}"}},
            }
        )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://facepipe.dev/schemas/events.schema.json",
        "title": "facepipe event",
        "type": "object",
        "required": ["source", "detail-type", "detail"],
        "properties": {
            "source": {"const": EVENT_SOURCE},
            "detail-type": {"enum": [k.value for k in DETAILS]},
            "detail": {"type": "object"},
        },
        "oneOf": branches,
        "$defs": defs,
    }
