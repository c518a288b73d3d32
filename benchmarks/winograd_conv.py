"""One 3x3 convolution in onnxruntime: a plain Conv node vs the export's Winograd F(4x4, 3x3)
rewrite (export/winograd.py), over channel counts and sizes. This is where the rewrite's
channel threshold comes from. Prints one JSON line per shape.

    python benchmarks/winograd_conv.py --threads 1
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from translate.export.winograd import rewrite_conv3x3

SHAPES = ((32, 128), (64, 64), (64, 128), (128, 64), (256, 32), (256, 64))  # (channels in = out, size)


def conv_model(channels: int) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((channels, channels, 3, 3)) * 0.05).astype(np.float32)
    b = rng.standard_normal(channels).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])], "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", channels, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", channels, "H", "W"])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def session(model: onnx.ModelProto, threads: int | None) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--repeats", type=int, default=15)
    args = p.parse_args()
    for channels, size in SHAPES:
        plain = conv_model(channels)
        fast = onnx.ModelProto()
        fast.CopyFrom(plain)
        rewrite_conv3x3(fast, min_channels=1)
        sessions = {"conv": session(plain, args.threads), "winograd": session(fast, args.threads)}
        feed = {"x": np.random.default_rng(1).standard_normal((1, channels, size, size)).astype(np.float32)}
        times: dict[str, list[float]] = {name: [] for name in sessions}
        for _ in range(3):
            for s in sessions.values():
                s.run(None, feed)
        for _ in range(args.repeats):  # interleaved: both see the same machine load
            for name, s in sessions.items():
                start = time.perf_counter()
                s.run(None, feed)
                times[name].append(time.perf_counter() - start)
        conv_ms, wino_ms = (statistics.median(times[n]) * 1e3 for n in ("conv", "winograd"))
        error = float(np.abs(sessions["conv"].run(None, feed)[0] - sessions["winograd"].run(None, feed)[0]).max())
        print(json.dumps({"benchmark": "winograd_conv3x3", "channels": channels, "size": size,
                          "threads": args.threads, "conv_ms": round(conv_ms, 2), "winograd_ms": round(wino_ms, 2),
                          "gain": round(conv_ms / wino_ms, 3), "max_abs_error": error,
                          "loadavg_1min": round(os.getloadavg()[0], 2), "onnxruntime": ort.__version__}), flush=True)


if __name__ == "__main__":
    main()
