"""Per-image PSNR and SSIM of translated images against their targets (kornia)."""
from __future__ import annotations

import torch

MAX_PSNR = 100.0


def psnr_ssim(out: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(psnr (N,), ssim (N,)) for batches in [-1, 1]; outputs are clamped to the valid range.
    PSNR is capped at MAX_PSNR dB: an exact match (infinite PSNR) would make any mean infinite."""
    import kornia

    out01, tgt01 = (out.float().clamp(-1, 1) + 1) / 2, (target.float() + 1) / 2
    psnr = torch.stack([kornia.metrics.psnr(o, t, 1.0) for o, t in zip(out01, tgt01)]).clamp(max=MAX_PSNR)
    ssim = kornia.metrics.ssim(out01, tgt01, window_size=11).flatten(1).mean(1)
    return psnr, ssim
