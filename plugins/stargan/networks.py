"""StarGAN's networks (Choi et al. 2018, appendix table 4 and the reference implementation).

Generator: the target-domain label, broadcast to label planes, is concatenated to the image;
c7s1-64, two 4x4 stride-2 downsamplings, residual blocks, two 4x4 stride-2 upsamplings,
c7s1-3 and tanh, with instance norm (affine) and zero padding.
Discriminator: PatchGAN without normalization (4x4 stride-2 convs, LeakyReLU 0.01), a 3x3 head
for real/fake per patch and a head as large as the last feature map for the domain logits.
"""
from __future__ import annotations

import torch
from torch import nn

from translate.nn.generators import ResnetBlock
from translate.nn.image_conv import ImageConv2d
from translate.nn.layers import SmallOutputConv2d, norm_layer


class StarGenerator(nn.Module):
    size_multiple = 4  # two stride-2 downsamplings

    def __init__(self, channels: int, num_domains: int, ngf: int = 64, n_blocks: int = 6):
        super().__init__()
        Norm = norm_layer("instance_affine")
        layers = [ImageConv2d(channels + num_domains, ngf, 7, padding=3, bias=False), Norm(ngf), nn.ReLU(True)]
        c = ngf
        for _ in range(2):
            layers += [nn.Conv2d(c, c * 2, 4, stride=2, padding=1, bias=False), Norm(c * 2), nn.ReLU(True)]
            c *= 2
        layers += [ResnetBlock(c, "instance_affine", False, padding="zeros") for _ in range(n_blocks)]
        for _ in range(2):
            layers += [nn.ConvTranspose2d(c, c // 2, 4, stride=2, padding=1, bias=False), Norm(c // 2), nn.ReLU(True)]
            c //= 2
        layers += [ImageConv2d(c, channels, 7, padding=3, bias=False), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """image (N, C, H, W) in [-1, 1]; target (N, num_domains) one-hot / attribute vector."""
        n, _, h, w = image.shape
        planes = target.to(image.dtype).view(n, -1, 1, 1).expand(n, target.size(1), h, w)
        return self.model(torch.cat([image, planes], dim=1))


class StarDiscriminator(nn.Module):
    """forward(x) -> (real/fake logits (N, 1, H/2^L, W/2^L), domain logits (N, num_domains))."""

    def __init__(self, channels: int, num_domains: int, image_size: int, ndf: int = 64, n_layers: int = 6):
        super().__init__()
        if image_size % 2**n_layers:
            raise ValueError(f"the discriminator's {n_layers} stride-2 layers need an image size that is a "
                             f"multiple of {2**n_layers}, got {image_size}")
        # The last layers have large weights and tiny outputs (2x2 at 128x128): SmallOutputConv2d.
        layers = [SmallOutputConv2d(channels, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.01)]
        c = ndf
        for _ in range(1, n_layers):
            layers += [SmallOutputConv2d(c, c * 2, 4, stride=2, padding=1), nn.LeakyReLU(0.01)]
            c *= 2
        self.main = nn.Sequential(*layers)
        self.src = nn.Conv2d(c, 1, 3, stride=1, padding=1, bias=False)
        self.cls = nn.Conv2d(c, num_domains, image_size // 2**n_layers, bias=False)

    def forward(self, x: torch.Tensor):
        h = self.main(x)
        return self.src(h), self.cls(h).flatten(1)
