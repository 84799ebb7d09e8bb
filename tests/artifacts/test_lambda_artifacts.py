"""Each function imports from what AWS would run, not from the fat test venv.

A zip function is its own `sam build` output plus the built FacepipeLayer, on python3.12 with only what
the Lambda runtime provides (boto3); the recognize function is what its Dockerfile copies and installs.
Each is imported in a fresh, isolated interpreter (``-I``: no PYTHONPATH, no user site, no script folder)
from a working directory outside the repository, with the template's environment, so a handler that needs
a package its artifact lacks fails here rather than on every clip in AWS.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import grimp
import pytest

from facepipe.local.template import StackTemplate

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = StackTemplate.load(ROOT / "template.yaml")
ZIP_FUNCTIONS = [
    logical
    for logical, resource in TEMPLATE.resources("AWS::Serverless::Function").items()
    if resource["Properties"].get("PackageType", "Zip") == "Zip"
]

# Imports the handler module as Lambda's bootstrap does, then reports where every loaded module came from.
PROBE = """
import importlib, json, sys
sys.path[:0] = json.loads(sys.argv[1])
module = importlib.import_module("app")
assert callable(module.lambda_handler), "app.lambda_handler is not callable"
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


class _Placeholders(dict):
    """Physical names and attributes of resources that do not exist here: a placeholder for each."""

    def __missing__(self, key: object) -> str:
        return f"{key}-placeholder" if isinstance(key, str) else "-".join(map(str, key)) + "-placeholder"


def _environment(logical: str) -> dict[str, str]:
    """The function's template environment (parameters at their defaults), as Lambda sets it."""
    refs = _Placeholders(TEMPLATE.parameter_defaults())
    env = {
        k: str(v) for k, v in TEMPLATE.resolve(TEMPLATE.function_environment(logical), refs, _Placeholders()).items()
    }
    return env | {
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": logical,
        "PATH": "/usr/bin:/bin",
    }


def _import(
    python: Path, paths: list[Path], logical: str, tmp_path: Path, env: dict[str, str] | None = None
) -> set[str]:
    done = subprocess.run(
        [str(python), "-I", "-c", PROBE, json.dumps([str(p) for p in paths])],
        cwd=tmp_path,
        env=_environment(logical) | (env or {}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    last = done.stderr.strip().splitlines()[-1:] or ["(no output)"]
    assert done.returncode == 0, f"{logical} cannot import from its artifact: {last[0]}\n{done.stderr[-3000:]}"
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("logical", ZIP_FUNCTIONS)
def test_zip_function_imports_from_its_own_build_on_the_lambda_runtime(logical, built, lambda_python, tmp_path):
    task, layer = built / logical / logical, built / logical / "FacepipeLayer" / "python"
    assert (task / "app.py").is_file() and (layer / "facepipe").is_dir(), f"{logical}: incomplete build"
    loaded = _import(lambda_python, [task, layer], logical, tmp_path)
    assert {"app", "facepipe", "aws_lambda_powertools"} <= loaded


def test_enrich_artifact_holds_no_numpy_or_opencv(built, lambda_python, tmp_path):
    """The enrich zip is small on purpose: it must not need the image libraries extract carries."""
    task = built / "EnrichFunction" / "EnrichFunction"
    assert not (task / "numpy").exists() and not (task / "cv2").exists()
    loaded = _import(
        lambda_python, [task, built / "EnrichFunction" / "FacepipeLayer" / "python"], "EnrichFunction", tmp_path
    )
    assert not {"numpy", "cv2", "dlib"} & loaded


def _image_task_root(tmp_path: Path) -> Path:
    """${LAMBDA_TASK_ROOT} as functions/recognize/Dockerfile fills it: only what its COPY lines copy there."""
    dockerfile = (ROOT / "functions" / "recognize" / "Dockerfile").read_text()
    root = tmp_path / "task"
    copies = re.findall(r"^COPY\s+(\S+)\s+\$\{LAMBDA_TASK_ROOT\}/(\S*)$", dockerfile, flags=re.MULTILINE)
    assert copies, "the Dockerfile copies nothing into ${LAMBDA_TASK_ROOT}"
    for source, target in copies:
        src, dst = ROOT / source, root / target
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            dst.write_bytes(src.read_bytes())
    return root


def test_recognize_image_imports_with_only_its_requirements_and_what_the_dockerfile_copies(recognize_python, tmp_path):
    dockerfile = (ROOT / "functions" / "recognize" / "Dockerfile").read_text()
    assert "pip install --no-cache-dir -r /tmp/requirements.txt" in dockerfile
    task = _image_task_root(tmp_path)
    # The image's build step: the encoder converted into the folder its ENV names (rooted in tmp_path).
    (models,) = re.findall(r"^ENV ENCODER_CACHE_DIR=(\S+)$", dockerfile, flags=re.MULTILINE)
    assert re.search(
        r"^RUN cd \$\{LAMBDA_TASK_ROOT\} && python -m facepipe.vision.bake$", dockerfile, flags=re.MULTILINE
    )
    env = {"ENCODER_CACHE_DIR": str(tmp_path / models.lstrip("/")), "PATH": "/usr/bin:/bin"}
    built = subprocess.run(
        [str(recognize_python), "-m", "facepipe.vision.bake"], cwd=task, env=env, capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr[-2000:]
    loaded = _import(recognize_python, [task], "RecognizeFunction", tmp_path, env)
    assert {"app", "facepipe", "dlib", "onnxruntime"} <= loaded
    # The handler opened the baked models: nothing converted at cold start, and neither face_recognition
    # (it would load the 68-point predictor and dlib's encoder) nor its models' pkg_resources was imported.
    assert not {"onnx", "face_recognition", "face_recognition_models", "pkg_resources"} & loaded


def _layers_needed(handlers: list[Path], also: tuple[str, ...] = ()) -> set[str]:
    """The layers of facepipe (its sub-packages) that the handlers' imports reach, followed through the package."""
    graph = grimp.build_graph("facepipe")
    todo = list(also)
    for handler in handlers:
        todo += re.findall(r"^from (facepipe\.[\w.]+) import", handler.read_text(), flags=re.MULTILINE)
    seen: set[str] = set()
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo += graph.find_modules_directly_imported_by(module)
    return {m.split(".")[1] for m in seen if m.startswith("facepipe.") and m.count(".") >= 2}


def _shipped(package: Path) -> set[str]:
    return {p.name for p in package.iterdir() if p.is_dir() and p.name != "__pycache__"}


def test_the_attendance_artifact_knows_the_timetables_time_zones_without_the_systems(built, lambda_python, tmp_path):
    """A timetable names IANA zones; Lambda's runtime image may have no /usr/share/zoneinfo, so the function
    carries tzdata: here zoneinfo is pointed away from the system's files and still finds Europe/Berlin."""
    task = built / "AttendanceFunction" / "AttendanceFunction"
    assert (task / "tzdata").is_dir()
    probe = (
        "import sys, zoneinfo; sys.path[:0] = sys.argv[1:]; zoneinfo.reset_tzpath([]); "
        "print(zoneinfo.ZoneInfo('Europe/Berlin').key)"
    )
    done = subprocess.run(
        [str(lambda_python), "-I", "-c", probe, str(task)], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout.strip() == "Europe/Berlin", done.stderr[-2000:]


NEVER_SHIPPED = {"console", "local", "bench", "cli", "ops"}


def test_the_layer_carries_exactly_the_layers_the_zip_functions_import(built):
    handlers = [TEMPLATE.function_app(fn) for fn in ZIP_FUNCTIONS]
    needed = _layers_needed(handlers)
    for logical in ZIP_FUNCTIONS:
        shipped = _shipped(built / logical / "FacepipeLayer" / "python" / "facepipe")
        assert not shipped & NEVER_SHIPPED, f"{logical}'s layer ships {sorted(shipped & NEVER_SHIPPED)}"
        assert shipped == needed, f"{logical}'s layer ships {sorted(shipped)}; the functions import {sorted(needed)}"


def test_the_recognize_image_carries_exactly_the_layers_its_handler_imports(tmp_path):
    # The image's build step also runs `python -m facepipe.vision.bake` (the model baked in).
    needed = _layers_needed([TEMPLATE.function_app("RecognizeFunction")], also=("facepipe.vision.bake",))
    shipped = _shipped(_image_task_root(tmp_path) / "facepipe")
    assert not shipped & NEVER_SHIPPED, f"the image ships {sorted(shipped & NEVER_SHIPPED)}"
    assert shipped == needed, f"the image ships {sorted(shipped)}; its handler imports {sorted(needed)}"
