"""Random crop + horizontal flip of a whole batch on the training device, with kornia.

The alternative to per-image albumentations in the data loader: on a GPU, cropping and flipping
the batch where it already lives frees the loader workers (and the CPU) for decoding. The dataset
then only resizes to load_size; this module does the paper's random crop and flip.

Keys in one group get the same crop and flip (the two halves of an aligned pair); separate groups
get independent ones (the two domains of unpaired data). Parameters come from a generator seeded
by the caller (from seed, step and rank), so a resumed run sees the same crops as an uninterrupted one.
"""
from __future__ import annotations

import torch


class BatchCropFlip:
    def __init__(self, groups: tuple[tuple[str, ...], ...], image_size: int):
        import kornia.augmentation as K

        self.groups = groups
        self.image_size = int(image_size)
        self._augment = {
            len(group): K.AugmentationSequential(
                K.RandomCrop((self.image_size, self.image_size)), K.RandomHorizontalFlip(p=0.5),
                data_keys=["input"] * len(group))
            for group in groups
        }

    def __call__(self, batch: dict, seed: int) -> dict:
        out = dict(batch)
        devices = [t.device for g in self.groups for t in (batch[k] for k in g) if t.device.type == "cuda"]
        # kornia draws its parameters from torch's global generators: fork them so training's
        # own random stream (dropout, image pools) is the same with either augmentation backend.
        with torch.random.fork_rng(devices=devices[:1]):
            torch.manual_seed(seed)
            for group in self.groups:
                images = [batch[k] for k in group]
                result = self._augment[len(group)](*images)
                if len(group) == 1:
                    result = [result]
                for key, tensor in zip(group, result):
                    out[key] = tensor.contiguous()
        return out
