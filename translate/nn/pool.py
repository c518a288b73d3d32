"""Image pool (Shrivastava et al. 2017): the discriminator sees a history of generated images,
not only the latest ones, which damps oscillation. Its state is checkpointed for exact resume."""
from __future__ import annotations

import random

import torch


class ImagePool:
    def __init__(self, size: int = 50, seed: int = 0):
        self.size = int(size)
        self.images: list[torch.Tensor] = []
        self.rng = random.Random(seed)  # own RNG: resume restores it, other code can't disturb it

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Return a batch of the same size: each image is the new one or, with p = 0.5 once
        the pool is full, a stored one (which the new image replaces)."""
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif self.rng.random() > 0.5:
                i = self.rng.randrange(self.size)
                out.append(self.images[i].clone())
                self.images[i] = image.clone()
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state_dict(self) -> dict:
        version, internal, gauss = self.rng.getstate()
        return {
            "images": [im.cpu() for im in self.images],
            "rng": [version, list(internal), gauss],
        }

    def load_state_dict(self, state: dict, device=None) -> None:
        self.images = [im.to(device) if device is not None else im for im in state["images"]]
        version, internal, gauss = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss))
