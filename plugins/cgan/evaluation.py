"""Held-out numbers for a class-conditional generator.

- label accuracy: a SmallClassifier trained on the real *training* images classifies generated
  images; the share assigned to their conditioning label, beside chance (1 / classes) and the
  same classifier's accuracy on the real test images (what a perfect generator could reach);
- diversity: the mean pairwise RMS pixel distance between samples of the same class, beside the
  same figure on the real test images of that class: mode collapse shows as a much lower value;
- optionally KID-EffLite0 (the `kid` extra) between real test images and as many generated ones.
"""
from __future__ import annotations

import torch

from translate.nn.classifier import accuracy, fit_classifier


@torch.no_grad()
def generate(G, labels: torch.Tensor, nz: int, device, seed: int = 0, batch_size: int = 256) -> torch.Tensor:
    """G(z, labels) with z from a seeded generator of its own, on CPU in [-1, 1]."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(labels.size(0), nz, generator=gen)
    return torch.cat([G(z[i:i + batch_size].to(device), labels[i:i + batch_size].to(device)).float().cpu()
                      for i in range(0, labels.size(0), batch_size)]).clamp(-1, 1)


def within_class_distance(images: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean over classes of the mean pairwise RMS distance between images of that class."""
    values = []
    for c in labels.unique():
        x = images[labels == c].flatten(1).double()
        n = x.size(0)
        if n < 2:
            continue
        d = torch.cdist(x, x) / x.size(1) ** 0.5
        values.append((d.sum() / (n * (n - 1))).item())
    return sum(values) / len(values) if values else float("nan")


def evaluate_conditional(G, nz: int, train_set, test_set, device, *, samples_per_class: int,
                         classifier_steps: int, kid_samples: int = 0, seed: int = 0) -> dict:
    num_classes = len(test_set.classes)
    train_x, train_y = train_set.tensors()
    test_x, test_y = test_set.tensors()
    clf = fit_classifier(train_x, train_y, num_classes, steps=classifier_steps, seed=seed, device=device)
    labels = torch.arange(num_classes).repeat_interleave(samples_per_class)
    fake = generate(G, labels, nz, device, seed=seed)
    out = {
        "samples": fake.size(0),
        "label_accuracy": accuracy(clf, fake, labels),
        "chance_accuracy": 1.0 / num_classes,
        "real_test_accuracy": accuracy(clf, test_x, test_y),
        "diversity": within_class_distance(fake, labels),
        "real_diversity": within_class_distance(test_x, test_y),
    }
    if kid_samples > 0:
        from translate.metrics import kid_report

        n = min(kid_samples, test_x.size(0))
        pick = torch.randperm(test_x.size(0), generator=torch.Generator().manual_seed(seed))[:n]
        kid_labels = test_y[pick]  # generated with the real images' class mix
        out.update(kid_report(test_x[pick], generate(G, kid_labels, nz, device, seed=seed + 1), device))
    return out
