"""Erase a person everywhere, as a job that always finishes and can be run again.

Face data is biometric data (GDPR art. 9 and 17, BIPA; FERPA for students): when someone asks to be
forgotten, every copy goes, and the erasure itself is recorded (who, when, how much; never a face, an encoding
or a name). An erase that stops halfway must be resumable, so erasure is a job (:class:`EraseJobs`):

1. **start**: the person's encodings are gathered from every version of the stack's gallery still stored (so
   someone only *removed* from the gallery is still found), or else from their stored photos; they are kept
   in the job's folder (``erase-jobs/<job>/``, deleted when the job ends) and the audit record is written,
   ``pending``.
2. **gallery**: they leave the gallery first, so no new clip names them (a conditional write: no concurrent
   edit is lost), a tombstone with no face data keeps a later enroll or label from adding them back, their
   face kept as someone else's rejected match goes too, and every older version of the gallery is deleted.
3. **clusters**: the unknown-face clusters of their face (facepipe.aws.unknowns), found by encoding.
4. **sightings**: the clips that named them or one of those clusters, found in the ``ByPerson`` index
   (facepipe.aws.sightings): each clip is deleted with all its versions, then its sighting and mentions. Time grows
   with *their* sightings, never with the bucket.
5. **unknowns**, **photos**, **record**, **attendance**: the clusters with their crops, their photos under
   ``people/<id>/``, their student record, every session's record of them (facepipe.aws.attendance, found in its
   ``ByPerson`` index) and their place on every course's roster; **in-view**: each camera's record that they
   are in its view (facepipe.aws.presence, kept for the events sent on change).
6. **sweep** (asked for with ``sweep=True``): every clip in retention decoded and matched against their
   encodings, for faces the pipeline never named, by EraseSweepStateMachine (a Distributed Map over the clips
   prefix: batches of clips in the recognize image, ``sweep_concurrency`` at once); the clips it matched are
   then deleted here.
7. **late**, once warm recognize functions have re-read the gallery (``GalleryRefreshSeconds``) and what they had
   under way has ended (``erase_settle_seconds``, else derived from the pipeline's timeouts and retries:
   facepipe.ops.settle): the sightings index, who is in each camera's view and attendance read again, so a clip
   they named meanwhile goes too, and so does what its answer wrote.
8. **announce**: ``person.erased`` (the id only) on the stack's event bus, so every recipient of ``person.seen``
   forgets them too.
9. **finish**: the job's folder (their encodings) deleted with all its versions, the audit record completed.

Every step is idempotent (an object or item already gone counts as deleted), and the job's record says which
are done: running erase again resumes the job where it stopped, or completes it.

Longer than ~250 lines: one job's steps, in the order listed above, each short, all sharing the job's
record.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
from botocore.exceptions import ClientError
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from facepipe.aws import gallery_store, presence, s3_objects
from facepipe.aws.attendance import AttendanceStore
from facepipe.aws.clients import client
from facepipe.aws.sightings import Sightings
from facepipe.aws.unknowns import UnknownStore
from facepipe.core.clip_keys import CLIPS_PREFIX, parse_clip_key
from facepipe.core.contracts import PERSON_ID_PATTERN
from facepipe.core.errors import ClipKeyError, FacepipeError
from facepipe.core.settings import Settings
from facepipe.identity.gallery import Gallery
from facepipe.pipeline.sweep import JOBS_PREFIX, encodings_key

AUDIT_PREFIX = "audit/erasures/"
# Where EraseSweepStateMachine's ResultWriter puts each map run's record (statemachine/erase_sweep.asl.json).
SWEEP_RUNS_PREFIX = f"{JOBS_PREFIX}sweep-runs/"
STEPS = (
    "gallery",
    "clusters",
    "sightings",
    "unknowns",
    "photos",
    "record",
    "attendance",
    "in-view",
    "sweep",  # started before the wait below, so it runs meanwhile
    "late-sightings",
    "sweep-results",
    "announce",
    "finish",
)

log = logging.getLogger("facepipe.erase")
# A run of a job holds this lease (``erase-jobs/<job>/lease.json``): a second run (another console tab, the CLI)
# is refused while it is younger than this; an older one is a run that died, and is taken over.
LEASE_SECONDS = 15 * 60
_UNKNOWN_ID = re.compile(r"^unknown-\d+$")

# A sweep with failed batches is run again by running erase again, up to this many sweeps; then reported.
MAX_SWEEP_ATTEMPTS = 3

# moto's ItemReader reads one ListObjectsV2 page: the local stack sweeps in prefixes that hold at most this many.
LOCAL_ITEM_READER_PAGE = 1000


class EraseError(FacepipeError):
    code = "erase"


class AlreadyErased(EraseError):
    """Erasing someone already erased: nothing is left to do (a consent-withdrawal list re-run by a script must
    not fail on the names it already erased). ``erased_at`` is their tombstone's."""

    code = "already_erased"

    def __init__(self, person_id: str, erased_at: str) -> None:
        super().__init__(
            f"{person_id}: already erased at {erased_at} (the gallery keeps a tombstone); nothing to erase"
        )
        self.person_id, self.erased_at = person_id, erased_at


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"


def _is_clip_key(key: object) -> bool:
    """Whether ``key`` is a clip's key (``clips/<device>/<name>.<ext>``), as a sweep batch records them."""
    if not isinstance(key, str) or not key.startswith(CLIPS_PREFIX):
        return False
    try:
        parse_clip_key(key)
    except ClipKeyError:
        return False
    return True


def _tombstone(gallery: Gallery, person_id: str) -> str | None:
    """When ``person_id`` was erased from ``gallery``, if they were and are not enrolled again."""
    if gallery.person(person_id) is not None:
        return None
    return next((t.erased_at for t in gallery.erased if t.id == person_id), None)


class EraseJob(BaseModel):
    """An erasure's progress, and its audit record: ids, times and counts only (never a face or an encoding).

    What decides what a job deletes (its person, the clusters it found, the steps done) is checked when a record
    is read: only the operator writes ``job.json`` (the functions may write only their sweep results), and a
    record that is not one erase could have written is refused, never run."""

    id: str = Field(pattern=r"^[0-9a-f]{32}$")
    person_id: str = Field(pattern=PERSON_ID_PATTERN)
    erased_at: str  # when the job started
    finished_at: str | None = None
    status: Literal["pending", "sweeping", "completed"] = "pending"
    sweep: bool = False
    steps_done: list[str] = Field(default_factory=list)
    reference_faces: int = 0  # how many of their faces erase matched against (the faces stay out of the record)
    gallery_photos_removed: int = 0
    rejections_removed: int = 0
    gallery_versions_deleted: int = 0
    unknowns_deleted: list[str] = Field(default_factory=list)
    sightings_done: list[str] = Field(default_factory=list)  # ids whose clips and sightings are gone
    gallery_done_at: float | None = None  # epoch seconds: when the gallery stopped naming them
    clips_deleted: int = 0
    sightings_deleted: int = 0
    photos_deleted: int = 0
    record_deleted: bool = False
    attendance_items_changed: int = 0  # session items deleted and rosters they were taken off
    in_view_removed: int = 0  # cameras whose record of who is in view named them (events on change)
    sweep_executions: list[str] = Field(default_factory=list)
    sweep_attempt: int = 0  # a failed sweep is started again under new execution names
    sweep_total: int | None = None  # clips to scan, where known before the sweep (the local stack lists them)
    sweep_scanned: int = 0
    sweep_matched: int = 0
    sweep_unreadable: int = 0
    sweep_refused: int = 0  # keys in sweep results that are not clips: never deleted (a planted result)
    # Why the sweep stopped short, when it could not go on (its reference faces lost): the job completes without it.
    sweep_abandoned: str | None = None
    # What failed of the last sweep allowed (batches failed on each of MAX_SWEEP_ATTEMPTS sweeps): reported.
    sweep_failed: list[str] = Field(default_factory=list)
    announced: bool = False  # person.erased sent on the stack's bus
    # The audit records of earlier jobs for this person that never finished (their record expired): this job
    # redoes every step and completes them.
    completes: list[str] = Field(default_factory=list)

    @field_validator("unknowns_deleted")
    @classmethod
    def _clusters_only(cls, ids: list[str]) -> list[str]:
        wrong = [i for i in ids if not _UNKNOWN_ID.match(i)]
        if wrong:
            raise ValueError(f"unknowns_deleted holds {wrong[0]!r}, not an unknown-face cluster's id")
        return ids

    @field_validator("steps_done")
    @classmethod
    def _known_steps(cls, steps: list[str]) -> list[str]:
        wrong = [s for s in steps if s not in STEPS]
        if wrong:
            raise ValueError(f"steps_done holds {wrong[0]!r}, not a step of erase")
        return steps

    @model_validator(mode="after")
    def _own_ids(self) -> EraseJob:
        wrong = [i for i in self.sightings_done if i != self.person_id and i not in self.unknowns_deleted]
        if wrong:
            raise ValueError(f"sightings_done holds {wrong[0]!r}, neither the person nor one of their clusters")
        return self

    @property
    def folder(self) -> str:
        return f"{JOBS_PREFIX}{self.id}/"

    @property
    def audit_key(self) -> str:
        stamp = self.erased_at.replace(":", "").replace("-", "")
        return f"{AUDIT_PREFIX}{stamp}_{self.person_id}.json"

    def record(self) -> dict[str, object]:
        """The audit record: the job without its bookkeeping."""
        return self.model_dump(exclude={"sightings_done", "steps_done"})

    def summary(self) -> str:
        sweep = (
            f"; sweep: {self.sweep_scanned} clip(s) scanned, {self.sweep_matched} more deleted"
            if self.sweep
            else "; no sweep (clips the pipeline never named expire with ClipsRetentionDays)"
        )
        return (
            f"{self.gallery_photos_removed} gallery photo(s) and {self.rejections_removed} rejection(s) removed, "
            f"{self.gallery_versions_deleted} older gallery version(s) deleted; "
            f"record {'deleted' if self.record_deleted else 'not found'}; "
            f"{self.clips_deleted} stored clip(s), {self.photos_deleted} stored photo(s), "
            f"{self.sightings_deleted} sighting(s) and {len(self.unknowns_deleted)} unknown-face cluster(s) deleted; "
            f"{self.attendance_items_changed} attendance item(s) and roster(s) changed" + sweep
        )


def sweep_prefixes(keys: list[str], page: int = LOCAL_ITEM_READER_PAGE, prefix: str = CLIPS_PREFIX) -> list[str]:
    """Prefixes that cover ``keys`` (sorted or not) with at most ``page`` keys under each: the local stack's
    sweep, because moto's ItemReader reads only the first ListObjectsV2 page (1,000 keys) of a prefix."""
    under = [k for k in keys if k.startswith(prefix)]
    if len(under) <= page:
        return [prefix] if under else []
    if any(len(k) == len(prefix) for k in under):
        raise EraseError(f"{prefix}: more than {page} clips share this exact key; cannot split the sweep")
    return [p for c in sorted({k[len(prefix)] for k in under}) for p in sweep_prefixes(under, page, prefix + c)]


class EraseJobs:
    """Erase jobs of one stack (the settings name its bucket, tables and sweep state machine)."""

    def __init__(self, settings: Settings, *, gallery_path: Path | None = None) -> None:
        if not settings.bucket_name:
            raise EraseError("erase needs the stack's bucket (--bucket, FACEPIPE_BUCKET, or --stack)")
        self.settings = settings
        self.bucket = settings.bucket_name
        self.gallery_path = gallery_path
        self.s3 = client("s3")
        self.refused: list[tuple[str, str]] = []  # job records read and refused: (key, why)
        self._held: tuple[str, float, float] | None = None  # the lease of the run under way: key, since, renewed

    # --- the job's record ---------------------------------------------------------------------------
    def _save(self, job: EraseJob) -> None:
        s3_objects.put_bytes(self.bucket, f"{job.folder}job.json", job.model_dump_json().encode(), "application/json")

    def _audit(self, job: EraseJob) -> None:
        s3_objects.put_bytes(
            self.bucket, job.audit_key, json.dumps(job.record(), indent=1).encode(), "application/json"
        )

    def jobs(self) -> list[EraseJob]:
        """Every job not finished (a finished job's folder is deleted; its audit record stays)."""
        found = []
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=JOBS_PREFIX, Delimiter="/")
        for page in pages:
            for folder in page.get("CommonPrefixes", []):
                if folder["Prefix"] == SWEEP_RUNS_PREFIX:
                    continue
                try:
                    data = s3_objects.get_bytes(self.bucket, f"{folder['Prefix']}job.json", s3=self.s3)
                except ClientError as exc:
                    if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
                        continue  # a folder being finished: its record went first
                    raise
                try:
                    job = EraseJob.model_validate_json(data)
                    if f"{JOBS_PREFIX}{job.id}/" != folder["Prefix"]:
                        raise ValueError(f"its id {job.id} is not its folder's")
                except (ValidationError, ValueError) as exc:
                    # Not a record erase wrote (planted, or damaged): never run, and said.
                    reason = str(exc).splitlines()[0] if not isinstance(exc, ValidationError) else _first_error(exc)
                    self.refused.append((f"{folder['Prefix']}job.json", reason))
                    log.warning("erase job record %sjob.json refused: %s", folder["Prefix"], reason)
                    continue
                found.append(job)
        return sorted(found, key=lambda j: j.erased_at)

    def unfinished(self) -> list[EraseJob]:
        """The jobs under way, as they stand, with their sweep's progress read: nothing is advanced or written (a
        page view changes nothing; :meth:`advance` does, when the operator asks)."""
        shown = []
        for job in self.jobs():
            with contextlib.suppress(ClientError):  # shown as last saved
                self._sweep_progress(job)
            shown.append(job)
        return shown

    def advance(self, job_id: str, *, wait: bool = False) -> EraseJob:
        """Run the job ``job_id`` as far as it goes without waiting (a finished sweep is collected, the job
        finished): the console's "Continue"; with ``wait``, to its end."""
        job = next((j for j in self.jobs() if j.id == job_id), None)
        if job is None:
            raise EraseError(f"{job_id}: no erase job under way with this id")
        return self.run(job, wait=wait)

    # --- erasing --------------------------------------------------------------------------------------
    def erase(
        self,
        person_id: str,
        *,
        sweep: bool = False,
        wait: bool = True,
        progress: Callable[[EraseJob], None] | None = None,
    ) -> EraseJob:
        """Erase ``person_id``: the unfinished job for them resumed, or a new one started; run to its end
        (``wait``), or as far as it goes without waiting for the sweep."""
        job = next((j for j in self.jobs() if j.person_id == person_id), None)
        if job is None:
            job = self._start(person_id, sweep)
        elif sweep and not job.sweep and "sweep" not in job.steps_done:
            job.sweep = True
        return self.run(job, wait=wait, progress=progress)

    def _start(self, person_id: str, sweep: bool) -> EraseJob:
        known = self._encodings(person_id)
        # An earlier job left unfinished for longer than erase-jobs/ keeps a record (its folder expired): its
        # audit record still says pending. Every step is redone (each is idempotent) and that record completed.
        stranded = self._pending_audits(person_id)
        if len(known) == 0 and not stranded and not self._known_otherwise(person_id):
            current, _ = gallery_store.get_gallery(self.bucket, self.settings.gallery_key, s3=self.s3)
            if (erased_at := _tombstone(current, person_id)) is not None:
                raise AlreadyErased(person_id, erased_at)
            raise EraseError(
                f"{person_id}: not known to this stack (no gallery entry in any stored version, no photos, "
                "no record, no sightings); nothing to erase"
            )
        job = EraseJob(
            id=uuid.uuid4().hex,  # opaque: it names the sweep's executions, whose history erase cannot reach
            person_id=person_id,
            erased_at=datetime.now(UTC).isoformat(timespec="seconds"),
            sweep=sweep,
            reference_faces=len(known),
            completes=stranded,
        )
        self._keep(job, known)
        self._save(job)
        self._audit(job)  # pending: the erasure is on record from its first moment
        return job

    def _pending_audits(self, person_id: str) -> list[str]:
        """Audit records of this person's erasures still ``pending`` with no job under way: stranded jobs. One
        listing of the audit prefix (a record a job, a few a year)."""
        stranded = []
        for key in s3_objects.keys_under(self.bucket, AUDIT_PREFIX, s3=self.s3):
            if not key.endswith(f"_{person_id}.json"):
                continue
            record = json.loads(s3_objects.get_bytes(self.bucket, key, s3=self.s3))
            if record.get("status") != "completed" and record.get("person_id") == person_id:
                stranded.append(key)
        return stranded

    def _known(self, job: EraseJob) -> np.ndarray:
        """The person's encodings the job keeps; when they are gone (the job's folder expired while it stood
        still), gathered again while the gallery and photos still hold them, and kept again; else none."""
        try:
            rows = json.loads(s3_objects.get_bytes(self.bucket, encodings_key(job.id), s3=self.s3))
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("NoSuchKey", "404"):
                raise
            known = self._encodings(job.person_id)
            if len(known):
                self._keep(job, known)
            return known
        return np.asarray(rows, dtype=np.float64).reshape(len(rows), 128)

    def _keep(self, job: EraseJob, known: np.ndarray) -> None:
        """Write the job's encodings (again): a new object, so erase-jobs/'s expiry counts from now."""
        s3_objects.put_bytes(
            self.bucket, encodings_key(job.id), json.dumps(known.tolist()).encode(), "application/json", s3=self.s3
        )

    def _encodings(self, person_id: str) -> np.ndarray:
        """Their encodings in every stored version of the gallery (and the local gallery file), or else
        encoded again from their stored photos."""
        rows: list[list[float]] = []
        galleries = [Gallery.load(self.gallery_path)] if self.gallery_path and self.gallery_path.exists() else []
        for version in s3_objects.versions(self.bucket, self.settings.gallery_key, s3=self.s3):
            if "Size" in version:  # not a delete marker
                galleries.append(
                    gallery_store.get_gallery(
                        self.bucket, self.settings.gallery_key, s3=self.s3, version_id=version["VersionId"]
                    )[0]
                )
        for gallery in galleries:
            person = gallery.person(person_id)
            rows.extend(photo.encoding for photo in (person.photos if person else []))
        if not rows:
            from facepipe.identity.enroll import encode_enrollment_photo

            for key in self._photo_keys(person_id):
                data = s3_objects.get_bytes(self.bucket, key, s3=self.s3)
                try:
                    rows.append(encode_enrollment_photo(data, self.settings, name=key))
                except FacepipeError:
                    continue  # not a usable photo of one face: it is still deleted below
        unique = {tuple(r) for r in rows}
        return np.asarray(sorted(unique), dtype=np.float64).reshape(len(unique), 128)

    def _photo_keys(self, person_id: str) -> list[str]:
        return s3_objects.keys_under(self.bucket, f"{gallery_store.PEOPLE_PREFIX}{person_id}/", s3=self.s3)

    def _known_otherwise(self, person_id: str) -> bool:
        """Anything of theirs besides encodings: photos, a record, sightings, attendance or a roster place."""
        if self._photo_keys(person_id):
            return True
        if self.settings.students_table:
            item = client("dynamodb").get_item(TableName=self.settings.students_table, Key={"id": {"S": person_id}})
            if "Item" in item:
                return True
        if self.settings.attendance_table:
            store = AttendanceStore.from_settings(self.settings)
            if store.person_sessions(person_id) or any(person_id in c.roster for c in store.courses()):
                return True
        history = self._sightings()
        return history is not None and bool(history.mentions(person_id))

    def _sightings(self) -> Sightings | None:
        if not self.settings.sightings_table:
            return None
        return Sightings.from_settings(self.settings)

    def run(self, job: EraseJob, *, wait: bool = True, progress: Callable[[EraseJob], None] | None = None) -> EraseJob:
        """Every step not yet done, in order, the job's record saved after each; one run of a job at a time."""
        with self._lease(job):
            if "finish" not in job.steps_done:
                # Every run renews the job's folder (erase-jobs/ expires objects a week after they were written):
                # a job that is still run never loses the faces its sweep matches against.
                known = self._known(job)
                if len(known):
                    self._keep(job, known)
            return self._run(job, wait=wait, progress=progress)

    @contextlib.contextmanager
    def _lease(self, job: EraseJob) -> Iterator[None]:
        """Hold the job's lease for a run: created only if absent (a conditional write), so two console tabs and
        the CLI never run one job at once; a lease not renewed for ``LEASE_SECONDS`` is a run that died: taken over.
        A run that waits long (a sweep of hours) renews it as it waits (:meth:`_renew`)."""
        key = f"{job.folder}lease.json"
        now = time.time()
        body = json.dumps({"since": now, "renewed": now}).encode()
        try:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*")
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise
            held = json.loads(s3_objects.get_bytes(self.bucket, key, s3=self.s3))
            if time.time() - float(held.get("renewed", held.get("since", 0))) < LEASE_SECONDS:
                raise EraseError(
                    f"{job.person_id}: erase job {job.id} is being run elsewhere (another console tab or "
                    f"`facepipe people erase`) since {datetime.fromtimestamp(held['since'], UTC):%H:%M:%S} UTC; "
                    "try again when it ends"
                ) from None
            s3_objects.put_bytes(self.bucket, key, body, "application/json", s3=self.s3)
        self._held = (key, now, now)
        try:
            yield
        finally:
            self._held = None
            s3_objects.delete_versions(self.bucket, key, s3=self.s3)  # gone already when the job finished

    def _renew(self) -> None:
        """Renew the lease of the run under way (at most once a minute): it is alive, however long it waits."""
        if self._held is None or time.time() - self._held[2] < 60:
            return
        key, since, _ = self._held
        now = time.time()
        s3_objects.put_bytes(
            self.bucket, key, json.dumps({"since": since, "renewed": now}).encode(), "application/json", s3=self.s3
        )
        self._held = (key, since, now)

    def _run(self, job: EraseJob, *, wait: bool, progress: Callable[[EraseJob], None] | None) -> EraseJob:
        for step in STEPS:
            if step in job.steps_done:
                continue
            if step == "sweep-results" and not self._collect_sweep(job, wait=wait, progress=progress):
                return job  # still sweeping, and not waiting
            if step == "late-sightings" and not self._settled(job, wait=wait):
                self._save(job)
                return job  # warm functions may still name them, and not waiting
            if step != "sweep-results":
                getattr(self, f"_step_{step.replace('-', '_')}")(job)
            if step == "finish":
                return job  # the record is gone with the folder; the audit record holds the outcome
            job.steps_done.append(step)
            self._save(job)
            if progress is not None:
                progress(job)
        return job

    def _step_gallery(self, job: EraseJob) -> None:
        known = self._known(job)

        def change(gallery: Gallery) -> tuple[int, int]:
            person = gallery.person(job.person_id)
            photos = len(person.photos) if person else 0
            gallery.remove(job.person_id)
            dropped = gallery.forget_rejections_like(known, self.settings.match_tolerance)
            gallery.bury(job.person_id, job.erased_at)
            return photos, dropped

        photos, dropped = gallery_store.update_gallery(self.bucket, self.settings.gallery_key, change, s3=self.s3)
        if self.gallery_path is not None and self.gallery_path.exists():
            local = Gallery.load(self.gallery_path)
            person = local.person(job.person_id)
            photos += len(person.photos) if person else 0
            local.remove(job.person_id)
            dropped += local.forget_rejections_like(known, self.settings.match_tolerance)
            local.bury(job.person_id, job.erased_at)
            local.save(self.gallery_path)
        job.gallery_photos_removed += photos
        job.rejections_removed += dropped
        job.gallery_done_at = time.time()
        # Every older version of the gallery holds their encodings.
        job.gallery_versions_deleted += s3_objects.delete_versions(
            self.bucket, self.settings.gallery_key, keep_latest=True, s3=self.s3
        )

    def _unknown_store(self) -> UnknownStore | None:
        if not self.settings.unknowns_table:
            return None
        return UnknownStore.from_settings(self.settings, s3=self.s3)

    def _step_clusters(self, job: EraseJob) -> None:
        store = self._unknown_store()
        known = self._known(job)
        if store is not None and len(known):
            job.unknowns_deleted = store.near(known.tolist(), self.settings.match_tolerance)

    def _step_sightings(self, job: EraseJob) -> None:
        history = self._sightings()
        if history is None:
            return
        for face_id in [job.person_id, *job.unknowns_deleted]:
            if face_id in job.sightings_done:
                continue
            mentions = history.mentions(face_id)
            # The clips first, then the index entries that found them: a failure in between finds them again.
            # A mention names the clip's version: deleted exactly (1,000 to a request, no listing); one that does
            # not (a clip put to an unversioned bucket) has its versions listed.
            exact = sorted({(m.key, m.version_id) for m in mentions if m.version_id is not None})
            s3_objects.delete_exact_versions(self.bucket, exact, s3=self.s3)
            for key in sorted({m.key for m in mentions if not m.version_id}):
                s3_objects.delete_versions(self.bucket, key, s3=self.s3)
            job.clips_deleted += len({m.key for m in mentions})
            job.sightings_deleted += history.forget(mentions)
            job.sightings_done.append(face_id)
            self._save(job)

    def _settled(self, job: EraseJob, *, wait: bool) -> bool:
        """Whether every warm recognize function has re-read the gallery without them (and what they had under
        way has ended); waits for it with ``wait``."""
        from facepipe.ops.settle import pipeline_window_s

        settle = self.settings.erase_settle_seconds
        settle = pipeline_window_s() if settle is None else settle
        ready_at = (job.gallery_done_at or 0.0) + self.settings.gallery_refresh_seconds + settle
        if time.time() < ready_at and not wait:
            return False
        while time.time() < ready_at:
            self._renew()
            time.sleep(min(30.0, max(0.0, ready_at - time.time())))
        return True

    def _step_late_sightings(self, job: EraseJob) -> None:
        """Every store a clip's answer writes about a person, read again: what executions answered with the gallery
        warm functions still held when it changed (facepipe.ops.settle) wrote meanwhile: the clips and sightings
        that named them, each camera's record that they are in view, and a session closed meanwhile."""
        job.sightings_done = []
        self._step_sightings(job)
        self._step_in_view(job)
        self._step_attendance(job)

    def _step_unknowns(self, job: EraseJob) -> None:
        store = self._unknown_store()
        for unknown_id in job.unknowns_deleted if store is not None else []:
            store.forget(unknown_id)  # type: ignore[union-attr]

    def _step_photos(self, job: EraseJob) -> None:
        job.photos_deleted += s3_objects.delete_prefix(
            self.bucket, f"{gallery_store.PEOPLE_PREFIX}{job.person_id}/", s3=self.s3
        )

    def _step_record(self, job: EraseJob) -> None:
        if self.settings.students_table:
            response = client("dynamodb").delete_item(
                TableName=self.settings.students_table, Key={"id": {"S": job.person_id}}, ReturnValues="ALL_OLD"
            )
            job.record_deleted = job.record_deleted or "Attributes" in response

    def _step_attendance(self, job: EraseJob) -> None:
        if self.settings.attendance_table:
            store = AttendanceStore.from_settings(self.settings)
            job.attendance_items_changed += store.erase_person(job.person_id)

    def _step_in_view(self, job: EraseJob) -> None:
        if self.settings.devices_table:
            for face_id in [job.person_id, *job.unknowns_deleted]:
                job.in_view_removed += presence.forget(
                    self.settings.devices_table, face_id, dynamodb=client("dynamodb")
                )

    # --- the sweep ----------------------------------------------------------------------------------
    def _step_sweep(self, job: EraseJob) -> None:
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
            self._save(job)

    def _collect_sweep(self, job: EraseJob, *, wait: bool, progress: Callable[[EraseJob], None] | None) -> bool:
        """Whether the sweep is over (its matches then deleted); waits for it with ``wait``. Clips a batch handed
        back (its invocation's end near) are swept here; a batch that failed is swept again by running erase again
        (at most ``MAX_SWEEP_ATTEMPTS`` sweeps), then reported; without the person's faces the sweep is abandoned,
        and said so, rather than failing for ever."""
        if not job.sweep:
            return True
        sfn = client("stepfunctions")
        while True:
            statuses = [sfn.describe_execution(executionArn=arn) for arn in job.sweep_executions]
            self._sweep_progress(job)
            if progress is not None:
                progress(job)
            if all(s["status"] != "RUNNING" for s in statuses):
                break
            if not wait:
                self._save(job)
                return False
            self._renew()
            time.sleep(2.0)
        failed = [f"execution {s['executionArn']} ended {s['status']}" for s in statuses if s["status"] != "SUCCEEDED"]
        failed += self._failed_items(job)
        self._sweep_handed_back(job)
        self._delete_matched(job)
        if not failed:
            return True
        if not len(self._known(job)):
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
            self._save(job)
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
        for key in self._sweep_results(job):
            found = json.loads(s3_objects.get_bytes(self.bucket, key, s3=self.s3))
            lists: dict[str, list[str]] = {}
            for field in ("matched", "unscanned"):
                value = found.get(field) if isinstance(found, dict) else None
                lists[field] = []
                for clip in value if isinstance(value, list) else []:
                    if _is_clip_key(clip):
                        lists[field].append(clip)
                    elif count:
                        job.sweep_refused += 1
                        log.warning("erase job %s: sweep result %s names %r, not a clip: refused", job.id, key, clip)
            out.append((key, lists))
        return out

    def _sweep_handed_back(self, job: EraseJob) -> None:
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
        self._sweep_progress(job)

    def _sweep_results(self, job: EraseJob) -> list[str]:
        return s3_objects.keys_under(self.bucket, f"{job.folder}sweep/", s3=self.s3)

    def _sweep_progress(self, job: EraseJob) -> None:
        names = [key.rsplit("/", 1)[1].split("_") for key in self._sweep_results(job)]
        counted = [n for n in names if len(n) >= 3 and n[0].isdigit() and n[1].isdigit()]
        job.sweep_scanned = sum(int(n[0]) for n in counted)
        job.sweep_matched = sum(int(n[1]) for n in counted)

    def _step_announce(self, job: EraseJob) -> None:
        """``person.erased`` (their id only) on the stack's bus: every recipient of ``person.seen`` (webhooks, MQTT,
        the bus's rules) is told to forget them (GDPR art. 17(2)). Last, after the late pass: nothing names them
        after it."""
        if not self.settings.event_bus_name:
            return
        from facepipe.aws.event_bus import put_events
        from facepipe.core.events import PersonErased

        detail = PersonErased(person_id=job.person_id, erased_at=job.erased_at)
        if put_events(self.settings.event_bus_name, [detail], events=client("events")):
            raise EraseError(f"{job.person_id}: the bus refused person.erased; run erase again to send it")
        job.announced = True

    def _step_finish(self, job: EraseJob) -> None:
        job.status, job.finished_at = "completed", datetime.now(UTC).isoformat(timespec="seconds")
        self._audit(job)
        for key in job.completes:
            record = json.loads(s3_objects.get_bytes(self.bucket, key, s3=self.s3))
            record |= {"status": "completed", "finished_at": job.finished_at, "completed_by": job.id}
            s3_objects.put_bytes(
                self.bucket, key, json.dumps(record, indent=1).encode(), "application/json", s3=self.s3
            )
        if self.gallery_path is not None:
            with (self.gallery_path.parent / "erasures.jsonl").open("a") as log:
                log.write(json.dumps(job.record()) + "\n")
        # The sweep's map runs' records (ResultWriter: each child's clips and counts), by map run.
        sfn = client("stepfunctions") if job.sweep_executions else None
        for arn in job.sweep_executions:
            for run in sfn.list_map_runs(executionArn=arn).get("mapRuns", []):  # type: ignore[union-attr]
                run_id = run["mapRunArn"].rsplit(":", 1)[-1]
                s3_objects.delete_prefix(self.bucket, f"{SWEEP_RUNS_PREFIX}{run_id}/", s3=self.s3)
        # Last: the job's folder, with their encodings (a failure before this point resumes; after it, the
        # audit record says the erasure completed).
        s3_objects.delete_prefix(self.bucket, job.folder, s3=self.s3)


# --- a gallery file alone (no stack) -----------------------------------------------------------------
def erase_from_file(person_id: str, gallery_path: Path, settings: Settings) -> EraseJob:
    """Erase ``person_id`` from a local gallery file (photos, their face kept as a rejection), with a
    tombstone, recorded in ``erasures.jsonl`` beside it."""
    gallery = Gallery.load(gallery_path)
    person = gallery.person(person_id)
    if person is None:
        if (erased_at := _tombstone(gallery, person_id)) is not None:
            raise AlreadyErased(person_id, erased_at)
        raise EraseError(f"{person_id}: not in {gallery_path}")
    known = np.asarray([p.encoding for p in person.photos], dtype=np.float64)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    job = EraseJob(id=uuid.uuid4().hex, person_id=person_id, erased_at=now, finished_at=now, status="completed")
    job.gallery_photos_removed = len(person.photos)
    gallery.remove(person_id)
    job.rejections_removed = gallery.forget_rejections_like(known, settings.match_tolerance)
    gallery.bury(person_id, now)
    gallery.save(gallery_path)
    with (gallery_path.parent / "erasures.jsonl").open("a") as log:
        log.write(json.dumps(job.record()) + "\n")
    return job
