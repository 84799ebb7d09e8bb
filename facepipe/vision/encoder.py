"""The 128-d face encoder: dlib's ResNet converted to ONNX (:mod:`facepipe.vision.onnx_export`), run by ONNX Runtime.

Why: the ``dlib-bin`` wheel links no BLAS, so its encoder costs 70-150 ms a face; the same network in
ONNX Runtime costs ~6-9 ms on one thread and gives the same encodings (pairwise distances within 1e-6 of
dlib's; ``tests/unit/test_encoder.py`` fails if they drift past 1e-5). dlib still detects, finds the five
landmarks and cuts the 150x150 chip (``get_face_chip``, exactly the chip its own encoder would see).

The ONNX file is made once from ``face_recognition_models``' ``.dat`` (0.2 s) and cached under
``Settings.encoder_cache_dir``, named by a hash of the source file and the converter's version, so a
changed model or converter never reuses a stale graph. The recognize image converts at build time
(``python -m facepipe.vision.bake``) into a folder its environment names; elsewhere the first use converts.
Conversion needs the ``onnx`` package, running only ``onnxruntime``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from facepipe.core.settings import Settings, get_settings

# Bump when onnx_export changes what it builds: the cached file's name changes with it.
CONVERTER_VERSION = 1
CHIP_SIZE = 150
CHIP_PADDING = 0.25  # what dlib's compute_face_descriptor (and so face_recognition) uses


def model_file(name: str) -> Path:
    """A model file of the ``face_recognition_models`` package, found without importing it (its import
    loads pkg_resources: ~0.3 s of every cold start)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("face_recognition_models is not installed (it holds dlib's model files)")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / name
    if not path.is_file():
        raise RuntimeError(f"{path}: missing from face_recognition_models")
    return path


def source_model() -> Path:
    """dlib's network file as face_recognition_models installs it."""
    return model_file("dlib_face_recognition_resnet_model_v1.dat")


def cached_model_path(settings: Settings, source: Path, version: int) -> Path:
    """Where the ONNX conversion of a dlib model file lives (it may not exist yet): named by a hash of the
    source file and the converter's version, so a changed model or converter never reuses a stale graph."""
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    return settings.encoder_cache_dir / f"{source.stem}-{digest}-c{version}.onnx"


def convert_cached(target: Path, build: Callable[[], Any]) -> Path:
    """``build()``'s ONNX model written to ``target`` unless it is there already; returns ``target``."""
    if target.exists():
        return target
    data = build().SerializeToString()
    target.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target and renamed: workers converting at once never read half a file.
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".convert-", delete=False) as handle:
        handle.write(data)
    os.replace(handle.name, target)
    return target


def model_path(settings: Settings) -> Path:
    """Where the converted model for the installed ``.dat`` lives (it may not exist yet)."""
    return cached_model_path(settings, source_model(), CONVERTER_VERSION)


def convert(settings: Settings) -> Path:
    """Convert dlib's network to ONNX into the cache, unless it is there already; returns its path."""

    def build() -> Any:
        from facepipe.vision.dlib_net import read_network
        from facepipe.vision.onnx_export import build_model

        return build_model(read_network(source_model()))

    return convert_cached(model_path(settings), build)


def new_session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    ort.disable_telemetry_events()
    options = ort.SessionOptions()
    # The threads a worker owns (1 per recognize function: one vCPU at 1,769 MB); no spinning threads
    # competing for the cores other workers of the local stack use.
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxModel:
    """An ONNX Runtime session opened once per process, on first use or at cold start (:meth:`load`), on the
    model ``convert`` makes ready (converting it into the cache when it is not there)."""

    def __init__(self, convert: Callable[[Settings], Path]) -> None:
        self._convert = convert
        self._lock = threading.Lock()
        self._session: Any = None

    def load(self, settings: Settings | None = None) -> Any:
        if self._session is None:
            with self._lock:
                if self._session is None:
                    settings = settings or get_settings()
                    self._session = new_session(self._convert(settings), settings.encoder_threads)
        return self._session


_model = OnnxModel(convert)


def load(settings: Settings | None = None) -> None:
    """Convert (if needed) and open the model now: at cold start, not on the first face."""
    _model.load(settings)


def encode_chips(chips: np.ndarray) -> np.ndarray:
    """Encodings of aligned 150x150 RGB face chips, shape (n, 150, 150, 3) uint8 -> (n, 128) float64."""
    if len(chips) == 0:
        return np.empty((0, 128))
    if chips.dtype != np.uint8 or chips.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
        raise ValueError(f"face chips must be uint8 (n, {CHIP_SIZE}, {CHIP_SIZE}, 3), got {chips.dtype} {chips.shape}")
    (encodings,) = _model.load().run(None, {"chips": np.ascontiguousarray(chips)})
    return np.asarray(encodings, dtype=np.float64)
