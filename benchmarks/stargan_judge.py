"""How far StarGAN's judges can be trusted on the built-in emoji_styles data: their accuracy on the
real held-out emoji, for the evaluation's two judges and for the alternatives tried.

A perfect translator turns each held-out emoji into the true image in the target style, so its
target-domain accuracy is the judge's accuracy on the real held-out images. A generator can score
higher only by exaggerating what the judge looks for (StarGAN's own classification loss pushes
it that way), so under a judge that stays below the >= 0.95 target on real images, a score at
the target says as much about exaggeration as about translation. The CNN designs stay below it
(0.80-0.93); a colour-palette classifier (evaluate's second judge) reaches 0.95-0.99: the three
styles differ most in their palettes. Prints one JSON line per judge.

    python benchmarks/stargan_judge.py                  # seeds 0-2, about 10 min at 1 thread
    python benchmarks/stargan_judge.py --efflite0       # + a linear probe on EfficientNet-Lite0
                                                        #   features (the `kid` extra; ~5 min more)
    python benchmarks/stargan_judge.py --no-cnn         # only the colour-palette judges (seconds)
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from translate.data import resolve_root
from translate.datasets.multidomain import MultiDomainDataset
from translate.nn.classifier import accuracy, fit_classifier
from translate.plugins.stargan.evaluation import CLASSIFIER_STEPS, _stack
from translate.registry import get_plugins


def load(split: str, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    root, _ = resolve_root("emoji_styles", "multidomain", get_plugins())
    images, labels = _stack(MultiDomainDataset(Path(root), split, image_size=size, channels=3, augment=False))
    return images, labels.argmax(1)


def degraded(images: torch.Tensor) -> dict[str, torch.Tensor]:
    """The held-out images as a generator's flaws might leave them: blurred, or noisy (std on the
    [-1, 1] scale), to see what a judge keys on. A translation is never this close to the truth,
    so these bound how much of a judge's verdict survives imperfect outputs."""
    gen = torch.Generator().manual_seed(0)
    noisy = {f"noise {std}": (images + std * torch.randn(images.shape, generator=gen)).clamp(-1, 1)
             for std in (0.02, 0.05, 0.1)}
    return {"blur 3x3": F.avg_pool2d(images, 3, 1, 1, count_include_pad=False), **noisy}


def degraded_scores(judges, x_test, y_test) -> dict[str, list[float]]:
    return {name: [round(accuracy(j, x, y_test), 3) for j in judges] for name, x in degraded(x_test).items()}


def cnn_judges(seeds) -> list[dict]:
    """The small CNN (translate.nn.classifier) in its two designs and with more training."""
    designs = [  # (name, image size, fit_classifier options, mirrored training copies)
        ("shape design (the judge before cc62624)", 32, {"steps": CLASSIFIER_STEPS, "local": False}, False),
        ("local design (evaluate's judge)", 32, {"steps": CLASSIFIER_STEPS, "local": True}, False),
        ("local design, 1000 steps", 32, {"steps": 1000, "local": True}, False),
        ("local design, 1000 steps, mirrored training copies", 32, {"steps": 1000, "local": True}, True),
        ("local design at 64x64 (the data's size)", 64, {"steps": CLASSIFIER_STEPS, "local": True}, False),
    ]
    data = {size: (load("train", size), load("test", size)) for size in {d[1] for d in designs}}
    rows = []
    for name, size, options, mirrored in designs:
        (x, y), (x_test, y_test) = data[size]
        if mirrored:
            x, y = torch.cat([x, x.flip(3)]), torch.cat([y, y])
        t = time.perf_counter()
        judges = [fit_classifier(x, y, 3, seed=s, **options) for s in seeds]
        seconds = (time.perf_counter() - t) / len(seeds)
        rows.append({"judge": name, "image_size": size,
                     "real_accuracy": [round(accuracy(j, x_test, y_test), 3) for j in judges],
                     "degraded_accuracy": degraded_scores(judges, x_test, y_test),
                     "seconds_per_judge": round(seconds, 1)})
    return rows


def palette_judges() -> list[dict]:
    """The colour-palette classifier (translate.nn.palette; evaluate's second judge: 16 bins, L2
    1e-4, at 32x32), beside coarser and finer histograms. Deterministic: no seeds."""
    from translate.nn.palette import fit_palette_classifier

    designs = ((32, 16, 1e-4), (32, 8, 1e-4), (32, 32, 1e-4), (32, 16, 1e-3), (64, 16, 1e-4))
    data = {size: (load("train", size), load("test", size)) for size in {d[0] for d in designs}}
    rows = []
    for size, bins, l2 in designs:
        (x, y), (x_test, y_test) = data[size]
        t = time.perf_counter()
        judge = fit_palette_classifier(x, y, 3, bins=bins, l2=l2)
        seconds = time.perf_counter() - t
        rows.append({"judge": f"colour palette, {bins} levels per channel, L2 {l2}"
                              + (" (evaluate's second judge)" if (size, bins, l2) == (32, 16, 1e-4) else ""),
                     "image_size": size, "real_accuracy": round(accuracy(judge, x_test, y_test), 3),
                     "degraded_accuracy": {k: v[0] for k, v in degraded_scores([judge], x_test, y_test).items()},
                     "train_accuracy": round(accuracy(judge, x, y), 3), "seconds": round(seconds, 1)})
    return rows


def efflite0_probe() -> dict:
    """Logistic regression (L-BFGS, L2) on pooled ImageNet features of EfficientNet-Lite0."""
    from translate.metrics import efflite0_features

    (x, y), (x_test, y_test) = load("train", 32), load("test", 32)
    t = time.perf_counter()
    f, f_test = efflite0_features(torch.cat([x, x.flip(3)])), efflite0_features(x_test)
    y = torch.cat([y, y])
    mean, std = f.mean(0), f.std(0) + 1e-6
    f, f_test = (f - mean) / std, (f_test - mean) / std
    scores = {}
    for l2 in (1e-4, 1e-3, 1e-2, 1e-1):
        torch.manual_seed(0)
        head = torch.nn.Linear(f.size(1), 3)
        opt = torch.optim.LBFGS(head.parameters(), max_iter=500)

        def closure():
            opt.zero_grad()
            loss = F.cross_entropy(head(f), y) + l2 * head.weight.pow(2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        with torch.no_grad():
            scores[str(l2)] = round((head(f_test).argmax(1) == y_test).float().mean().item(), 3)
    return {"judge": "EfficientNet-Lite0 features + logistic regression (by L2 weight)", "image_size": 32,
            "real_accuracy": scores, "seconds": round(time.perf_counter() - t, 1)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--efflite0", action="store_true", help="also the pretrained-feature probe (needs the kid extra)")
    p.add_argument("--no-cnn", action="store_true", help="skip the CNN judges (the slow part)")
    args = p.parse_args()
    rows = ([] if args.no_cnn else cnn_judges(args.seeds)) + palette_judges() \
        + ([efflite0_probe()] if args.efflite0 else [])
    for row in rows:
        print(json.dumps({"benchmark": "stargan_judge", "data": "emoji_styles", "held_out": "300 real emoji",
                          "target_accuracy_goal": 0.95, **row}), flush=True)


if __name__ == "__main__":
    main()
