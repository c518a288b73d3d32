"""StarGAN quality on the built-in emoji_styles data (Noto, Twemoji, Fluent flat at 64x64):
(a) target-domain accuracy of the held-out emoji translated to every other style, judged by a
classifier trained on real training images (the paper reports 2.12% classification error on
RaFD, i.e. 97.9%; the target here is >= 95%); (b) PSNR/SSIM against the true emoji in the
target style, beside the identity baseline. Prints one JSON line.

    python benchmarks/quality_stargan.py                      # the plugin's default run (README)
    python benchmarks/quality_stargan.py --steps 5000 --batch-size 16
    python benchmarks/quality_stargan.py --set ngf=16 --set n_critic=1    # any config field
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time

import translate
from settings import add_set_option, parse_settings  # benchmarks/settings.py, beside this script


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=0, help="0 = the plugin's default")
    p.add_argument("--batch-size", type=int, default=0, help="0 = the plugin's default")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="", help="keep the run here (default: a temp dir)")
    add_set_option(p, "ngf=16")
    args = p.parse_args()
    settings = {k: v for k, v in (("steps", args.steps), ("batch_size", args.batch_size)) if v}
    settings.update(parse_settings(args.set))
    out = args.out or tempfile.mkdtemp(prefix="translate-quality-stargan-")
    t = time.perf_counter()
    result = translate.fit("stargan", seed=args.seed, device=args.device, out=out, export=False, quiet=True,
                           checkpoint_every=0, sample_every=0, **settings)
    ev = result.evaluation
    print(json.dumps({
        "benchmark": "stargan_quality", "data": "emoji_styles", "steps": result.step, "seed": args.seed,
        "settings": settings,
        **{k: round(v, 4) if isinstance(v, float) else v for k, v in ev.items()},
        "target_accuracy_goal": 0.95, "train_minutes": round((time.perf_counter() - t) / 60, 1),
        "run_dir": str(result.run_dir),
    }), flush=True)


if __name__ == "__main__":
    main()
