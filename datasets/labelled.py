"""The "labelled" dataset kind: images in one folder per class (torchvision's ImageFolder layout).

Two layouts are accepted:
  root/train/<class>/*.png  and optionally  root/test/<class>/*.png   (a held-out split)
  root/<class>/*.png                                                  (training data only)
A root with a train/ folder is always read as the first layout. Class names are the folder
names in sorted order, or the order of "classes" in root/dataset.json. Test classes must be
training classes. Items are {"image": (C, H, W) in [-1, 1], "label": class index, "path": str}.

There is no random augmentation: flips and crops change what a digit or a glyph means, so the
images are only converted to the configured channels and resized to the configured size.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Dataset

from translate.datasets.class_folders import (check_root, class_dirs, declared_classes, has_class_images,
                                              images_per_class, layout_error, order_classes, read_dataset_json,
                                              read_resized, set_options, to_tensor)
from translate.errors import DataError
from translate.imageio import is_image_file
from translate.model import DataInfo


class LabelledDataset(Dataset):
    kind = "labelled"
    EXPECTED_TREE = (
        "<root>/\n"
        "  train/\n"
        "    <class 1>/    images of class 1 (any names)\n"
        "    <class 2>/    ...\n"
        "  test/           optional held-out split, the same class folders\n"
        "    <class 1>/\n"
        "  dataset.json    optional: {\"classes\": [\"<class 1>\", \"<class 2>\", ...]} (their order)\n"
        "or, for training data only:\n"
        "<root>/\n"
        "  <class 1>/  <class 2>/  ...   (at least two class folders of images)"
    )

    def __init__(self, root, split="train", *, image_size=32, load_size=None, channels=3, augment=False,
                 seed=0, max_items=None):
        set_options(self, root, split, image_size=image_size, channels=channels, seed=seed, max_items=max_items)
        self.classes = self.read_classes(self.root)
        folder = self.split_folder(self.root, split)
        if folder is None:
            raise DataError(f"{self.root}: no {split}/ folder (a flat <root>/<class>/ layout is training "
                            f"data only)\nExpected:\n{self.EXPECTED_TREE}")
        self.items = self._collect(folder)

    # -- layout ---------------------------------------------------------------------------
    @classmethod
    def split_folder(cls, root: Path, split: str) -> Path | None:
        """The folder holding the class folders of `split`, or None if the data has no such split."""
        root = Path(root)
        if (root / "train").is_dir():
            return root / split if (root / split).is_dir() else None
        return root if split == "train" else None

    @classmethod
    def read_classes(cls, root: Path) -> tuple[str, ...]:
        """The class names: from the training split's folders, ordered as dataset.json says."""
        check_root(root)
        if (root / "test").is_dir() and not (root / "train").is_dir():
            raise DataError(f"{root} has a test/ folder but no train/ folder\nExpected:\n{cls.EXPECTED_TREE}")
        train = cls.split_folder(root, "train")
        dirs = class_dirs(train)
        loose = [p.name for p in train.iterdir() if p.is_file() and is_image_file(p)]
        if len(dirs) < 2 or loose:
            why = (f"images directly in {train} ({', '.join(loose[:3])}...) belong in class folders" if loose
                   else f"{len(dirs)} class folder{'s' if len(dirs) != 1 else ''} in {train}, need at least 2")
            raise layout_error(cls.kind, root, why, cls.EXPECTED_TREE, train)
        return order_classes(root, train, [d.name for d in dirs], declared_classes(root, read_dataset_json(root)))

    def _collect(self, folder: Path) -> list[tuple[Path, int]]:
        per_class = images_per_class(folder, self.classes, "training")
        items = [item for items in per_class for item in items[: self.max_items]]
        if not items:
            raise DataError(f"{folder}: no class folders with images\nExpected:\n{self.EXPECTED_TREE}")
        return sorted(items, key=lambda item: (item[1], item[0].name))  # class by class, in class order

    @classmethod
    def has_split(cls, root, split) -> bool:
        folder = cls.split_folder(Path(root), split)
        return folder is not None and has_class_images(folder)

    def sibling(self, split: str) -> "LabelledDataset":
        """The same data settings on another split (evaluation trains a classifier on train/)."""
        return type(self)(self.root, split, image_size=self.image_size, channels=self.channels, seed=self.seed,
                          max_items=self.max_items)

    # -- Dataset ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.items)

    def set_epoch(self, epoch: int) -> None:
        """Items do not depend on the epoch (no random augmentation)."""

    def load(self, i: int) -> torch.Tensor:
        return to_tensor(read_resized(self.items[i][0], self.channels, self.image_size))

    def __getitem__(self, i):
        if not 0 <= i < len(self):
            raise IndexError(i)
        path, label = self.items[i]
        return {"image": self.load(i), "label": torch.tensor(label, dtype=torch.long), "path": str(path)}

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All images (N, C, H, W) and labels (N,) at once, for small sets (classifier training)."""
        return (torch.stack([self.load(i) for i in range(len(self))]),
                torch.tensor([label for _, label in self.items], dtype=torch.long))

    def info(self) -> DataInfo:
        return DataInfo(kind=self.kind, channels=self.channels, image_size=self.image_size, classes=self.classes)
