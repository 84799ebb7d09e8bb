"""One settings object, read from the environment once (pydantic-settings).

Names are the fields' in UPPER_SNAKE (``FRAMES_PER_CLIP``) and match the template's ``Globals``/``Environment``
(set from its ``Parameters``); ``FACEPIPE_SAMPLES`` names the samples folder. Empty variables count as unset.
Nothing else in facepipe reads ``os.environ``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, ClassVar

from facepipe_protocol import MAX_CLIP_SECONDS, MAX_FRAME_PIXELS
from pydantic import AliasChoices, BeforeValidator, Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

# Chosen by measurement (README, "Choosing the match rule"): on the real-video dev set a clip's mean encoding
# of a person is at most 0.58 from them at faces of 40 px and blur, and every stranger's face is 0.72+ from
# everyone; on ../shared/samples every probe face of an enrolled person is at most 0.47 from them.
DEFAULT_TOLERANCE = 0.60
# The nearest person must be at least this much nearer than the next one (no coin-flip names).
DEFAULT_MARGIN = 0.05


class Settings(BaseSettings):
    """Runtime configuration of every stage and command."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid", env_ignore_empty=True, populate_by_name=True)

    samples_dir: Path = Field(
        default=Path("../shared/samples"), validation_alias=AliasChoices("FACEPIPE_SAMPLES", "samples_dir")
    )
    # Photos of many people (<set>/<person>/<photos>) for `facepipe bench --scale` (never shipped, never in the repo).
    faces_dir: Path = Field(
        default=Path("../shared/faces"), validation_alias=AliasChoices("FACEPIPE_FACES", "faces_dir")
    )
    # BUCKET_NAME is the functions' (the template's) and wins; FACEPIPE_BUCKET is the operator's shell's.
    bucket_name: str = Field(default="", validation_alias=AliasChoices("BUCKET_NAME", "FACEPIPE_BUCKET", "bucket_name"))
    students_table: str = ""
    idempotency_table: str = ""
    # The devices a stack serves (facepipe.aws.devices) and where their results queues are:
    # <prefix><device_id>.fifo, the prefix https://sqs.<region>.<suffix>/<account>/<stack>-.
    devices_table: str = ""
    results_queue_url_prefix: str = ""
    # The operator's view of a stack for `facepipe devices` (as `facepipe local --env-file` writes it; a
    # deployed stack is named with --stack instead): queue names <prefix><device_id>.fifo, the dead-letter
    # queue their redrive names, the policy each device's principal gets, and whether it is the local stack.
    device_queue_prefix: str = ""
    dead_letter_queue_url: str = ""
    device_policy_arn: str = ""
    local_stack: bool = False
    gallery_key: str = "gallery/gallery.json"
    # The console's history (facepipe.aws.sightings) and the unknown-face clusters (facepipe.aws.unknowns); their
    # crops and items are kept this many days (the template's FaceCropRetentionDays).
    sightings_table: str = ""
    unknowns_table: str = ""
    face_crop_retention_days: int = Field(default=1, ge=1)
    # How long clips are kept (the template's ClipsRetentionDays): the index of which clips named whom
    # (facepipe.aws.sightings mentions) lives as long, so erase finds every clip still stored.
    clips_retention_days: int = Field(default=7, ge=1)
    # Timetable, rosters and each closed session's attendance (facepipe.aws.attendance); sessions are kept this
    # many days (the template's AttendanceRetentionDays: a term).
    attendance_table: str = ""
    attendance_retention_days: int = Field(default=120, ge=1)
    # A session is closed this long after it ends: clips still on their way (a camera's spool draining after a
    # network blip) count. A clip later still is not counted; the session is not reopened.
    attendance_close_after_s: float = Field(default=600.0, ge=0)
    # Events out (facepipe.core.events): the stack's EventBridge bus (none: no events), and the site's time zone,
    # in which each event's local_hour is given (a rule can then match "outside school hours").
    event_bus_name: str = ""
    site_timezone: str = "UTC"
    # The exhaustive erase sweep (facepipe.ops.erase): child executions at once, each a batch of clips in one
    # recognize invocation (EraseSweepStateMachine). Sized for a new account's Lambda quota of 10: the live
    # pipeline keeps the rest.
    sweep_concurrency: int = Field(default=4, ge=1, le=10000)
    erase_sweep_state_machine_arn: str = ""
    # After erase takes someone out of the gallery, warm recognize functions may still name them for up to
    # GalleryRefreshSeconds, and an execution already under way longer: erase reads every person-keyed store again
    # once both have passed (this is the second). Unset: derived from the pipeline's own timeouts and retries
    # (facepipe.ops.settle: ~128 s).
    erase_settle_seconds: Annotated[float | None, BeforeValidator(lambda v: None if v == "" else v)] = Field(
        default=None, ge=0
    )
    # An unknown face joins the nearest unknown-<n> whose centre is at most this far. Measured on the real-video
    # dev set (237 enrollable faces of 256 clips, as given and as room cameras see them): one person's clip means
    # are p50 0.27, p95 0.41, max 0.54 apart (99.6% within 0.5); two people's at least 0.56 (p5 0.70).
    unknown_cluster_tolerance: float = Field(default=0.5, gt=0, lt=1.5)
    frames_per_clip: int = Field(default=3, ge=1, le=30)
    match_tolerance: float = Field(default=DEFAULT_TOLERANCE, gt=0, lt=1.5)
    match_margin: float = Field(default=DEFAULT_MARGIN, ge=0, lt=1.5)
    # The open-set decision's operating point (facepipe.identity.decision): at most this share of strangers' faces
    # named, with any number enrolled; one of the shipped model's (0.001, 0.005, 0.02). Unset: 2% with 30 enrolled
    # or fewer, 0.5% with 300 or more (decision.DEFAULT_SCHEDULE). Lower names fewer enrolled people too:
    # docs/PERFORMANCE.md ("Names a school can trust") gives the recall each costs.
    match_strangers_target: Annotated[float | None, BeforeValidator(lambda v: None if v == "" else v)] = Field(
        default=None, gt=0, lt=1
    )
    # The face detector: OpenCV Zoo's YuNet (facepipe.vision.yunet: faces from ~10 px, every frame searched whole
    # in a few ms; its boxes mapped to HOG's, so landmarks and encodings are dlib's as with the others), dlib's
    # HOG, or dlib's CNN in ONNX. YuNet is the default: on issue 21's dev set it names as many or more (room
    # 0.948 against HOG's 0.942, turning 0.487 against 0.395, no wrong name, no stranger) at 0.38x the compute.
    detect_model: str = Field(default="yunet", pattern="^(hog|cnn|yunet)$")
    # Detection runs on a copy whose longest side is at most this many pixels (boxes are mapped back).
    detect_max_side: int = Field(default=640, ge=160)
    # The sharpest frame of a clip is searched for small faces on a copy at most this size with one upsample
    # (faces down to ~40 px in frames up to this size; facepipe.identity.recognition). 0: no small-face search.
    small_face_max_side: int = Field(default=1280, ge=0)
    # A face HOG loses in a chosen frame (turned past its reach) is looked for there by dlib's CNN detector, near
    # where its track is in the other frames (facepipe.vision.tracking.follow_lost): reported as the same person.
    follow_lost_faces: bool = True
    # A face shorter than this (px) or blurred names nobody on its own: its track needs two frames agreeing.
    decisive_face_px: int = Field(default=40, ge=0)
    # Still photos (enrollment, `facepipe recognize`) are larger than camera frames and people in them can be
    # small: detection runs on a copy at most this size.
    photo_detect_max_side: int = Field(default=1024, ge=160)
    # Faces recognized in a frame at most (the largest; the result says when a frame had more): a classroom of 30
    # with visitors (facepipe.bench.classroom: 40 faces of 1280x720 in ~0.5 s a clip, its payload ~100 KB).
    max_faces_per_frame: int = Field(default=40, ge=1)
    # A device's capture time is taken only within this window of the cloud's clock (seconds before, after): a
    # device that says year 2999 would pin an unknown face's expiry into the far future and put wrong times into
    # history and plots. Before: a spooled clip may arrive days late (the clips' retention bounds it).
    captured_at_max_age_s: float = Field(default=7 * 86400, gt=0)
    captured_at_max_ahead_s: float = Field(default=300, ge=0)
    max_clip_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    max_clip_seconds: float = Field(default=MAX_CLIP_SECONDS, gt=0)
    max_frame_pixels: int = Field(default=MAX_FRAME_PIXELS, ge=1)
    # Frames extract reads in a clip at most (5 s at 60 fps), checked from the header first, then as it decodes.
    max_clip_frames: int = Field(default=300, ge=1)
    gallery_refresh_seconds: float = Field(default=30.0, ge=0)
    max_image_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    max_image_pixels: int = Field(default=40_000_000, ge=1)
    # Where the face encoder converted to ONNX is cached (facepipe.vision.encoder); the recognize image bakes it in.
    encoder_cache_dir: Path = Field(default_factory=lambda: Path.home() / ".cache" / "facepipe")
    # ONNX Runtime threads per process: the cores a worker owns (one vCPU for RecognizeFunction).
    encoder_threads: int = Field(default=1, ge=1, le=64)

    # Whether the environment is read (not in :func:`explicit_settings`).
    _from_environment: ClassVar[bool] = True

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Explicit values, then the environment the template sets: no .env file, no secrets folder.
        return (init_settings, env_settings) if cls._from_environment else (init_settings,)


class _ExplicitSettings(Settings):
    _from_environment: ClassVar[bool] = False


def explicit_settings(**values: Any) -> Settings:
    """Settings from ``values`` and the defaults only, never the environment (tests, tools)."""
    return _ExplicitSettings(**values)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
