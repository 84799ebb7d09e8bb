"""ExtractFunction: an S3 *Object Created* event (via EventBridge) in, the clip's frames out."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from facepipe.settings import get_settings
from facepipe.stages.extract import extract_clip

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(correlation_id_path="detail.object.key")
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    created = parse(event=event, model=S3EventNotificationEventBridgeModel)
    obj = created.detail.object
    result = extract_clip(created.detail.bucket.name, obj.key, obj.version_id, get_settings())
    metrics.add_metric(name="FramesExtracted", unit=MetricUnit.Count, value=len(result.frames))
    metrics.add_metric(name="ExtractMs", unit=MetricUnit.Milliseconds, value=result.timings_ms["extract"])
    logger.info(
        "clip extracted", frames=len(result.frames), skipped=result.frames_skipped, device=result.clip.device_id
    )
    return result.model_dump(mode="json")
