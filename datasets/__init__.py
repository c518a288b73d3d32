"""Dataset kinds, image augmentation and the built-in sample datasets."""
from __future__ import annotations

# This module is the built-in "datasets plugin". It registers "module:attr" strings only, so
# registration imports nothing heavy (no torch, no albumentations): see DESIGN.md, "Plugins".
from translate import hookimpl


@hookimpl
def register_datasets(register):
    register.kind(
        "unpaired",
        "translate.datasets.unpaired:UnpairedDataset",
        summary="two image domains, CycleGAN layout: trainA/ trainB/ (testA/ testB/ optional)",
    )
    register.builtin(
        "noto2twemoji",
        "translate.datasets.builtin:noto2twemoji",
        kind="unpaired",
        summary="Google Noto emoji <-> Twemoji, 64x64 (718 + 718 unpaired train, 200 paired test)",
    )
