"""A colour-palette classifier: logistic regression on an image's colour histogram.

Some domains differ mostly in their colours: emoji styles each draw from a palette of their own
(Twemoji's face yellow is not Fluent's). A histogram with 16 levels per channel tells the three
built-in emoji styles apart on 0.98 of the real held-out images (32x32, L2 1e-4), where the small
CNN of translate.nn.classifier reaches 0.88-0.93. It sees no shape at all, and a noisy image
spreads over many bins, so as a judge of generated images it asks one strict question: does the
image use the target domain's colours?
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PaletteClassifier(nn.Module):
    def __init__(self, channels: int, num_classes: int, bins: int = 16):
        super().__init__()
        if channels > 3:
            raise ValueError(f"a colour histogram of {channels} channels has {bins}^{channels} bins; expected 1-3")
        self.bins, self.channels = bins, channels
        self.head = nn.Linear(bins ** channels, num_classes)

    def histogram(self, x: torch.Tensor) -> torch.Tensor:
        """(N, bins^C): the square roots of each image's bin frequencies (x in [-1, 1]); the root
        keeps the large background bins from drowning the small telltale ones."""
        level = ((x.float() + 1) / 2 * self.bins).long().clamp(0, self.bins - 1)   # (N, C, H, W)
        index = torch.zeros_like(level[:, 0])
        for c in range(self.channels):
            index = index * self.bins + level[:, c]
        n, size = x.size(0), self.bins ** self.channels
        index = index.flatten(1) + torch.arange(n, device=x.device)[:, None] * size
        counts = torch.bincount(index.flatten(), minlength=n * size).view(n, size).float()
        return (counts / counts.sum(1, keepdim=True)).sqrt()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.histogram(x))


def fit_palette_classifier(images: torch.Tensor, labels: torch.Tensor, num_classes: int, *, bins: int = 16,
                           l2: float = 1e-4, max_iter: int = 500, device="cpu") -> PaletteClassifier:
    """Fit a PaletteClassifier to `images` (N, C, H, W) in [-1, 1] with `labels` (N,): L2-
    regularized cross-entropy, minimized by L-BFGS from zero weights (deterministic, no seed)."""
    if images.dim() != 4 or images.size(0) != labels.size(0) or images.size(0) == 0:
        raise ValueError(f"expected images (N, C, H, W) and labels (N,), got {tuple(images.shape)} "
                         f"and {tuple(labels.shape)}")
    model = PaletteClassifier(images.size(1), num_classes, bins).to(device)
    nn.init.zeros_(model.head.weight)
    nn.init.zeros_(model.head.bias)
    with torch.no_grad():
        features = model.histogram(images.to(device))
    labels = labels.long().to(device)
    opt = torch.optim.LBFGS(model.head.parameters(), max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(model.head(features), labels) + l2 * model.head.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():  # callers may be inside no_grad (evaluation code)
        opt.step(closure)
    return model.eval()
