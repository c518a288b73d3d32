"""3x3 convolutions by Winograd's minimal filtering F(4x4, 3x3) for training on the CPU.

oneDNN's CPU convolution is direct: 9 multiply-adds per output pixel and channel pair. Winograd
(Lavin & Gray 2016) computes each 4x4 output tile from a 6x6 input tile with 36 products instead
of 144, so the forward pass and both backward products become 36 batched matrix products over
the channels with 4x fewer multiply-adds, plus cheap tile transforms. It is the same convolution
(exact in real arithmetic; in float32 within about 1e-5 relative of the direct one, as cuDNN's
Winograd kernels are on GPUs). The ResNet generators' residual blocks (256 channels) are most of
a CycleGAN or StarGAN step.
"""
from __future__ import annotations

import functools
import weakref

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable
from torch.optim.optimizer import register_optimizer_step_post_hook

from translate.export.winograd import winograd_matrices
from translate.nn.layers import own_cpu_kernel_allowed, pad_as_conv

TILE = 4            # output tile (F(4x4, 3x3)); input tiles are TILE + 2 = 6 wide
_bt, _g, _at = winograd_matrices()
# The 2-D transforms as one matrix each on a tile flattened row-major: vec(B^T d B) = kron(B^T, B^T) vec(d);
# float64, cast to the input's dtype on use (1/6 and 1/24 are not exact in float32).
_B = torch.tensor(np.kron(_bt, _bt), dtype=torch.float64)   # (36, 36) input transform
_G = torch.tensor(np.kron(_g, _g), dtype=torch.float64)     # (36, 9) kernel transform
_A = torch.tensor(np.kron(_at, _at), dtype=torch.float64)   # (16, 36) output transform


class _Winograd3x3(torch.autograd.Function):
    """Valid 3x3 convolution of an already padded x (N, C, H + 2, W + 2) with the transformed
    weight u (36, K, C): (N, K, H, W). Layouts are chosen so every product is one large matrix
    product."""

    @staticmethod
    def forward(ctx, x, u):
        n, c, hp, wp = x.shape
        k = u.size(1)
        h, wd = hp - 2, wp - 2
        th, tw = -(-h // TILE), -(-wd // TILE)
        tiles = n * th * tw
        b, a = _B.to(x), _A.to(x)
        x = F.pad(x, (0, TILE * tw + 2 - wp, 0, TILE * th + 2 - hp))   # whole tiles
        # The input transform of every tile is a convolution of each channel with 36 6x6 kernels,
        # stride 4: one oneDNN call, 3x faster than extracting the tiles and multiplying.
        v = F.conv2d(x.reshape(n * c, 1, x.size(2), x.size(3)), b.view(36, 1, TILE + 2, TILE + 2), stride=TILE)
        v = v.view(n, c, 36, th * tw).permute(2, 1, 0, 3).reshape(36, c, tiles)
        m = torch.bmm(u, v)                                               # (36, K, tiles)
        y = (a @ m.view(36, k * tiles)).view(TILE, TILE, k, n, th, tw)
        y = y.permute(3, 2, 4, 0, 5, 1).reshape(n, k, TILE * th, TILE * tw)
        ctx.save_for_backward(u, v)
        ctx.shape = (n, c, k, hp, wp, th, tw)
        return y[:, :, :h, :wd]

    @staticmethod
    @once_differentiable   # its products use the saved transforms: a second derivative must fail loudly
    def backward(ctx, grad):
        u, v = ctx.saved_tensors
        n, c, k, hp, wp, th, tw = ctx.shape
        tiles = n * th * tw
        b, a = _B.to(grad), _A.to(grad)
        grad = F.pad(grad, (0, TILE * tw - grad.size(3), 0, TILE * th - grad.size(2)))
        grad = grad.reshape(n, k, th, TILE, tw, TILE).permute(3, 5, 1, 0, 2, 4).reshape(TILE * TILE, k * tiles)
        gm = (a.t() @ grad).view(36, k, tiles)
        gx = gu = None
        if ctx.needs_input_grad[1]:
            gu = torch.bmm(gm, v.transpose(1, 2))                         # (36, K, C)
        if ctx.needs_input_grad[0]:
            gv = torch.bmm(u.transpose(1, 2), gm)                         # (36, C, tiles)
            # Each tile's gradient B gv B^T, as rows (C * tiles, 36): MKL's faster layout here
            gd = (gv.view(36, c * tiles).t() @ b).view(c, n, th, tw, TILE + 2, TILE + 2)
            gx = _overlap_add(gd.permute(1, 0, 2, 4, 3, 5))[:, :, :hp, :wp]
        return gx, gu


def _overlap_add(tiles: torch.Tensor) -> torch.Tensor:
    """6x6 tiles (N, C, th, 6, tw, 6) at a stride of 4 summed into (N, C, 4 th + 2, 4 tw + 2): F.fold,
    as four strided additions (multithreaded, where F.fold's loop is not)."""
    n, c, th, _, tw, _ = tiles.shape
    out = tiles.new_empty(n, c, th + 1, TILE, tw + 1, TILE)
    out[:, :, :th, :, :tw] = tiles[:, :, :, :TILE, :, :TILE]
    out[:, :, th].zero_()
    out[:, :, :th, :, tw].zero_()
    out[:, :, 1:, :2, :tw] += tiles[:, :, :, TILE:, :, :TILE]       # each tile's last 2 rows: the next tile's first
    out[:, :, :th, :, 1:, :2] += tiles[:, :, :, :TILE, :, TILE:]     # and its last 2 columns
    out[:, :, 1:, :2, 1:, :2] += tiles[:, :, :, TILE:, :, TILE:]
    return out.view(n, c, TILE * (th + 1), TILE * (tw + 1))[:, :, :TILE * th + 2, :TILE * tw + 2]


class _TransformWeight(torch.autograd.Function):
    """G g G^T of every 3x3 kernel: (K, C, 3, 3) -> (36, K, C). Its own function for the
    backward's layout: (9 x 36) @ (36 x K*C), where autograd's choice is several times slower."""

    @staticmethod
    def forward(ctx, weight):
        k, c = weight.shape[:2]
        return (_G.to(weight) @ weight.reshape(k * c, 9).t()).view(36, k, c)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        k, c = grad.shape[1:]
        return (_G.to(grad).t() @ grad.reshape(36, k * c)).t().reshape(k, c, 3, 3)


def transform_weight(weight: torch.Tensor) -> torch.Tensor:
    """G g G^T of every 3x3 kernel: (K, C, 3, 3) -> (36, K, C), differentiable."""
    return _TransformWeight.apply(weight)


def winograd_conv3x3(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                     transformed: torch.Tensor | None = None) -> torch.Tensor:
    """F.conv2d(x, weight, bias) for an already padded x and a 3x3 weight, stride 1, by F(4x4, 3x3).
    `transformed`: transform_weight(weight), when the caller already has it."""
    u = transform_weight(weight) if transformed is None else transformed
    y = _Winograd3x3.apply(x, u)
    return y if bias is None else y + bias.view(1, -1, 1, 1)


# module -> (key, transformed weight); weak, so copies and pickles of a module never carry it
_transformed: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _forget(module_ref, grad) -> None:
    module = module_ref()
    if module is not None:
        _transformed.pop(module, None)


# Optimizers' fused kernels update weights without bumping their version counters, so a share
# also ends at every optimizer step, whichever optimizer it is.
register_optimizer_step_post_hook(lambda optimizer, args, kwargs: _transformed.clear())


class WinogradConv2d(nn.Conv2d):
    """nn.Conv2d (same parameters and state-dict keys) that runs its 3x3, stride-1 convolution by
    Winograd in training on the CPU in float32, when both channel counts are at least
    `min_channels` and a call has at least `min_tiles` output tiles. Otherwise it is a plain
    Conv2d: on GPUs (cuDNN picks its own algorithm), under reduced precision or torch.compile, and
    in inference (no_grad), whose fast path is the ONNX export with its own Winograd rewrite.

    A network called several times in training between two optimizer steps (CycleGAN's generators
    are) shares one transformed weight: its gradients add up in the Winograd domain and are
    transformed back once. The share ends when the backward pass reaches it, at any optimizer
    step, and when the weight is changed in place."""

    # Below these the tile transforms cost more than the products save (benchmarks/winograd_train.py,
    # 2 threads, per convolution: 256 channels at 32x32 1.00x for 1 image, 1.19x for 2, 1.41x at
    # 64x64; 16x16: 0.76x; 128 channels at 32x32, 2 images: 1.09x).
    min_channels = 128   # input and output channels
    min_tiles = 64       # 4x4 output tiles per call (batch x tiles per image): one 32x32 image

    def _use_winograd(self, x: torch.Tensor) -> bool:
        if not (torch.is_grad_enabled() and own_cpu_kernel_allowed(self, x) and self.kernel_size == (3, 3)
                and self.stride == (1, 1) and min(self.in_channels, self.out_channels) >= self.min_channels):
            return False
        left, right, top, bottom = self._reversed_padding_repeated_twice
        h, w = x.size(2) + top + bottom - 2, x.size(3) + left + right - 2
        return x.size(0) * -(-h // TILE) * -(-w // TILE) >= self.min_tiles

    def _transformed_weight(self) -> torch.Tensor:
        w = self.weight
        if not w.requires_grad:
            return transform_weight(w)   # a frozen network: nothing to share a gradient with
        key = (id(w), w._version)
        cached = _transformed.get(self)
        if cached is not None and cached[0] == key:
            return cached[1]
        u = transform_weight(w)
        u.register_hook(functools.partial(_forget, weakref.ref(self)))   # backward frees its graph
        _transformed[self] = (key, u)
        return u

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._use_winograd(x):
            return super().forward(x)
        return winograd_conv3x3(pad_as_conv(self, x), self.weight, self.bias, self._transformed_weight())

