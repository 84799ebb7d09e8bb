"""RecognizeFunction: a clip's chosen frames in, their faces out (matched against the gallery cached from S3)."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from facepipe.core.contracts import UNKNOWN, RecognizeRequest, SweepBatch
from facepipe.core.settings import get_settings
from facepipe.pipeline.recognize import gallery_cache, recognize_clip
from facepipe.pipeline.sweep import sweep_batch
from facepipe.vision.faces import load_models

logger = Logger()
tracer = Tracer()
metrics = Metrics()
load_models()  # at init, so the model load counts as cold start rather than as the first frame
try:
    gallery_cache(get_settings()).get()  # the gallery too, at cold start
except Exception as exc:  # no gallery yet: the first invocation says so clearly (bad_gallery)
    logger.warning("gallery not loaded at cold start", reason=str(exc))


@logger.inject_lambda_context(correlation_id_path="clip.key")
# Never the response (face crops and encodings) nor an error's text in X-Ray: traces outlive erase.
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    if SweepBatch.is_sweep(event):  # a batch of an erase sweep (EraseSweepStateMachine)
        batch = SweepBatch.from_event(event)
        found = sweep_batch(
            batch.Items[0].erase_job,
            [item.key for item in batch.Items],
            get_settings(),
            remaining_s=lambda: context.get_remaining_time_in_millis() / 1000,
        )
        metrics.add_metric(name="SweptClips", unit=MetricUnit.Count, value=found["scanned"])
        return found
    request = parse(event=event, model=RecognizeRequest)
    result = recognize_clip(request, get_settings())
    found = [face.id for frame in result.frames for face in frame.faces]
    metrics.add_metric(name="Faces", unit=MetricUnit.Count, value=len(found))
    metrics.add_metric(name="UnknownFaces", unit=MetricUnit.Count, value=found.count(UNKNOWN))
    metrics.add_metric(name="RecognizeMs", unit=MetricUnit.Milliseconds, value=result.ms)
    # Ids and distances only: face encodings never reach the logs.
    logger.info("clip recognized", frames=len(result.frames), faces=found, ms=result.ms)
    return result.model_dump(mode="json")
