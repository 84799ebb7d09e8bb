"""ExtractFunction: an S3 *Object Created* event (via EventBridge) in, the clip validated and its frames chosen."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from facepipe.core.settings import get_settings
from facepipe.pipeline.extract import extract_clip

logger = Logger()
tracer = Tracer()
metrics = Metrics()
settings = get_settings()


@logger.inject_lambda_context(correlation_id_path="detail.object.key")
# Never the response nor an error's text in X-Ray: traces outlive erase.
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    created = parse(event=event, model=S3EventNotificationEventBridgeModel)
    obj = created.detail.object
    # No side effects (nothing is written), so a repeated delivery of the clip simply repeats this; enrich
    # answers each clip version once.
    result = extract_clip(created.detail.bucket.name, obj.key, obj.version_id, settings)
    metrics.add_metric(name="FramesChosen", unit=MetricUnit.Count, value=len(result.frames))
    metrics.add_metric(name="ExtractMs", unit=MetricUnit.Milliseconds, value=result.timings_ms["extract"])
    logger.info("clip extracted", frames=len(result.frames), device=result.clip.device_id)
    return result.model_dump(mode="json")
