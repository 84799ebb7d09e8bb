"""The camera's own service against a local stack, in this process: what the Pi does, on this machine (the
demo and the bench's camera section run it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def run_camera(
    stack: Any, source: Any, spool: Path, *, device_id: str = "demo-pi", max_clips: int | None = None
) -> tuple[Any, list[Any]]:
    """A device service with its own settings and credentials against ``stack`` in this process, capturing
    from ``source`` (a facepipe_device clip source, paced as a camera): what the Pi does, on this machine.
    Returns the service's summary and every result it showed (``Shown``), in capture order."""
    from facepipe_device.config import DeviceConfig
    from facepipe_device.service import DeviceService

    from facepipe.local.endpoint import Endpoint

    shown: list[Any] = []
    registered = stack.add_device(device_id)  # as `facepipe devices add` does: its queue, user and settings
    config = DeviceConfig(
        device_id=device_id,
        bucket=registered["FACEPIPE_BUCKET"],
        queue_url=registered["FACEPIPE_QUEUE_URL"],
        endpoint_url=registered["AWS_ENDPOINT_URL"],
        spool_dir=spool,
        # Short long-polls so the run ends as soon as the last result is in (a Pi keeps 20 s).
        poll_wait_s=1,
    ).validate()
    device = Endpoint.from_env(registered)
    service = DeviceService(config, on_shown=shown.append, s3=device.client("s3"), sqs=device.client("sqs"))
    stack.settle()  # the device's clients are long-lived too (see LocalStack.settle)
    summary = service.run(source.clips(), max_clips=max_clips)
    return summary, shown
