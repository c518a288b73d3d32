"""Normalization choice, optional spectral norm and the normal(0, 0.02) initialization."""
from __future__ import annotations

import functools

from torch import nn


def norm_layer(kind: str):
    """A constructor `f(num_features) -> nn.Module` for "batch", "instance", "instance_affine" or "none"."""
    if kind == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if kind == "instance":
        # No running stats: instance norm normalizes each image by itself, in training and test.
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    if kind == "instance_affine":  # StarGAN: a learned scale and shift per channel
        return functools.partial(nn.InstanceNorm2d, affine=True, track_running_stats=False)
    if kind == "none":
        return lambda num_features: nn.Identity()
    raise ValueError(f"norm must be 'batch', 'instance', 'instance_affine' or 'none', got {kind!r}")


def uses_bias(kind: str) -> bool:
    # BatchNorm and affine instance norm have a shift of their own, so a bias in the preceding
    # conv is redundant.
    return kind not in ("batch", "instance_affine")


def maybe_spectral_norm(module: nn.Module, enabled: bool) -> nn.Module:
    return nn.utils.parametrizations.spectral_norm(module) if enabled else module


def init_weights(net: nn.Module, kind: str = "normal", gain: float = 0.02) -> nn.Module:
    """DCGAN/pix2pix/CycleGAN initialization: conv and linear weights ~ N(0, gain), biases 0;
    norm layers' scale ~ N(1, gain)."""

    def init(m):
        name = type(m).__name__
        # With spectral norm, `m.weight` is computed from the stored `original`: initialize that.
        if hasattr(m, "parametrizations") and "weight" in m.parametrizations:
            w = m.parametrizations.weight.original
        elif m._parameters.get("weight") is not None:
            w = m.weight
        else:
            return
        if "Conv" in name or "Linear" in name:
            if kind == "normal":
                nn.init.normal_(w, 0.0, gain)
            elif kind == "xavier":
                nn.init.xavier_normal_(w, gain=gain)
            elif kind == "kaiming":
                nn.init.kaiming_normal_(w, a=0, mode="fan_in")
            elif kind == "orthogonal":
                nn.init.orthogonal_(w, gain=gain)
            else:
                raise ValueError(f"unknown init {kind!r}")
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif "BatchNorm" in name or "GroupNorm" in name:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)

    net.apply(init)
    return net
