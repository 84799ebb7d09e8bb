"""Bad clips through the whole stack: each gets an error result that names the problem; the rest go on."""

from __future__ import annotations

import cv2
import numpy as np

from tests.integration.conftest import run_clips


def _video(
    path, frames: int, size: tuple[int, int], fourcc: str = "mp4v", fps: float = 30, noise: bool = True
) -> bytes:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), fps, size)
    rng = np.random.default_rng(3)
    for _ in range(frames):
        pixels = (
            rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
            if noise
            else np.zeros((size[1], size[0], 3), np.uint8)
        )
        writer.write(pixels)
    writer.release()
    return path.read_bytes()


def test_bad_clips_get_clear_errors_and_good_clips_still_pass(
    stack, device_id, clip_factory, tmp_path, result_validator
):
    good = clip_factory("obama-480p.jpg").read_bytes()
    clips = [
        b"",  # zero bytes
        np.random.default_rng(0).bytes(40_000),  # random bytes named .mp4
        good[: len(good) // 2],  # truncated mp4 (its index is at the end)
        _video(tmp_path / "long.mp4", 30 * 6, (320, 240)),  # 6 s, over the 5 s limit
        # 8K frames (as .mp4 key; OpenCV probes content), refused from the header before a frame is decoded
        _video(tmp_path / "8k.avi", 2, (7680, 4320), "MJPG", noise=False),
        _video(tmp_path / "fast.mp4", 360, (160, 120), fps=240, noise=False),  # 1.5 s, but 360 frames
        good,  # and a good one among them
    ]
    results = run_clips(stack, clips, device_id, timeout_s=120)
    for message in results:
        result_validator.validate(message)
    codes = [(m["status"], (m["error"] or {}).get("code")) for m in results]
    assert codes == [
        ("error", "empty"),
        ("error", "undecodable"),
        ("error", "undecodable"),
        ("error", "too_long"),
        ("error", "too_large"),
        ("error", "too_many_frames"),
        ("ok", None),
    ]
    messages = [m["error"]["message"] for m in results[:5]]
    assert messages[0].endswith("empty clip (0 bytes)")
    assert "not a video OpenCV can open" in messages[1]
    assert "clip is 6.0 s long, limit 5 s" in messages[3]
    assert "frames are 7680x4320, larger than the limit" in messages[4]
    assert "360 frames, more than the limit of 300" in results[5]["error"]["message"]
    assert [p["id"] for p in results[6]["people"]] == ["obama"]
