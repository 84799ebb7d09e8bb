"""Durable uploads: worker threads take clips from the spool, retry with backoff and jitter, and remove a
clip from the spool only after S3 confirmed it.

Each clip is uploaded once: every put is conditional (``If-None-Match: *``), so a retry after a lost
response finds the first attempt's object (412) instead of writing it again and starting a second
pipeline run. That needs only ``s3:PutObject`` on the device's own prefix, the one grant it has (a
``HeadObject`` check would need ``s3:GetObject``, and SSE-KMS ETags are not MD5s to compare with).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from facepipe_protocol import clip_key, clip_metadata  # the key layout and metadata the pipeline reads

from facepipe_device.spool import Spool, SpooledClip

log = logging.getLogger("facepipe_device.uploader")


class Uploader:
    def __init__(
        self,
        s3: Any,
        spool: Spool,
        *,
        bucket: str,
        device_id: str,
        workers: int = 3,
        base_delay_s: float = 0.2,
        max_delay_s: float = 20.0,
        on_uploaded: Callable[[SpooledClip, str], None] | None = None,
    ) -> None:
        self.s3, self.spool, self.bucket, self.device_id = s3, spool, bucket, device_id
        self.base_delay_s, self.max_delay_s = base_delay_s, max_delay_s
        self.on_uploaded = on_uploaded
        self.uploaded = 0
        self.retries = 0
        self.already_there = 0  # retries that found the first attempt's object (its answer was lost)
        self._queue: queue.PriorityQueue[tuple[int, SpooledClip]] = queue.PriorityQueue()
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._in_flight = 0
        self._threads = [threading.Thread(target=self._work, name=f"upload-{i}", daemon=True) for i in range(workers)]
        for thread in self._threads:
            thread.start()

    def resume(self) -> list[SpooledClip]:
        """Queue what a previous run left in the spool (after a crash or kill -9)."""
        left = self.spool.pending()
        for clip in left:
            self.submit(clip)
        return left

    def submit(self, clip: SpooledClip) -> None:
        with self._idle:
            self._in_flight += 1
        self._queue.put((clip.seq, clip))

    def drain(self, timeout_s: float) -> bool:
        """Wait until every submitted clip is uploaded (or dropped)."""
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def stop(self) -> None:
        self._stop.set()

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                _, clip = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                if self.spool.claim(clip):
                    self._upload(clip)
            except Exception:  # never let one clip end a worker: the clip stays spooled for the next run
                log.exception("uploading clip %d failed unexpectedly; it stays in the spool", clip.seq)
                self.spool.release(clip)
            finally:
                with self._idle:
                    self._in_flight -= 1
                    self._idle.notify_all()

    def _upload(self, clip: SpooledClip) -> None:
        key = clip_key(self.device_id, clip.seq, clip.captured_at, clip.ext)
        try:
            data = self.spool.read(clip)
        except OSError as exc:
            self.spool.set_aside(clip, _reason(exc))
            return
        md5 = hashlib.md5(data).digest()
        attempt = 0
        while not self._stop.is_set():
            try:
                self.s3.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=data,
                    ContentMD5=base64.b64encode(md5).decode(),
                    Metadata=clip_metadata(self.device_id, clip.seq, clip.captured_at, clip.unchanged_since),
                    IfNoneMatch="*",
                )
                break
            except ClientError as exc:
                if _already_there(exc):
                    # The key is this clip's alone (device, sequence, capture time): an earlier attempt got
                    # there and only its answer was lost. Uploading again would start a second execution.
                    log.info("clip %d was already uploaded (an earlier attempt's answer was lost)", clip.seq)
                    self.already_there += 1
                    break
                attempt = self._backoff(clip, attempt, exc)
            except (BotoCoreError, OSError) as exc:
                attempt = self._backoff(clip, attempt, exc)
        else:
            self.spool.release(clip)  # stopping: the clip stays spooled for the next run
            return
        self.spool.done(clip)
        self.uploaded += 1
        if self.on_uploaded is not None:
            self.on_uploaded(clip, key)

    def _backoff(self, clip: SpooledClip, attempt: int, exc: Exception) -> int:
        """Wait before the next attempt: exponential backoff with full jitter, so devices that lost the
        network together do not all come back in the same instant."""
        attempt += 1
        self.retries += 1
        delay = random.uniform(0, min(self.max_delay_s, self.base_delay_s * 2**attempt))
        log.warning("upload of clip %d failed (%s); retry %d in %.1f s", clip.seq, _reason(exc), attempt, delay)
        self._stop.wait(delay)
        return attempt


def _already_there(exc: ClientError) -> bool:
    """S3's answer to a conditional put whose key exists: 412 PreconditionFailed."""
    return exc.response.get("Error", {}).get("Code") == "PreconditionFailed"


def _reason(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or type(exc).__name__)
    return type(exc).__name__
