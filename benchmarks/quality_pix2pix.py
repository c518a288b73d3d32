"""pix2pix quality on the built-in Fluent silhouette -> flat pairs: held-out PSNR/SSIM (kornia) of
G(A) vs the true B on the 200 test pairs, for the identity baseline (output = input), the
L1-only U-Net (the same generator and steps, --lambda-gan 0: the paper's "L1" row) and pix2pix
(GAN + 100 L1); with --kid-samples N also KID-EffLite0 of G(A) (and of A) against the real B
(the `kid` extra). One JSON line per method.

    python benchmarks/quality_pix2pix.py                  # the plugin's default steps for both
    python benchmarks/quality_pix2pix.py --steps 500      # shorter
    python benchmarks/quality_pix2pix.py --methods l1_only --out runs/l1   # one model per process
    python benchmarks/quality_pix2pix.py --runs runs/l1/* runs/p2p/* --kid-samples 200
                                                          # evaluate finished runs again, no training
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path

import torch

import translate
from translate.restore import model_class

METHODS = {"l1_only": 0.0, "pix2pix": 1.0}  # method -> lambda_gan
KID_KEYS = ("kid_efflite0", "kid_efflite0_std")


def mean_it_s(run_dir) -> float:
    """Mean training speed (steps/s) over the logged intervals of a run's metrics.jsonl."""
    rows = [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines() if line.strip()]
    speeds = [r["it_s"] for r in rows if "it_s" in r]
    return sum(speeds) / len(speeds) if speeds else float("nan")


def train(lambda_gan: float, args, out: str) -> tuple[dict, dict]:
    t = time.perf_counter()
    result = translate.fit("pix2pix", steps=args.steps, seed=args.seed, device=args.device, out=out,
                           lambda_gan=lambda_gan, test_mode=args.test_mode, kid_samples=args.kid_samples,
                           export=False, quiet=True, checkpoint_every=0, sample_every=0)
    return result.evaluation, {"train_minutes": round((time.perf_counter() - t) / 60, 1),
                               "it_s": round(mean_it_s(result.run_dir), 2), "threads": torch.get_num_threads(),
                               "load_avg_1m": round(os.getloadavg()[0], 2)}


def evaluate_run(run_dir: str, args) -> tuple[str, dict, dict]:
    """(method, evaluation, facts) of a finished run, evaluated again with --kid-samples."""
    from translate.data import resolve_root
    from translate.engine import Distributed, select_device
    from translate.fit_loop import evaluate_model
    from translate.registry import get_plugins
    from translate.restore import build_model, load_run

    _, ckpt, cls, config = load_run(run_dir, expect_plugin="pix2pix")
    config.model = dataclasses.replace(config.model, kid_samples=args.kid_samples)
    plugins = get_plugins()
    kind_cls = plugins.dataset_kinds.get(cls.dataset_kind).load()
    root, _ = resolve_root(config.data.data, cls.dataset_kind, plugins)
    device = select_device(args.device, Distributed())
    ev = evaluate_model(build_model(cls, config, ckpt, device), kind_cls, root, config, device)
    method = "pix2pix" if config.model.lambda_gan > 0 else "l1_only"
    facts = {"steps": ckpt["step"], "seed": config.train.seed, "test_mode": config.model.test_mode,
             "run": Path(run_dir).name, "it_s": round(mean_it_s(run_dir), 2)}
    return method, ev, facts


def kid_fields(ev: dict, key: str) -> dict:
    """The KID numbers of `key` (A2B or identity), if the evaluation has them."""
    fields = {k: round(ev[f"{key}/{k}"], 5) for k in KID_KEYS if f"{key}/{k}" in ev}
    return {"kid_pairs": ev["kid_pairs"], **fields} if fields else {}


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=model_class("pix2pix").train_defaults["steps"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--test-mode", default="paper", choices=["paper", "eval"])
    p.add_argument("--kid-samples", type=int, default=0, help="held-out pairs for KID-EffLite0 (0 = off)")
    p.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of " + ", ".join(METHODS))
    p.add_argument("--runs", nargs="+", default=[], help="evaluate these finished runs instead of training")
    p.add_argument("--out", default="", help="keep the runs here (default: a temp dir)")
    args = p.parse_args()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown or not methods:
        p.error(f"--methods: unknown {', '.join(unknown) or '(none given)'}; expected some of {', '.join(METHODS)}")
    out = args.out or tempfile.mkdtemp(prefix="translate-quality-pix2pix-")
    if args.runs:
        results = [evaluate_run(run, args) for run in args.runs]
    else:
        common = {"steps": args.steps, "seed": args.seed, "test_mode": args.test_mode}
        results = [(m, *train(METHODS[m], args, out)) for m in methods]
        results = [(m, ev, {**common, **facts}) for m, ev, facts in results]
    base = {"benchmark": "pix2pix_quality", "data": "fluent_silhouette2flat"}
    first_ev, first_facts = results[0][1], results[0][2]
    # the same held-out pairs for every method: one identity line
    print(json.dumps({**base, **{k: first_facts[k] for k in ("steps", "seed", "test_mode")}, "method": "identity",
                      "pairs": first_ev["pairs"], "psnr": round(first_ev["identity/psnr"], 3),
                      "ssim": round(first_ev["identity/ssim"], 4), **kid_fields(first_ev, "identity")}), flush=True)
    for method, ev, facts in results:
        print(json.dumps({**base, **facts, "method": method, "lambda_gan": METHODS[method], "pairs": ev["pairs"],
                          "psnr": round(ev["A2B/psnr"], 3), "ssim": round(ev["A2B/ssim"], 4),
                          **kid_fields(ev, "A2B")}), flush=True)


if __name__ == "__main__":
    main()
