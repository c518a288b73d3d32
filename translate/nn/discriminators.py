"""The N-layer PatchGAN discriminator (pix2pix / CycleGAN): with n_layers=3 each output
judges a 70x70 input patch."""
from __future__ import annotations

from torch import nn

from translate.nn.layers import maybe_spectral_norm, norm_layer, uses_bias


class NLayerDiscriminator(nn.Module):
    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 3, norm: str = "instance",
                 spectral_norm: bool = False):
        super().__init__()
        Norm, bias = norm_layer(norm), uses_bias(norm)
        sn = lambda m: maybe_spectral_norm(m, spectral_norm)  # noqa: E731
        layers = [sn(nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1)), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < n_layers else 1  # the last hidden layer keeps the resolution
            layers += [
                sn(nn.Conv2d(ndf * prev, ndf * mult, 4, stride=stride, padding=1, bias=bias)),
                Norm(ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        layers.append(sn(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1)))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


def receptive_field(n_layers: int) -> int:
    """Receptive field (pixels) of one PatchGAN output: 16, 34, 70 for n_layers = 1, 2, 3."""
    rf = 1 + 3 + 3  # the two stride-1 4x4 convs at the end
    for _ in range(n_layers):  # each stride-2 4x4 conv, walking back to the input
        rf = rf * 2 + 2
    return rf
