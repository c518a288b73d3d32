"""Image-to-image generators shared by the model plugins: the ResNet generator (Johnson et al.
2016, as used by CycleGAN) and the U-Net generator (pix2pix)."""
from __future__ import annotations

from torch import nn
import torch

from translate.errors import ConfigError
from translate.nn.image_conv import ImageConv2d
from translate.nn.layers import norm_layer, uses_bias
from translate.nn.winograd import WinogradConv2d


class ResnetBlock(nn.Module):
    def __init__(self, dim: int, norm: str, use_dropout: bool, padding: str = "reflect"):
        super().__init__()
        Norm, bias = norm_layer(norm), uses_bias(norm)
        layers = [
            WinogradConv2d(dim, dim, 3, padding=1, padding_mode=padding, bias=bias),
            Norm(dim),
            nn.ReLU(True),
        ]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        layers += [WinogradConv2d(dim, dim, 3, padding=1, padding_mode=padding, bias=bias), Norm(dim)]
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.block(x)


class ResnetGenerator(nn.Module):
    """c7s1-64, d128, d256, n_blocks x R256, u128, u64, c7s1-3 (the CycleGAN paper's appendix).
    Spatial size must be a multiple of 4 (two stride-2 downsamplings): `size_multiple`."""

    size_multiple = 4

    @classmethod
    def check_image_size(cls, image_size: int) -> None:
        """A training size the generator cannot give back (its output would differ in size from
        its input) is a config error up front, not a shape error in the first loss."""
        if image_size % cls.size_multiple:
            lower = image_size - image_size % cls.size_multiple
            raise ConfigError(f"--image-size {image_size}: the ResNet generator downsamples twice by 2, so the "
                              f"training size must be a multiple of {cls.size_multiple} (e.g. {lower or 4} or "
                              f"{lower + cls.size_multiple})")

    def __init__(self, in_channels: int, out_channels: int, ngf: int = 64, n_blocks: int = 9,
                 norm: str = "instance", use_dropout: bool = False, padding: str = "reflect"):
        super().__init__()
        Norm, bias = norm_layer(norm), uses_bias(norm)
        layers = [
            ImageConv2d(in_channels, ngf, 7, padding=3, padding_mode=padding, bias=bias),
            Norm(ngf),
            nn.ReLU(True),
        ]
        for i in range(2):  # downsampling
            c = ngf * 2**i
            layers += [nn.Conv2d(c, c * 2, 3, stride=2, padding=1, bias=bias), Norm(c * 2), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4, norm, use_dropout, padding) for _ in range(n_blocks)]
        for i in range(2):  # upsampling
            c = ngf * 2 ** (2 - i)
            layers += [
                nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1, bias=bias),
                Norm(c // 2),
                nn.ReLU(True),
            ]
        layers += [ImageConv2d(ngf, out_channels, 7, padding=3, padding_mode=padding), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)

    def encode(self, x, cuts) -> list:
        """The activations at the given cut points, for feature losses such as CUT's PatchNCE:
        cut k is the input of `self.model[k]` (0 = the image itself, 4 = after the first
        downsampling conv, 10 = after the first ResNet block). Runs only as far as needed and
        returns them in the order asked."""
        cuts = list(cuts)
        if any(not 0 <= k <= len(self.model) for k in cuts):
            raise ValueError(f"cut points must lie in 0..{len(self.model)}, got {cuts}")
        feats = {}
        for k in range(max(cuts, default=-1) + 1):
            if k in cuts:
                feats[k] = x
            if k < len(self.model):
                x = self.model[k](x)
        return [feats[k] for k in cuts]


class UnetSkipBlock(nn.Module):
    """One U-Net level: down -> (inner levels) -> up, with the input concatenated to the output."""

    def __init__(self, outer: int, inner: int, in_channels: int | None = None, submodule=None,
                 outermost=False, innermost=False, norm: str = "batch", use_dropout=False,
                 out_channels: int | None = None):
        super().__init__()
        self.outermost = outermost
        Norm, bias = norm_layer(norm), uses_bias(norm)
        in_channels = outer if in_channels is None else in_channels
        down = nn.Conv2d(in_channels, inner, 4, stride=2, padding=1, bias=bias)
        if outermost:
            up = nn.ConvTranspose2d(inner * 2, out_channels or outer, 4, stride=2, padding=1)
            layers = [down, submodule, nn.ReLU(True), up, nn.Tanh()]
        elif innermost:
            up = nn.ConvTranspose2d(inner, outer, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True), up, Norm(outer)]
        else:
            up = nn.ConvTranspose2d(inner * 2, outer, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down, Norm(inner), submodule, nn.ReLU(True), up, Norm(outer)]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        y = self.model(x)
        return y if self.outermost else torch.cat([x, y], 1)


class UnetGenerator(nn.Module):
    """U-Net with `num_downs` stride-2 levels (7 for unet_128, 8 for unet_256): the input size
    must be a multiple of 2**num_downs (`size_multiple`)."""

    def __init__(self, in_channels: int, out_channels: int, num_downs: int = 8, ngf: int = 64,
                 norm: str = "batch", use_dropout: bool = True):
        super().__init__()
        self.size_multiple = 2**num_downs
        block = UnetSkipBlock(ngf * 8, ngf * 8, innermost=True, norm=norm)
        for _ in range(num_downs - 5):
            block = UnetSkipBlock(ngf * 8, ngf * 8, submodule=block, norm=norm, use_dropout=use_dropout)
        block = UnetSkipBlock(ngf * 4, ngf * 8, submodule=block, norm=norm)
        block = UnetSkipBlock(ngf * 2, ngf * 4, submodule=block, norm=norm)
        block = UnetSkipBlock(ngf, ngf * 2, submodule=block, norm=norm)
        self.model = UnetSkipBlock(ngf, ngf, in_channels=in_channels, submodule=block, outermost=True,
                                   norm=norm, out_channels=out_channels)

    def forward(self, x):
        return self.model(x)
