"""Read dlib's network files in plain Python: the face recognition ResNet
(``dlib_face_recognition_resnet_model_v1.dat``) and the CNN face detector (``mmod_human_face_detector.dat``).

Each file is dlib's own serialization of a network (see dlib's ``dnn/core.h``, ``dnn/layers.h``,
``dnn/loss.h``, ``serialize.h``): a ``loss_metric<fc_no_bias<...>>`` and a ``loss_mmod<con<...>>``. Facts
that the format does not announce:

- Integers are dlib's compact encoding: one control byte (low nibble: byte count, 0x80: negative), then
  that many little-endian bytes. Floats are two such integers, mantissa first, then the exponent
  (``mantissa * 2**exponent``); ``serialize.h``'s comment on the order is wrong.
- Strings are a compact length then the bytes; a bool is the ASCII character '0' or '1'.
- A tensor is a version (2), four compact dimensions (n, k, rows, cols), then raw little-endian float32.
- A frozen batch norm is stored as ``bn_con2`` (training statistics, running means and variances, eps); dlib
  turns it into an affine layer when it loads a network for inference, and so does this reader.
- Layers are stored nested: every wrapper writes its version and then its subnetwork, so the file holds
  all the versions outside-in, then the input layer, then each layer's details input-outward, each
  followed by a trailer of training state (flags and gradient tensors). Tag and skip layers have no
  details; where they sit is known from the network's definition, not from the file.

Only what :mod:`facepipe.vision.onnx_export` needs is read; every layer's kind and shape is checked, so a file of
another network fails here with the position and what was found rather than giving wrong encodings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class DlibFormatError(ValueError):
    """The file is not the network this reader knows (or is damaged)."""


@dataclass(frozen=True)
class Layer:
    """One computational layer: its kind (``con``, ``affine``, ``relu``, ``max_pool``, ``avg_pool``,
    ``add_prev``, ``fc``), the integers that shape it and its parameters."""

    kind: str
    shape: dict[str, int] = field(default_factory=dict)
    params: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class DlibDetectorNet:
    """The face detector's network in input-to-output order, with the input's per-channel means (R, G, B), its
    detection window (width, height, in the pixels of a pyramid level) and its non-maximum suppression: two
    detections overlap when their intersection covers more than ``nms_iou`` of the rectangle bounding both."""

    input_means: tuple[float, float, float]
    window: tuple[int, int]
    nms_iou: float
    layers: list[Layer]


@dataclass(frozen=True)
class DlibNet:
    """The network in input-to-output order, with the input's per-channel means (R, G, B)."""

    input_means: tuple[float, float, float]
    input_size: tuple[int, int]
    layers: list[Layer]


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.pos = 0

    def fail(self, what: str) -> DlibFormatError:
        return DlibFormatError(f"byte {self.pos}: {what}")

    def read_byte(self) -> int:
        if self.pos >= len(self.data):
            raise self.fail("unexpected end of file")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def read_int(self) -> int:
        control = self.read_byte()
        size = control & 0x0F
        if size == 0 or size > 8 or control & 0x70:
            raise self.fail(f"not a compact integer (control byte {control:#x})")
        raw = bytes(self.data[self.pos : self.pos + size])
        self.pos += size
        value = int.from_bytes(raw, "little")
        return -value if control & 0x80 else value

    def read_float(self) -> float:
        mantissa = self.read_int()
        exponent = self.read_int()
        return float(np.ldexp(float(mantissa), exponent))

    def read_str(self) -> str:
        start = self.pos
        length = self.read_int()
        if not 0 < length <= 64 or self.pos + length > len(self.data):
            raise DlibFormatError(f"byte {start}: not a layer name (length {length})")
        text = bytes(self.data[self.pos : self.pos + length]).decode("ascii", errors="replace")
        self.pos += length
        return text

    def read_bool(self) -> bool:
        char = self.read_byte()
        if char not in (ord("0"), ord("1")):
            raise self.fail(f"not a bool ({char:#x})")
        return char == ord("1")

    def read_tensor(self) -> np.ndarray:
        if (version := self.read_int()) != 2:
            raise self.fail(f"tensor version {version}, expected 2")
        dims = tuple(self.read_int() for _ in range(4))
        count = int(np.prod(dims))
        end = self.pos + 4 * count
        if end > len(self.data):
            raise self.fail("tensor runs past the end of the file")
        values = np.frombuffer(self.data[self.pos : end], dtype="<f4").reshape(dims).copy()
        self.pos = end
        return values

    def read_alias_shape(self) -> tuple[int, int, int, int]:
        if (version := self.read_int()) != 1:
            raise self.fail(f"alias tensor version {version}, expected 1")
        n, k, r, c = (self.read_int() for _ in range(4))
        return n, k, r, c

    def expect(self, condition: bool, what: str) -> None:
        if not condition:
            raise self.fail(what)


def _details(reader: _Reader) -> Layer:
    """One layer's details, dispatched on the version string it starts with."""
    version = reader.read_str()
    if version == "con_4" or version in ("con_5", "con_6"):
        params = reader.read_tensor().reshape(-1)
        filters, rows, cols = reader.read_int(), reader.read_int(), reader.read_int()
        stride_y, stride_x = reader.read_int(), reader.read_int()
        pad_y, pad_x = reader.read_int(), reader.read_int()
        w_shape = reader.read_alias_shape()
        b_shape = reader.read_alias_shape()
        for _ in range(4):  # learning-rate and weight-decay multipliers
            reader.read_float()
        if version in ("con_5", "con_6"):
            reader.read_bool()  # use_bias
        if version == "con_6":
            reader.read_bool()  # use_relu
        size = int(np.prod(w_shape))
        reader.expect(w_shape[0] == filters and (w_shape[2], w_shape[3]) == (rows, cols), f"conv shape {w_shape}")
        reader.expect(
            params.size == size + b_shape[1], f"conv has {params.size} parameters, expected {size + b_shape[1]}"
        )
        return Layer(
            "con",
            {
                "filters": filters,
                "rows": rows,
                "cols": cols,
                "stride_y": stride_y,
                "stride_x": stride_x,
                "pad_y": pad_y,
                "pad_x": pad_x,
            },
            {"weight": params[:size].reshape(w_shape), "bias": params[size:]},
        )
    if version in ("affine_", "affine_2"):
        params = reader.read_tensor().reshape(-1)
        gamma = reader.read_alias_shape()
        reader.read_alias_shape()  # beta: same shape
        mode = reader.read_int()
        if version == "affine_2":
            reader.expect(not reader.read_bool(), "a disabled affine layer")
        reader.expect(mode == 0, f"affine in mode {mode}, expected per-channel (0)")
        channels = gamma[1]
        reader.expect(params.size == 2 * channels, f"affine has {params.size} parameters for {channels} channels")
        return Layer("affine", {"channels": channels}, {"gamma": params[:channels], "beta": params[channels:]})
    if version == "bn_con2":
        return _frozen_batch_norm(reader)
    if version in ("relu_", "relu_2"):
        if version == "relu_2":
            reader.expect(not reader.read_bool(), "a disabled relu layer")
        return Layer("relu")
    if version in ("max_pool_2", "avg_pool_2"):
        values = [reader.read_int() for _ in range(6)]
        names = ("rows", "cols", "stride_y", "stride_x", "pad_y", "pad_x")
        return Layer(version.removesuffix("_2"), dict(zip(names, values, strict=True)))
    if version == "add_prev_":
        return Layer("add_prev")
    if version in ("fc_2", "fc_3"):
        outputs, inputs = reader.read_int(), reader.read_int()
        params = reader.read_tensor().reshape(-1)
        w_shape = reader.read_alias_shape()
        reader.read_alias_shape()  # biases
        bias_mode = reader.read_int()
        for _ in range(4):
            reader.read_float()
        if version == "fc_3":
            reader.read_bool()  # use_bias
        reader.expect(bias_mode == 1, f"fc with bias mode {bias_mode}, expected no bias (1)")
        reader.expect(w_shape[:2] == (inputs, outputs), f"fc weights {w_shape}, expected ({inputs}, {outputs}, ...)")
        # Weights are [inputs, outputs]: output = input @ weight.
        return Layer(
            "fc",
            {"inputs": inputs, "outputs": outputs},
            {"weight": params[: inputs * outputs].reshape(inputs, outputs)},
        )
    raise reader.fail(f"unknown layer {version!r}")


def _frozen_batch_norm(reader: _Reader) -> Layer:
    """A ``bn_con2`` layer as the affine layer dlib makes of it for inference:
    gamma / sqrt(running variance + eps) and beta - that * running mean, per channel."""
    params = reader.read_tensor().reshape(-1)
    gamma_shape = reader.read_alias_shape()
    reader.read_alias_shape()  # beta: same shape
    for _ in range(2):  # the last batch's means and inverse deviations (training state)
        reader.read_tensor()
    running_means = reader.read_tensor().reshape(-1).astype(np.float64)
    running_variances = reader.read_tensor().reshape(-1).astype(np.float64)
    reader.read_int()  # num_updates
    reader.read_int()  # running_stats_window_size
    for _ in range(4):  # learning-rate and weight-decay multipliers
        reader.read_float()
    eps = reader.read_float()
    channels = gamma_shape[1]
    reader.expect(
        params.size == 2 * channels and running_means.size == running_variances.size == channels,
        f"batch norm with {params.size} parameters and {running_means.size} means for {channels} channels",
    )
    gamma = params[:channels].astype(np.float64) / np.sqrt(running_variances + eps)
    beta = params[channels:].astype(np.float64) - gamma * running_means
    return Layer("affine", {"channels": channels}, {"gamma": gamma.astype(np.float32), "beta": beta.astype(np.float32)})


def _trailer(reader: _Reader, *, expansion_factor: bool) -> None:
    """The training state after a layer's details: three flags and three tensors (the input layer's
    wrapper, from version 3, adds a sample expansion factor)."""
    for _ in range(3):
        reader.read_bool()
    for _ in range(3):
        reader.read_tensor()
    if expansion_factor:
        reader.read_int()


def read_network(path: Path) -> DlibNet:
    """Parse the network file into its layers, input first; raises :class:`DlibFormatError`."""
    reader = _Reader(path.read_bytes())
    if (version := reader.read_int()) != 1:
        raise reader.fail(f"loss layer version {version}, expected 1")
    if (loss := reader.read_str()) not in ("loss_metric_", "loss_metric_2"):
        raise reader.fail(f"a {loss!r} network, expected loss_metric (a face recognition network)")
    if loss == "loss_metric_2":
        reader.read_float()  # margin
        reader.read_float()  # distance threshold
    versions = _wrapper_versions(reader)
    if (name := reader.read_str()) != "input_rgb_image_sized":
        raise reader.fail(f"input layer {name!r}, expected input_rgb_image_sized")
    means = (reader.read_float(), reader.read_float(), reader.read_float())
    size = (reader.read_int(), reader.read_int())
    return DlibNet(input_means=means, input_size=size, layers=_layers(reader, versions))


def _wrapper_versions(reader: _Reader) -> list[int]:
    """The layers' wrapper versions, outside-in, up to the input layer's name."""
    versions = []
    while reader.data[reader.pos] == 0x01 and reader.data[reader.pos + 1] in (0x01, 0x02, 0x03):
        versions.append(reader.read_int())
    reader.expect(bool(versions), "no layers before the input layer")
    return versions


def _layers(reader: _Reader, versions: list[int]) -> list[Layer]:
    """Every layer's details, input-outward, to the end of the file."""
    layers = []
    while reader.pos < len(reader.data):
        layers.append(_details(reader))
        _trailer(reader, expansion_factor=len(layers) == 1 and versions[-1] >= 3)
    return layers


def read_detector(path: Path) -> DlibDetectorNet:
    """Parse dlib's CNN face detector file (an mmod network, options version 1: one detection window) into its
    layers, input first; raises :class:`DlibFormatError`."""
    reader = _Reader(path.read_bytes())
    if (version := reader.read_int()) != 1:
        raise reader.fail(f"loss layer version {version}, expected 1")
    if (loss := reader.read_str()) != "loss_mmod_":
        raise reader.fail(f"a {loss!r} network, expected loss_mmod_ (a face detector)")
    if (options := reader.read_int()) != 1:
        raise reader.fail(f"mmod options version {options}, expected 1")
    window = (reader.read_int(), reader.read_int())
    for _ in range(3):  # losses per false alarm and missed target, truth match IoU (training only)
        reader.read_float()
    nms_iou, nms_covered = reader.read_float(), reader.read_float()
    reader.expect(nms_covered >= 1.0, f"non-max suppression by coverage {nms_covered} (this reader applies IoU only)")
    for _ in range(2):  # overlaps to ignore (training only)
        reader.read_float()
    versions = _wrapper_versions(reader)
    if (name := reader.read_str()) != "input_rgb_image_pyramid":
        raise reader.fail(f"input layer {name!r}, expected input_rgb_image_pyramid")
    means = (reader.read_float(), reader.read_float(), reader.read_float())
    return DlibDetectorNet(input_means=means, window=window, nms_iou=nms_iou, layers=_layers(reader, versions))
