"""The template's schedules (a function's ``ScheduleV2`` events: EventBridge Scheduler in AWS), locally.

moto runs no schedules. Each one here invokes its function through the local runtime with the schedule's
``Input``, ``<aws.scheduler.scheduled-time>`` filled with the time of the firing, as Scheduler fills it. The
clock is the caller's: :meth:`LocalSchedules.fire` takes the moment (tests inject it, never sleep), and
:meth:`LocalSchedules.start` fires on the wall clock at each schedule's rate (`facepipe local`).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from facepipe.local import lambdas
from facepipe.local.deployer import Deployment

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours)\)$")


@dataclass(frozen=True)
class Schedule:
    function: str  # the local function's name
    every_s: float
    input: str


def schedules_of(deployment: Deployment) -> list[Schedule]:
    """Every ``ScheduleV2`` event of the template's functions; an expression other than ``rate(...)`` is refused
    by name rather than never fired."""
    found = []
    for logical, resource in deployment.template.resources("AWS::Serverless::Function").items():
        for name, event in resource.get("Properties", {}).get("Events", {}).items():
            if event.get("Type") != "ScheduleV2":
                continue
            props = event["Properties"]
            match = _RATE.fullmatch(props["ScheduleExpression"])
            if match is None:
                raise ValueError(f"{logical}.{name}: the local stack fires rate(...) schedules only")
            every = int(match[1]) * (60 if match[2].startswith("minute") else 3600)
            found.append(Schedule(deployment.refs[logical], every, props.get("Input", "{}")))
    return found


class LocalSchedules:
    def __init__(self, deployment: Deployment) -> None:
        self.schedules = schedules_of(deployment)
        self._stop = threading.Event()

    @staticmethod
    def _invoke(schedule: Schedule, now: datetime) -> tuple[bool, Any]:
        moment = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return lambdas.invoke(
            schedule.function, json.loads(schedule.input.replace("<aws.scheduler.scheduled-time>", moment))
        )

    def fire(self, now: datetime) -> list[tuple[bool, Any]]:
        """Every schedule once, as at ``now``: each function's (ok, result)."""
        return [self._invoke(s, now) for s in self.schedules]

    def start(self) -> None:
        """Fire on the wall clock, each schedule at its own rate (the first firing one period after start)."""

        def run(schedule: Schedule) -> None:
            while not self._stop.wait(schedule.every_s):
                try:
                    self._invoke(schedule, datetime.now(UTC))
                except lambdas.ServiceError:
                    continue  # throttled or gone: Scheduler retries; the next firing catches up

        for schedule in self.schedules:
            threading.Thread(target=run, args=(schedule,), name="local-schedule", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
