"""The sweep of an erase job (facepipe.ops.erase, step "sweep"): every stored clip decoded and matched against the
erased person's faces, by EraseSweepStateMachine (a Distributed Map in batches of clips in the recognize image); its
findings collected, checked (only clips are ever deleted), and what it could not do said.

- :meth:`Sweep.start`: the executions (the local stack sweeps in prefixes of at most a page: :func:`sweep_prefixes`).
- :meth:`Sweep.collect`: when they are over, the clips batches handed back swept here, the matches deleted, failed
  batches read from the map runs' counts and swept again (up to ``MAX_SWEEP_ATTEMPTS`` sweeps), else reported; a
  sweep that lost the person's faces abandoned, and said.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from botocore.exceptions import ClientError

from facepipe.aws import s3_objects
from facepipe.aws.clients import client
from facepipe.core.clip_keys import CLIPS_PREFIX
from facepipe.core.settings import Settings
from facepipe.ops.erase_job import EraseError, EraseJob, is_clip_key
from facepipe.pipeline.sweep import JOBS_PREFIX

log = logging.getLogger("facepipe.erase")
# Where EraseSweepStateMachine's ResultWriter puts each map run's record (statemachine/erase_sweep.asl.json).
SWEEP_RUNS_PREFIX = f"{JOBS_PREFIX}sweep-runs/"
# A sweep with failed batches is run again by running erase again, up to this many sweeps; then reported.
MAX_SWEEP_ATTEMPTS = 3
# moto's ItemReader reads one ListObjectsV2 page: the local stack sweeps in prefixes that hold at most this many.
LOCAL_ITEM_READER_PAGE = 1000


def sweep_prefixes(keys: list[str], page: int = LOCAL_ITEM_READER_PAGE, prefix: str = CLIPS_PREFIX) -> list[str]:
    """Prefixes that cover ``keys`` (sorted or not) with at most ``page`` keys under each: the local stack's
    sweep, because moto's ItemReader reads only the first ListObjectsV2 page (1,000 keys) of a prefix."""
    under = [k for k in keys if k.startswith(prefix)]
    if len(under) <= page:
        return [prefix] if under else []
    if any(len(k) == len(prefix) for k in under):
        raise EraseError(f"{prefix}: more than {page} clips share this exact key; cannot split the sweep")
    return [p for c in sorted({k[len(prefix)] for k in under}) for p in sweep_prefixes(under, page, prefix + c)]


class Sweep:
    """The sweep of the erase jobs of one stack: its settings, bucket and S3 client, and from the jobs (facepipe.ops
    .erase) how to save a job's record, read the person's faces and renew the run's lease as it waits."""

    def __init__(
        self,
        settings: Settings,
        bucket: str,
        s3: Any,
        *,
        save: Callable[[EraseJob], None],
        known: Callable[[EraseJob], np.ndarray],
        renew: Callable[[EraseJob], None],
    ) -> None:
        self.settings, self.bucket, self.s3 = settings, bucket, s3
        self.save, self.known, self.renew = save, known, renew

    def start(self, job: EraseJob) -> None:
        if not job.sweep:
            return
        machine = self.settings.erase_sweep_state_machine_arn
        if not machine:
            raise EraseError("the sweep needs ERASE_SWEEP_STATE_MACHINE_ARN (the stack's EraseSweepStateMachineArn)")
        prefixes = [CLIPS_PREFIX]
        if self.settings.local_stack:
            keys = s3_objects.keys_under(self.bucket, CLIPS_PREFIX, s3=self.s3)
            prefixes, job.sweep_total = sweep_prefixes(keys), len(keys)
        sfn = client("stepfunctions")
        job.status = "sweeping"
        for n, prefix in enumerate(prefixes):
            # The same name again is refused by Step Functions (for 90 days): a job never starts a sweep twice.
            name = f"sweep-{job.id}-{job.sweep_attempt}-{n}"
            arn = f"{machine.replace(':stateMachine:', ':execution:')}:{name}"
            if arn in job.sweep_executions:
                continue
            try:
                sfn.start_execution(
                    stateMachineArn=machine,
                    name=name,
                    input=json.dumps({"job": job.id, "prefix": prefix, "concurrency": self.settings.sweep_concurrency}),
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ExecutionAlreadyExists":
                    raise
            job.sweep_executions.append(arn)
            self.save(job)

    def collect(self, job: EraseJob, *, wait: bool, progress: Callable[[EraseJob], None] | None) -> bool:
        """Whether the sweep is over (its matches then deleted); waits for it with ``wait``. Clips a batch handed
        back (its invocation's end near) are swept here; a batch that failed is swept again by running erase again
        (at most ``MAX_SWEEP_ATTEMPTS`` sweeps), then reported; without the person's faces the sweep is abandoned,
        and said so, rather than failing for ever."""
        if not job.sweep:
            return True
        sfn = client("stepfunctions")
        while True:
            statuses = [sfn.describe_execution(executionArn=arn) for arn in job.sweep_executions]
            self.progress(job)
            if progress is not None:
                progress(job)
            if all(s["status"] != "RUNNING" for s in statuses):
                break
            if not wait:
                self.save(job)
                return False
            self.renew(job)
            time.sleep(2.0)
        failed = [f"execution {s['executionArn']} ended {s['status']}" for s in statuses if s["status"] != "SUCCEEDED"]
        failed += self._failed_items(job)
        self._handed_back(job)
        self._delete_matched(job)
        if not failed:
            return True
        if not len(self.known(job)):
            # Its batches cannot match without the person's faces, and nothing holds them any more (the gallery
            # step took them out; their photos are deleted): the sweep cannot go on. The job completes without it
            # and says so; the clips it did not reach expire with ClipsRetentionDays.
            job.sweep_abandoned = (
                f"the job's reference faces were lost (its folder expired) after {job.sweep_scanned} clip(s) were "
                f"swept ({failed[0]}); the rest expire with the clips' retention"
            )
        elif job.sweep_attempt + 1 < MAX_SWEEP_ATTEMPTS:
            # Run erase again to sweep again: what this attempt found is deleted; its counts start over.
            s3_objects.delete_prefix(self.bucket, f"{job.folder}sweep/", s3=self.s3)
            job.sweep_executions = []
            job.sweep_attempt += 1
            job.steps_done = [s for s in job.steps_done if s != "sweep"]
            self.save(job)
            raise EraseError(
                f"{job.person_id}: the sweep's {failed[0]}; everything else is erased, and what the sweep found so "
                "far: run erase again to sweep again"
            )
        else:
            job.sweep_failed = failed
        return True

    def _failed_items(self, job: EraseJob) -> list[str]:
        """The map runs' clips in batches that failed, timed out or were aborted (a Distributed Map tolerating
        failures succeeds all the same: its counts tell)."""
        sfn = client("stepfunctions")
        found = []
        for arn in job.sweep_executions:
            for run in sfn.list_map_runs(executionArn=arn).get("mapRuns", []):
                counts = sfn.describe_map_run(mapRunArn=run["mapRunArn"]).get("itemCounts", {})
                lost = sum(int(counts.get(k, 0)) for k in ("failed", "timedOut", "aborted"))
                if lost:
                    found.append(f"map run {run['mapRunArn'].rsplit(':', 1)[-1]}: {lost} clip(s) in failed batches")
        return found

    def _results(self, job: EraseJob, *, count: bool = False) -> list[tuple[str, dict[str, list[str]]]]:
        """Each sweep result of the job, its lists of clip keys; a key that is not a clip's (a result nobody but a
        batch should write, planted) is refused, never acted on (and, with ``count``, counted and logged)."""
        out = []
        for key in self.result_keys(job):
            found = json.loads(s3_objects.get_bytes(self.bucket, key, s3=self.s3))
            lists: dict[str, list[str]] = {}
            for field in ("matched", "unscanned"):
                value = found.get(field) if isinstance(found, dict) else None
                lists[field] = []
                for clip in value if isinstance(value, list) else []:
                    if is_clip_key(clip):
                        lists[field].append(clip)
                    elif count:
                        job.sweep_refused += 1
                        log.warning("erase job %s: sweep result %s names %r, not a clip: refused", job.id, key, clip)
            out.append((key, lists))
        return out

    def _handed_back(self, job: EraseJob) -> None:
        """Sweep here the clips batches handed back unscanned (their invocation's end near)."""
        from facepipe.pipeline.sweep import sweep_batch

        left = sorted({clip for _, lists in self._results(job) for clip in lists["unscanned"]})
        if left:
            sweep_batch(job.id, left, self.settings.model_copy(update={"bucket_name": self.bucket}), s3=self.s3)

    def _delete_matched(self, job: EraseJob) -> None:
        for _, lists in self._results(job, count=True):
            for clip in lists["matched"]:
                if s3_objects.delete_versions(self.bucket, clip, s3=self.s3):
                    job.clips_deleted += 1
        self.progress(job)

    def result_keys(self, job: EraseJob) -> list[str]:
        return s3_objects.keys_under(self.bucket, f"{job.folder}sweep/", s3=self.s3)

    def progress(self, job: EraseJob) -> None:
        names = [key.rsplit("/", 1)[1].split("_") for key in self.result_keys(job)]
        counted = [n for n in names if len(n) >= 3 and n[0].isdigit() and n[1].isdigit()]
        job.sweep_scanned = sum(int(n[0]) for n in counted)
        job.sweep_matched = sum(int(n[1]) for n in counted)

    def forget_map_runs(self, job: EraseJob) -> None:
        # Its map runs' records (ResultWriter: each child's clips and counts), by map run.
        sfn = client("stepfunctions") if job.sweep_executions else None
        for arn in job.sweep_executions:
            for run in sfn.list_map_runs(executionArn=arn).get("mapRuns", []):  # type: ignore[union-attr]
                run_id = run["mapRunArn"].rsplit(":", 1)[-1]
                s3_objects.delete_prefix(self.bucket, f"{SWEEP_RUNS_PREFIX}{run_id}/", s3=self.s3)
