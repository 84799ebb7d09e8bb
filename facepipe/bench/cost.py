"""``cost``: what one camera (2 clips/s, all day) costs in AWS at list prices, from measured stage times.

docs/PERFORMANCE.md's model, in code so the bench prices what it measured rather than a guess. Every
service a clip touches is counted, per clip: the device's PUT; Step Functions Express (request and
duration); three Lambda invocations (requests and GB-seconds); the two GETs of the clip (extract and
recognize; no HEAD, no frame PUTs); SQS FIFO send, receive and delete; in DynamoDB the idempotency claim
(a conditional put and an update: two write units), the device's count (one update: last seen, clips today)
and the records read; the console's sighting (one item a clip with its face crop: ~2.3 KB for one face,
three write units; each unknown face also reads and rewrites its ~2 KB cluster item, priced apart in
docs/PERFORMANCE.md) and erase's index of it (a mention item per named face and its ByPerson entry: two write
units for the one face the model assumes); the presence record behind events on change (one write and one
read a clip) and the events themselves (~10 a camera-hour, and as many webhook deliveries); CloudWatch Logs
(the bytes each invocation writes at the template's defaults, Lambda's own lines included); X-Ray traces at the default
sampling; S3 storage of the clips for their retention. Per stack (not per camera): the alarm topic's KMS
key and three alarms, listed apart.

Lambda time is estimated from the local stage times measured on one core: the CPU part scales with the
vCPU share a memory size buys (1,769 MB = one vCPU; the stages are single-threaded, so more buys nothing),
plus the S3 round trip each stage waits for in AWS.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from facepipe.local.template import StackTemplate

CLIPS_PER_DAY = 2 * 86_400  # one camera, 0.5 s clips
# A classroom camera with the device's change gate (facepipe_device.gate.ChangeGate): people in view all day, the
# room still most of the time. Measured on real footage (docs/PERFORMANCE.md): a still room sends one clip a
# heartbeat (5 s), a moving one every clip.
STILL_SHARE = 0.9
HEARTBEAT_S = 5.0


def change_gated_clips_per_day(*, still_share: float = STILL_SHARE, heartbeat_s: float = HEARTBEAT_S) -> int:
    """Clips a camera-day sends with the change gate: every clip while the room changes, one a heartbeat while
    it is still."""
    return round(CLIPS_PER_DAY * (1 - still_share) + 86_400 * still_share / heartbeat_s)


VCPU_MB = 1_769

# us-east-1 list prices (2026-11).
LAMBDA_GB_S = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
LAMBDA_REQUEST = 0.20 / 1e6
SFN_EXPRESS_REQUEST = 1.00 / 1e6
SFN_EXPRESS_GB_S = 0.00001667  # billed per 100 ms at 64 MB steps
S3_PUT = 0.005 / 1000
S3_GET = 0.0004 / 1000
S3_GB_MONTH = 0.023
SQS_FIFO_REQUEST = 0.50 / 1e6
DYNAMODB_WRITE_UNIT = 0.625 / 1e6
DYNAMODB_READ_UNIT = 0.125 / 1e6
LOGS_GB = 0.50
EVENTBRIDGE_EVENT = 1.00 / 1e6  # custom events put on a bus
EVENTBRIDGE_API_DESTINATION = 0.20 / 1e6  # each delivery to the webhook
# Events are sent on change (facepipe.core.events): a person entering and leaving a camera's view is two. The
# model's camera sees one person, present in every clip: a class of an hour with a few comings and goings, about
# 10 events a camera-hour, each also delivered to the webhook when one is set.
EVENTS_PER_CAMERA_DAY = 10 * 24
# The presence record behind "on change": one conditional write per named face a clip (in_view#<id> on the
# device's item) and one read of that item.
PRESENCE_WRITE_UNITS = 1
PRESENCE_READ_UNITS = 1
XRAY_TRACE = 5.00 / 1e6
XRAY_SAMPLED = 0.05  # the default rule's 5% (its 1 trace/s reservoir is per account, shared by the fleet)

# Bytes logged per clip at the template's defaults (LogLevel WARNING; Lambda's JSON log format with its
# system lines at WARN: no START/END/REPORT lines): the metrics each handler emits (CloudWatch embedded
# metric format, ~0.3 KB per invocation, measured from the handlers' output).
LOG_BYTES_PER_CLIP = 3 * 320
# Network waits a stage has in AWS that the local measurement does not (S3 GET of a ~60 KB clip).
S3_GET_S = 0.025
DYNAMODB_S = 0.010
# The console's sighting item of a clip with one face: its ~2 KB crop (measured on the real videos: 1.5-2.3 KB,
# mean 1.96 KB) and ~0.3 KB of names and keys, in 1 KB write units.
SIGHTING_WRITE_UNITS = 3
# Erase's index of the same clip (facepipe.aws.sightings): a mention item per person it names (<1 KB: one write
# unit) and its entry in the ByPerson index (keys, the clip's key and version: one more).
MENTION_WRITE_UNITS = 2


def template_defaults(template: StackTemplate) -> dict[str, Any]:
    """The configuration the template deploys by default: architecture, memory per stage, clip retention."""
    defaults = template.parameter_defaults()
    refs = defaults | {"AWS::NoValue": ""}
    globals_memory = int(template.doc.get("Globals", {}).get("Function", {}).get("MemorySize", 128))

    def memory(logical: str) -> int:
        value = template.properties(logical).get("MemorySize", globals_memory)
        return int(template.resolve(value, refs, {}))

    return {
        "architecture": defaults["Architecture"],
        "memory_mb": {
            "extract": memory("ExtractFunction"),
            "recognize": memory("RecognizeFunction"),
            "enrich": memory("EnrichFunction"),
        },
        "clips_retention_days": int(defaults["ClipsRetentionDays"]),
    }


class StageCost(BaseModel):
    name: str
    memory_mb: int
    local_ms: float
    lambda_ms: float


class CostModel(BaseModel):
    architecture: str
    stages: list[StageCost]
    execution_s: float
    clip_bytes: int
    clips_retention_days: int
    clips_per_day: int = CLIPS_PER_DAY
    lines: dict[str, float]  # $ per camera-day, by service
    per_camera_day: float
    per_1000_clips: float
    per_stack_month: dict[str, float]


def lambda_ms(local_ms: float, memory_mb: int, wait_s: float) -> float:
    """A stage's Lambda duration: its CPU time scaled by the vCPU share, plus the waits AWS adds."""
    return local_ms * max(1.0, VCPU_MB / memory_mb) + wait_s * 1000


def camera_day(
    *,
    extract_ms: float,
    recognize_ms: float,
    enrich_ms: float,
    execution_s: float,
    clip_bytes: int,
    architecture: str,
    memory_mb: dict[str, int],
    clips_retention_days: int,
    clips_per_day: int = CLIPS_PER_DAY,
) -> CostModel:
    """The cost of one camera-day from the local stage times (ms on one core of this machine), at the given
    configuration (:func:`template_defaults` gives the template's)."""
    memory = memory_mb
    stages = [
        StageCost(name="extract", memory_mb=memory["extract"], local_ms=extract_ms, lambda_ms=0.0),
        StageCost(name="recognize", memory_mb=memory["recognize"], local_ms=recognize_ms, lambda_ms=0.0),
        StageCost(name="enrich", memory_mb=memory["enrich"], local_ms=enrich_ms, lambda_ms=0.0),
    ]
    waits = {"extract": S3_GET_S, "recognize": S3_GET_S, "enrich": 4 * DYNAMODB_S}
    for stage in stages:
        stage.lambda_ms = round(lambda_ms(stage.local_ms, stage.memory_mb, waits[stage.name]), 1)
    gb_s = sum(s.lambda_ms / 1000 * s.memory_mb / 1024 for s in stages)
    n = clips_per_day
    billed_execution_s = max(0.1, -(-execution_s // 0.1) * 0.1)  # per 100 ms
    lines = {
        "Lambda (GB-s + 3 requests)": n * (gb_s * LAMBDA_GB_S[architecture] + 3 * LAMBDA_REQUEST),
        "Step Functions Express": n * (SFN_EXPRESS_REQUEST + billed_execution_s * 0.0625 * SFN_EXPRESS_GB_S),
        "S3 requests (1 PUT, 2 GETs)": n * (S3_PUT + 2 * S3_GET),
        "S3 storage (clips)": n * clip_bytes / 1e9 * S3_GB_MONTH / 30 * clips_retention_days,
        "SQS FIFO (send, receive, delete)": n * 3 * SQS_FIFO_REQUEST,
        "DynamoDB (claim: 2 writes; device count: 1 write; records: 1 read)": n
        * (3 * DYNAMODB_WRITE_UNIT + DYNAMODB_READ_UNIT),
        "DynamoDB sightings (console history: 1 item a clip, 3 write units)": n
        * SIGHTING_WRITE_UNITS
        * DYNAMODB_WRITE_UNIT,
        "DynamoDB erase index (1 mention a named face, 2 write units with ByPerson)": n
        * MENTION_WRITE_UNITS
        * DYNAMODB_WRITE_UNIT,
        "DynamoDB presence (events on change: 1 write, 1 read a clip)": n
        * (PRESENCE_WRITE_UNITS * DYNAMODB_WRITE_UNIT + PRESENCE_READ_UNITS * DYNAMODB_READ_UNIT),
        "EventBridge (events on change, and the webhook's deliveries)": EVENTS_PER_CAMERA_DAY
        * (EVENTBRIDGE_EVENT + EVENTBRIDGE_API_DESTINATION),
        "CloudWatch Logs": n * LOG_BYTES_PER_CLIP / 1e9 * LOGS_GB,
        "X-Ray (5% sampled)": n * XRAY_SAMPLED * XRAY_TRACE,
    }
    total = sum(lines.values())
    return CostModel(
        architecture=architecture,
        stages=stages,
        execution_s=round(execution_s, 3),
        clip_bytes=clip_bytes,
        clips_retention_days=clips_retention_days,
        clips_per_day=n,
        lines={k: round(v, 3) for k, v in lines.items()},
        per_camera_day=round(total, 2),
        per_1000_clips=round(total / n * 1000, 4),
        per_stack_month={"alarm topic KMS key": 1.00, "three CloudWatch alarms": 0.30},
    )
