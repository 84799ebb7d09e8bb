"""ExtractFunction: an S3 *Object Created* event (via EventBridge) in, the clip's frames out."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from facepipe.settings import get_settings
from facepipe.stages.extract import extract_clip

logger = Logger()
tracer = Tracer()
metrics = Metrics()
settings = get_settings()
# EventBridge delivers at least once: a second delivery of the same clip version reuses the first's frames.
idempotency = IdempotencyConfig(event_key_jmespath="[bucket, key, version_id]", expires_after_seconds=3600)
persistence = DynamoDBPersistenceLayer(table_name=settings.idempotency_table)


@idempotent_function(data_keyword_argument="clip", persistence_store=persistence, config=idempotency)
def extract(clip: dict[str, Any]) -> dict[str, Any]:
    return extract_clip(clip["bucket"], clip["key"], clip["version_id"], settings).model_dump(mode="json")


@logger.inject_lambda_context(correlation_id_path="detail.object.key")
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    created = parse(event=event, model=S3EventNotificationEventBridgeModel)
    idempotency.register_lambda_context(context)
    obj = created.detail.object
    result = extract(clip={"bucket": created.detail.bucket.name, "key": obj.key, "version_id": obj.version_id})
    metrics.add_metric(name="FramesExtracted", unit=MetricUnit.Count, value=len(result["frames"]))
    metrics.add_metric(name="ExtractMs", unit=MetricUnit.Milliseconds, value=result["timings_ms"]["extract"])
    logger.info("clip extracted", frames=len(result["frames"]), device=result["clip"]["device_id"])
    return result
