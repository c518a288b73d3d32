"""Winograd F(4x4, 3x3) for the 3x3 convolutions of an exported ONNX graph.

onnxruntime's CPU Conv is a direct convolution: 9 multiply-adds per output pixel and pair of
input and output channels for a 3x3 kernel. Winograd's minimal filtering (Lavin & Gray 2016)
computes a 4x4 output tile from a 6x6 input tile with 36 products instead of 16 * 9 = 144: the 3x3
convolutions become 36 batched matrix products over the channels, 4x fewer multiply-adds. The
residual blocks of a ResNet generator are almost all of its work, so its export runs 1.42x (2
threads) to 1.83x (1 thread) faster than torch eager at 256x256 (`python benchmarks/onnx_latency.py`;
benchmarks/results/onnx_latency-winograd-cpu-2core.jsonl).

The rewrite is exact in real arithmetic; in float32 it differs from Conv by about 1e-5 relative,
and the export's verification against PyTorch still checks the whole model. Each eligible Conv
(constant 3x3 float32 weight, stride 1, dilation 1, group 1, at least `min_channels` (128) input
and output channels) is replaced by:

    Pad (the Conv's zero pads, and bottom/right up to whole 4x4 output tiles)
    -> Reshape to one channel per image -> Conv with the 36 input-transform kernels 6x6, stride 4
    -> Transpose to [36, C, N*tiles] -> MatMul with the transformed weights [36, K, C]
    -> MatMul with the output transform [16, 36] -> DepthToSpace(4) -> Slice -> + bias

Sizes stay dynamic: the tile padding and the final crop are computed from the input's shape.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

__all__ = ["rewrite_conv3x3", "winograd_matrices"]

MIN_OPSET = 13  # Pad/Slice with tensor inputs, DepthToSpace's mode, Reshape's 0 = "copy this dim"


def winograd_matrices() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """B^T (6x6), G (6x3) and A^T (4x6) of F(4x4, 3x3) at the points 0, 1, -1, 2, -2 and infinity:
    Y = A^T [(G g G^T) * (B^T d B)] A for a 6x6 input tile d and a 3x3 kernel g."""
    bt = np.array([[4, 0, -5, 0, 1, 0],
                   [0, -4, -4, 1, 1, 0],
                   [0, 4, -4, -1, 1, 0],
                   [0, -2, -1, 2, 1, 0],
                   [0, 2, -1, -2, 1, 0],
                   [0, 4, 0, -5, 0, 1]], dtype=np.float64)
    g = np.array([[1 / 4, 0, 0],
                  [-1 / 6, -1 / 6, -1 / 6],
                  [-1 / 6, 1 / 6, -1 / 6],
                  [1 / 24, 1 / 12, 1 / 6],
                  [1 / 24, -1 / 12, 1 / 6],
                  [0, 0, 1]], dtype=np.float64)
    at = np.array([[1, 1, 1, 1, 1, 0],
                   [0, 1, -1, 2, -2, 0],
                   [0, 1, 1, 4, 4, 0],
                   [0, 1, -1, 8, -8, 1]], dtype=np.float64)
    return bt, g, at


def rewrite_conv3x3(model: onnx.ModelProto, *, min_channels: int = 128) -> int:
    """Replace the eligible 3x3 Conv nodes of `model` (in place) by the Winograd subgraph.
    Returns how many were replaced; 0 leaves the model untouched. Narrow convolutions are kept: on
    one core onnxruntime's own Conv is as fast at 64 channels (1.02x / 0.92x at 64x64 / 128x128)
    and faster below, while 128 channels gain 1.49x and 256 channels 1.82-1.87x
    (`python benchmarks/winograd_conv.py --threads 1`, benchmarks/results/)."""
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < MIN_OPSET:
        return 0
    graph = model.graph
    weights = {t.name: t for t in graph.initializer}
    plan = [(i, node) for i, node in enumerate(graph.node) if _eligible(node, weights, min_channels)]
    if not plan:
        return 0
    shared = _SharedConstants(graph)
    for number, (index, node) in reversed(list(enumerate(plan))):  # from the back: indices stay valid
        replacement = _winograd_nodes(node, weights, shared, prefix=f"{shared.prefix}/conv{number}")
        del graph.node[index]
        for offset, new in enumerate(replacement):
            graph.node.insert(index + offset, new)
    shared.add_to(graph)
    _drop_unused_initializers(graph)
    return len(plan)


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _eligible(node: onnx.NodeProto, weights: dict, min_channels: int) -> bool:
    if node.op_type != "Conv" or node.domain not in ("", "ai.onnx") or len(node.input) < 2:
        return False
    w = weights.get(node.input[1])
    if w is None or w.data_type != onnx.TensorProto.FLOAT or list(w.dims[2:]) != [3, 3] or len(w.dims) != 4:
        return False
    if len(node.input) > 2 and node.input[2] and node.input[2] not in weights:
        return False
    a = _attrs(node)
    if a.get("group", 1) != 1 or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        return False
    if any(s != 1 for s in a.get("strides", [1, 1])) or any(d != 1 for d in a.get("dilations", [1, 1])):
        return False
    if list(a.get("kernel_shape", [3, 3])) != [3, 3]:
        return False
    out_channels, in_channels = w.dims[0], w.dims[1]
    return in_channels >= min_channels and out_channels >= min_channels


class _SharedConstants:
    """The initializers the rewrite adds, under a prefix no name in the graph starts with; the
    transforms and small int64 vectors that every rewritten Conv uses are added once."""

    def __init__(self, graph: onnx.GraphProto):
        taken = ({t.name for t in graph.initializer} | {v.name for v in graph.input}
                 | {name for n in graph.node for name in (n.name, *n.output)})
        self.prefix = "winograd"
        while any(name.startswith(self.prefix) for name in taken):
            self.prefix += "_"
        self.tensors: dict[str, np.ndarray] = {}

    def ints(self, *values: int) -> str:
        return self.array("i" + "_".join(str(v).replace("-", "m") for v in values), np.array(values, np.int64))

    def array(self, key: str, value: np.ndarray) -> str:
        return self.array_at(f"{self.prefix}/const/{key}", value)

    def array_at(self, name: str, value: np.ndarray) -> str:
        self.tensors.setdefault(name, value)
        return name

    def add_to(self, graph: onnx.GraphProto) -> None:
        graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in self.tensors.items())


def _winograd_nodes(node: onnx.NodeProto, weights: dict, c: _SharedConstants, prefix: str) -> list:
    bt, g, at = winograd_matrices()
    w = numpy_helper.to_array(weights[node.input[1]]).astype(np.float64)
    out_channels, in_channels = w.shape[:2]
    # Transformed weights U[e, k, c] for the 36 tile positions e = (i, j).
    u = np.einsum("ia,kcab,jb->ijkc", g, w, g).reshape(36, out_channels, in_channels).astype(np.float32)
    u_name = c.array_at(f"{prefix}/U", u)
    # Input transform as 36 fixed 6x6 kernels (B^T d B per tile), output transform as a [16, 36] matrix.
    input_kernels = c.array("input_transform", np.einsum("iu,jv->ijuv", bt, bt).reshape(36, 1, 6, 6).astype(np.float32))
    output_matrix = c.array("output_transform", np.einsum("ai,bj->abij", at, at).reshape(16, 36).astype(np.float32))
    pads = list(_attrs(node).get("pads", [0, 0, 0, 0]))
    top, left, bottom, right = pads
    x, y = node.input[0], node.output[0]
    t = lambda name: f"{prefix}/{name}"  # noqa: E731  (a local naming helper)
    nodes = []

    def add(op, inputs, output, **attrs):  # `output` is a local name, or the Conv's own output y
        out = output if output is y else t(output)
        nodes.append(helper.make_node(op, inputs, [out], name=t(f"{op}{len(nodes)}"), **attrs))

    add("Shape", [x], "shape")
    add("Slice", [t("shape"), c.ints(0), c.ints(1)], "n")
    add("Slice", [t("shape"), c.ints(2), c.ints(4)], "hw_in")
    # Output size of the 3x3 conv, whole 4x4 tiles covering it, and the zero padding that gives
    # the 4 * tiles + 2 input rows/columns those tiles read.
    add("Add", [t("hw_in"), c.ints(top + bottom - 2, left + right - 2)], "hw")
    add("Add", [t("hw"), c.ints(3, 3)], "hw3")
    add("Div", [t("hw3"), c.ints(4, 4)], "tiles")
    add("Mul", [t("tiles"), c.ints(4, 4)], "hw4")
    add("Sub", [t("hw4"), t("hw")], "extra")
    add("Add", [t("extra"), c.ints(bottom, right)], "end_pads")
    add("Concat", [c.ints(0, 0, top, left), c.ints(0, 0), t("end_pads")], "pads", axis=0)
    add("Pad", [x, t("pads")], "padded")
    add("Reshape", [t("padded"), c.ints(-1, 1, 0, 0)], "planes")                   # [N*C, 1, H', W']
    add("Conv", [t("planes"), input_kernels], "v", kernel_shape=[6, 6], strides=[4, 4])  # [N*C, 36, th, tw]
    add("ReduceProd", [t("tiles")], "n_tiles", keepdims=1)
    add("Concat", [t("n"), c.ints(in_channels, 36), t("n_tiles")], "v_shape", axis=0)
    add("Reshape", [t("v"), t("v_shape")], "v4")                                    # [N, C, 36, T]
    add("Transpose", [t("v4")], "v_t", perm=[2, 1, 0, 3])                           # [36, C, N, T]
    add("Reshape", [t("v_t"), c.ints(36, in_channels, -1)], "v_mat")                # [36, C, N*T]
    add("MatMul", [u_name, t("v_mat")], "m")                                        # [36, K, N*T]
    add("Reshape", [t("m"), c.ints(36, -1)], "m_mat")
    add("MatMul", [output_matrix, t("m_mat")], "tiles_out")                         # [16, K*N*T]
    add("Concat", [c.ints(16 * out_channels), t("n"), t("n_tiles")], "o_shape", axis=0)
    add("Reshape", [t("tiles_out"), t("o_shape")], "o3")                            # [16K, N, T]
    add("Transpose", [t("o3")], "o_t", perm=[1, 0, 2])                              # [N, 16K, T]
    add("Concat", [t("n"), c.ints(16 * out_channels), t("tiles")], "o_shape4", axis=0)
    add("Reshape", [t("o_t"), t("o_shape4")], "o4")                                 # [N, 16K, th, tw]
    add("DepthToSpace", [t("o4")], "full", blocksize=4, mode="DCR")                 # [N, K, 4th, 4tw]
    has_bias = len(node.input) > 2 and bool(node.input[2])
    crop_out = "cropped" if has_bias else y
    add("Slice", [t("full"), c.ints(0, 0), t("hw"), c.ints(2, 3)], crop_out)
    if has_bias:
        bias = numpy_helper.to_array(weights[node.input[2]]).astype(np.float32).reshape(1, out_channels, 1, 1)
        add("Add", [t("cropped"), c.array_at(t("bias"), bias)], y)
    return nodes


def _drop_unused_initializers(graph: onnx.GraphProto) -> None:
    used = ({name for node in graph.node for name in node.input} | {o.name for o in graph.output}
            | {i.name for i in graph.input})
    keep = [t for t in graph.initializer if t.name in used]
    if len(keep) != len(graph.initializer):
        del graph.initializer[:]
        graph.initializer.extend(keep)
