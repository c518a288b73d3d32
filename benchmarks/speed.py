"""CycleGAN training speed: seconds per iteration (data loading split out), FLOPs per iteration
(torch.utils.flop_counter), achieved GFLOP/s beside a matmul peak measured in the same run.

Default: the widely used reference configuration, 128x128, batch 1, ResNet 9 blocks + 3-layer
PatchGAN. Besides our training step it times, interleaved in the same run, the same math with
one network call per image, direct convolutions and torch's default Adam kernel ("unfused", as
the reference implementation runs it), so the ratio is measured under the same machine load.
FLOPs are counted as direct convolutions compute them (our step's Winograd convolutions do fewer).
Prints one JSON line per result.

    python benchmarks/speed.py                       # CPU (or the GPU if there is one)
    python benchmarks/speed.py --precision bf16 --device cuda
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from translate.allocator import keep_freed_memory
from translate.data import make_dataset, resolve_root
from translate.config import DataConfig
from translate.engine import Distributed, Engine, select_device
from translate.plugins.cyclegan.model import Config, CycleGAN
from translate.nn.direct import direct_convolutions
from translate.nn.image_conv import ImageConv2d
from translate.nn.winograd import WinogradConv2d
from translate.registry import get_plugins


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device, sizes=(1024, 2048, 4096), reps=5) -> float:
    """Best fp32 GFLOP/s of square matmuls: the machine's practical peak, measured now.
    Several sizes, because one size can miss the BLAS's best blocking."""
    best_rate = 0.0
    for n in sizes:
        a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
        a @ b
        for _ in range(reps):
            sync(device)
            t = time.perf_counter()
            a @ b
            sync(device)
            best_rate = max(best_rate, 2 * n**3 / (time.perf_counter() - t) / 1e9)
    return best_rate


def build(size, n_blocks, fuse, device, precision, total, compile=False):
    torch.manual_seed(0)
    from translate.model import DataInfo

    model = CycleGAN(Config(n_blocks=n_blocks), DataInfo("unpaired", 3, size, ("noto", "twemoji")), total)
    model.fuse_batches = fuse
    engine = Engine(device, precision, compile=compile)
    model.to(device)
    optimizers, schedulers = model.configure_optimizers()
    if not fuse:   # reference style: torch's default Adam kernel (on the CPU a per-tensor loop), not our fused one,
        for opt in optimizers.values():   # and direct convolutions (oneDNN's), not our Winograd or by-rows ones
            for group in opt.param_groups:
                group["fused"] = False
        for m in model.modules():
            if isinstance(m, (WinogradConv2d, ImageConv2d)):
                m.__class__ = torch.nn.Conv2d
    engine.attach(optimizers, schedulers)
    engine.prepare(model)
    return model, engine


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--blocks", type=int, default=9)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--steps", type=int, default=6, help="timed steps per configuration")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    p.add_argument("--no-compare", action="store_true", help="skip the unfused (reference-style) configuration")
    p.add_argument("--compile", action="store_true", help="also time our step with torch.compile (compiles first: minutes)")
    args = p.parse_args()

    device = select_device(args.device, Distributed())
    if device.type == "cpu":
        keep_freed_memory()   # as `translate fit` does; process-wide, so the reference style gets it too
    plugins = get_plugins()
    root, _ = resolve_root("noto2twemoji", "unpaired", plugins)
    kind = plugins.dataset_kinds.get("unpaired").load()
    dataset = make_dataset(kind, root, "train", DataConfig(image_size=args.size), seed=0, augment=True)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch, shuffle=True, drop_last=True,
                                         generator=torch.Generator().manual_seed(0))

    def batches():
        while True:
            yield from loader

    it = batches()
    configs = {"translate": (True, False)}   # name -> (fuse batches, torch.compile)
    if not args.no_compare:
        configs["unfused_reference_style"] = (False, False)
    if args.compile:
        configs["translate_compiled"] = (True, True)
    runs = {name: build(args.size, args.blocks, fuse, device, args.precision, 1000, compile)
            for name, (fuse, compile) in configs.items()}
    times = {name: [] for name in runs}
    data_times = []

    def one_step(model, engine, batch):
        sync(device)
        t = time.perf_counter()
        model.training_step(engine.to_device(batch), engine)
        engine.end_step()
        sync(device)
        return time.perf_counter() - t

    batch = next(it)
    for name, (model, engine) in runs.items():  # warm-up (oneDNN/cuDNN plans, allocator, compiling)
        one_step(model, engine, batch)
        one_step(model, engine, batch)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(args.steps):  # interleaved, so both see the same machine load
        t = time.perf_counter()
        batch = next(it)
        data_times.append(time.perf_counter() - t)
        for name, (model, engine) in runs.items():
            times[name].append(one_step(model, engine, batch))

    model, engine = runs["translate"]
    # The model's FLOPs, as direct convolutions compute them: Winograd's are fewer, so GFLOP/s is
    # "direct-convolution equivalent" and may pass the matmul peak.
    with direct_convolutions(), FlopCounterMode(display=False) as counter:
        model.training_step(engine.to_device(batch), engine)
        engine.end_step()
    flops = counter.get_total_flops()
    peak = matmul_peak(device)
    common = {"size": args.size, "batch": args.batch, "n_blocks": args.blocks, "n_layers_d": 3,
              "device": str(device), "precision": args.precision, "threads": torch.get_num_threads(),
              "steps": args.steps}
    base = statistics.median(times["translate"])
    for name, ts in times.items():
        s = statistics.median(ts)
        rec = {"benchmark": "cyclegan_train_step", "variant": name, **common, "s_per_it": round(s, 4),
               "it_per_s": round(1 / s, 4), "gflop_per_it": round(flops / 1e9, 1),
               "gflop_s": round(flops / 1e9 / s, 1), "matmul_peak_gflop_s": round(peak, 1),
               "fraction_of_peak": round(flops / 1e9 / s / peak, 3)}
        if name != "translate":
            rec["translate_speedup"] = round(s / base, 3)   # > 1: our default step is faster
        if "unfused_reference_style" in times:
            rec["speedup_vs_reference_style"] = round(statistics.median(times["unfused_reference_style"]) / s, 3)
        print(json.dumps(rec), flush=True)
    print(json.dumps({"benchmark": "cyclegan_data_loading", **common,
                      "data_s_per_it": round(statistics.median(data_times), 5)}), flush=True)
    if device.type == "cuda":
        print(json.dumps({"benchmark": "cyclegan_peak_memory", **common,
                          "peak_gib": round(torch.cuda.max_memory_allocated(device) / 2**30, 3)}), flush=True)


if __name__ == "__main__":
    main()
