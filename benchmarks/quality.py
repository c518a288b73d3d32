"""CycleGAN quality on the built-in Noto -> Twemoji data: held-out PSNR/SSIM (kornia) of
G_AB(A) vs the true B and G_BA(B) vs the true A on the 200 paired test emoji, beside the
identity baseline (output = input), after the reference's iteration count.

The widely used reference implementation, at 64x64 with a 6-block ResNet generator and
batch 1, reaches after 2,163 iterations PSNR 12.05 dB / SSIM 0.343 (A->B) and 11.36 / 0.318
(B->A), identity 11.45 / 0.339, on a split like ours but not ours (other held-out emoji).
This script trains the same configuration (the plugin's paper defaults) and prints one JSON line
per direction; benchmarks/reference_cyclegan.py runs the reference's algorithm on our split, the
like-for-like control.

    python benchmarks/quality.py                 # ~2163 iterations, about 15 min on 2 CPU cores
    python benchmarks/quality.py --steps 500     # the README run's length
    python benchmarks/quality.py --load-size 64  # no crop jitter (the images are 64x64 already)
    python benchmarks/quality.py --set ema=0.999 # any config field; with ema, the trained generators too
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time

import translate
from settings import add_set_option, parse_settings  # benchmarks/settings.py, beside this script

REFERENCE = {"A2B": {"psnr": 12.05, "ssim": 0.343}, "B2A": {"psnr": 11.36, "ssim": 0.318},
             "identity": {"psnr": 11.45, "ssim": 0.339}, "iterations": 2163}


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=REFERENCE["iterations"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--load-size", type=int, default=0,
                   help="resize before the random crop; 0 = the paper's ratio (72 for 64x64); 64 = no crop jitter")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="", help="keep the run here (default: a temp dir)")
    add_set_option(p, "ema=0.999")
    args = p.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="translate-quality-")
    settings = {**({"load_size": args.load_size} if args.load_size else {}), **parse_settings(args.set)}
    t = time.perf_counter()
    result = translate.fit("cyclegan", steps=args.steps, seed=args.seed, device=args.device, out=out,
                           export=False, quiet=True, checkpoint_every=0, sample_every=0, **settings)
    minutes = (time.perf_counter() - t) / 60
    ev = result.evaluation
    for direction in ("A2B", "B2A"):
        print(json.dumps({
            "benchmark": "cyclegan_quality", "data": "noto2twemoji", "direction": direction,
            "steps": args.steps, "seed": args.seed, "load_size": args.load_size or "auto",
            "settings": settings, "pairs": ev["pairs"],
            "psnr": round(ev[f"{direction}/psnr"], 3), "ssim": round(ev[f"{direction}/ssim"], 4),
            "identity_psnr": round(ev["identity/psnr"], 3), "identity_ssim": round(ev["identity/ssim"], 4),
            "reference_psnr": REFERENCE[direction]["psnr"], "reference_ssim": REFERENCE[direction]["ssim"],
            "reference_iterations": REFERENCE["iterations"], "train_minutes": round(minutes, 1),
            "run_dir": str(result.run_dir),
        }), flush=True)
    if settings.get("ema"):
        print(json.dumps({"benchmark": "cyclegan_quality_trained_generators", "seed": args.seed, "settings": settings,
                          **trained_generators(result.checkpoint)}), flush=True)


def trained_generators(checkpoint) -> dict:
    """With --ema, evaluation uses the averaged generators: the same checkpoint's trained ones,
    scored on the same held-out pairs, show what the average changed."""
    from translate.data import held_out_split, resolve_root
    from translate.fit_loop import evaluate_model
    from translate.registry import get_plugins
    from translate.restore import build_model, load_run

    _, ckpt, cls, config = load_run(checkpoint)
    model = build_model(cls, config, ckpt)
    model.network_names = cls.network_names   # without "G_ema": generators() gives the trained ones
    plugins = get_plugins()
    kind = plugins.dataset_kinds.get(cls.dataset_kind).load()
    root, _ = resolve_root(config.data.data, cls.dataset_kind, plugins)
    ev = evaluate_model(model, kind, root, config, "cpu", held_out_split(kind, root))
    return {k: round(ev[k], 4) for k in ("A2B/psnr", "A2B/ssim", "B2A/psnr", "B2A/ssim")}


if __name__ == "__main__":
    main()
