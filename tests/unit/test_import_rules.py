"""The layers of docs/ARCHITECTURE.md are import-linter's contracts (pyproject.toml, run by `make lint`); here,
that a wrong import does fail them, and what import-linter cannot say: the protocol is spelled in one place and
needs nothing but the standard library."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STDLIB = set(sys.stdlib_module_names) | {"__future__"}
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports with the repository's contracts on a copy of the package at ``tree``."""
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    path = os.pathsep.join(str(p) for p in (tree, ROOT / "device", ROOT / "protocol"))
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env=os.environ | {"PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "facepipe", tmp_path / "facepipe", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_the_tree_keeps_every_contract(tree):
    done = _lint_imports(tree)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "wrong", "contract"),
    [
        # A stage reaching the local stack: the Lambda layer would need to ship it.
        ("pipeline/extract.py", "from facepipe.local import stack", "facepipe's layers"),
        # The detector reaching for the gallery (the cycle the layers broke).
        ("vision/faces.py", "from facepipe.identity import gallery", "facepipe's layers"),
        # The encoder reaching back to the detector that imports it (the cycle vision.bake broke).
        ("vision/encoder.py", "from facepipe.vision import faces", "no import cycles"),
        # Matching calling AWS.
        ("identity/recognition.py", "import boto3", "never call AWS"),
        # The enrich zip's store needing numpy.
        ("aws/sightings.py", "import numpy", "the enrich zip has no numpy"),
    ],
)
def test_a_wrong_import_breaks_a_contract(tree, module, wrong, contract):
    path = tree / "facepipe" / module
    text = path.read_text()
    marker = "from __future__ import annotations\n"
    path.write_text(text.replace(marker, f"{marker}\n{wrong}  # noqa\n", 1))
    done = _lint_imports(tree)
    assert done.returncode != 0, f"{module}: `{wrong}` broke no contract"
    broken = done.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, done.stdout[-3000:]


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


PROTOCOL = sorted((ROOT / "protocol" / "facepipe_protocol").glob("*.py"))
DEVICE = sorted((ROOT / "device" / "facepipe_device").glob("*.py"))


@pytest.mark.parametrize("path", PROTOCOL, ids=lambda p: p.stem)
def test_the_protocol_needs_only_the_standard_library(path):
    """facepipe_protocol goes on the Pi and in every Lambda artifact: nothing to install with it (import-linter
    can forbid packages, not allow only the standard library)."""
    for name in _imports(path):
        assert name.split(".")[0] in STDLIB, (path.name, name)


def test_the_clip_protocol_is_written_in_one_place():
    """The key layout, metadata names, device-id pattern and suffixes are defined only in facepipe_protocol:
    neither side spells them again."""
    for path in [*DEVICE, *sorted((ROOT / "facepipe").rglob("*.py"))]:
        text = path.read_text()
        for spelled in ('"captured-at"', '"device-id"', "[A-Za-z0-9_-]{0,63}", '"mjpeg"', 'f"clips/{'):
            assert spelled not in text, (path.relative_to(ROOT), spelled)
