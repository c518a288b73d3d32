"""The "adaptation" dataset kind: a labelled source domain, an unlabelled target domain, and an
optional labelled target test set, for unsupervised domain adaptation (DANN).

Training items pair a labelled source image with a random unlabelled target image:
{"source", "label", "target", "source_path", "target_path"}. The target training folder is flat,
so no target label exists to leak into a batch, and the labelled target/test/ folder is only
read for the "test" split. Test items are {"image", "label", "domain" (0 source, 1 target),
"path"}: source/test/ (when present) followed by target/test/.

No random augmentation: as in the paper's digit experiments, images are only converted to the
configured channels (a grayscale source becomes 3 channels) and resized to the configured size.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from translate.datasets.class_folders import (check_root, class_dirs, declared_classes, has_class_images,
                                              images_per_class, layout_error, order_classes, read_dataset_json,
                                              read_resized, set_options, to_tensor)
from translate.errors import DataError
from translate.imageio import IMAGE_EXTENSIONS, list_images
from translate.model import DataInfo

SOURCE, TARGET = 0, 1  # the "domain" of a test item, and the domain classifier's labels
CACHE_BYTES = 256 * 2**20  # decoded uint8 images kept in memory per dataset (per loader worker)


class AdaptationDataset(Dataset):
    kind = "adaptation"
    EXPECTED_TREE = (
        "<root>/\n"
        "  source/\n"
        "    train/<class>/   labelled source images, one folder per class (at least 2 classes)\n"
        "    test/<class>/    optional: held-out source images, the same class folders\n"
        "  target/\n"
        "    train/           unlabelled target images, directly in this folder (no class folders)\n"
        "    test/<class>/    optional: labelled target images for evaluation only\n"
        "  dataset.json       optional: {\"domains\": [\"<source>\", \"<target>\"], \"classes\": [...]}"
    )

    def __init__(self, root, split="train", *, image_size=28, load_size=None, channels=3, augment=False,
                 seed=0, max_items=None):
        set_options(self, root, split, image_size=image_size, channels=channels, seed=seed, max_items=max_items)
        self.epoch = 0
        self._cache: dict[Path, np.ndarray] = {}
        self._cached_bytes = 0
        meta = self._read_meta(self.root)
        self.classes = self._read_classes(self.root, declared_classes(self.root, meta))
        self.domains = tuple(meta.get("domains") or ("source", "target"))
        if split == "train":
            self.source = self._labelled(self.root / "source" / "train")
            self.target = self._unlabelled(self.root / "target" / "train")
        else:
            parts = [(d, self.root / name / "test") for d, name in ((SOURCE, "source"), (TARGET, "target"))]
            self.items = [(path, label, d) for d, folder in parts if has_class_images(folder)
                          for path, label in self._labelled(folder)]
            if not self.items:
                raise DataError(f"{self.root}: no test split (source/test/ or target/test/ class folders)\n"
                                f"Expected:\n{self.EXPECTED_TREE}")

    # -- layout ---------------------------------------------------------------------------
    @classmethod
    def _layout_error(cls, root: Path, why: str, folder: Path) -> DataError:
        return layout_error(cls.kind, root, why, cls.EXPECTED_TREE, folder)

    @staticmethod
    def _read_meta(root: Path) -> dict:
        check_root(root)
        meta = read_dataset_json(root)
        domains = meta.get("domains")
        if domains is not None and not (isinstance(domains, list) and len(domains) == 2
                                        and all(isinstance(d, str) for d in domains)):
            raise DataError(f"{root / 'dataset.json'}: \"domains\" must be a list of two names (source, target), "
                            f"got {domains!r}")
        return meta

    @classmethod
    def _read_classes(cls, root: Path, declared) -> tuple[str, ...]:
        """The class names: the folders of source/train/, in dataset.json's order if it gives one."""
        train = root / "source" / "train"
        if not train.is_dir():
            where = root / "source" if (root / "source").is_dir() else root
            raise cls._layout_error(root, f"missing {train.relative_to(root)}/", where)
        names = [d.name for d in class_dirs(train)]
        if len(names) < 2:
            raise cls._layout_error(root, f"{len(names)} class folder(s) in source/train/, need at least 2", train)
        return order_classes(root, train, names, declared)

    def _labelled(self, folder: Path) -> list[tuple[Path, int]]:
        """(path, class index) of every image in folder/<class>/, classes interleaved so that
        --max-items keeps every class."""
        if not folder.is_dir():
            raise self._layout_error(self.root, f"missing {folder.relative_to(self.root)}/", folder.parent)
        per_class = images_per_class(folder, self.classes, "source training")
        if not per_class:
            raise self._layout_error(self.root, f"no class folders in {folder.relative_to(self.root)}/", folder)
        longest = max(len(items) for items in per_class)
        items = [items[k] for k in range(longest) for items in per_class if k < len(items)]
        return items[: self.max_items]

    def _unlabelled(self, folder: Path) -> list[Path]:
        if not folder.is_dir():
            raise self._layout_error(self.root, f"missing {folder.relative_to(self.root)}/", folder.parent)
        paths = list_images(folder)
        if not paths:
            subdirs = class_dirs(folder)
            why = (f"target/train/ must hold the unlabelled images directly, not in folders "
                   f"({', '.join(d.name for d in subdirs[:5])})" if subdirs
                   else f"target/train/ contains no images (looked for {', '.join(IMAGE_EXTENSIONS)})")
            raise self._layout_error(self.root, why, folder)
        return paths[: self.max_items]

    @classmethod
    def has_split(cls, root, split) -> bool:
        """"test" means a labelled target test set (what adaptation is judged on)."""
        root = Path(root)
        if split == "test":
            return has_class_images(root / "target" / "test")
        return (root / "source" / split).is_dir() and (root / "target" / split).is_dir()

    # -- Dataset ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return max(len(self.source), len(self.target)) if self.split == "train" else len(self.items)

    def set_epoch(self, epoch: int) -> None:
        """The target partner of each source image changes with the epoch."""
        self.epoch = int(epoch)

    def load(self, path: Path) -> torch.Tensor:
        arr = self._cache.get(path)
        if arr is None:
            arr = read_resized(path, self.channels, self.image_size)
            # Every image is seen many times (small digit sets, many epochs): keep the decoded
            # pixels while they fit in the budget; decoding was a quarter of a CPU training step.
            if self._cached_bytes + arr.nbytes <= CACHE_BYTES:
                self._cache[path] = arr
                self._cached_bytes += arr.nbytes
        return to_tensor(arr)

    def __getitem__(self, i):
        if not 0 <= i < len(self):
            raise IndexError(i)
        if self.split == "test":
            path, label, domain = self.items[i]
            return {"image": self.load(path), "label": torch.tensor(label), "domain": torch.tensor(domain),
                    "path": str(path)}
        # Source images in order, each with a uniformly random target partner; the choice depends
        # only on (seed, epoch, i), so any process and a resumed run see the same pairs.
        source, label = self.source[i % len(self.source)]
        rng = np.random.default_rng([self.seed, self.epoch, int(i)])
        target = self.target[int(rng.integers(len(self.target)))]
        return {"source": self.load(source), "label": torch.tensor(label), "target": self.load(target),
                "source_path": str(source), "target_path": str(target)}

    def info(self) -> DataInfo:
        return DataInfo(kind=self.kind, channels=self.channels, image_size=self.image_size,
                        domains=self.domains, classes=self.classes)
