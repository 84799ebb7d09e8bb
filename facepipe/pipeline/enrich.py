"""Enrich: the people of a clip's tracks, their records, the result message."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

from facepipe.aws import clients, devices, dynamo_records, sightings, unknowns
from facepipe.core.clip_keys import parse_clip_key
from facepipe.core.contracts import (
    MAX_RESULT_BYTES,
    UNKNOWN,
    AnswerClaim,
    EnrichRequest,
    ErrorRequest,
    FrameSummary,
    Person,
    PublishRequest,
    ResultClip,
    ResultError,
    ResultMessage,
    SeenFace,
    Status,
)
from facepipe.core.errors import FacepipeError
from facepipe.core.moments import capture_time, parse_moment
from facepipe.core.settings import Settings


def people_seen(tracks: list[SeenFace]) -> tuple[dict[str, dict[str, Any]], int]:
    """People from recognize's tracks (frames seen, nearest distance, the box of that track's best face) and
    the number of unknown faces (tracks). A person is one track, or several when tracking lost and found them."""
    people: dict[str, dict[str, Any]] = {}
    unknown = 0
    for track in tracks:
        if track.id == UNKNOWN or track.distance is None:
            unknown += track.id == UNKNOWN
            continue
        seen = people.setdefault(track.id, {"frames": set(), "distance": track.distance, "box": track.box})
        seen["frames"].update(track.frames)
        if track.distance < seen["distance"]:
            seen["distance"], seen["box"] = track.distance, track.box
    return people, unknown


def _elapsed_ms(started_at: str | None) -> float | None:
    start = parse_moment(started_at)
    if start is None:
        return None
    return round((datetime.now(UTC) - start).total_seconds() * 1000, 1)


def _fit(message: ResultMessage) -> ResultMessage:
    """Drop per-frame detail, then the farthest people, until the message fits in SQS; and say so."""
    if len(message.model_dump_json()) > MAX_RESULT_BYTES and message.frames:
        message = message.model_copy(update={"frames": [], "truncated": True})
    while len(message.model_dump_json()) > MAX_RESULT_BYTES and message.people:
        keep = max(0, len(message.people) - max(1, len(message.people) // 4))
        message = message.model_copy(update={"people": message.people[:keep], "truncated": True})
    return message


def _name(record: dict[str, Any] | None) -> str | None:
    """A record's name as text; a malformed record (name missing or not a string) still shows what it has."""
    if not record or record.get("name") in (None, ""):
        return None
    return str(record["name"])


def enrich_clip(request: EnrichRequest, settings: Settings) -> PublishRequest:
    start = time.perf_counter()
    merged, unknown = people_seen(request.seen)
    records = dynamo_records.get_records(settings.students_table, merged) if merged else {}
    people = [
        Person(
            id=person_id,
            name=_name(records.get(person_id)),
            record=records.get(person_id),
            distance=round(seen["distance"], 4),
            frames_seen=len(seen["frames"]),
            box=seen["box"],
        )
        for person_id, seen in sorted(merged.items(), key=lambda kv: kv[1]["distance"])
    ]
    timings = dict(request.timings_ms)
    # The recognize stage (fetch, decode, every frame) and the part spent detecting and encoding faces.
    frames_ms = round(sum(f.ms for f in request.frames), 1)
    timings["recognize"] = request.recognize_ms if request.recognize_ms is not None else frames_ms
    timings["recognize_frames"] = frames_ms
    timings["enrich"] = round((time.perf_counter() - start) * 1000, 1)
    total = _elapsed_ms(request.started_at)
    if total is not None:
        timings["total"] = total
    clip = request.clip
    message = ResultMessage(
        device_id=clip.device_id,
        clip=clip.project(ResultClip),
        status=Status.OK if people or unknown else Status.NO_FACE,
        # A frame with more faces than the per-frame cap had only its largest faces recognized: say so.
        truncated=any(f.faces_detected > len(f.faces) for f in request.frames),
        people=people,
        unknown_faces=unknown,
        frames_analyzed=len(request.frames),
        frames=[f.project(FrameSummary) for f in request.frames],
        error=None,
        timings_ms=timings,
        execution_id=request.execution_id,
    )
    return PublishRequest(message=_fit(message), group_id=clip.device_id, dedup_id=request.claim().dedup_id())


def _error_code(error_type: str) -> str:
    """Our own errors keep their stable code; anything else is named after what failed."""
    for cls in _subclasses(FacepipeError):
        if cls.__name__ == error_type:
            return cls.code
    if error_type.startswith("States."):
        return error_type.removeprefix("States.").lower()
    if error_type == "Lambda.TooManyRequestsException":  # put back in line 20 times, and still throttled
        return "throttled"
    return "internal"


def _subclasses(cls: type[FacepipeError]) -> list[type[FacepipeError]]:
    found: list[type[FacepipeError]] = [cls]
    for sub in cls.__subclasses__():
        found.extend(_subclasses(sub))
    return found


def report_error(request: ErrorRequest, settings: Settings) -> PublishRequest:
    """The ``error`` result for a clip whose execution failed, so the device is never left waiting."""
    error_type, text = request.error.type_and_message()
    failed = request.event.detail
    bucket, key = failed.bucket.name, failed.object.key
    try:
        parsed_key = parse_clip_key(key)
        device_id, seq, captured = parsed_key.device_id, parsed_key.seq, parsed_key.captured_at
    except FacepipeError:
        parts = key.split("/")
        device_id, seq, captured = (parts[1] if len(parts) > 2 and parts[1] else "unknown"), None, None
    claimed = None
    if captured is not None:  # the key's time is the device's word too: the same window as extract's
        captured, claimed = capture_time(
            captured,
            None,
            now=datetime.now(UTC),
            max_age_s=settings.captured_at_max_age_s,
            max_ahead_s=settings.captured_at_max_ahead_s,
        )
    clip = ResultClip(bucket=bucket, key=key, seq=seq, captured_at=captured, captured_at_claimed=claimed)
    timings: dict[str, float] = {}
    total = _elapsed_ms(request.started_at)
    if total is not None:
        timings["total"] = total
    message = ResultMessage(
        device_id=device_id,
        clip=clip,
        status=Status.ERROR,
        people=[],
        unknown_faces=0,
        frames_analyzed=0,
        error=ResultError(code=_error_code(error_type), message=text[:1000] or error_type),
        timings_ms=timings,
        execution_id=request.execution_id,
    )
    group = re.sub(r"[^!-~]", "_", device_id)[:128] or "unknown"
    return PublishRequest(message=message, group_id=group, dedup_id=request.claim().dedup_id())


def answer_clip(event: dict[str, Any], settings: Settings) -> tuple[PublishRequest, AnswerClaim, EnrichRequest | None]:
    """The enrich stage's one entry: the result of a clip, or the error result when an earlier stage failed
    (the event carries ``error``), with the claim that tells a duplicate execution apart, and the request it
    answered (None for an error)."""
    if "error" in event:
        failed = ErrorRequest.model_validate(event)
        return report_error(failed, settings), failed.claim(), None
    request = EnrichRequest.model_validate(event)
    return enrich_clip(request, settings), request.claim(), request


_store: unknowns.UnknownStore | None = None


def unknown_store(settings: Settings) -> unknowns.UnknownStore | None:
    """The process's unknown-face store (its cluster centres cached while warm); None when not configured."""
    global _store
    if not settings.unknowns_table:
        return None
    if _store is None or (_store.table, _store.bucket) != (settings.unknowns_table, settings.bucket_name):
        _store = unknowns.UnknownStore.from_settings(settings)
    return _store


def record_sighting(published: PublishRequest, request: EnrichRequest | None, settings: Settings) -> list[str]:
    """Keep what the console shows of a first answer from a registered device: its sighting (who, crops,
    latency) and each enrollable unknown face in its ``unknown-<n>``. Returns the id each seen face went by."""
    if published.duplicate or published.refused or not settings.sightings_table:
        return []
    now = datetime.now(UTC)
    seen = request.seen if request is not None else []  # an error result: nobody seen
    ids = sightings.assign_unknowns(seen, published.message, unknown_store(settings), now)
    table = sightings.Sightings.from_settings(settings)
    version = request.clip.version_id if request is not None else None
    table.put(sightings.build(seen, published.message, ids, now, version), now)
    return ids


def route_to_device(published: PublishRequest, settings: Settings) -> PublishRequest:
    """The first answer of a clip goes to its device's own queue, counted on the device's item; a device that
    is not registered gets nothing sent (``refused``), counted on an item of its own."""
    if published.duplicate:
        return published
    device_id = published.message.device_id
    registered = devices.record_clip(settings.devices_table, device_id, dynamodb=clients.client("dynamodb"))
    if not registered:
        return published.model_copy(update={"refused": True, "queue_url": None})
    return published.model_copy(update={"queue_url": devices.queue_url(settings.results_queue_url_prefix, device_id)})


def mark_duplicate(published: PublishRequest, claim: AnswerClaim, first_execution_id: str | None) -> PublishRequest:
    """Flag the answer a duplicate when another execution claimed this clip version first: the state
    machine then publishes nothing (that execution's answer stands). Without an execution id (a direct
    invocation, as `sam local invoke`) nothing is a duplicate."""
    duplicate = bool(claim.execution_id) and first_execution_id != claim.execution_id
    return published.model_copy(update={"duplicate": duplicate})
