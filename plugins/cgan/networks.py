"""DCGAN-style conditional networks (Radford et al. 2016 design rules, Mirza & Osindero 2014
conditioning): transposed convolutions + BatchNorm + ReLU in G with a tanh output, strided
convolutions + LeakyReLU(0.2) in D, BatchNorm in D except on its input layer, no pooling and
no fully connected hidden layers.

Both networks see the label one-hot, as in Mirza & Osindero: G(z, y) starts from [z, onehot(y)]
as a 1x1 map and grows it to the image size; D(x, y) reads the image with onehot(y) broadcast
to extra input channels. The one-hot code is fixed on purpose: with a learned label embedding
the generator can grow the embedding until BatchNorm scales the noise away, and then it
ignores z (every sample of a class looks the same).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from translate.errors import ConfigError


def upsamplings(image_size: int) -> int:
    """k for image_size = 4 * 2**k (k >= 1): the number of stride-2 layers in G and D."""
    k = math.log2(image_size / 4) if image_size > 4 else 0
    if image_size < 8 or k != int(k):
        raise ConfigError(f"--image-size {image_size}: the DCGAN networks need 4 * 2**k pixels "
                          f"(8, 16, 32, 64, 128, ...)")
    return int(k)


class OneHot(nn.Module):
    """Class indices (N,) -> one-hot rows (N, num_classes); a Gather in ONNX."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.register_buffer("eye", torch.eye(num_classes), persistent=False)

    def forward(self, label: torch.Tensor) -> torch.Tensor:
        return self.eye[label]


class ConditionalGenerator(nn.Module):
    def __init__(self, num_classes: int, out_channels: int, image_size: int, nz: int = 100, ngf: int = 64):
        super().__init__()
        k = upsamplings(image_size)
        self.nz = nz
        self.onehot = OneHot(num_classes)
        ch = ngf * 2 ** (k - 1)
        layers = [nn.ConvTranspose2d(nz + num_classes, ch, 4, 1, 0, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True)]
        for _ in range(k - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, out_channels, 4, 2, 1), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        h = torch.cat([z, self.onehot(label)], 1)
        return self.model(h[:, :, None, None])


class ConditionalDiscriminator(nn.Module):
    def __init__(self, num_classes: int, in_channels: int, image_size: int, ndf: int = 64):
        super().__init__()
        k = upsamplings(image_size)
        self.onehot = OneHot(num_classes)
        layers = [nn.Conv2d(in_channels + num_classes, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        ch = ndf
        for _ in range(k - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch * 2), nn.LeakyReLU(0.2, True)]
            ch *= 2
        layers.append(nn.Conv2d(ch, 1, 4, 1, 0))      # 4x4 -> one logit
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        maps = self.onehot(label)[:, :, None, None].expand(-1, -1, x.size(2), x.size(3))
        return self.model(torch.cat([x, maps], 1)).flatten()
