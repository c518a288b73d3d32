"""StarGAN's held-out evaluation.

(a) Target-domain accuracy: a small classifier trained on real images of the training split
    (translate.nn.classifier, its local design: domains differ in style, texture and colour more
    than in shape) classifies every held-out image translated to every other domain; the
    accuracy is how often it names the target domain. Its accuracy on the real held-out images
    is reported beside it, to show how far the judge itself can be trusted (for domain folders it
    is what a perfect translator, one returning the true target images, would score). For
    attribute tables there is one binary classifier per attribute, and each translation flips
    one attribute.
    For domain folders a second, stricter judge scores the same translations: a colour-palette
    classifier (translate.nn.palette), as `palette/target_accuracy` beside its own
    `palette/real_accuracy`. On the built-in emoji styles it names 0.98 of the real held-out
    images (the CNN 0.88-0.90), and it only names a translation's target when the translation
    uses that style's colours, cleanly: noise spreads an image over the histogram.
(b) For single-label data whose held-out files share names across domains (the same content in
    each), PSNR/SSIM of each translation against the true image in the target domain, beside the
    identity baseline (the untranslated input against the same true image).
"""
from __future__ import annotations

import functools

import torch

from translate.metrics import psnr_ssim
from translate.nn.classifier import accuracy, fit_classifier
from translate.nn.palette import PaletteClassifier, fit_palette_classifier

CLASSIFIER_STEPS = 300
CLASSIFIER_MAX_IMAGES = 5000   # enough for a judge; CelebA has 200k training images
BATCH = 32


def _stack(dataset, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """All (or `limit` evenly spaced) images and labels of a dataset, as tensors."""
    n = len(dataset)
    indices = range(n) if not limit or n <= limit else [i * n // limit for i in range(limit)]
    items = [dataset[i] for i in indices]
    return torch.stack([it["image"] for it in items]), torch.stack([it["label"] for it in items]).float()


def train_judges(dataset, seed: int, device) -> tuple[list, PaletteClassifier | None]:
    """Classifiers trained on the real training images: one over domains, or one per attribute;
    and for domain folders of 1-3 channels the colour-palette classifier (else None)."""
    train = type(dataset)(dataset.root, "train", image_size=dataset.image_size, channels=dataset.channels,
                          augment=False, **({"domains": list(dataset.domains)} if dataset.multi_label else {}))
    images, labels = _stack(train, CLASSIFIER_MAX_IMAGES)
    palette = None
    if not dataset.multi_label and dataset.channels <= 3:
        palette = fit_palette_classifier(images, labels.argmax(1), labels.size(1), device=device)
    with torch.enable_grad():  # evaluation runs under no_grad; the judges learn
        return _fit_judges(images, labels, dataset.multi_label, seed, device), palette


def _fit_judges(images, labels, multi_label: bool, seed: int, device) -> list:
    fit = functools.partial(fit_classifier, images, steps=CLASSIFIER_STEPS, device=device, local=True)
    if not multi_label:
        return [fit(labels.argmax(1), labels.size(1), seed=seed)]
    return [fit(labels[:, k].long(), 2, seed=seed + k) for k in range(labels.size(1))]


@torch.no_grad()
def evaluate_translations(model, dataset, device, seed: int = 0) -> dict:
    (judges, palette), G = train_judges(dataset, seed, device), model.generator()
    images, labels = _stack(dataset)
    n_domains = labels.size(1)
    real_acc = (sum(accuracy(j, images, labels[:, k].long()) for k, j in enumerate(judges)) / len(judges)
                if dataset.multi_label else accuracy(judges[0], images, labels.argmax(1)))
    correct = total = palette_correct = 0
    sums = {"psnr": 0.0, "ssim": 0.0, "identity/psnr": 0.0, "identity/ssim": 0.0}
    pairs = 0
    for start in range(0, images.size(0), BATCH):
        x, lab = images[start:start + BATCH].to(device), labels[start:start + BATCH].to(device)
        for k in range(n_domains):
            target = model.target_labels(lab, k)
            keep = torch.ones(x.size(0), dtype=torch.bool) if dataset.multi_label else lab[:, k].cpu() == 0
            if not keep.any():
                continue
            out = G(x[keep.to(device)], target[keep.to(device)]).float().cpu()
            if dataset.multi_label:
                correct += accuracy(judges[k], out, target[keep.to(device), k].cpu()) * out.size(0)
            else:
                correct += accuracy(judges[0], out, torch.full((out.size(0),), k)) * out.size(0)
            if palette is not None:
                palette_correct += accuracy(palette, out, torch.full((out.size(0),), k)) * out.size(0)
            total += out.size(0)
            for j, i in enumerate(keep.nonzero().flatten().tolist()):
                truth = dataset.counterpart(start + i, k) if not dataset.multi_label else None
                if truth is None:
                    continue
                psnr, ssim = psnr_ssim(torch.stack([out[j], images[start + i]]), torch.stack([truth, truth]))
                sums["psnr"] += psnr[0].item()
                sums["ssim"] += ssim[0].item()
                sums["identity/psnr"] += psnr[1].item()
                sums["identity/ssim"] += ssim[1].item()
                pairs += 1
    result = {"translations": total, "target_accuracy": correct / max(total, 1), "real_accuracy": real_acc}
    if palette is not None:
        result.update({"palette/target_accuracy": palette_correct / max(total, 1),
                       "palette/real_accuracy": accuracy(palette, images, labels.argmax(1))})
    if pairs:
        result.update({"pairs": pairs, **{k: v / pairs for k, v in sums.items()}})
    return result
