"""cGAN quality on the built-in MNIST digits: train the plugin's defaults (the README run), then
on the 1,000 held-out digits report label accuracy of generated digits (a SmallClassifier trained
on the 9,000 real training digits), beside chance and the classifier's accuracy on real test
digits, the within-class diversity beside the real digits', and KID-EffLite0 when the `kid`
extra is installed (not comparable with published KID/FID: another feature network).

    python benchmarks/quality_cgan.py                    # the README run: defaults, ~7 min on 2 CPU cores
    python benchmarks/quality_cgan.py --kid-samples 500  # + KID-EffLite0 on 500 real vs 500 generated
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time

import translate


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=0, help="0 = the plugin's default")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--kid-samples", type=int, default=0, help="images per set for KID-EffLite0 (0 = off)")
    p.add_argument("--out", default="", help="keep the run here (default: a temp dir)")
    args = p.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="translate-quality-cgan-")
    settings = {"steps": args.steps} if args.steps else {}
    t = time.perf_counter()
    result = translate.fit("cgan", seed=args.seed, device=args.device, out=out, export=False, quiet=True,
                           checkpoint_every=0, sample_every=0, kid_samples=args.kid_samples, **settings)
    minutes = (time.perf_counter() - t) / 60
    ev = result.evaluation
    print(json.dumps({
        "benchmark": "cgan_quality", "data": "mnist", "steps": result.step, "seed": args.seed,
        **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in ev.items()},
        "train_and_eval_minutes": round(minutes, 1), "run_dir": str(result.run_dir),
    }), flush=True)


if __name__ == "__main__":
    main()
