"""Typed contracts for every message that crosses a boundary.

State input and output of each stage, and the result message the device receives (whose JSON Schema is
committed in the clip protocol as ``protocol/facepipe_protocol/schemas/result.schema.json``, against which
the device validates what it receives; ``facepipe schema`` regenerates it).

Longer than ~250 lines: every boundary's models side by side, so a change to one message is seen with its
neighbours (the schema test reads them all).
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any, TypeVar

from facepipe_protocol import RESULT_SCHEMA_VERSION as PROTOCOL_VERSION
from pydantic import BaseModel, ConfigDict, Field

RESULT_SCHEMA_VERSION = PROTOCOL_VERSION  # the clip protocol's (facepipe_protocol) owns it
# SQS refuses bodies over 256 KiB; stay well under it so attributes and encoding never tip it over.
MAX_RESULT_BYTES = 200 * 1024
# The id of a face that matched nobody in the gallery.
UNKNOWN = "unknown"


def is_unknown(face_id: str) -> bool:
    """An unknown face's id: ``unknown`` (too weak to keep) or ``unknown-<n>`` (kept by facepipe.aws.unknowns)."""
    return face_id == UNKNOWN or face_id.startswith(f"{UNKNOWN}-")


# A person's id: the gallery's folder name and the student record's key.
PERSON_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def project(self, model: type[C]) -> C:
        """This message narrowed to ``model``, one of its base contracts (a ClipRef as a ResultClip)."""
        return model.model_validate(self.model_dump(include=set(model.model_fields)))


C = TypeVar("C", bound=_Contract)


class ResultClip(_Contract):
    """The clip a result is about, as a device knows it: where it is, its sequence number and capture time."""

    bucket: str
    key: str
    seq: int | None = Field(ge=0)
    captured_at: str | None
    # Set only when the cloud did not take the device's capture time (too far from its own clock): what the device
    # said; ``captured_at`` is then the key's time, or the cloud's when that is off too.
    captured_at_claimed: str | None = None
    # Set when the device sent this clip as a heartbeat of a room unchanged since this moment (the capture time of
    # the last clip it sent; the clips in between were not sent: facepipe_device.gate.ChangeGate). The people in it
    # are who has been in view all that while.
    unchanged_since: str | None = None


class ClipRef(ResultClip):
    """The clip the stages pass along: what a result names, plus its S3 version and the sending device."""

    version_id: str | None = None
    device_id: str


class FrameRef(_Contract):
    """A frame of the clip chosen for recognition, by its position: recognize decodes it from the clip itself
    (no frame is ever written to S3: a PUT costs more than the GET and decode that replace it)."""

    index: int = Field(ge=0)
    t_ms: float = Field(ge=0)
    # Variance of the Laplacian: recognize searches the sharpest chosen frame for small faces.
    sharpness: float | None = Field(default=None, ge=0)


class ExtractResult(_Contract):
    """Output of the extract stage: the validated clip and the frames worth recognizing."""

    clip: ClipRef
    frames: list[FrameRef]
    frames_total: int = Field(ge=0)
    frames_skipped: int = Field(default=0, ge=0)
    timings_ms: dict[str, float]


class RecognizeRequest(_Contract):
    """Input of the recognize stage: a clip and which of its frames to recognize (all in one invocation,
    so their faces are encoded in one batch)."""

    clip: ClipRef
    frames: list[FrameRef] = Field(min_length=1)


class Face(_Contract):
    id: str
    distance: float | None
    box: list[int] = Field(min_length=4, max_length=4, description="top, right, bottom, left in frame pixels")


class FrameSummary(_Contract):
    """Who was where in one analysed frame (ids and boxes only), for displays that draw boxes."""

    index: int
    t_ms: float
    faces: list[Face]


class FrameFaces(FrameSummary):
    """The faces of one recognized frame, how many were detected, and the time the frame took."""

    faces_detected: int = Field(ge=0, description="faces detected before the per-frame cap")
    ms: float


class SeenFace(_Contract):
    """One track of a clip (the same face across its frames): recognize's record of it, and what enrich builds
    the result's people from. Who (decided on the whole track), how near, in which frames, the box and crop of
    its best face, and whether that crop is good enough to be clustered and enrolled (``enrollable``: the same
    gate as naming someone, facepipe.identity.face_crops)."""

    id: str = Field(description="an enrolled person's id, or 'unknown'")
    distance: float | None = Field(default=None, description="the track's face nearest the person; None if unknown")
    frames: list[int] = Field(min_length=1, description="indexes of the frames the track is in")
    frame_index: int = Field(ge=0, description="the frame of the track's best face (its box and crop)")
    box: list[int] = Field(min_length=4, max_length=4)
    height_px: int = Field(ge=0)
    sharpness: float = Field(ge=0)
    enrollable: bool
    # Only the largest faces of a crowd carry a crop (the state machine's payload is 256 KB): the rest are
    # still counted and named.
    crop_jpeg: str | None = Field(
        description="base64 JPEG of the aligned face chip, small (facepipe.identity.face_crops)"
    )
    # Only for unknown faces with a crop: the mean of the track's encodings, which the unknown-face clusters are
    # made of.
    encoding: list[float] | None = Field(default=None, min_length=128, max_length=128)


class RecognizeResult(_Contract):
    """Output of the recognize stage: every requested frame's faces (the result's per-frame detail), one record
    per track (who was seen: enrich's people), and the stage's time."""

    frames: list[FrameFaces]
    seen: list[SeenFace] = Field(default_factory=list)
    ms: float


class SweepItem(_Contract):
    """One clip of an erase sweep (EraseSweepStateMachine's ItemSelector): the job and the clip's key."""

    erase_job: str = Field(pattern=r"^[0-9a-f]{32}$")
    key: str = Field(pattern=r"^clips/")


class SweepBatch(_Contract):
    """The clips one recognize invocation sweeps: a batch of the Distributed Map (``Items``, as its ItemBatcher
    sends them) or, on the local stack whose interpreter has no batcher, one item."""

    Items: list[SweepItem] = Field(min_length=1)

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> SweepBatch:
        batch = cls.model_validate({"Items": event["Items"]} if "Items" in event else {"Items": [event]})
        if len({item.erase_job for item in batch.Items}) != 1:
            raise ValueError("a sweep batch holds the clips of one erase job")
        return batch

    @staticmethod
    def is_sweep(event: dict[str, Any]) -> bool:
        return "Items" in event or "erase_job" in event


class EnrichRequest(_Contract):
    """Input of the enrich stage: the clip, recognize's frames (the result's per-frame detail) and its tracks
    (who was seen)."""

    clip: ClipRef
    frames: list[FrameFaces]
    seen: list[SeenFace]
    recognize_ms: float | None = None
    timings_ms: dict[str, float] = Field(default_factory=dict)
    execution_id: str | None = None
    started_at: str | None = None

    def claim(self) -> AnswerClaim:
        clip = self.clip
        return AnswerClaim(
            bucket=clip.bucket,
            key=clip.key,
            version_id=clip.version_id,
            kind=AnswerKind.RESULT,
            execution_id=self.execution_id,
        )


class _Lenient(BaseModel):
    """What the error path reads must never fail to parse: unknown fields are ignored, missing ones defaulted."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class FailedObject(_Lenient):
    key: str = ""
    version_id: str | None = Field(default=None, alias="version-id")


class FailedBucket(_Lenient):
    name: str = ""


class FailedDetail(_Lenient):
    bucket: FailedBucket = Field(default_factory=FailedBucket)
    object: FailedObject = Field(default_factory=FailedObject)


class FailedEvent(_Lenient):
    """The failed execution's input: EventBridge's S3 *Object Created* event (only what the error result needs)."""

    detail: FailedDetail = Field(default_factory=FailedDetail)


class CaughtError(_Lenient):
    """What a Catch puts at ``ResultPath``: Step Functions' error name and its cause (for a Lambda function's
    own error, a JSON object with ``errorType`` and ``errorMessage``)."""

    Error: str = "Error"
    Cause: str = ""

    def type_and_message(self) -> tuple[str, str]:
        """The error's type and message, from Lambda's JSON cause when there is one."""
        try:
            cause = json.loads(self.Cause) if self.Cause.startswith("{") else None
        except json.JSONDecodeError:
            cause = None
        if isinstance(cause, dict):
            return str(cause.get("errorType", self.Error)), str(cause.get("errorMessage", self.Cause))
        return self.Error, self.Cause


class ErrorRequest(_Contract):
    """Input of the enrich stage's error path: the failed execution's input and the caught error."""

    event: FailedEvent
    error: CaughtError
    execution_id: str | None = None
    started_at: str | None = None

    def claim(self) -> AnswerClaim:
        failed = self.event.detail
        return AnswerClaim(
            bucket=failed.bucket.name,
            key=failed.object.key,
            version_id=failed.object.version_id,
            kind=AnswerKind.ERROR,
            execution_id=self.execution_id,
        )


class Status(StrEnum):
    OK = "ok"
    NO_FACE = "no_face"
    ERROR = "error"


class Person(_Contract):
    """A recognized person with their record's fields (``record`` is null when the table has none)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str | None
    record: dict[str, Any] | None
    distance: float
    frames_seen: int = Field(ge=1)
    box: list[int] = Field(min_length=4, max_length=4)


class ResultError(_Contract):
    code: str
    message: str


class ResultMessage(_Contract):
    """The one message per clip on the results queue."""

    schema_version: int = RESULT_SCHEMA_VERSION
    device_id: str
    clip: ResultClip
    status: Status
    people: list[Person]
    unknown_faces: int = Field(ge=0)
    frames_analyzed: int = Field(ge=0)
    frames: list[FrameSummary] = Field(default_factory=list)
    truncated: bool = False
    error: ResultError | None
    timings_ms: dict[str, float]
    execution_id: str | None


class AnswerKind(StrEnum):
    RESULT = "result"
    ERROR = "error"


class AnswerClaim(_Contract):
    """One answer to one clip version: what the idempotency table keeps (which execution answered, nothing
    more) and what the FIFO deduplication id is made of.

    Result and error answers are claimed apart and deduplicated apart, so an error from a failed duplicate
    execution can never stand in for the real result, nor make SQS drop it as a duplicate.
    """

    bucket: str
    key: str
    version_id: str | None
    kind: AnswerKind
    execution_id: str | None

    def dedup_id(self) -> str:
        """The same for every execution answering this clip version this way (64 hex chars)."""
        suffix = "" if self.kind is AnswerKind.RESULT else f"#{self.kind.value}"
        return hashlib.sha256(f"{self.bucket}/{self.key}#{self.version_id or ''}{suffix}".encode()).hexdigest()


class PublishRequest(_Contract):
    """What the state machine's Publish state sends: the message, its FIFO group and deduplication id."""

    message: ResultMessage
    group_id: str
    dedup_id: str
    # True when another execution already answered this clip version: the state machine publishes nothing.
    duplicate: bool = False
    # The clip's device's results queue; ``refused``: the device is not registered (no queue, nothing sent).
    queue_url: str | None = None
    refused: bool = False


def result_schema() -> dict[str, Any]:
    """The JSON Schema of :class:`ResultMessage`, as committed for the device (``facepipe_device/schemas``)."""
    schema = ResultMessage.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://facepipe.dev/schemas/result.schema.json"
    return schema
