"""FastCUT (examples/fastcut) beside CycleGAN: seconds per training iteration at the same shapes,
and held-out PSNR/SSIM on the built-in Noto -> Twemoji data after the same number of iterations.

The CUT paper reports FastCUT about 2.7x faster per iteration than CycleGAN (one generator and
one discriminator instead of two of each; no cycle). Speed: both models are built at the same
size, ResNet depth and batch, with their paper defaults, and their steps are timed alternately in
one process, so both see the same machine load; FLOPs per iteration (torch.utils.flop_counter)
give a load-independent ratio. Quality: each model trains `--steps` iterations at 64x64, batch 1,
with its own paper schedule, and is evaluated on the 200 held-out A->B pairs (FastCUT is
one-sided: A->B only). Needs `pip install -e examples/fastcut`. Prints one JSON line per result.

    python benchmarks/fastcut_vs_cyclegan.py --part speed               # 128x128, 9 blocks
    python benchmarks/fastcut_vs_cyclegan.py --part quality --steps 1000 --models fastcut
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

import translate
from translate.config import DataConfig
from translate.data import make_dataset, resolve_root
from translate.engine import Distributed, Engine, select_device
from translate.model import DataInfo
from translate.registry import get_plugins
from translate.restore import model_class

MODELS = ("cyclegan", "fastcut")
PAPER_SPEEDUP = 2.7


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build(name, size, n_blocks, device):
    torch.manual_seed(0)
    cls = model_class(name)
    model = cls(cls.Config(n_blocks=n_blocks), DataInfo("unpaired", 3, size, ("noto", "twemoji")), 1000)
    engine = Engine(device)
    model.to(device)
    engine.attach(*model.configure_optimizers())
    engine.prepare(model)
    model.train()
    return model, engine


def timed_step(model, engine, batch, device) -> float:
    sync(device)
    t = time.perf_counter()
    model.training_step(engine.to_device(batch), engine)
    engine.end_step()
    sync(device)
    return time.perf_counter() - t


def speed(args, device):
    plugins = get_plugins()
    root, _ = resolve_root("noto2twemoji", "unpaired", plugins)
    kind = plugins.dataset_kinds.get("unpaired").load()
    dataset = make_dataset(kind, root, "train", DataConfig(image_size=args.size), seed=0, augment=True)
    batches = iter(torch.utils.data.DataLoader(dataset, batch_size=args.batch, shuffle=True, drop_last=True,
                                               generator=torch.Generator().manual_seed(0)))
    runs = {name: build(name, args.size, args.blocks, device) for name in args.models}
    batch = next(batches)
    for model, engine in runs.values():   # warm-up: oneDNN/cuDNN plans, allocator
        timed_step(model, engine, batch, device)
    times = {name: [] for name in runs}
    for _ in range(args.speed_steps):     # alternating, so both see the same load
        batch = next(batches)
        for name, (model, engine) in runs.items():
            times[name].append(timed_step(model, engine, batch, device))
    flops = {}
    for name, (model, engine) in runs.items():
        with FlopCounterMode(display=False) as counter:
            model.training_step(engine.to_device(batch), engine)
            engine.end_step()
        flops[name] = counter.get_total_flops()
    common = {"size": args.size, "batch": args.batch, "n_blocks": args.blocks, "device": str(device),
              "threads": torch.get_num_threads(), "steps": args.speed_steps}
    median = {name: statistics.median(ts) for name, ts in times.items()}
    for name in runs:
        rec = {"benchmark": "fastcut_vs_cyclegan_speed", "model": name, **common,
               "s_per_it": round(median[name], 4), "gflop_per_it": round(flops[name] / 1e9, 1)}
        if name == "fastcut" and "cyclegan" in runs:
            rec["speedup_vs_cyclegan"] = round(median["cyclegan"] / median["fastcut"], 3)
            rec["flop_ratio_vs_cyclegan"] = round(flops["cyclegan"] / flops["fastcut"], 3)
            rec["paper_speedup"] = PAPER_SPEEDUP
        print(json.dumps(rec), flush=True)


def quality(args, device):
    for name in args.models:
        out = args.out or tempfile.mkdtemp(prefix=f"translate-{name}-quality-")
        t = time.perf_counter()
        result = translate.fit(name, steps=args.steps, seed=args.seed, device=str(device), out=out, export=False,
                               quiet=True, checkpoint_every=0, sample_every=0)
        ev = result.evaluation
        print(json.dumps({
            "benchmark": "fastcut_vs_cyclegan_quality", "model": name, "data": "noto2twemoji", "direction": "A2B",
            "steps": args.steps, "seed": args.seed, "pairs": ev["pairs"],
            "psnr": round(ev["A2B/psnr"], 3), "ssim": round(ev["A2B/ssim"], 4),
            "identity_psnr": round(ev["identity/psnr"], 3), "identity_ssim": round(ev["identity/ssim"], 4),
            "train_minutes": round((time.perf_counter() - t) / 60, 1), "run_dir": str(result.run_dir),
        }), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=["speed", "quality", "all"], default="all")
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    p.add_argument("--size", type=int, default=128, help="speed: image size")
    p.add_argument("--blocks", type=int, default=9, help="speed: ResNet blocks in the generators")
    p.add_argument("--batch", type=int, default=1, help="speed: batch size")
    p.add_argument("--speed-steps", type=int, default=6, help="speed: timed steps per model")
    p.add_argument("--steps", type=int, default=1000, help="quality: training iterations of each model")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="", help="quality: keep the runs here (default: temp dirs)")
    args = p.parse_args()
    device = select_device(args.device, Distributed())
    if args.part in ("speed", "all"):
        speed(args, device)
    if args.part in ("quality", "all"):
        quality(args, device)


if __name__ == "__main__":
    main()
