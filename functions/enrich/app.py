"""EnrichFunction: a clip's per-frame faces in, the result message (with records) out.

Also builds the ``error`` result when the state machine caught a failure (an event with ``error``).
"""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from facepipe.contracts import EnrichRequest, ErrorRequest
from facepipe.settings import get_settings
from facepipe.stages.enrich import enrich_clip, report_error

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(correlation_id_path="clip.key || event.detail.object.key")
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    if "error" in event:
        published = report_error(parse(event=event, model=ErrorRequest))
        metrics.add_metric(name="ClipErrors", unit=MetricUnit.Count, value=1)
        logger.warning("clip failed", error=published.message.error.model_dump() if published.message.error else None)
    else:
        published = enrich_clip(parse(event=event, model=EnrichRequest), get_settings())
        metrics.add_metric(name="PeopleRecognized", unit=MetricUnit.Count, value=len(published.message.people))
    message = published.message
    logger.info("result built", status=message.status, people=[p.id for p in message.people])
    return published.model_dump(mode="json")
