"""RecognizeFunction: a clip's chosen frames in, their faces out (matched against the gallery cached from S3)."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from facepipe.contracts import UNKNOWN, RecognizeRequest
from facepipe.faces import load_models
from facepipe.settings import get_settings
from facepipe.stages.recognize import gallery_cache, recognize_clip

logger = Logger()
tracer = Tracer()
metrics = Metrics()
load_models()  # at init, so the model load counts as cold start rather than as the first frame
try:
    gallery_cache(get_settings()).get()  # the gallery too, at cold start
except Exception as exc:  # no gallery yet: the first invocation says so clearly (bad_gallery)
    logger.warning("gallery not loaded at cold start", reason=str(exc))


@logger.inject_lambda_context(correlation_id_path="clip.key")
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    request = parse(event=event, model=RecognizeRequest)
    result = recognize_clip(request, get_settings())
    found = [face.id for frame in result.frames for face in frame.faces]
    metrics.add_metric(name="Faces", unit=MetricUnit.Count, value=len(found))
    metrics.add_metric(name="UnknownFaces", unit=MetricUnit.Count, value=found.count(UNKNOWN))
    metrics.add_metric(name="RecognizeMs", unit=MetricUnit.Milliseconds, value=result.ms)
    # Ids and distances only: face encodings never reach the logs.
    logger.info("clip recognized", frames=len(result.frames), faces=found, ms=result.ms)
    return result.model_dump(mode="json")
