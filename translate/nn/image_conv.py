"""Convolutions with an image's few channels on one side (RGB in or out), for the CPU.

oneDNN's CPU convolution vectorizes over the channels it writes, so a convolution that writes 3
of them leaves most of each vector register empty: a ResNet generator's 7x7 RGB output layer, and
the input gradient of its 7x7 RGB input layer, run several times slower per FLOP than its other
layers. A kh x kw convolution is the sum over its kh kernel rows of 1 x kw convolutions of
row-shifted inputs. Computed as one 1 x kw convolution into kh times as many channels (the rows'
kernels stacked) plus kh shifted additions, the vectors fill up: the same convolution, summed in
another order (float32 results within rounding of the direct one).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from translate.nn.layers import own_cpu_kernel_allowed, pad_as_conv


class _ShiftedRowSum(torch.autograd.Function):
    """z (N, kh, K, H, W) -> the sum over r of z[:, r, :, r:r + H - kh + 1]. Autograd's backward of
    these slices would add up kh zero-filled copies of z; this one writes each once. Backwards
    here are made of differentiable operations, so second derivatives stay correct."""

    @staticmethod
    def forward(ctx, z):
        kh, out_h = z.size(1), z.size(3) - z.size(1) + 1
        ctx.kh = kh
        y = z[:, 0, :, :out_h].clone()
        for r in range(1, kh):
            y += z[:, r, :, r:r + out_h]
        return y

    @staticmethod
    def backward(ctx, grad):
        kh = ctx.kh
        return torch.stack([F.pad(grad, (0, 0, r, kh - 1 - r)) for r in range(kh)], dim=1)


class _ShiftedRowSpread(torch.autograd.Function):
    """z (N, kh, C, H, W) -> y (N, C, H + kh - 1, W) with z[:, r] added at rows r to r + H - 1."""

    @staticmethod
    def forward(ctx, z):
        n, kh, c, h, w = z.shape
        ctx.kh = kh
        y = z.new_zeros(n, c, h + kh - 1, w)
        for r in range(kh):
            y[:, :, r:r + h] += z[:, r]
        return y

    @staticmethod
    def backward(ctx, grad):
        kh = ctx.kh
        h = grad.size(2) - kh + 1
        return torch.stack([grad[:, :, r:r + h] for r in range(kh)], dim=1)


def conv2d_by_rows(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """F.conv2d(x, weight) (stride 1, no padding, one group) as a 1 x kw convolution into
    kh * K channels plus the sum of kh row-shifted maps. Differentiable."""
    k, c, kh, kw = weight.shape
    rows = weight.permute(2, 0, 1, 3).reshape(kh * k, c, 1, kw)   # channel r * K + o: kernel row r of output o
    z = F.conv2d(x, rows)
    return _ShiftedRowSum.apply(z.view(z.size(0), kh, k, z.size(2), z.size(3)))


def conv2d_input_grad_by_rows(grad: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The gradient of F.conv2d(x, weight) (stride 1, no padding, one group) with respect to x,
    for the gradient `grad` of its output: a 1 x kw transposed convolution into kh * C channels
    plus kh row-shifted additions. Differentiable."""
    k, c, kh, kw = weight.shape
    rows = weight.permute(0, 2, 1, 3).reshape(k, kh * c, 1, kw)   # channel r * C + i: kernel row r of input i
    z = F.conv_transpose2d(grad, rows)
    return _ShiftedRowSpread.apply(z.view(z.size(0), kh, c, z.size(2), z.size(3)))


class _RowsInputGradient(torch.autograd.Function):
    """F.conv2d(x, weight) whose input gradient, a convolution writing x's few channels, is
    computed by rows. Its backward is made of differentiable operations."""

    @staticmethod
    def forward(ctx, x, weight):
        ctx.save_for_backward(x, weight)
        return F.conv2d(x, weight)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        grad_x = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_x = conv2d_input_grad_by_rows(grad, weight)
        if ctx.needs_input_grad[1]:
            grad_weight = torch.nn.grad.conv2d_weight(x, weight.shape, grad)
        return grad_x, grad_weight


class ImageConv2d(nn.Conv2d):
    """nn.Conv2d (same parameters and state-dict keys) for a generator's image-facing layers: on
    the CPU in float32, a stride-1 convolution with a kernel taller than one row that writes at
    most `max_channels` channels is computed by rows, and one that reads at most `max_channels`
    channels computes its input gradient by rows. Elsewhere (GPUs, reduced precision, ONNX
    export, torch.compile) it is a plain Conv2d."""

    # benchmarks/image_conv.py, 2 threads, 7x7 layers at 128x128: writing 3 channels trains 1.5-1.9x
    # faster (1 channel: 3.8x), reading 3 channels with the input gradient 1.5-1.6x; reading 6 or 8
    # channels gains 0.86-1.16x between runs, and at 16 channels rows are slower.
    max_channels = 4

    def _by_rows(self, x: torch.Tensor) -> bool:
        return (own_cpu_kernel_allowed(self, x) and self.kernel_size[0] > 1 and self.stride == (1, 1)
                and min(self.in_channels, self.out_channels) <= self.max_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._by_rows(x):
            return super().forward(x)
        if self.out_channels > self.max_channels and not (torch.is_grad_enabled() and x.requires_grad):
            return super().forward(x)   # few input channels, but no input gradient to compute
        x = pad_as_conv(self, x)
        if self.out_channels <= self.max_channels:
            y = conv2d_by_rows(x, self.weight)
        else:
            y = _RowsInputGradient.apply(x, self.weight)
        return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)
