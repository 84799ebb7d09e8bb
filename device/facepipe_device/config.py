"""Device configuration: one TOML file, then environment variables, then flags (each overrides the last)."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from facepipe_protocol import DEVICE_ID, DEVICE_ID_RULE, MAX_CLIP_SECONDS, MAX_FRAME_PIXELS

# Environment names (set by `facepipe local --env-file`, or by systemd's EnvironmentFile).
ENV = {
    "device_id": "FACEPIPE_DEVICE_ID",
    "bucket": "FACEPIPE_BUCKET",
    "queue_url": "FACEPIPE_QUEUE_URL",
    "region": "AWS_DEFAULT_REGION",
    "endpoint_url": "AWS_ENDPOINT_URL",
    "source": "FACEPIPE_SOURCE",
    "spool_dir": "FACEPIPE_SPOOL_DIR",
    "spool_max_mb": "FACEPIPE_SPOOL_MAX_MB",
    "poll_wait_s": "FACEPIPE_POLL_WAIT_S",
}


class ConfigError(Exception):
    """A configuration that cannot work; the message says which setting and why."""


@dataclass
class DeviceConfig:
    device_id: str = ""
    bucket: str = ""
    queue_url: str = ""
    region: str = "us-east-1"
    endpoint_url: str | None = None
    source: str = "picamera2"
    clip_seconds: float = 0.5
    width: int = 640
    height: int = 480
    fps: int = 30
    spool_dir: Path = field(default_factory=lambda: Path.home() / ".facepipe-device" / "spool")
    spool_max_mb: float = 512.0
    upload_workers: int = 3
    upload_attempts: int = 8
    result_timeout_s: float = 30.0
    poll_wait_s: int = 20  # SQS long-poll wait (the maximum, 20 s, keeps empty receives and cost down)
    stale_after_s: float = 10.0
    summary_every_s: float = 60.0
    face_gate: bool = False
    # Send a clip only when the room changed since the last one sent (facepipe_device.gate.ChangeGate), or when
    # ``heartbeat_s`` has passed: under the cloud's 60 s presence gap, so who is in view stays right.
    change_gate: bool = True
    heartbeat_s: float = 5.0

    def validate(self) -> DeviceConfig:
        problems = []
        if not DEVICE_ID.match(self.device_id):
            problems.append(f"device_id {self.device_id!r}: {DEVICE_ID_RULE} (set device_id or FACEPIPE_DEVICE_ID)")
        if not self.bucket:
            problems.append("bucket is not set (the stack's ClipsBucketName; FACEPIPE_BUCKET)")
        if not self.queue_url:
            problems.append("queue_url is not set (the stack's ResultsQueueUrl; FACEPIPE_QUEUE_URL)")
        if not 0.1 <= self.clip_seconds <= MAX_CLIP_SECONDS:
            problems.append(
                f"clip_seconds {self.clip_seconds}: between 0.1 and {MAX_CLIP_SECONDS:g} "
                "(the cloud refuses longer clips)"
            )
        if self.width * self.height > MAX_FRAME_PIXELS:
            problems.append(
                f"width x height {self.width}x{self.height}: at most {MAX_FRAME_PIXELS} pixels a frame (the cloud "
                "refuses larger frames)"
            )
        if self.spool_max_mb <= 0:
            problems.append("spool_max_mb must be positive")
        if not 0.5 <= self.heartbeat_s <= 30:
            problems.append(
                f"heartbeat_s {self.heartbeat_s}: between 0.5 and 30 (the cloud counts someone gone after 60 s unseen)"
            )
        if problems:
            raise ConfigError("; ".join(problems))
        return self


def _coerce(name: str, value: Any) -> Any:
    kinds = {f.name: f.type for f in fields(DeviceConfig)}
    kind = str(kinds[name])
    try:
        if "float" in kind:
            return float(value)
        if "int" in kind:
            return int(value)
        if "bool" in kind:
            return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")
        if "Path" in kind:
            return Path(str(value)).expanduser()
    except ValueError as exc:
        raise ConfigError(f"{name}: {value!r} is not a valid {kind}") from exc
    return value


def load_config(path: Path | None, environ: dict[str, str] | None = None, **flags: Any) -> DeviceConfig:
    """File, then environment, then flags (None flags are ignored)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text())
        except FileNotFoundError as exc:
            raise ConfigError(f"{path}: no such config file") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
        known = {f.name for f in fields(DeviceConfig)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}")
        values.update(raw)
    for name, variable in ENV.items():
        if env.get(variable):
            values[name] = env[variable]
    values.update({k: v for k, v in flags.items() if v is not None})
    return DeviceConfig(**{k: _coerce(k, v) for k, v in values.items()}).validate()
