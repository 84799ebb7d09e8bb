"""One settings object, read from the environment once.

Names are UPPER_SNAKE and match the template's ``Globals``/``Environment`` (set from its ``Parameters``).
Nothing else in facepipe reads ``os.environ``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

# Chosen by measurement on ../shared/samples (see README, "Choosing the tolerance"): every probe face of
# an enrolled person is at most 0.47 from them, the stranger in obama_and_biden.jpg is 0.60+ from everyone.
DEFAULT_TOLERANCE = 0.54


class Settings(BaseModel):
    """Runtime configuration of every stage and command."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    samples_dir: Path = Field(default=Path("../shared/samples"))
    bucket_name: str = ""
    results_queue_url: str = ""
    students_table: str = ""
    idempotency_table: str = ""
    gallery_key: str = "gallery/gallery.json"
    clips_prefix: str = "clips/"
    frames_prefix: str = "frames/"
    frames_per_clip: int = Field(default=3, ge=1, le=30)
    match_tolerance: float = Field(default=DEFAULT_TOLERANCE, gt=0, lt=1.5)
    detect_model: str = Field(default="hog", pattern="^(hog|cnn)$")
    # Detection runs on a copy whose longest side is at most this many pixels (boxes are mapped back).
    detect_max_side: int = Field(default=640, ge=160)
    max_faces_per_frame: int = Field(default=20, ge=1)
    max_clip_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    max_clip_seconds: float = Field(default=5.0, gt=0)
    max_frame_pixels: int = Field(default=4096 * 2160, ge=1)
    gallery_refresh_seconds: float = Field(default=30.0, ge=0)
    max_image_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    max_image_pixels: int = Field(default=40_000_000, ge=1)


_ENV_NAMES = {
    "samples_dir": "FACEPIPE_SAMPLES",
    "bucket_name": "BUCKET_NAME",
    "results_queue_url": "RESULTS_QUEUE_URL",
    "students_table": "STUDENTS_TABLE",
    "idempotency_table": "IDEMPOTENCY_TABLE",
    "gallery_key": "GALLERY_KEY",
    "frames_per_clip": "FRAMES_PER_CLIP",
    "match_tolerance": "MATCH_TOLERANCE",
    "detect_model": "DETECT_MODEL",
    "detect_max_side": "DETECT_MAX_SIDE",
    "max_faces_per_frame": "MAX_FACES_PER_FRAME",
    "max_clip_bytes": "MAX_CLIP_BYTES",
    "max_clip_seconds": "MAX_CLIP_SECONDS",
    "max_frame_pixels": "MAX_FRAME_PIXELS",
    "gallery_refresh_seconds": "GALLERY_REFRESH_SECONDS",
    "max_image_bytes": "MAX_IMAGE_BYTES",
    "max_image_pixels": "MAX_IMAGE_PIXELS",
}


def settings_from_env(environ: dict[str, str] | None = None, **overrides: object) -> Settings:
    """Build settings from an environment mapping (``os.environ`` by default) plus explicit overrides."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {field: env[name] for field, name in _ENV_NAMES.items() if env.get(name, "") != ""}
    values.update(overrides)
    return Settings.model_validate(values)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return settings_from_env()
