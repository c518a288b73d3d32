"""Held-out PSNR/SSIM (kornia) of translated images against their true counterparts."""
from __future__ import annotations

import torch


@torch.no_grad()
def held_out_quality(dataset, device, pairs) -> dict[str, float]:
    """`pairs`: {name: fn(a, b) -> (output, target)} on batches of held-out A/B pairs in [-1, 1].
    Returns {"pairs": n, "<name>/psnr": mean dB, "<name>/ssim": mean SSIM (11x11 window)}."""
    import kornia

    sums: dict[str, float] = {}
    n = 0
    for batch in torch.utils.data.DataLoader(dataset, batch_size=16, shuffle=False):
        a, b = batch["A"].to(device), batch["B"].to(device)
        for name, fn in pairs.items():
            out, target = fn(a, b)
            out01, tgt01 = (out.float().clamp(-1, 1) + 1) / 2, (target.float() + 1) / 2
            psnr = torch.stack([kornia.metrics.psnr(o, t, 1.0) for o, t in zip(out01, tgt01)])
            ssim = kornia.metrics.ssim(out01, tgt01, window_size=11).flatten(1).mean(1)
            sums[f"{name}/psnr"] = sums.get(f"{name}/psnr", 0.0) + psnr.sum().item()
            sums[f"{name}/ssim"] = sums.get(f"{name}/ssim", 0.0) + ssim.sum().item()
        n += a.size(0)
    return {"pairs": n, **{k: v / max(n, 1) for k, v in sums.items()}}
