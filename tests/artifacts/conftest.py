"""What Lambda would run: the built zip functions and the recognize image's contents, in Lambda runtimes.

`make pytest` builds them first (`make runtimes build`); run alone, these tests say what is missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _need(path: Path, make_target: str) -> Path:
    if not path.exists():
        pytest.fail(f"{path.relative_to(ROOT)} is missing: run `make {make_target}` (make test does)")
    return path


@pytest.fixture(scope="session")
def lambda_python() -> Path:
    """python3.12 with only boto3 and its dependencies: what the Lambda python3.12 runtime provides."""
    return _need(ROOT / ".venv-lambda" / "bin" / "python", "runtimes")


@pytest.fixture(scope="session")
def recognize_python() -> Path:
    """python3.12 with only what functions/recognize/Dockerfile installs."""
    return _need(ROOT / ".venv-recognize" / "bin" / "python", "runtimes")


@pytest.fixture(scope="session")
def built() -> Path:
    """The `sam build` output of the zip functions, one folder per function with the layer beside it."""
    return _need(ROOT / ".aws-sam" / ".built", "build").parent
