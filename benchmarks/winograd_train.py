"""One 3x3 convolution's training work (forward, input gradient, weight gradient) on the CPU:
torch's direct convolution (oneDNN) vs translate.nn.winograd's F(4x4, 3x3), over the shapes of
the ResNet generators' residual blocks. This is where WinogradConv2d's thresholds come from
(min_channels, min_tiles). Timed alternately; prints one JSON line per shape.

    python benchmarks/winograd_train.py --threads 2
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch
import torch.nn.functional as F

from translate.nn.winograd import TILE, winograd_conv3x3

# (channels, output size, batch): CycleGAN's blocks are 256 channels at a quarter of the image
# size (32x32 at 128x128, 16x16 at the built-in 64x64), batch 1 or 2 (two batches fused).
SHAPES = ((256, 16, 1), (256, 16, 2), (256, 32, 1), (256, 32, 2), (256, 64, 1), (128, 32, 2), (128, 64, 1))


def time_step(conv, x, w, go) -> float:
    t = time.perf_counter()
    conv(x, w).backward(go)
    return time.perf_counter() - t


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--reps", type=int, default=7)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    for channels, size, batch in SHAPES:
        x = torch.randn(batch, channels, size + 2, size + 2, requires_grad=True)
        w = (torch.randn(channels, channels, 3, 3) * 0.05).requires_grad_()
        go = torch.randn(batch, channels, size, size)
        times = {"direct": [], "winograd": []}
        for rep in range(args.reps + 1):
            for name, conv in (("direct", F.conv2d), ("winograd", winograd_conv3x3)):
                t = time_step(conv, x, w, go)
                if rep:   # the first round warms up
                    times[name].append(t)
        direct, winograd = statistics.median(times["direct"]), statistics.median(times["winograd"])
        with torch.no_grad():
            ref = F.conv2d(x, w)
            err = ((winograd_conv3x3(x, w) - ref).abs().max() / ref.abs().max()).item()
        print(json.dumps({
            "benchmark": "winograd_train_conv3x3", "channels": channels, "size": size, "batch": batch,
            "tiles": batch * (size // TILE) ** 2, "threads": torch.get_num_threads(),
            "direct_ms": round(direct * 1e3, 2), "winograd_ms": round(winograd * 1e3, 2),
            "gain": round(direct / winograd, 3), "max_rel_error": float(f"{err:.2e}"),
            "loadavg_1min": round(os.getloadavg()[0], 2)}), flush=True)


if __name__ == "__main__":
    main()
