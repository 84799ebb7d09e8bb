"""An erase job's record (facepipe.ops.erase): its steps, what it did, and the checks that keep a record erase could
not have written from ever being run. The audit record is this record without its bookkeeping."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from facepipe.core.clip_keys import CLIPS_PREFIX, parse_clip_key
from facepipe.core.contracts import PERSON_ID_PATTERN
from facepipe.core.errors import ClipKeyError, FacepipeError
from facepipe.identity.gallery import Gallery
from facepipe.pipeline.sweep import JOBS_PREFIX

AUDIT_PREFIX = "audit/erasures/"
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

_UNKNOWN_ID = re.compile(r"^unknown-\d+$")


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


def first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"


def is_clip_key(key: object) -> bool:
    """Whether ``key`` is a clip's key (``clips/<device>/<name>.<ext>``), as a sweep batch records them."""
    if not isinstance(key, str) or not key.startswith(CLIPS_PREFIX):
        return False
    try:
        parse_clip_key(key)
    except ClipKeyError:
        return False
    return True


def tombstone(gallery: Gallery, person_id: str) -> str | None:
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
