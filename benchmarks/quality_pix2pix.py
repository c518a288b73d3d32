"""pix2pix quality on the built-in Fluent silhouette -> flat pairs: held-out PSNR/SSIM (kornia) of
G(A) vs the true B on the 200 test pairs, for the identity baseline (output = input), the
L1-only U-Net (the same generator and steps, --lambda-gan 0: the paper's "L1" row) and pix2pix
(GAN + 100 L1). One JSON line per method.

    python benchmarks/quality_pix2pix.py                  # the plugin's default steps (2,000) for both
    python benchmarks/quality_pix2pix.py --steps 500      # shorter
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time

import translate
from translate.restore import model_class


def train(lambda_gan: float, args, out: str) -> tuple[dict, float]:
    t = time.perf_counter()
    result = translate.fit("pix2pix", steps=args.steps, seed=args.seed, device=args.device, out=out,
                           lambda_gan=lambda_gan, test_mode=args.test_mode, export=False, quiet=True,
                           checkpoint_every=0, sample_every=0)
    return result.evaluation, (time.perf_counter() - t) / 60


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=model_class("pix2pix").train_defaults["steps"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--test-mode", default="paper", choices=["paper", "eval"])
    p.add_argument("--out", default="", help="keep the runs here (default: a temp dir)")
    args = p.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="translate-quality-pix2pix-")
    common = {"benchmark": "pix2pix_quality", "data": "fluent_silhouette2flat", "steps": args.steps,
              "seed": args.seed, "test_mode": args.test_mode}
    identity_printed = False
    for method, lambda_gan in (("l1_only", 0.0), ("pix2pix", 1.0)):
        ev, minutes = train(lambda_gan, args, out)
        if not identity_printed:  # the same held-out pairs for every method
            print(json.dumps({**common, "method": "identity", "pairs": ev["pairs"],
                              "psnr": round(ev["identity/psnr"], 3), "ssim": round(ev["identity/ssim"], 4)}),
                  flush=True)
            identity_printed = True
        print(json.dumps({**common, "method": method, "lambda_gan": lambda_gan, "pairs": ev["pairs"],
                          "psnr": round(ev["A2B/psnr"], 3), "ssim": round(ev["A2B/ssim"], 4),
                          "train_minutes": round(minutes, 1)}), flush=True)


if __name__ == "__main__":
    main()
