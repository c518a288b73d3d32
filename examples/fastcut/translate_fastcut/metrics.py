"""Held-out PSNR/SSIM of translated images against their true counterparts."""
from __future__ import annotations

import torch

from translate.metrics import psnr_ssim


@torch.no_grad()
def held_out_quality(dataset, device, pairs) -> dict[str, float]:
    """`pairs`: {name: fn(a, b) -> (output, target)} on batches of held-out A/B pairs in [-1, 1].
    Returns {"pairs": n, "<name>/psnr": mean dB, "<name>/ssim": mean SSIM (11x11 window)}."""
    sums: dict[str, float] = {}
    n = 0
    for batch in torch.utils.data.DataLoader(dataset, batch_size=16, shuffle=False):
        a, b = batch["A"].to(device), batch["B"].to(device)
        for name, fn in pairs.items():
            psnr, ssim = psnr_ssim(*fn(a, b))
            sums[f"{name}/psnr"] = sums.get(f"{name}/psnr", 0.0) + psnr.sum().item()
            sums[f"{name}/ssim"] = sums.get(f"{name}/ssim", 0.0) + ssim.sum().item()
        n += a.size(0)
    return {"pairs": n, **{k: v / max(n, 1) for k, v in sums.items()}}
