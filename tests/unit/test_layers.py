"""The package layering of docs/ARCHITECTURE.md: each group of modules imports only what it may."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STDLIB = set(sys.stdlib_module_names) | {"__future__"}


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _within(name: str, *packages: str) -> bool:
    """``name`` is one of ``packages`` or inside one (facepipe.core.clip_keys is not within facepipe.cli.main)."""
    return any(name == p or name.startswith(p + ".") for p in packages)


def _files(*names: str) -> list[Path]:
    return [ROOT / "facepipe" / f"{name}.py" for name in names]


CORE = _files("contracts", "clip_keys", "errors", "settings")
DOMAIN = _files(
    "images",
    "video",
    "faces",
    "encoder",
    "dlib_net",
    "onnx_export",
    "gallery",
    "records",
    "enroll",
    "clipmaker",
    "annotate",
    "recognition",
    "devset",
    "corrections",
)
STAGES = sorted((ROOT / "facepipe" / "stages").glob("*.py"))
DEVICE = sorted((ROOT / "device" / "facepipe_device").glob("*.py"))


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.stem)
def test_the_core_needs_only_pydantic(path):
    """Contracts, the key protocol, errors and settings go in every artifact, the enrich zip included."""
    allowed = {
        "pydantic",
        "pydantic_settings",
        "facepipe_protocol",
        "facepipe.core.contracts",
        "facepipe.core.clip_keys",
        "facepipe.core.errors",
    }
    for name in _imports(path):
        assert name.split(".")[0] in STDLIB or name in allowed or name.split(".")[0] in allowed, (path.name, name)


@pytest.mark.parametrize("path", DOMAIN, ids=lambda p: p.stem)
def test_the_domain_never_calls_aws(path):
    for name in _imports(path):
        root = name.split(".")[0]
        assert root not in ("boto3", "botocore", "moto"), (path.name, name)
        assert not _within(name, "facepipe.local", "facepipe.aws.s3_store", "facepipe.aws.dynamo_records"), name


@pytest.mark.parametrize("path", STAGES, ids=lambda p: p.stem)
def test_stages_never_reach_the_local_stack_or_commands(path):
    for name in _imports(path):
        assert not _within(name, "facepipe.local", "facepipe.bench", "facepipe.cli.main", "facepipe.cli.demo"), name


PROTOCOL = sorted((ROOT / "protocol" / "facepipe_protocol").glob("*.py"))


@pytest.mark.parametrize("path", PROTOCOL, ids=lambda p: p.stem)
def test_the_protocol_needs_only_the_standard_library(path):
    """facepipe_protocol goes on the Pi and in every Lambda artifact: nothing to install with it."""
    for name in _imports(path):
        assert name.split(".")[0] in STDLIB, (path.name, name)


def test_the_clip_protocol_is_written_in_one_place():
    """The key layout, metadata names, device-id pattern and suffixes are defined only in facepipe_protocol:
    neither side spells them again."""
    for path in [*DEVICE, *sorted((ROOT / "facepipe").rglob("*.py"))]:
        text = path.read_text()
        for spelled in ('"captured-at"', '"device-id"', "[A-Za-z0-9_-]{0,63}", '"mjpeg"', 'f"clips/{'):
            assert spelled not in text, (path.relative_to(ROOT), spelled)


@pytest.mark.parametrize("path", DEVICE, ids=lambda p: p.stem)
def test_the_device_never_imports_facepipe(path):
    """The Pi installs facepipe-device alone: no dlib, no face models, no pipeline."""
    for name in _imports(path):
        assert name.split(".")[0] != "facepipe", (path.name, name)
