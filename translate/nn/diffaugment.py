"""Differentiable augmentation of every image a discriminator sees, real and fake (DiffAugment,
Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training").

On a small training set the discriminator memorizes the real images: StarGAN's domain head
reaches 100% on the 1,139 built-in emoji and ~77% on held-out ones, and the generator then
learns to please a memorizer. Random shifts and cutouts, drawn per image and applied to the fakes
too (so the generator's gradient passes through them), are the usual remedy, and they do not
teach the generator to produce shifted or cut images: it never sees the augmentation as a target.
They also slow the domain head's learning: on the built-in emoji at a CPU budget, shifts changed
which seeds met the targets rather than how many (3 seeds), and cutouts hurt (README, StarGAN).

Kornia does the work (its crop and erasing are differentiable). No colour changes: for the
domains this is made for, colour is the style.
"""
from __future__ import annotations

import torch
from torch import nn

POLICIES = ("none", "translation", "cutout", "translation,cutout")


class DiffAugment(nn.Module):
    """`policy`: comma-separated "translation" (shift by up to 1/8 of the size, zero-padded) and
    "cutout" (a zeroed square of half the size), as in the paper; "none" is the identity.
    Parameters come from torch's global generator, which checkpoints save and resume restores."""

    def __init__(self, policy: str, image_size: int):
        super().__init__()
        parts = [p for p in policy.split(",") if p and p != "none"]
        unknown = sorted(set(parts) - {"translation", "cutout"})
        if unknown:
            raise ValueError(f"unknown augmentation {unknown}: expected one of {list(POLICIES)}")
        self.augment = None
        if not parts:
            return
        import kornia.augmentation as K

        ops = []
        if "translation" in parts:
            ops.append(K.RandomCrop((image_size, image_size), padding=max(1, image_size // 8), fill=0))
        if "cutout" in parts:
            ops.append(K.RandomErasing(scale=(0.25, 0.25), ratio=(1.0, 1.0), value=0.0, p=1.0))
        self.augment = K.AugmentationSequential(*ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.augment is None:
            return x
        return self.augment(x)
