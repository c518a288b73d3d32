"""Does StarGAN's discriminator memorize its training set? Its domain head's accuracy on the real
training images beside the real held-out ones, for each checkpoint given.

StarGAN's generator learns the target style from D's domain head (the classification loss of its
fakes). A head that names every training image and far fewer held-out ones has memorized the
training set, and the generator then learns to please a memorizer instead of the style: the case
for `--d-augment` (DiffAugment). Prints one JSON line per checkpoint.

    python benchmarks/stargan_d_memorization.py runs/<run>/checkpoints/step_0*.pt
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from translate.data import resolve_root
from translate.plugins.stargan.evaluation import _stack
from translate.registry import get_plugins
from translate.restore import build_model, load_run

MAX_IMAGES = 5000


@torch.no_grad()
def head_accuracy(D, images: torch.Tensor, labels: torch.Tensor, batch: int = 256) -> float:
    logits = torch.cat([D(images[i:i + batch])[1] for i in range(0, len(images), batch)])
    return float((logits.argmax(1) == labels.argmax(1)).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", help="StarGAN checkpoints (step_N.pt) of single-label domain data")
    args = parser.parse_args()
    device, plugins, splits = torch.device("cpu"), get_plugins(), {}
    for path in args.checkpoints:
        _, ckpt, cls, config = load_run(path, expect_plugin="stargan")
        model = build_model(cls, config, ckpt, device, where=path)
        if model.data.multi_label:
            parser.error(f"{path}: trained on an attribute table; this measures single-label domains")
        key = (config.data.data, config.data.image_size)
        if key not in splits:   # the same data for every checkpoint of a run: load it once
            kind = plugins.dataset_kinds.get(cls.dataset_kind).load()
            root, _ = resolve_root(config.data.data, cls.dataset_kind, plugins)
            splits[key] = {split: _stack(kind(root, split, image_size=config.data.image_size,
                                              channels=config.data.channels, augment=False), MAX_IMAGES)
                           for split in ("train", "test")}
        scores = {split: round(head_accuracy(model.D, *data), 4) for split, data in splits[key].items()}
        print(json.dumps({"checkpoint": str(path), "step": ckpt["step"], "seed": config.train.seed,
                          "d_augment": config.model.d_augment,
                          "train_accuracy": scores["train"], "heldout_accuracy": scores["test"],
                          "chance": round(1 / len(model.data.domains), 4)}), flush=True)


if __name__ == "__main__":
    main()
