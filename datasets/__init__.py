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
    register.kind(
        "labelled",
        "translate.datasets.labelled:LabelledDataset",
        summary="a folder per class: train/<class>/ (test/<class>/ optional), or <class>/ folders (train only)",
    )
    register.builtin(
        "mnist",
        "translate.datasets.builtin:mnist",
        kind="labelled",
        summary="MNIST digits 0-9, 32x32 grayscale (28x28 padded): 9,000 train, 1,000 test (100 per class)",
    )
    register.kind(
        "multidomain",
        "translate.datasets.multidomain:MultiDomainDataset",
        summary="several domains: train/<domain>/ (test/<domain>/ optional), or a CelebA-style attribute table",
    )
    register.builtin(
        "emoji_styles",
        "translate.datasets.builtin:emoji_styles",
        kind="multidomain",
        summary="emoji in three styles (Noto, Twemoji, Fluent flat), 64x64, held-out emoji present in all three",
    )
    register.kind(
        "paired",
        "translate.datasets.paired:PairedDataset",
        summary="aligned pairs: train/ val/ test/ with A|B side by side (pix2pix layout), or A/<split>/ + B/<split>/",
    )
    register.builtin(
        "fluent_silhouette2flat",
        "translate.datasets.builtin:fluent_silhouette2flat",
        kind="paired",
        summary="Microsoft Fluent emoji, high-contrast silhouette -> flat color, 64x64 pairs, held-out test split",
    )
    register.kind(
        "adaptation",
        "translate.datasets.adaptation:AdaptationDataset",
        summary="domain adaptation: source/train/<class>/, unlabelled target/train/ (source/test/, target/test/<class>/ optional)",
    )
    register.builtin(
        "mnist2mnistm",
        "translate.datasets.builtin:mnist2mnistm",
        kind="adaptation",
        summary="MNIST -> MNIST-M-style digits on photo patches, 28x28: 2,500 source + 2,000 unlabelled target, 800 target test",
    )
    register.builtin(
        "noto2twemoji",
        "translate.datasets.builtin:noto2twemoji",
        kind="unpaired",
        summary="Google Noto emoji <-> Twemoji, 64x64 (718 + 718 unpaired train, 200 paired test)",
    )
