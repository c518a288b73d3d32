"""DANN on the built-in MNIST -> MNIST-M-style data: source-only vs DANN over several seeds.

Each run trains the plugin (the paper's defaults; `--mode source_only` is the same code with
lambda = 0) and is judged on the labelled target test set (800 digits), the source test set
(300 digits) and by the domain classifier's balanced accuracy (0.5 = domain-invariant features).
Prints one JSON line per run, then one summary line per mode (mean and std over the seeds) and
one with the DANN - source-only gap in target accuracy.

The paper (Ganin & Lempitsky 2015) reports on MNIST -> MNIST-M 0.5225 source-only and 0.7666 DANN.

    python benchmarks/quality_dann.py                      # 2 modes x 3 seeds at the plugin's default steps
    python benchmarks/quality_dann.py --steps 1500 --seeds 0 1
    python benchmarks/quality_dann.py --set shift=0        # no augmentation
    python benchmarks/quality_dann.py --set shift=0 --set standardize=none --set ema=0 --set dropout=0   # the paper's setting
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

import translate
from settings import add_set_option, parse_settings  # benchmarks/settings.py, beside this script

PAPER = {"source_only": 0.5225, "dann": 0.7666}
METRICS = ("target_accuracy", "source_accuracy", "domain_accuracy")


def summary(mode: str, runs: list[dict]) -> dict:
    out = {"benchmark": "dann_quality", "summary": mode, "seeds": [r["seed"] for r in runs],
           "paper_target_accuracy": PAPER[mode]}
    for key in METRICS:
        values = [r[key] for r in runs]
        out[f"{key}_mean"] = round(statistics.mean(values), 4)
        out[f"{key}_std"] = round(statistics.stdev(values), 4) if len(values) > 1 else 0.0
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=0, help="training steps per run (0 = the plugin's default)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--modes", nargs="+", default=["source_only", "dann"], choices=list(PAPER))
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="", help="keep the runs here (default: a temp dir)")
    add_set_option(p, "shift=0")
    args = p.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="translate-quality-dann-")
    settings = {**({"steps": args.steps} if args.steps else {}), **parse_settings(args.set)}
    runs: dict[str, list[dict]] = {}
    for mode in args.modes:
        for seed in args.seeds:
            t = time.perf_counter()
            result = translate.fit("dann", mode=mode, seed=seed, device=args.device, out=out,
                                   name=f"{mode}-seed{seed}", export=False, quiet=True, checkpoint_every=0,
                                   sample_every=0, **settings)
            ev = result.evaluation
            record = {"benchmark": "dann_quality", "data": "mnist2mnistm", "mode": mode, "seed": seed,
                      "steps": result.step, "settings": settings, **{k: round(ev[k], 4) for k in METRICS},
                      "target_test_images": ev["target_test_images"], "source_test_images": ev["source_test_images"],
                      "train_minutes": round((time.perf_counter() - t) / 60, 1), "run_dir": str(result.run_dir)}
            runs.setdefault(mode, []).append(record)
            print(json.dumps(record), flush=True)
    for mode, records in runs.items():
        print(json.dumps(summary(mode, records)), flush=True)
    if {"dann", "source_only"} <= set(runs):
        gap = [d["target_accuracy"] - s["target_accuracy"] for d, s in zip(runs["dann"], runs["source_only"])]
        print(json.dumps({"benchmark": "dann_quality", "summary": "dann_minus_source_only",
                          "target_accuracy_gain_mean": round(statistics.mean(gap), 4),
                          "target_accuracy_gain_per_seed": [round(g, 4) for g in gap]}), flush=True)


if __name__ == "__main__":
    main()
