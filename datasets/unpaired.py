"""The "unpaired" dataset kind: two image domains in the CycleGAN folder layout.

Reads root/trainA, trainB, testA, testB as downloaded (horse2zebra, ...), so existing datasets
work unchanged. Sampling and augmentation follow the CycleGAN reference implementation, but
every random choice of item i comes from a generator seeded by (seed, epoch, i): an item is
the same tensors in any process, which makes resuming a run exact.
"""
from __future__ import annotations

import json
import os
import random
from pathlib import Path

# albumentations asks PyPI for a newer version on import: no network calls from a training run.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
import albumentations as A  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import Dataset  # noqa: E402

from translate.errors import ConfigError, DataError  # noqa: E402
from translate.imageio import list_images, load_image, require_images, to_unit_range  # noqa: E402
from translate.model import DataInfo  # noqa: E402


def few(names: list[str], n: int = 5) -> str:
    """The first n names, and how many there are in all when there are more ("" for none)."""
    return ", ".join(names[:n]) + (f", ... ({len(names)} in all)" if len(names) > n else "")


class UnpairedDataset(Dataset):
    kind = "unpaired"
    EXPECTED_TREE = (
        "<root>/\n"
        "  trainA/        training images of domain A (any names)\n"
        "  trainB/        training images of domain B (any names, any count)\n"
        "  testA/         held-out images of domain A (optional)\n"
        "  testB/         held-out images of domain B (optional; the same names as testA/, or\n"
        "                 x_A.png <-> x_B.png, for paired evaluation)\n"
        "  dataset.json   optional: {\"domains\": [\"nameA\", \"nameB\"]}"
    )

    def __init__(self, root, split="train", *, image_size=256, load_size=None, channels=3,
                 augment=True, seed=0, aligned=False, max_items=None, batch_augment=False):
        """aligned: False (independent A and B), True (A and B are pairs, matched by file name:
        an error if they don't match) or "auto" (pairs when the names match, else independent:
        downloaded CycleGAN datasets such as horse2zebra have unpaired test folders).
        `self.aligned` says which it is; `self.pairing_problem` why an "auto" split is not paired."""
        self._set_options(root, split, image_size, load_size, channels, augment, seed, batch_augment)
        if aligned not in (False, True, "auto"):
            raise ConfigError(f"aligned must be False, True or 'auto', got {aligned!r}")
        dir_a, dir_b = self._check_layout(self.root, split)
        self.paths_a, self.paths_b = self._images(dir_a), self._images(dir_b)
        self.pairing_problem = ""
        if aligned:
            pairs, self.pairing_problem = self._pair(self.paths_a, self.paths_b, dir_a, dir_b)
            if pairs:
                self.paths_a, self.paths_b = pairs
            elif aligned is True:
                raise DataError(self.pairing_problem)
        self.aligned = not self.pairing_problem and bool(aligned)
        if max_items is not None:
            self.paths_a, self.paths_b = self.paths_a[: int(max_items)], self.paths_b[: int(max_items)]
        self.domains = self._read_domains(self.root)
        self.transform = self._build_transform()

    def _set_options(self, root, split, image_size, load_size, channels, augment, seed, batch_augment) -> None:
        """The settings every two-image kind shares (the paired kind reuses them), validated."""
        self.root = Path(root)
        self.split = split
        self.image_size = int(image_size)
        # CycleGAN/pix2pix: load 286 for 256 crops, i.e. resize ~12% larger than the crop.
        self.load_size = int(load_size) if load_size is not None else round(self.image_size * 286 / 256)
        self.channels = int(channels)
        # Random augmentation is for training only; the test split is always just resized.
        self.augment = bool(augment) and split == "train"
        self.seed = int(seed)
        # Crop and flip happen later, on the batch (`batch_augmenter`): only resize here.
        self.batch_augment = bool(batch_augment) and self.augment
        self.epoch = 0
        if self.image_size <= 0 or self.load_size < self.image_size:
            raise ConfigError(f"need 0 < image_size <= load_size, got image_size={self.image_size}, "
                              f"load_size={self.load_size}")
        if self.channels not in (1, 3):
            raise ConfigError(f"channels must be 1 or 3, got {self.channels}")

    # -- layout ---------------------------------------------------------------------------
    @classmethod
    def _check_layout(cls, root: Path, split: str) -> tuple[Path, Path]:
        if not root.exists():
            raise DataError(f"data directory {root} does not exist")
        if not root.is_dir():
            raise DataError(f"data directory {root} is not a directory")
        dirs = root / f"{split}A", root / f"{split}B"
        missing = [d.name + "/" for d in dirs if not d.is_dir()]
        if missing:
            found = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir() if not p.name.startswith("."))
            shown = ", ".join(found[:20]) + (f", ... ({len(found)} entries)" if len(found) > 20 else "")
            raise DataError(
                f"{root} does not have the unpaired layout for split {split!r}: missing {' and '.join(missing)}\n"
                f"Expected:\n{cls.EXPECTED_TREE}\nFound in {root}: {shown or 'nothing'}"
            )
        return dirs

    @staticmethod
    def _images(folder: Path) -> list[Path]:
        return require_images(folder, "domain folder")

    @staticmethod
    def _pair(paths_a, paths_b, dir_a: Path, dir_b: Path) -> tuple[tuple[list, list] | None, str]:
        """Match A and B by file name without extension, or failing that without the folders'
        own suffixes (x_A.jpg <-> x_B.jpg, as in the CycleGAN versions of facades and maps):
        ((paths_a, paths_b) in matching order, "") or (None, why they don't pair up)."""
        def keys(paths, suffix):
            return {(p.stem[: -len(suffix)] if suffix and p.stem.endswith(suffix) else p.stem): p for p in paths}

        problem = ""
        for suffix_a, suffix_b in (("", ""), ("_A", "_B")):
            by_a, by_b = keys(paths_a, suffix_a), keys(paths_b, suffix_b)
            only_a, only_b = sorted(by_a.keys() - by_b.keys()), sorted(by_b.keys() - by_a.keys())
            twice = len(by_a) != len(paths_a) or len(by_b) != len(paths_b)
            if not (only_a or only_b or twice):
                names = sorted(by_a)
                return ([by_a[n] for n in names], [by_b[n] for n in names]), ""
            if not problem:  # report the plain-name mismatch: it is what a user sees in the folders
                problem = (f"aligned pairs need the same file names in {dir_a} and {dir_b}: "
                           f"only in {dir_a.name}/: {few(only_a) or 'none'}; "
                           f"only in {dir_b.name}/: {few(only_b) or 'none'}"
                           + ("; some names appear twice with different extensions" if twice else ""))
        return None, problem

    @staticmethod
    def _read_domains(root: Path) -> tuple[str, str]:
        meta = root / "dataset.json"
        if not meta.is_file():
            return ("A", "B")
        try:
            domains = json.loads(meta.read_text()).get("domains")
        except (ValueError, AttributeError) as exc:
            raise DataError(f"{meta}: not a valid JSON object ({exc})") from exc
        if domains is None:
            return ("A", "B")
        if not (isinstance(domains, list) and len(domains) == 2 and all(isinstance(d, str) for d in domains)):
            raise DataError(f"{meta}: \"domains\" must be a list of two names, got {domains!r}")
        return tuple(domains)

    @classmethod
    def has_split(cls, root, split) -> bool:
        root = Path(root)
        return all((root / f"{split}{d}").is_dir() and any(list_images(root / f"{split}{d}")) for d in "AB")

    # -- augmentation -----------------------------------------------------------------------
    def _build_transform(self) -> A.Compose:
        # additional_targets: in aligned mode B gets exactly the same crop/flip as A.
        if self.batch_augment:
            steps = [A.Resize(self.load_size, self.load_size, interpolation=cv2.INTER_CUBIC)]
        elif self.augment:
            steps = [A.Resize(self.load_size, self.load_size, interpolation=cv2.INTER_CUBIC),
                     A.RandomCrop(self.image_size, self.image_size),
                     A.HorizontalFlip(p=0.5)]
        else:
            steps = [A.Resize(self.image_size, self.image_size, interpolation=cv2.INTER_CUBIC)]
        return A.Compose(steps, additional_targets={"image_b": "image"})

    def _augment(self, rng: np.random.Generator, **images) -> dict:
        # One shared stream for all transforms. (Compose(seed=...)/set_random_seed give every
        # transform its own generator with the same seed, which couples the crop offset to the
        # flip decision.)
        s = int(rng.integers(2**63))
        self.transform.set_random_state(np.random.default_rng(s), random.Random(s))
        return self.transform(**images)

    @classmethod
    def batch_augmenter(cls, image_size: int, aligned: bool = False):
        """The crop/flip of `_build_transform`, for a whole batch on the training device (kornia):
        A and B get independent crops, or the same one when the pairs are aligned."""
        from translate.datasets.batch_augment import BatchCropFlip

        return BatchCropFlip((("A", "B"),) if aligned else (("A",), ("B",)), image_size)

    @staticmethod
    def _to_tensor(arr: np.ndarray) -> torch.Tensor:
        if arr.ndim == 2:  # some OpenCV paths drop a single channel axis
            arr = arr[:, :, None]
        return torch.from_numpy(np.ascontiguousarray(to_unit_range(arr).transpose(2, 0, 1)))

    # -- Dataset ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.paths_a) if self.aligned else max(len(self.paths_a), len(self.paths_b))

    def set_epoch(self, epoch: int) -> None:
        """Items depend on the epoch (new crops, new B partners); call before each epoch."""
        self.epoch = int(epoch)

    def __getitem__(self, i):
        if not 0 <= i < len(self):
            raise IndexError(i)
        rng = np.random.default_rng([self.seed, self.epoch, int(i)])
        path_a = self.paths_a[i % len(self.paths_a)]
        if self.aligned:
            path_b = self.paths_b[i]
            out = self._augment(rng, image=load_image(path_a, self.channels),
                                image_b=load_image(path_b, self.channels))
            a, b = out["image"], out["image_b"]
        else:
            # Training, as the reference: A walks in order, B is a uniformly random partner.
            # Held-out splits walk B in order too, so an evaluation sees every image.
            j = int(rng.integers(len(self.paths_b))) if self.split == "train" else i % len(self.paths_b)
            path_b = self.paths_b[j]
            a = self._augment(rng, image=load_image(path_a, self.channels))["image"]
            b = self._augment(rng, image=load_image(path_b, self.channels))["image"]
        return {"A": self._to_tensor(a), "B": self._to_tensor(b), "A_path": str(path_a), "B_path": str(path_b)}

    def info(self) -> DataInfo:
        return DataInfo(kind=self.kind, channels=self.channels, image_size=self.image_size,
                        domains=tuple(self.domains))
