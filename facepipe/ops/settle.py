"""How long after the gallery changes a clip can still be answered with the gallery before: erase's second pass.

A warm recognize function keeps its copy of the gallery up to ``GalleryRefreshSeconds``; an invocation that
started with the old copy then runs to its timeout, and the pipeline's Recognize and Enrich states may retry it.
Only after all of that can no execution name the erased person any more, so the second pass of erase
(facepipe.ops.erase: the index, who is in view, attendance, read again) waits that long after the gallery's
refresh. The figure is derived from the pipeline's own definition (statemachine/pipeline.asl.json), so a change of
a timeout or a retry there changes it.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

PIPELINE_ASL = Path(__file__).resolve().parents[2] / "statemachine" / "pipeline.asl.json"
# The states a clip is named in (Recognize) and its naming written (Enrich: sightings, presence, events).
NAMING_STATES = ("Recognize", "Enrich")
# Errors after which a task ran (and may have run to its timeout) before it is retried.
_AFTER_A_RUN = ("Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException", "States.ALL")


def backoff_s(retrier: dict[str, Any]) -> float:
    """The longest a retrier waits in all (each wait its interval grown by the rate, capped)."""
    interval, rate = float(retrier.get("IntervalSeconds", 1)), float(retrier.get("BackoffRate", 2.0))
    cap = float(retrier.get("MaxDelaySeconds", float("inf")))
    return sum(min(interval * rate**n, cap) for n in range(int(retrier.get("MaxAttempts", 3))))


def state_window_s(state: dict[str, Any]) -> float:
    """The longest a Task state can take: its timeout for the first run and for each retry after a run, and every
    retrier's waits."""
    timeout = float(state.get("TimeoutSeconds", 60))
    retriers = state.get("Retry", [])
    reruns = sum(int(r.get("MaxAttempts", 3)) for r in retriers if set(r["ErrorEquals"]) & set(_AFTER_A_RUN))
    return timeout * (1 + reruns) + sum(backoff_s(r) for r in retriers)


def answer_window_s(definition: dict[str, Any]) -> float:
    """How long after Recognize begins an execution can still be writing who it named."""
    return sum(state_window_s(definition["States"][name]) for name in NAMING_STATES)


@cache
def pipeline_window_s(path: Path = PIPELINE_ASL) -> float:
    """:func:`answer_window_s` of the shipped pipeline definition (~128 s)."""
    return round(answer_window_s(json.loads(path.read_text())), 1)
