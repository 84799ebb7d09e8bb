"""EnrichFunction: a clip's per-frame faces in, the result message (with records) out.

Also builds the ``error`` result when the state machine caught a failure (an event with ``error``).
Each is answered once per clip version: the first execution to get here claims the clip (idempotency);
a second execution (EventBridge delivers at least once) is flagged ``duplicate`` and publishes nothing.
The first answer is counted on its device's item and sent to the device's own queue; a device that is not
registered gets a refusal (counted, logged, the execution fails as UnregisteredDevice) and nothing is sent.
The first answer is also kept for the console (facepipe.aws.sightings: who, crops, latency; unknown faces
clustered into unknown-<n>, facepipe.aws.unknowns), for FaceCropRetentionDays.
The idempotency table keeps only the claim (bucket, key, version, kind, execution id): never the result,
which holds names and records.
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from facepipe.core.contracts import Status
from facepipe.core.settings import get_settings
from facepipe.pipeline.announce import clip_events, send
from facepipe.pipeline.enrich import answer_clip, mark_duplicate, record_sighting, route_to_device

logger = Logger()
tracer = Tracer()
metrics = Metrics()
settings = get_settings()
persistence = DynamoDBPersistenceLayer(table_name=settings.idempotency_table)
per_answer = IdempotencyConfig(event_key_jmespath="[bucket, key, version_id, kind]", expires_after_seconds=3600)


@idempotent_function(data_keyword_argument="claim", persistence_store=persistence, config=per_answer)
def first_answer(claim: dict[str, Any]) -> dict[str, Any]:
    """The execution that answers this clip version: the first to claim it (stored: its id only)."""
    return {"execution_id": claim["execution_id"]}


@logger.inject_lambda_context(correlation_id_path="clip.key || event.detail.object.key")
# Never the response (names and records) nor an error's text in X-Ray: traces outlive erase.
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    per_answer.register_lambda_context(context)
    published, claim, request = answer_clip(event, settings)
    first = first_answer(claim=claim.model_dump(mode="json"))
    published = route_to_device(mark_duplicate(published, claim, first["execution_id"]), settings)
    # The console's history and unknown faces. The device's result matters more than the console's copy: a
    # failure here is logged and counted (SightingsNotRecorded), and the result is still published.
    ids: list[str] = []
    try:
        ids = record_sighting(published, request, settings)
    except Exception:
        logger.exception("sighting not recorded")
        metrics.add_metric(name="SightingsNotRecorded", unit=MetricUnit.Count, value=1)
    # Events on change (who entered or left the camera's view): never instead of the result either.
    try:
        failed = send(clip_events(published, ids, settings), settings)
    except Exception:
        logger.exception("events not sent")
        failed = 1
    if failed:
        metrics.add_metric(name="EventsNotSent", unit=MetricUnit.Count, value=failed)
    message = published.message
    if published.duplicate:
        logger.info("clip already answered by another execution", first=first["execution_id"])
    elif published.refused:
        metrics.add_metric(name="UnregisteredDeviceClips", unit=MetricUnit.Count, value=1)
        logger.warning("clip refused: its device is not registered", device=message.device_id)
    elif message.status is Status.ERROR:
        metrics.add_metric(name="ClipErrors", unit=MetricUnit.Count, value=1)
        logger.warning("clip failed", error=message.error.model_dump() if message.error else None)
    else:
        metrics.add_metric(name="PeopleRecognized", unit=MetricUnit.Count, value=len(message.people))
        metrics.add_metric(name="EnrichMs", unit=MetricUnit.Milliseconds, value=message.timings_ms.get("enrich", 0))
    logger.info("result built", status=message.status.value, people=[p.id for p in message.people])
    return published.model_dump(mode="json")
