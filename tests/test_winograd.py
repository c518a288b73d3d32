"""The Winograd F(4x4, 3x3) rewrite of exported 3x3 convolutions (export/winograd.py).

Each rewritten graph is run by onnxruntime beside the original Conv graph on sizes that are not
whole 4x4 tiles, with batches above 1, asymmetric pads and with and without a bias.
"""
from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from translate.export.onnx_export import export_model
from translate.export.winograd import rewrite_conv3x3, winograd_matrices
from translate.nn.generators import ResnetGenerator


def conv_model(in_channels, out_channels, *, pads=(1, 1, 1, 1), bias=True, seed=0, **attrs) -> onnx.ModelProto:
    """x -> Conv(3x3) -> Relu, the weights random; `attrs` go to the Conv (strides, group, ...)."""
    rng = np.random.default_rng(seed)
    group = attrs.get("group", 1)
    w = (rng.standard_normal((out_channels, in_channels // group, 3, 3)) * 0.05).astype(np.float32)
    inits = [numpy_helper.from_array(w, "w")]
    if bias:
        inits.append(numpy_helper.from_array(rng.standard_normal(out_channels).astype(np.float32), "b"))
    conv = helper.make_node("Conv", ["x", "w"] + (["b"] if bias else []), ["y"], kernel_shape=[3, 3],
                            pads=list(pads), **attrs)
    graph = helper.make_graph(
        [conv, helper.make_node("Relu", ["y"], ["z"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", in_channels, "H", "W"])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", out_channels, "H2", "W2"])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def rewritten(model: onnx.ModelProto, **kwargs) -> tuple[onnx.ModelProto, int]:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    count = rewrite_conv3x3(copy, **kwargs)
    onnx.checker.check_model(copy, full_check=True)
    return copy, count


def test_matrices_compute_a_valid_correlation():
    """A^T [(G g) * (B^T d)] is the 4 outputs of correlating 6 inputs with a 3-tap kernel (1-D F(4, 3));
    the 2-D rewrite nests it in both axes."""
    bt, g, at = winograd_matrices()
    rng = np.random.default_rng(1)
    for _ in range(5):
        d, k = rng.standard_normal(6), rng.standard_normal(3)
        direct = np.array([d[i:i + 3] @ k for i in range(4)])
        np.testing.assert_allclose(at @ ((g @ k) * (bt @ d)), direct, atol=1e-12)


@pytest.mark.parametrize("pads,bias", [((1, 1, 1, 1), True), ((0, 0, 0, 0), False), ((0, 1, 2, 1), True)])
def test_rewrite_matches_conv_at_any_size(pads, bias):
    model = conv_model(64, 72, pads=pads, bias=bias)
    fast, count = rewritten(model, min_channels=64)
    assert count == 1
    assert not [n for n in fast.graph.node if n.op_type == "Conv" and n.input[1] == "w"]
    rng = np.random.default_rng(2)
    for shape in [(1, 64, 16, 16), (2, 64, 17, 23), (3, 64, 5, 9)]:
        x = rng.standard_normal(shape).astype(np.float32)
        expected, got = run(model, x), run(fast, x)
        assert got.shape == expected.shape
        scale = np.abs(expected).max()
        assert np.abs(got - expected).max() <= 1e-5 * max(scale, 1.0) * 10, shape


def test_narrow_strided_grouped_or_dilated_convs_are_kept():
    cases = [conv_model(64, 128), conv_model(128, 64), conv_model(128, 128, strides=[2, 2]),
             conv_model(128, 128, group=2), conv_model(128, 128, dilations=[2, 2], pads=(2, 2, 2, 2))]
    for model in cases:
        copy, count = rewritten(model)
        assert count == 0
        assert copy == model
    assert rewritten(conv_model(128, 128))[1] == 1
    assert rewritten(conv_model(16, 16), min_channels=16)[1] == 1


def test_old_opsets_are_left_alone():
    model = conv_model(128, 128)
    model.opset_import[0].version = 11
    assert rewritten(model)[1] == 0


def test_export_of_a_resnet_generator_is_rewritten_and_verified(tmp_path):
    """export_model rewrites the residual blocks' convolutions (128 channels at ngf=32), verifies the
    file against PyTorch, records the count in the metadata, and matches the plain export."""
    from tests.test_export_runtime import BASE, Exportable

    torch.manual_seed(0)
    net = ResnetGenerator(3, 3, ngf=32, n_blocks=2).eval()
    logs: list[str] = []
    [fast] = export_model(Exportable(net, size_multiple=4), tmp_path / "fast", base_metadata=BASE, log=logs.append)
    [plain] = export_model(Exportable(net, size_multiple=4), tmp_path / "plain", base_metadata=BASE,
                           winograd=False, log=lambda _: None)
    meta = {m: json.loads(v) for m, v in ((p.key, p.value) for p in onnx.load(fast).metadata_props)}["translate"]
    assert meta["winograd_convs"] == 4  # 2 blocks x 2 convs
    assert any("4 3x3 convolutions rewritten" in line for line in logs)
    assert json.loads(onnx.load(plain).metadata_props[0].value)["winograd_convs"] == 0
    x = np.random.default_rng(3).uniform(-1, 1, (2, 3, 36, 44)).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    fast_out, plain_out = run(onnx.load(fast), x), run(onnx.load(plain), x)
    assert np.abs(fast_out - expected).max() < 1e-4
    assert np.abs(fast_out - plain_out).max() < 1e-4


def test_added_names_never_clash_with_the_graphs():
    """A graph that already uses the rewrite's name prefix keeps its own tensors."""
    model = conv_model(64, 64)
    for node in model.graph.node:
        node.input[:] = ["winograd/const/i0" if n == "x" else n for n in node.input]
    model.graph.input[0].name = "winograd/const/i0"
    fast, count = rewritten(model, min_channels=64)
    assert count == 1
    x = np.random.default_rng(4).standard_normal((1, 64, 9, 10)).astype(np.float32)
    assert np.abs(run(fast, x) - run(model, x)).max() < 1e-4
