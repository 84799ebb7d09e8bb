"""`make demo`: the main job on the samples, end to end, on this machine alone.

1. Enroll the sample people and recognize the probe photos (who is where).
2. Make 0.5 s 640x480 clips from the probes (slow pan or zoom, sensor noise, compression) and one of an
   empty room, run them through the local stack as a device would, and print each result with its
   latency; annotated frames go to ``<out>/frames``.
3. Serve the console (`facepipe console`) on the stack and print its address; the stack and the console
   stay up until Ctrl-C (``--no-console``: end after step 2).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from facepipe.cli.main import main as facepipe
from facepipe.core.settings import get_settings
from facepipe.media.clipmaker import make_clip
from facepipe.media.images import load_rgb

DEMO_CLIPS = [
    ("obama-480p.jpg", "pan"),
    ("two_people.jpg", "zoom"),
    ("kit_with_rose.jpg", "pan"),
    ("alex_lacamoire1.jpg", "zoom"),
    ("johnsnow_test1.jpg", "pan"),
    (None, "pan"),  # nobody in the room
]


def make_demo_clips(samples: Path, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    clips = []
    for i, (probe, motion) in enumerate(DEMO_CLIPS, start=1):
        image = None if probe is None else load_rgb(samples / "probes" / probe, max_bytes=10**8, max_pixels=10**8)
        name = f"{i:02d}-{(probe or 'empty-room').rsplit('.', 1)[0]}-{motion}.mp4"
        clips.append(make_clip(image, out / name, motion=motion, seed=i))
    return clips


def run_device(
    clips: list[Path], gallery: Path, students: Path, out: Path, *, console: bool = False, started: float = 0.0
) -> int:
    """The stack in this process and the device service against it, printing what the Pi prints; then, with
    ``console``, the console on the stack until Ctrl-C."""
    from facepipe_device.sources import FileSource

    from facepipe.aws.gallery_store import upload_photos
    from facepipe.identity.gallery import Gallery
    from facepipe.identity.records import validate_records
    from facepipe.local.camera import run_camera
    from facepipe.local.stack import local_stack
    from facepipe.ops.annotate import annotate_result

    with local_stack() as stack:
        outputs = stack.outputs
        enrolled = Gallery.load(gallery)
        stack.load(gallery=enrolled, students=validate_records(students).records)
        upload_photos(
            get_settings().samples_dir.resolve() / "people", enrolled, bucket=outputs.bucket, s3=stack.client("s3")
        )
        print(f"   endpoint {outputs.endpoint_url}, bucket {outputs.bucket}, recognize workers {stack.workers}\n")
        summary, shown = run_camera(stack, FileSource(clips[0].parent), out / "spool")
        for item in shown:
            if item.message is not None:
                annotate_result(item.message, out / "frames", s3=stack.client("s3"))
        print(f"\nAnnotated frames: {out / 'frames'}  (demo took {time.monotonic() - started:.0f} s)")
        if console:
            serve_console(stack)
    return 1 if summary.missing else 0


def serve_console(stack: Any) -> None:
    """`facepipe console` on the running stack, as an operator starts it (a process of its own with the
    settings `facepipe local --env-file` writes), until Ctrl-C."""
    import os
    import socket
    import subprocess

    from facepipe.local.stack import free_port

    with socket.socket() as probe:
        port = 8080 if probe.connect_ex(("127.0.0.1", 8080)) != 0 else free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | stack.env()
    process = subprocess.Popen([sys.executable, "-m", "facepipe", "console", "--port", str(port)], env=env)
    try:
        print(f"\n== The console: http://127.0.0.1:{port}/  (live view, unknown faces, people, history, plots)")
        print("   The stack and the console stay up until Ctrl-C.", flush=True)
        process.wait()
    except KeyboardInterrupt:
        print("\nStopping the console and the stack.")
    finally:
        process.terminate()
        process.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m facepipe.cli.demo", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("demo-out"))
    parser.add_argument(
        "--no-console", action="store_true", help="end after the clips (default: serve the console until Ctrl-C)"
    )
    args = parser.parse_args(argv)
    samples = get_settings().samples_dir.resolve()
    if not (samples / "people").is_dir():
        print(f"demo: no samples at {samples} (set FACEPIPE_SAMPLES)", file=sys.stderr)
        return 1
    started = time.monotonic()
    gallery = args.out / "gallery.json"
    print(f"== Enrolling {samples / 'people'}")
    code = facepipe(["enroll", str(samples / "people"), "--out", str(gallery)])
    print(f"\n== Recognizing the probe photos in {samples / 'probes'}")
    probes = sorted(p for p in (samples / "probes").iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    code |= facepipe(["recognize", *map(str, probes), "--gallery", str(gallery)])
    print("\n== Making sample clips (0.5 s, 640x480, pan/zoom, noise, mp4v)")
    clips = make_demo_clips(samples, args.out / "clips")
    for clip in clips:
        print(f"  {clip}")
    print("\n== Starting the local stack, then the device service replaying the clips as its camera")
    code |= run_device(
        clips, gallery, samples / "students.json", args.out, console=not args.no_console, started=started
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
