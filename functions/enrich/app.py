"""EnrichFunction: a clip's per-frame faces in, the result message (with records) out.

Also builds the ``error`` result when the state machine caught a failure (an event with ``error``).
Both are idempotent per clip version: a second execution for the same clip (EventBridge delivers at
least once) gets the first execution's result back, flagged ``duplicate``, and publishes nothing.
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from facepipe.contracts import EnrichRequest, ErrorRequest
from facepipe.settings import get_settings
from facepipe.stages.enrich import enrich_clip, report_error

logger = Logger()
tracer = Tracer()
metrics = Metrics()
settings = get_settings()
# One persistence layer per idempotent function: a layer keeps the first configuration it is given.
results_store = DynamoDBPersistenceLayer(table_name=settings.idempotency_table)
errors_store = DynamoDBPersistenceLayer(table_name=settings.idempotency_table)
per_clip = IdempotencyConfig(event_key_jmespath="clip.[bucket, key, version_id]", expires_after_seconds=3600)
per_failed_clip = IdempotencyConfig(
    event_key_jmespath='event.detail.[bucket.name, object.key, object."version-id"]', expires_after_seconds=3600
)


@idempotent_function(
    data_keyword_argument="request", persistence_store=results_store, config=per_clip, key_prefix="result"
)
def build_result(request: dict[str, Any]) -> dict[str, Any]:
    return enrich_clip(parse(event=request, model=EnrichRequest), settings).model_dump(mode="json")


@idempotent_function(
    data_keyword_argument="request", persistence_store=errors_store, config=per_failed_clip, key_prefix="error"
)
def build_error(request: dict[str, Any]) -> dict[str, Any]:
    return report_error(parse(event=request, model=ErrorRequest)).model_dump(mode="json")


@logger.inject_lambda_context(correlation_id_path="clip.key || event.detail.object.key")
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    for config in (per_clip, per_failed_clip):
        config.register_lambda_context(context)
    failed = "error" in event
    published = build_error(request=event) if failed else build_result(request=event)
    message = published["message"]
    published["duplicate"] = bool(event.get("execution_id")) and message["execution_id"] != event.get("execution_id")
    if published["duplicate"]:
        logger.info("clip already answered by another execution", first=message["execution_id"])
    elif failed:
        metrics.add_metric(name="ClipErrors", unit=MetricUnit.Count, value=1)
        logger.warning("clip failed", error=message["error"])
    else:
        metrics.add_metric(name="PeopleRecognized", unit=MetricUnit.Count, value=len(message["people"]))
        metrics.add_metric(name="EnrichMs", unit=MetricUnit.Milliseconds, value=message["timings_ms"].get("enrich", 0))
    logger.info("result built", status=message["status"], people=[p["id"] for p in message["people"]])
    return published
