"""The networks of DANN's digit experiments (Ganin & Lempitsky 2015, MNIST -> MNIST-M):
a small convolutional feature extractor, a label predictor and a domain classifier on its
features. Width and depth are configurable; the defaults are the paper's."""
from __future__ import annotations

import torch
from torch import nn

from translate.errors import ConfigError


class Standardize(nn.Module):
    """Per-image input standardization, the extractor's first layer (so it is part of the export):
    "channel" subtracts each image's own per-channel mean and divides by its per-channel std;
    "gray" does the same to one luminance-like view (the mean over channels), giving 1 channel."""

    def __init__(self, kind: str, eps: float = 1e-3):
        super().__init__()
        self.kind, self.eps = kind, float(eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "gray":
            x = x.mean(dim=1, keepdim=True)
        mean = x.mean(dim=(2, 3), keepdim=True)
        std = (x - mean).pow(2).mean(dim=(2, 3), keepdim=True).add(self.eps ** 2).sqrt()
        return (x - mean) / std

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, eps={self.eps}"


STANDARDIZE = ("none", "channel", "gray")


class FeatureExtractor(nn.Module):
    """`depth` blocks of conv 5x5 (no padding) -> ReLU -> max-pool 2x2; block k has
    width * (k + 2) / 2 filters: the paper's 32 and 48 for width 32, depth 2 (28x28 -> 48x4x4).
    `dropout` > 0 zeroes whole feature maps of the last block while training (Dropout2d)."""

    def __init__(self, in_channels: int, image_size: int, width: int = 32, depth: int = 2,
                 standardize: str = "none", dropout: float = 0.0):
        super().__init__()
        if standardize not in STANDARDIZE:
            raise ConfigError(f"--standardize {standardize!r}: expected one of {', '.join(STANDARDIZE)}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"--dropout {dropout}: expected a probability in [0, 1)")
        layers, ch, size = [], in_channels, int(image_size)
        if standardize != "none":
            layers.append(Standardize(standardize))
            ch = 1 if standardize == "gray" else ch
        for k in range(depth):
            out = width * (k + 2) // 2
            layers += [nn.Conv2d(ch, out, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            ch, size = out, (size - 4) // 2
            if size < 1:
                raise ConfigError(f"--depth {depth}: {image_size}x{image_size} images are too small for "
                                  f"{k + 1} blocks of 5x5 convolution + 2x2 pooling; use a smaller "
                                  f"--depth or a larger --image-size")
        if dropout:
            layers.append(nn.Dropout2d(dropout))
        self.net = nn.Sequential(*layers, nn.Flatten())
        self.out_features = ch * size * size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def mlp(in_features: int, hidden: int, layers: int, out_features: int) -> nn.Sequential:
    """`layers` hidden Linear + ReLU layers of `hidden` units, then a Linear output layer."""
    mods, width = [], in_features
    for _ in range(layers):
        mods += [nn.Linear(width, hidden), nn.ReLU(inplace=True)]
        width = hidden
    return nn.Sequential(*mods, nn.Linear(width, out_features))


class Classifier(nn.Module):
    """Feature extractor + label predictor -> class probabilities: what leaves as ONNX."""

    def __init__(self, features: nn.Module, label_predictor: nn.Module):
        super().__init__()
        self.features, self.label_predictor = features, label_predictor

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.label_predictor(self.features(image)), dim=1)
