"""AttendanceFunction: every few minutes (EventBridge Scheduler), close the sessions of the timetable that have
ended: each rostered student present, late or absent, visitors apart, unknown faces counted
(facepipe.pipeline.attendance); and send the tick's events (facepipe.pipeline.announce). The event names the
moment to close up to (``now``: the schedule's time, or the local stack's clock); without it, the function's
own clock."""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from facepipe.core.errors import FacepipeError
from facepipe.core.moments import parse_moment
from facepipe.core.settings import get_settings
from facepipe.pipeline.announce import send, tick_events
from facepipe.pipeline.attendance import close_sessions

logger = Logger()
tracer = Tracer()
metrics = Metrics()
settings = get_settings()


# Never the response nor an error's text in X-Ray: traces outlive erase (the response names no one, but the
# rule is one for every function).
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    given = event.get("now")
    now = parse_moment(given) if given else datetime.now(UTC)
    if now is None:
        raise FacepipeError(f"now {given!r} is not an ISO 8601 time", code="bad_event")
    closed = close_sessions(now, settings)
    metrics.add_metric(name="SessionsClosed", unit=MetricUnit.Count, value=len(closed))
    # The tick's events: sessions closed, people who left a camera that went quiet, cameras gone silent.
    failed = send(tick_events(now, closed, settings), settings)
    if failed:
        metrics.add_metric(name="EventsNotSent", unit=MetricUnit.Count, value=failed)
    # Ids and counts only: a log line is data erase cannot reach, so it names no student.
    logger.info("sessions closed", sessions=[a.session.id for a in closed])
    return {
        "closed": [
            {
                "session": a.session.id,
                "present": a.count("present"),
                "late": a.count("late"),
                "absent": a.count("absent"),
                "visitors": a.count("visitor"),
                "unknown_faces": a.unknown_faces,
            }
            for a in closed
        ]
    }
