"""The bench's clips: every held-out probe photo, panned and zoomed into a 0.5 s clip (never enrollment photos)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

# Probes with one enrolled face: the latency, throughput and recognition-cost runs use these.
ONE_FACE_PROBES = ["obama-480p.jpg", "alex_lacamoire1.jpg", "johnsnow_test1.jpg", "obama1.jpg", "obama_small.jpg"]


@dataclass(frozen=True)
class BenchClip:
    path: Path
    people: set[str]  # who must be named
    unknown_faces: int  # how many strangers must be reported unknown
    probe: str


def make_bench_clips(samples: Path, out: Path) -> list[BenchClip]:
    """A clip per probe and motion (pan, zoom), with what probes/expected.csv says is in it."""
    from facepipe.media.clipmaker import make_clip
    from facepipe.media.images import load_rgb

    with (samples / "probes" / "expected.csv").open() as handle:
        expected = {
            r["file"]: ({p for p in r["people"].split(";") if p}, int(r["unknown_faces"]))
            for r in csv.DictReader(handle)
        }
    clips = []
    for i, (probe, (people, unknown)) in enumerate(sorted(expected.items())):
        image = load_rgb(samples / "probes" / probe, max_bytes=10**8, max_pixels=10**9)
        for motion in ("pan", "zoom"):
            path = make_clip(image, out / f"{probe.rsplit('.', 1)[0]}-{motion}.mp4", motion=motion, seed=i)
            clips.append(BenchClip(path, people, unknown, probe))
    return clips


def one_face(clips: list[BenchClip]) -> list[Path]:
    return [c.path for c in clips if c.probe in ONE_FACE_PROBES]
