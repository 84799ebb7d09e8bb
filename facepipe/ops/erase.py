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

The job's record and its checks are :mod:`facepipe.ops.erase_job`, the sweep :mod:`facepipe.ops.erase_sweep`; here,
the steps (one table, :attr:`EraseJobs.steps`), the run that takes them in order holding the job's lease, and
finding what a person left. Longer than ~250 lines: one job's steps, each short, all sharing the job's record.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from botocore.exceptions import ClientError
from pydantic import ValidationError

from facepipe.aws import gallery_store, presence, s3_objects
from facepipe.aws.attendance import AttendanceStore
from facepipe.aws.clients import client
from facepipe.aws.sightings import Sightings
from facepipe.aws.unknowns import UnknownStore
from facepipe.core.errors import FacepipeError
from facepipe.core.settings import Settings
from facepipe.identity.gallery import Gallery
from facepipe.ops.erase_job import (
    AUDIT_PREFIX,
    STEPS,
    AlreadyErased,
    EraseError,
    EraseJob,
    first_error,
    tombstone,
)
from facepipe.ops.erase_sweep import SWEEP_RUNS_PREFIX, Sweep, sweep_prefixes
from facepipe.pipeline.sweep import JOBS_PREFIX, encodings_key

# What the tests and the operator's code take from here (the job's record and the sweep live beside it).
__all__ = ["AUDIT_PREFIX", "STEPS", "AlreadyErased", "EraseError", "EraseJob", "EraseJobs", "sweep_prefixes"]


log = logging.getLogger("facepipe.erase")
# A run of a job holds this lease (``erase-jobs/<job>/lease.json``): a second run (another console tab, the CLI)
# is refused while it is younger than this; an older one is a run that died, and is taken over.
LEASE_SECONDS = 15 * 60


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
        self._faces_renewed_at = time.time()
        self.sweep = Sweep(settings, self.bucket, self.s3, save=self._save, known=self._known, renew=self._renew)
        # What each step of STEPS does ("sweep-results" and the late pass's wait are the two that may stop a run
        # short: facepipe.ops.erase_sweep, :meth:`_settled`).
        self.steps: dict[str, Callable[[EraseJob], None]] = {
            "gallery": self._step_gallery,
            "clusters": self._step_clusters,
            "sightings": self._step_sightings,
            "unknowns": self._step_unknowns,
            "photos": self._step_photos,
            "record": self._step_record,
            "attendance": self._step_attendance,
            "in-view": self._step_in_view,
            "sweep": self.sweep.start,
            "late-sightings": self._step_late_sightings,
            "sweep-results": lambda job: None,  # collected by the check in :meth:`_run`
            "announce": self._step_announce,
            "finish": self._step_finish,
        }

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
                    reason = str(exc).splitlines()[0] if not isinstance(exc, ValidationError) else first_error(exc)
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
                self.sweep.progress(job)
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
            if (erased_at := tombstone(current, person_id)) is not None:
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
                self._renew_faces(job)
            return self._run(job, wait=wait, progress=progress)

    def _renew_faces(self, job: EraseJob) -> None:
        """Write the job's faces again: erase-jobs/ expires objects a week after they were written, so a job still
        run (or waiting on a sweep for days) never loses what its sweep matches against."""
        known = self._known(job)
        if len(known):
            self._keep(job, known)
        self._faces_renewed_at = time.time()

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

    def _renew(self, job: EraseJob) -> None:
        """Renew the lease of the run under way (at most once a minute): it is alive, however long it waits; and
        the job's faces once a day."""
        if time.time() - self._faces_renewed_at > 86400:
            self._renew_faces(job)
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
            if step == "sweep-results" and not self.sweep.collect(job, wait=wait, progress=progress):
                return job  # still sweeping, and not waiting
            if step == "late-sightings" and not self._settled(job, wait=wait):
                self._save(job)
                return job  # warm functions may still name them, and not waiting
            self.steps[step](job)
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
            self._renew(job)
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
        self.sweep.forget_map_runs(job)
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
        if (erased_at := tombstone(gallery, person_id)) is not None:
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
