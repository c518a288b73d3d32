"""Identity-baseline PSNR/SSIM of the built-in Noto -> Twemoji held-out pairs under several SSIM
definitions, to match the reference's published identity numbers (11.45 dB / 0.339) to a metric.
`evaluate` uses kornia's SSIM (11x11 Gaussian window on RGB); the reference's 0.339 is what a
7x7 uniform window on the luma gives. Prints one JSON line.

    python benchmarks/ssim_variants.py
"""
from __future__ import annotations

import json

import kornia
import torch
import torch.nn.functional as F

from translate.datasets.builtin import noto2twemoji
from translate.datasets.unpaired import UnpairedDataset
from translate.metrics import psnr_ssim

def uniform_ssim(x: torch.Tensor, y: torch.Tensor, win: int = 7) -> float:
    """Mean SSIM with a win x win uniform window, sample covariances, no padding (images in [0, 1])."""
    c1, c2, n = 0.01 ** 2, 0.03 ** 2, win * win
    mean = lambda t: F.avg_pool2d(t, win, 1)  # noqa: E731
    mx, my = mean(x), mean(y)
    vx, vy = (mean(x * x) - mx * mx) * n / (n - 1), (mean(y * y) - my * my) * n / (n - 1)
    cov = (mean(x * y) - mx * my) * n / (n - 1)
    ssim = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    return ssim.flatten(1).mean(1).mean().item()


def main():
    data = UnpairedDataset(noto2twemoji(), "test", image_size=64, augment=False, aligned=True)
    a = torch.stack([data[i]["A"] for i in range(len(data))])
    b = torch.stack([data[i]["B"] for i in range(len(data))])
    psnr, ssim = psnr_ssim(a, b)
    a01, b01 = (a + 1) / 2, (b + 1) / 2
    luma = kornia.color.rgb_to_grayscale  # ITU-R 601 weights
    print(json.dumps({
        "benchmark": "identity_ssim_variants", "pairs": a.size(0),
        "psnr": round(psnr.mean().item(), 3), "reference_identity": {"psnr": 11.45, "ssim": 0.339},
        "ssim_evaluate_kornia_gauss11_rgb": round(ssim.mean().item(), 4),
        "ssim_kornia_gauss11_rgb_valid": round(kornia.metrics.ssim(a01, b01, 11, padding="valid").mean().item(), 4),
        "ssim_uniform7_rgb": round(uniform_ssim(a01, b01), 4),
        "ssim_uniform7_luma601": round(uniform_ssim(luma(a01), luma(b01)), 4),
    }))


if __name__ == "__main__":
    main()
