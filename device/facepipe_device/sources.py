"""Clip sources: the Pi camera (picamera2, hardware H.264), OpenCV (USB webcam or RTSP) and files.

Each yields the same thing: 0.5 s clips (duration, resolution and fps configurable) with their capture times.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from facepipe_protocol import CLIP_SUFFIXES  # the clip types the pipeline accepts


class SourceError(Exception):
    """A source that cannot deliver clips (no camera, unreadable file); the message says which and why."""


@dataclass(frozen=True)
class Clip:
    data: bytes
    ext: str
    captured_at: datetime  # start of capture, UTC
    capture_end: float  # epoch seconds


class FileSource:
    """Replays a folder of clips (each file one clip) or one video file cut into clips; optionally looping.

    Clips are paced as a camera would deliver them (one every ``seconds``) unless ``realtime`` is off.
    """

    def __init__(
        self,
        path: Path,
        *,
        seconds: float = 0.5,
        loop: bool = False,
        realtime: bool = True,
        size: tuple[int, int] = (640, 480),
        fps: int = 30,
    ) -> None:
        if not path.exists():
            raise SourceError(f"file source {path}: no such file or folder")
        self.path, self.seconds, self.loop, self.realtime, self.size, self.fps = (
            path,
            seconds,
            loop,
            realtime,
            size,
            fps,
        )

    def _files(self) -> list[Path]:
        if self.path.is_dir():
            files = sorted(p for p in self.path.iterdir() if p.suffix.lstrip(".").lower() in CLIP_SUFFIXES)
            if not files:
                raise SourceError(f"file source {self.path}: no .mp4/.h264/.mjpeg/.avi clips in it")
            return files
        return [self.path]

    def clips(self) -> Iterator[Clip]:
        while True:
            for path in self._files():
                if self.path.is_dir():
                    start = datetime.now(UTC)
                    if self.realtime:
                        time.sleep(self.seconds)  # as long as recording it took
                    yield Clip(path.read_bytes(), path.suffix.lstrip(".").lower(), start, time.time())
                else:
                    yield from self._cut(path)
            if not self.loop:
                return

    def _cut(self, path: Path) -> Iterator[Clip]:
        import cv2

        capture = cv2.VideoCapture(str(path))
        if not capture.isOpened():
            raise SourceError(f"file source {path}: OpenCV cannot open it")
        fps = capture.get(cv2.CAP_PROP_FPS) or self.fps
        try:
            while True:
                start = datetime.now(UTC)
                data = _record(lambda: capture.read(), round(fps * self.seconds), fps)
                if data is None:
                    return
                if self.realtime:
                    time.sleep(self.seconds)
                yield Clip(data, "mp4", start, time.time())
        finally:
            capture.release()


def _record(read: Callable[[], tuple[bool, Any]], frames: int, fps: float) -> bytes | None:
    """Write ``frames`` frames from ``read`` into an mp4 clip; None when the stream ended first."""
    import cv2

    writer = None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "clip.mp4"
        count = 0
        for _ in range(frames):
            ok, frame = read()
            if not ok or frame is None:
                break
            if writer is None:
                height, width = frame.shape[:2]
                writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
            writer.write(frame)
            count += 1
        if writer is not None:
            writer.release()
        return out.read_bytes() if count else None


class OpenCVSource:
    """A USB webcam (an index like 0) or a network stream (an RTSP URL), recorded into mp4 clips."""

    def __init__(self, target: str, *, seconds: float = 0.5, size: tuple[int, int] = (640, 480), fps: int = 30) -> None:
        import cv2

        self.target = int(target) if target.isdigit() else target
        self.capture = cv2.VideoCapture(self.target)
        if not self.capture.isOpened():
            raise SourceError(f"opencv source {target!r}: cannot open the camera or stream")
        self.capture.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
        self.capture.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
        self.capture.set(cv2.CAP_PROP_FPS, fps)
        self.seconds, self.fps = seconds, fps

    def clips(self) -> Iterator[Clip]:
        try:
            while True:
                start = datetime.now(UTC)
                data = _record(self.capture.read, round(self.fps * self.seconds), self.fps)
                if data is None:
                    raise SourceError(f"opencv source {self.target!r}: the stream stopped")
                yield Clip(data, "mp4", start, time.time())
        finally:
            self.capture.release()


class Picamera2Source:
    """The Raspberry Pi Camera Module through picamera2, encoded by the Pi's hardware H.264 encoder.

    The camera runs continuously; each clip is one start/stop of the encoder into a file, so no time is lost
    restarting the sensor between clips. ``camera``, ``encoder_factory`` and ``output_factory`` default to
    picamera2's own ``Picamera2``, ``H264Encoder`` and ``FileOutput`` (installed from Raspberry Pi OS).
    """

    def __init__(
        self,
        *,
        seconds: float = 0.5,
        size: tuple[int, int] = (640, 480),
        fps: int = 30,
        bitrate: int = 2_000_000,
        camera: Any = None,
        encoder_factory: Callable[[int], Any] | None = None,
        output_factory: Callable[[str], Any] | None = None,
    ) -> None:
        if camera is None:
            try:
                from picamera2 import Picamera2
                from picamera2.encoders import H264Encoder
                from picamera2.outputs import FileOutput
            except ImportError as exc:
                raise SourceError(
                    "picamera2 source: picamera2 is not installed (sudo apt install python3-picamera2)"
                ) from exc
            try:
                camera = Picamera2()
            except (RuntimeError, IndexError) as exc:
                raise SourceError(f"picamera2 source: no camera found ({exc})") from exc
            encoder_factory = encoder_factory or (lambda rate: H264Encoder(bitrate=rate))
            output_factory = output_factory or FileOutput
        assert encoder_factory is not None and output_factory is not None
        self.camera, self.encoder_factory, self.output_factory = camera, encoder_factory, output_factory
        self.seconds, self.bitrate = seconds, bitrate
        config = camera.create_video_configuration(main={"size": size}, controls={"FrameRate": fps})
        camera.configure(config)
        camera.start()

    def clips(self) -> Iterator[Clip]:
        try:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "clip.h264"
                while True:
                    start = datetime.now(UTC)
                    self.camera.start_encoder(self.encoder_factory(self.bitrate), self.output_factory(str(path)))
                    time.sleep(max(0.0, self.seconds - (datetime.now(UTC) - start) / timedelta(seconds=1)))
                    self.camera.stop_encoder()
                    yield Clip(path.read_bytes(), "h264", start, time.time())
        finally:
            self.camera.stop()
            self.camera.close()


def open_source(spec: str, *, seconds: float, size: tuple[int, int], fps: int, loop: bool = False) -> Any:
    """``picamera2`` | ``opencv:INDEX_OR_URL`` | ``file:PATH``."""
    kind, _, target = spec.partition(":")
    if kind == "picamera2":
        return Picamera2Source(seconds=seconds, size=size, fps=fps)
    if kind == "opencv" and target:
        return OpenCVSource(target, seconds=seconds, size=size, fps=fps)
    if kind == "file" and target:
        return FileSource(Path(target), seconds=seconds, loop=loop, size=size, fps=fps)
    raise SourceError(f"source {spec!r}: use picamera2, opencv:INDEX_OR_URL or file:PATH")
