"""Shared fixtures: sample paths, settings, an enrolled gallery, images made at test time."""

from __future__ import annotations

import csv
import os
import struct
import zlib
from pathlib import Path

import pytest

from facepipe.core.settings import Settings, explicit_settings
from facepipe.identity.gallery import Gallery

SAMPLES = Path(os.environ.get("FACEPIPE_SAMPLES", Path(__file__).resolve().parents[1] / "../shared/samples")).resolve()
VIDEOS = Path(os.environ.get("FACEPIPE_VIDEOS", Path(__file__).resolve().parents[1] / "../shared/videos")).resolve()
FACES = Path(os.environ.get("FACEPIPE_FACES", Path(__file__).resolve().parents[1] / "../shared/faces")).resolve()


@pytest.fixture(scope="session")
def samples() -> Path:
    if not (SAMPLES / "people").is_dir():
        pytest.fail(f"sample photos not found at {SAMPLES}; set FACEPIPE_SAMPLES")
    return SAMPLES


@pytest.fixture(scope="session")
def videos() -> Path:
    """The real talking-head videos (read its README): clips/, people/, labels.csv."""
    if not (VIDEOS / "labels.csv").is_file():
        pytest.fail(f"videos not found at {VIDEOS}; set FACEPIPE_VIDEOS")
    return VIDEOS


@pytest.fixture(scope="session")
def faces() -> Path:
    """Photos of ~2,900 people (LFW and CelebA: read its README), for measuring at a school's scale."""
    if not (FACES / "lfw").is_dir():
        pytest.fail(f"faces not found at {FACES}; set FACEPIPE_FACES")
    return FACES


@pytest.fixture(scope="session")
def face_subset(faces: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fixed share of ``faces`` as a folder of its own (links, never copies): the first 240 LFW people with two
    photos or more and the first 240 with one, by name; ~1,000 photos, encoded once and cached
    (facepipe.bench.face_set)."""
    root = tmp_path_factory.mktemp("faces")
    people = sorted(p for p in (faces / "lfw").iterdir() if p.is_dir())
    several = [p for p in people if len(list(p.iterdir())) >= 2][:240]
    single = [p for p in people if len(list(p.iterdir())) == 1][:240]
    for person in several + single:
        (root / "lfw" / person.name).mkdir(parents=True)
        for photo in person.iterdir():
            (root / "lfw" / person.name / photo.name).symlink_to(photo)
    return root


@pytest.fixture(scope="session")
def expected_probes(samples: Path) -> dict[str, tuple[set[str], int]]:
    """probes/expected.csv as {file: (people, unknown_faces)}."""
    with (samples / "probes" / "expected.csv").open() as handle:
        return {
            row["file"]: ({p for p in row["people"].split(";") if p}, int(row["unknown_faces"]))
            for row in csv.DictReader(handle)
        }


@pytest.fixture(scope="session")
def settings() -> Settings:
    return explicit_settings()


@pytest.fixture(scope="session")
def gallery_path(samples: Path, settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample people enrolled once per test session (about 4 s)."""
    from facepipe.identity.enroll import enroll

    gallery, report = enroll(samples / "people", settings)
    assert report.errors == []
    path = tmp_path_factory.mktemp("gallery") / "gallery.json"
    gallery.save(path)
    return path


@pytest.fixture()
def gallery(gallery_path: Path) -> Gallery:
    return Gallery.load(gallery_path)


def png_bomb(width: int, height: int) -> bytes:
    """A valid, tiny PNG whose header declares ``width`` x ``height`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="session")
def clip_factory(samples: Path, tmp_path_factory: pytest.TempPathFactory):
    """make(probe_name | None, **make_clip options) -> path of a 0.5 s 640x480 clip encoded by OpenCV."""
    from facepipe.media.clipmaker import make_clip
    from facepipe.media.images import load_rgb

    folder = tmp_path_factory.mktemp("clips")
    made: dict[tuple, Path] = {}

    def make(probe: str | None, *, suffix: str = ".mp4", **options: object) -> Path:
        key = (probe, suffix, tuple(sorted(options.items())))
        if key not in made:
            image = None if probe is None else load_rgb(samples / "probes" / probe, max_bytes=10**8, max_pixels=10**8)
            path = folder / f"{(probe or 'empty').rsplit('.', 1)[0]}-{len(made)}{suffix}"
            made[key] = make_clip(image, path, **options)  # type: ignore[arg-type]
        return made[key]

    return make


@pytest.fixture(scope="session")
def result_validator():
    """Validates a result message against the committed JSON Schema."""
    import jsonschema
    from facepipe_protocol import result_schema

    return jsonschema.Draft202012Validator(result_schema())


@pytest.fixture()
def aws_env(monkeypatch):
    """This process's AWS environment for moto in process (fake credentials, no endpoint), with the settings and
    the cached clients read afresh on the way in and out; yields the monkeypatch to set more."""
    from facepipe.aws.clients import reset_clients
    from facepipe.core.settings import get_settings

    for key, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    get_settings.cache_clear()
    reset_clients()
    yield monkeypatch
    get_settings.cache_clear()
    reset_clients()
