"""The training work of a generator's image-facing 7x7 layers on the CPU: torch's direct
convolution (oneDNN) vs translate.nn.image_conv's computation by rows, per layer and batch.
"out" layers write the image (64 -> C channels); "in" layers read it (C -> 64 channels) and
compute their input gradient too (CycleGAN's cycle and StarGAN's reconstruction pass a generated
image through a generator again); "out" layers are also timed in inference (no_grad). This is
where ImageConv2d.max_channels comes from. Timed alternately; prints one JSON line per layer and
kind of work.

    python benchmarks/image_conv.py --threads 2
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch
from torch import nn

from translate.nn.image_conv import ImageConv2d

# (role, image channels, size, batch, padding mode): CycleGAN at 128x128 calls a generator with 1,
# 2 or 3 images fused; StarGAN trains at batch 16 with 3 + 3 domain channels in; the sweep over
# channels sets the threshold.
LAYERS = (("out", 3, 128, 1, "reflect"), ("out", 3, 128, 2, "reflect"), ("out", 3, 128, 3, "reflect"),
          ("in", 3, 128, 1, "reflect"), ("in", 3, 128, 3, "reflect"),
          ("out", 3, 128, 16, "zeros"), ("in", 6, 128, 16, "zeros"),
          ("out", 1, 128, 2, "reflect"), ("out", 8, 128, 2, "reflect"), ("out", 16, 128, 2, "reflect"),
          ("in", 8, 128, 2, "reflect"), ("in", 16, 128, 2, "reflect"))


def time_step(conv, x, go) -> float:
    x.grad = None
    t = time.perf_counter()
    conv(x).backward(go)
    return time.perf_counter() - t


def time_forward(conv, x, go) -> float:
    t = time.perf_counter()
    with torch.no_grad():
        conv(x)
    return time.perf_counter() - t


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--ngf", type=int, default=64)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    for role, channels, size, batch, padding in LAYERS:
        torch.manual_seed(0)
        c_in, c_out = (args.ngf, channels) if role == "out" else (channels, args.ngf)
        direct = nn.Conv2d(c_in, c_out, 7, padding=3, padding_mode=padding)
        rows = ImageConv2d(c_in, c_out, 7, padding=3, padding_mode=padding)
        rows.max_channels = max(rows.max_channels, channels)   # the sweep: force rows for this layer
        rows.load_state_dict(direct.state_dict())
        x = torch.randn(batch, c_in, size, size, requires_grad=True)
        go = torch.randn(batch, c_out, size, size)
        # Training (forward and backward) for both roles; inference (no_grad) where it takes rows.
        timers = (("train", time_step), ("inference", time_forward)) if role == "out" else (("train", time_step),)
        times = {(kind, name): [] for kind, _ in timers for name in ("direct", "rows")}
        for rep in range(args.reps + 1):
            for kind, timer in timers:
                for name, conv in (("direct", direct), ("rows", rows)):
                    t = timer(conv, x, go)
                    if rep:   # the first round warms up
                        times[kind, name].append(t)
        with torch.no_grad():
            ref = direct(x)
            err = ((rows(x) - ref).abs().max() / ref.abs().max()).item()
        for kind, _ in timers:
            t_direct, t_rows = statistics.median(times[kind, "direct"]), statistics.median(times[kind, "rows"])
            print(json.dumps({
                "benchmark": f"image_conv7x7_{kind}", "role": role, "image_channels": channels, "size": size,
                "batch": batch, "padding": padding, "threads": torch.get_num_threads(),
                "direct_ms": round(t_direct * 1e3, 2), "rows_ms": round(t_rows * 1e3, 2),
                "gain": round(t_direct / t_rows, 3), "max_rel_error_forward": float(f"{err:.2e}"),
                "loadavg_1min": round(os.getloadavg()[0], 2)}), flush=True)


if __name__ == "__main__":
    main()
