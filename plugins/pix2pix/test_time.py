"""pix2pix's generator at test time, as one module that PyTorch inference and the ONNX export share.

The paper applies dropout at test time (its only source of noise z) and normalizes with the
statistics of the test batch ("batch normalization ... using the statistics of the test batch
rather than aggregated statistics of the training batch"), with test batches of one image, which
it notes is instance normalization. `test_time_generator` builds that network as a view of the
trained U-Net (same parameter tensors, no copy of the weights):
- mode "paper": BatchNorm -> `ImageStatNorm` (each image's own mean/variance, i.e. the paper's
  batch-of-one statistics, so an output never depends on which images share its batch, in
  `evaluate` or in `translate predict`; a pure function: inference updates no running average),
  Dropout -> `InputKeyedDropout`;
- mode "eval": BatchNorm with its running averages, no dropout (deterministic, the usual choice).

`InputKeyedDropout` keeps the paper's test-time dropout (p = 0.5, rescaled by 1/(1-p)) but draws
each mask from an integer hash of the input image and the unit's position instead of a random
generator. So the noise still differs from image to image, while the same image always gives the
same output, in PyTorch and in onnxruntime alike: the ONNX file can be verified against PyTorch,
and `translate predict` reproduces the PyTorch results exactly.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

_MOD = 2**31  # every hash value stays below 2^31, so the products below fit in int64


def _mix(h: torch.Tensor) -> torch.Tensor:
    """Two rounds of a 31-bit LCG step, each followed by x -> x(2x + 1), a nonlinear permutation
    mod 2^31 (Klimov-Shamir) that breaks the LCG's lattice; products stay below 2^63."""
    for _ in range(2):
        h = (h * 1103515245 + 12345) % _MOD
        h = (h * (2 * h + 1)) % _MOD
    return h


def image_key(x: torch.Tensor) -> torch.Tensor:
    """(N,) int64 hash of each image in [-1, 1], from its 8-bit quantized pixels (exact integer
    arithmetic, so PyTorch and onnxruntime agree bit for bit)."""
    q = torch.round((x.float().clamp(-1, 1) + 1) * 127.5).to(torch.int64).flatten(1)
    weights = (torch.arange(q.size(1), device=x.device, dtype=torch.int64) * 40503) % 65536 + 1
    return _mix((q * weights).sum(1) % _MOD)


class InputKeyedDropout(nn.Module):
    """Dropout whose mask is a deterministic function of (image key, layer salt, unit position)."""

    def __init__(self, p: float, salt: int):
        super().__init__()
        self.p, self.salt = float(p), int(salt)
        self.key: torch.Tensor | None = None  # set by TestTimeGenerator before each forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        pos = torch.arange(c * h * w, device=x.device, dtype=torch.int64).view(1, c, h, w)
        seed = (self.key.view(n, 1, 1, 1) + self.salt * 2654435) % _MOD
        u = _mix((seed + pos * 40503) % _MOD).to(x.dtype) / _MOD  # ~ uniform in [0, 1)
        return x * (u >= self.p).to(x.dtype) / (1.0 - self.p)


class ImageStatNorm(nn.Module):
    """BatchNorm2d's training-mode output for a batch of one image, applied to each image of the
    batch on its own, sharing the affine parameters of `bn` (its running averages are not used)."""

    def __init__(self, bn: nn.BatchNorm2d):
        super().__init__()
        self.eps = bn.eps
        self.weight, self.bias = bn.weight, bn.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(2, 3), keepdim=True)
        var = x.var(dim=(2, 3), unbiased=False, keepdim=True)
        y = (x - mean) * torch.rsqrt(var + self.eps)
        if self.weight is not None:
            y = y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)
        return y


class TestTimeGenerator(nn.Module):
    __test__ = False  # not a pytest test class, despite its name

    def __init__(self, net: nn.Module, size_multiple: int):
        super().__init__()
        self.net = net
        self.size_multiple = size_multiple
        self.dropouts = [m for m in net.modules() if isinstance(m, InputKeyedDropout)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.dropouts:
            key = image_key(x)
            for m in self.dropouts:
                m.key = key
        return self.net(x)


def test_time_generator(generator: nn.Module, mode: str) -> TestTimeGenerator:
    """The test-time network of `generator` for mode "paper" or "eval" (in eval mode, sharing
    the generator's parameters and buffers)."""
    if mode not in ("paper", "eval"):
        raise ValueError(f"test mode must be 'paper' or 'eval', got {mode!r}")
    shared = {id(t): t for t in (*generator.parameters(), *generator.buffers())}
    net = copy.deepcopy(generator, memo=shared)  # new modules around the same tensors
    salt = 0
    for parent in list(net.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.Dropout):
                salt += 1
                setattr(parent, name, InputKeyedDropout(child.p, salt) if mode == "paper" else nn.Identity())
            elif isinstance(child, nn.BatchNorm2d) and mode == "paper":
                setattr(parent, name, ImageStatNorm(child))
    return TestTimeGenerator(net, getattr(generator, "size_multiple", 1)).eval()


test_time_generator.__test__ = False  # a builder, not a pytest test
