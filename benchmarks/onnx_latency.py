"""Latency of one generator: torch eager vs the exported ONNX file in onnxruntime, on CPU.

    python benchmarks/onnx_latency.py --generator resnet9 --threads 2

Exports with `translate.export.onnx_export.export_model` and runs the file through
`translate.export.runtime`, so it measures exactly what `translate export` ships and what apps
run. The same run also times a plain export (`--no-winograd`: every Conv left as onnxruntime's
Conv) so the Winograd rewrite's share of the gain is measured beside it. Prints one JSON line:
median latencies (after warmup), the speedups (ratios of medians), the median of per-call ratios
and the ratio of minimums (the least disturbed by other load; compare loadavg_1min with the thread
count to judge how quiet the machine was).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time

import numpy as np
import torch
from torch import nn

from translate.model import ExportSpec


def make_generator(kind: str) -> tuple[nn.Module, str]:
    from translate.nn.generators import ResnetGenerator

    return ResnetGenerator(3, 3, ngf=64, n_blocks=9), "translate.nn.ResnetGenerator(ngf=64, n_blocks=9)"


class _Exportable:
    def __init__(self, net: nn.Module, size: int):
        self.net, self.size = net, size

    def exports(self):
        axes = {0: "batch", 2: "height", 3: "width"}
        return [ExportSpec(
            name="generator", module=self.net, example_inputs=(torch.randn(1, 3, self.size, self.size),),
            input_names=["image"], output_names=["output"], dynamic_axes={"image": axes, "output": axes},
            metadata={"task": "image-to-image", "size_multiple": getattr(self.net, "size_multiple", 4)},
            make_inputs=lambda h, w, b: (torch.rand(b, 3, h, w) * 2 - 1,))]


def paired_timings(fns: dict, repeats: int, warmup: int) -> dict[str, list[float]]:
    """Seconds per call of each function, interleaved call by call: on a shared machine, load
    from other processes then hits every contender alike instead of whichever ran last."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generator", choices=("resnet9",), default="resnet9")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for both torch and onnxruntime (default: each library's own)")
    args = parser.parse_args(argv)

    import onnxruntime as ort

    from translate.export import runtime
    from translate.export.onnx_export import export_model

    torch.manual_seed(0)
    net, description = make_generator(args.generator)
    net.eval()
    if args.threads:
        torch.set_num_threads(args.threads)
    x = torch.rand(args.batch, 3, args.size, args.size) * 2 - 1

    with tempfile.TemporaryDirectory() as tmp:
        base = {"toolkit_version": "bench", "plugin": "bench", "plugin_version": "0", "model": args.generator,
                "channels": 3, "normalization": {"range": [-1, 1], "mean": [0.5] * 3, "std": [0.5] * 3},
                "image_size": args.size}
        start = time.perf_counter()
        [path] = export_model(_Exportable(net, args.size), tmp, base_metadata=base, log=lambda _: None)
        export_s = time.perf_counter() - start
        [plain_path] = export_model(_Exportable(net, args.size), os.path.join(tmp, "plain"), base_metadata=base,
                                    winograd=False, log=lambda _: None)
        sessions = {name: runtime.load(p, providers=["CPUExecutionProvider"], threads=args.threads).session
                    for name, p in (("onnx", path), ("onnx_plain", plain_path))}
        feed = {sessions["onnx"].get_inputs()[0].name: x.numpy()}

        with torch.inference_mode():
            expected = net(x).numpy()
            max_err = {name: float(np.abs(s.run(None, feed)[0] - expected).max()) for name, s in sessions.items()}
            times = paired_timings({"eager": lambda: net(x),
                                    "onnx": lambda: sessions["onnx"].run(None, feed),
                                    "onnx_plain": lambda: sessions["onnx_plain"].run(None, feed)},
                                   args.repeats, args.warmup)
        eager_s, onnx_s = statistics.median(times["eager"]), statistics.median(times["onnx"])
        plain_s = statistics.median(times["onnx_plain"])
        paired = statistics.median(e / o for e, o in zip(times["eager"], times["onnx"]))

    print(json.dumps({
        "benchmark": "onnx_latency", "generator": description, "device": "cpu",
        "shape": [args.batch, 3, args.size, args.size],
        "threads": args.threads or torch.get_num_threads(),
        "torch_eager_ms": round(eager_s * 1e3, 2), "onnxruntime_ms": round(onnx_s * 1e3, 2),
        "onnxruntime_plain_ms": round(plain_s * 1e3, 2),
        "speedup": round(eager_s / onnx_s, 3), "paired_speedup": round(paired, 3),
        "min_speedup": round(min(times["eager"]) / min(times["onnx"]), 3),
        "plain_speedup": round(eager_s / plain_s, 3), "winograd_gain": round(plain_s / onnx_s, 3),
        "repeats": args.repeats, "loadavg_1min": round(os.getloadavg()[0], 2),
        "max_abs_error": max_err["onnx"], "max_abs_error_plain": max_err["onnx_plain"],
        "export_s": round(export_s, 2),
        "torch": torch.__version__, "onnxruntime": ort.__version__, "machine": platform.machine(),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
