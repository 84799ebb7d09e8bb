"""dlib's face recognition ResNet and CNN face detector as ONNX graphs (built from the layers
:mod:`facepipe.vision.dlib_net` reads).

The network (dlib's ``dnn_face_recognition_ex.cpp``): a 7x7/2 convolution, affine, relu, 3x3/2 max pool,
then residual blocks (conv 3x3, affine, relu, conv 3x3, affine, added to the block's input, relu); a
block that halves the size convolves first at stride 2 and its shortcut is a 2x2/2 average pool. Then an
average over everything and a 128x256 matrix without bias. What dlib does that a reader might not expect,
and the graph reproduces:

- padding is ``size // 2`` only at stride 1 (0 at stride 2), so sizes go 150, 72, 35, 17, 8, 4, 2;
- ``add_prev`` of two tensors of different shapes zero-pads the smaller in channels *and* rows/columns
  (at 8 -> 4 the shortcut is 4x4 and the block's output 3x3);
- the input is ``(pixel - mean) / 256`` per channel, with the means stored in the file.

Each affine (a frozen batch norm) is folded into the convolution before it, in float64. The graph takes
uint8 RGB chips, shape (n, 150, 150, 3), exactly what ``dlib.get_face_chip`` returns, and gives (n, 128).

The detector (dlib's ``dnn_mmod_face_detection_ex.cpp``) is fully convolutional: three 5x5/2 convolutions
(16, 32, 32 filters, no padding), three 5x5/1 (45 filters, padding 2), each with its affine and relu, then one
9x9 convolution to a single score map. Its graph takes one uint8 RGB image of any size, (1, rows, cols, 3),
and gives the score of a face centred at each output cell, (1, 1, rows', cols'); finding the faces from it
(the pyramid, the threshold, non-maximum suppression) is :mod:`facepipe.vision.cnn_detector`'s.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from facepipe.vision.dlib_net import DlibDetectorNet, DlibFormatError, DlibNet, Layer

OPSET = 17
INPUT = "chips"
OUTPUT = "encodings"
DETECTOR_INPUT = "image"
DETECTOR_OUTPUT = "scores"


class _Graph:
    def __init__(self) -> None:
        self.nodes: list = []
        self.initializers: list = []
        self.count = 0

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count}"

    def constant(self, prefix: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        name = self.name(prefix)
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, inputs: list[str], **attrs: Any) -> str:
        from onnx import helper

        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out


def _out_size(size: int, kernel: int, stride: int, pad: int) -> int:
    return 1 + (size + 2 * pad - kernel) // stride


def _take(layers: Iterator[Layer], kind: str) -> Layer:
    layer = next(layers, None)
    if layer is None or layer.kind != kind:
        raise DlibFormatError(f"expected a {kind} layer, found {layer.kind if layer else 'the end'}")
    return layer


class _Tensor:
    """A value in the graph with its static shape (channels, rows, cols)."""

    def __init__(self, name: str, channels: int, rows: int, cols: int) -> None:
        self.name, self.channels, self.rows, self.cols = name, channels, rows, cols


def _conv_affine(graph: _Graph, x: _Tensor, conv: Layer, affine: Layer) -> _Tensor:
    gamma = affine.params["gamma"].astype(np.float64)
    weight = conv.params["weight"].astype(np.float64) * gamma[:, None, None, None]
    bias = conv.params["bias"].astype(np.float64) * gamma + affine.params["beta"].astype(np.float64)
    return _conv(graph, x, conv.shape, weight, bias)


def _conv(graph: _Graph, x: _Tensor, s: dict[str, int], weight: np.ndarray, bias: np.ndarray) -> _Tensor:
    """A convolution shaped as dlib's layer ``s`` says, with these weights and biases."""
    out = graph.node(
        "Conv",
        [x.name, graph.constant("w", weight.astype(np.float32)), graph.constant("b", bias.astype(np.float32))],
        kernel_shape=[s["rows"], s["cols"]],
        strides=[s["stride_y"], s["stride_x"]],
        pads=[s["pad_y"], s["pad_x"], s["pad_y"], s["pad_x"]],
    )
    return _Tensor(
        out,
        s["filters"],
        _out_size(x.rows, s["rows"], s["stride_y"], s["pad_y"]),
        _out_size(x.cols, s["cols"], s["stride_x"], s["pad_x"]),
    )


def _pool(graph: _Graph, x: _Tensor, layer: Layer) -> _Tensor:
    s = layer.shape
    if s["rows"] == 0:  # avg_pool_everything
        return _Tensor(graph.node("GlobalAveragePool", [x.name]), x.channels, 1, 1)
    op = "MaxPool" if layer.kind == "max_pool" else "AveragePool"
    out = graph.node(
        op,
        [x.name],
        kernel_shape=[s["rows"], s["cols"]],
        strides=[s["stride_y"], s["stride_x"]],
        pads=[s["pad_y"], s["pad_x"], s["pad_y"], s["pad_x"]],
    )
    return _Tensor(
        out,
        x.channels,
        _out_size(x.rows, s["rows"], s["stride_y"], s["pad_y"]),
        _out_size(x.cols, s["cols"], s["stride_x"], s["pad_x"]),
    )


def _relu(graph: _Graph, x: _Tensor, _layer: Layer) -> _Tensor:
    return _Tensor(graph.node("Relu", [x.name]), x.channels, x.rows, x.cols)


def _pad_to(graph: _Graph, x: _Tensor, channels: int, rows: int, cols: int) -> str:
    if (x.channels, x.rows, x.cols) == (channels, rows, cols):
        return x.name
    pads = np.array([0, 0, 0, 0, 0, channels - x.channels, rows - x.rows, cols - x.cols], dtype=np.int64)
    return graph.node("Pad", [x.name, graph.constant("pads", pads)], mode="constant")


def _add_prev(graph: _Graph, a: _Tensor, b: _Tensor) -> _Tensor:
    """dlib's add_prev: the output has the larger size in each dimension; the smaller is zero-padded at the end."""
    channels, rows, cols = max(a.channels, b.channels), max(a.rows, b.rows), max(a.cols, b.cols)
    out = graph.node("Add", [_pad_to(graph, a, channels, rows, cols), _pad_to(graph, b, channels, rows, cols)])
    return _Tensor(out, channels, rows, cols)


def _scaled_input(graph: _Graph, name: str, means: tuple[float, float, float], rows: int, cols: int) -> _Tensor:
    """uint8 NHWC pixels -> float NCHW, (pixel - mean) / 256 as dlib's RGB input layers do."""
    from onnx import TensorProto

    pixels = graph.node("Cast", [name], to=TensorProto.FLOAT)
    mean = graph.constant("means", np.array(means, dtype=np.float32))
    centred = graph.node("Sub", [pixels, mean])
    scaled = graph.node("Div", [centred, graph.constant("scale", np.array(256.0, np.float32))])
    return _Tensor(graph.node("Transpose", [scaled], perm=[0, 3, 1, 2]), 3, rows, cols)


def _finish(graph: _Graph, name: str, inputs: list, outputs: list, doc: str):  # -> onnx.ModelProto
    from onnx import checker, helper

    model = helper.make_model(
        helper.make_graph(graph.nodes, name, inputs, outputs, graph.initializers),
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="facepipe",
        doc_string=doc,
    )
    model.ir_version = 8  # the newest every supported onnxruntime reads
    checker.check_model(model)
    return model


def build_detector_model(net: DlibDetectorNet):  # -> onnx.ModelProto
    """The ONNX model of dlib's CNN face detector; raises :class:`DlibFormatError` where the layers are not
    (conv, affine, relu) blocks closed by one single-filter conv."""
    from onnx import TensorProto, helper

    graph = _Graph()
    x = _scaled_input(graph, DETECTOR_INPUT, net.input_means, 0, 0)  # any size: shapes are not tracked
    layers = iter(net.layers)
    blocks = 0
    convs: list[Layer] = []
    while True:
        conv = _take(layers, "con")
        convs.append(conv)
        after = next(layers, None)
        if after is None:  # the closing score conv
            if conv.shape["filters"] != 1:
                raise DlibFormatError(f"the last conv has {conv.shape['filters']} filters, expected one score map")
            scores = _conv(graph, x, conv.shape, conv.params["weight"], conv.params["bias"])
            graph.nodes.append(helper.make_node("Identity", [scores.name], [DETECTOR_OUTPUT]))
            break
        if after.kind != "affine":
            raise DlibFormatError(f"expected an affine layer after conv block {blocks + 1}, found {after.kind}")
        x = _relu(graph, _conv_affine(graph, x, conv, after), _take(layers, "relu"))
        blocks += 1
    # Where output cell p is centred in the input: each conv maps p to p * stride - pad + size // 2.
    # And the smallest input that gives one output cell (a kernel never reaches past its padding).
    stride, offset, smallest = 1, 0, 1
    for layer in reversed(convs):
        s = layer.shape
        stride, offset = stride * s["stride_x"], offset * s["stride_x"] - s["pad_x"] + s["cols"] // 2
        smallest = max(s["cols"], (smallest - 1) * s["stride_x"] + s["cols"] - 2 * s["pad_x"])
    model = _finish(
        graph,
        "mmod_human_face_detector",
        [helper.make_tensor_value_info(DETECTOR_INPUT, TensorProto.UINT8, [1, "rows", "cols", 3])],
        [helper.make_tensor_value_info(DETECTOR_OUTPUT, TensorProto.FLOAT, [1, 1, "out_rows", "out_cols"])],
        f"dlib's CNN face detector ({blocks} conv blocks), converted by facepipe",
    )
    helper.set_model_props(
        model,
        {
            "window_width": str(net.window[0]),
            "window_height": str(net.window[1]),
            "nms_iou": repr(net.nms_iou),
            "stride": str(stride),
            "offset": str(offset),
            "smallest_input": str(smallest),
        },
    )
    return model


def build_model(net: DlibNet):  # -> onnx.ModelProto (onnx is imported lazily: only conversion needs it)
    """The ONNX model of ``net``; raises :class:`DlibFormatError` where the layers are not this ResNet."""
    from onnx import TensorProto, helper

    graph = _Graph()
    rows, cols = net.input_size
    x = _scaled_input(graph, INPUT, net.input_means, rows, cols)

    layers = iter(net.layers)
    x = _relu(graph, _conv_affine(graph, x, _take(layers, "con"), _take(layers, "affine")), _take(layers, "relu"))
    x = _pool(graph, x, _take(layers, "max_pool"))
    blocks = 0
    while True:
        layer = next(layers, None)
        if layer is None:
            raise DlibFormatError("the network ends before its average pool and fc layers")
        if layer.kind == "avg_pool":  # the final average over everything
            x = _pool(graph, x, layer)
            break
        if layer.kind != "con":
            raise DlibFormatError(f"expected a residual block's first conv, found {layer.kind}")
        block_input = x
        y = _relu(graph, _conv_affine(graph, x, layer, _take(layers, "affine")), _take(layers, "relu"))
        y = _conv_affine(graph, y, _take(layers, "con"), _take(layers, "affine"))
        shortcut = block_input
        after = next(layers, None)
        if after is not None and after.kind == "avg_pool":  # a downsampling block's shortcut
            shortcut = _pool(graph, block_input, after)
            after = next(layers, None)
        if after is None or after.kind != "add_prev":
            raise DlibFormatError(f"expected add_prev closing residual block {blocks + 1}")
        x = _relu(graph, _add_prev(graph, y, shortcut), _take(layers, "relu"))
        blocks += 1
    fc = _take(layers, "fc")
    if fc.shape["inputs"] != x.channels * x.rows * x.cols:
        raise DlibFormatError(f"fc takes {fc.shape['inputs']} inputs, the network gives {x.channels * x.rows * x.cols}")
    flat = graph.node("Flatten", [x.name], axis=1)
    graph.nodes.append(helper.make_node("MatMul", [flat, graph.constant("fc", fc.params["weight"])], [OUTPUT]))
    if (extra := next(layers, None)) is not None:
        raise DlibFormatError(f"unexpected {extra.kind} layer after the fc layer")

    return _finish(
        graph,
        "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info(INPUT, TensorProto.UINT8, ["n", rows, cols, 3])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["n", fc.shape["outputs"]])],
        f"dlib's face recognition ResNet ({blocks} residual blocks), converted by facepipe",
    )
