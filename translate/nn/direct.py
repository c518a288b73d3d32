"""A switch back to plain convolutions for the layers that choose their own CPU kernels."""
from __future__ import annotations

import contextlib

from translate.nn.image_conv import ImageConv2d
from translate.nn.winograd import WinogradConv2d


@contextlib.contextmanager
def direct_convolutions():
    """Inside the block every WinogradConv2d and ImageConv2d computes its convolution as
    nn.Conv2d does (e.g. to count the FLOPs the model's math takes, or to compare against it)."""
    saved = WinogradConv2d.min_channels, ImageConv2d.max_channels
    WinogradConv2d.min_channels, ImageConv2d.max_channels = 1 << 62, 0
    try:
        yield
    finally:
        WinogradConv2d.min_channels, ImageConv2d.max_channels = saved
