"""Normalization choice, optional spectral norm, the normal(0, 0.02) initialization, a
convolution for tiny outputs on the CPU, and what the layers that pick their own CPU kernels share."""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
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


class SmallOutputConv2d(nn.Conv2d):
    """A Conv2d that computes outputs of at most 16 positions (4x4) per image on the CPU as one
    matrix product over the unfolded input: the same convolution, but oneDNN's kernels are slow
    for a large weight over a tiny output (StarGAN's last discriminator layer at 128x128: 1024 -> 2048
    channels, 4x4 kernel, 2x2 outputs; forward, backward and the gradient penalty's double backward
    take 1.4-3x longer there). Elsewhere it is a plain Conv2d."""

    MAX_POSITIONS = 16

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (x.device.type != "cpu" or x.dim() != 4 or isinstance(self.padding, str) or self.groups != 1
                or self.padding_mode != "zeros" or self.dilation != (1, 1)):
            return super().forward(x)
        n, _, h, w = x.shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
        if oh * ow > self.MAX_POSITIONS:
            return super().forward(x)
        cols = F.unfold(x, self.kernel_size, padding=self.padding, stride=self.stride)   # (n, c*kh*kw, oh*ow)
        cols = cols.transpose(0, 1).reshape(cols.size(1), n * oh * ow)                 # one product for the batch
        weight = self.weight.reshape(self.out_channels, -1)   # a view unless the weight is channels_last
        y = weight @ cols if self.bias is None else torch.addmm(self.bias.view(-1, 1), weight, cols)
        return y.view(self.out_channels, n, oh, ow).transpose(0, 1)


def own_cpu_kernel_allowed(conv: nn.Conv2d, x: torch.Tensor) -> bool:
    """Whether a Conv2d subclass may compute `conv(x)` its own way: a batched float32 input and
    weight on the CPU, no autocast, and no ONNX export or torch.compile tracing it (those get the
    plain convolution)."""
    return (x.device.type == "cpu" and x.dim() == 4 and x.dtype == torch.float32
            and conv.weight.dtype == torch.float32 and not torch.is_autocast_enabled("cpu")
            and conv.dilation == (1, 1) and conv.groups == 1
            and not torch.onnx.is_in_onnx_export() and not torch.compiler.is_compiling())


def pad_as_conv(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """x padded as `conv` pads it (every padding form and mode), for a valid convolution after."""
    pads = conv._reversed_padding_repeated_twice   # set by Conv2d for every padding form
    if not any(pads):
        return x
    return F.pad(x, pads, mode="constant" if conv.padding_mode == "zeros" else conv.padding_mode)
