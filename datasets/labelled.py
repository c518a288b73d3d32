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

import json
import os
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import Dataset  # noqa: E402

from translate.errors import ConfigError, DataError  # noqa: E402
from translate.imageio import IMAGE_EXTENSIONS, is_image_file, list_images, load_image, to_unit_range  # noqa: E402
from translate.model import DataInfo  # noqa: E402

SPLITS = ("train", "test")


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
        self.root = Path(root)
        self.split = split
        self.image_size = int(image_size)
        self.channels = int(channels)
        self.seed = int(seed)
        self.max_items = int(max_items) if max_items else None
        if self.image_size <= 0:
            raise ConfigError(f"image_size must be positive, got {self.image_size}")
        if self.channels not in (1, 3):
            raise ConfigError(f"channels must be 1 or 3, got {self.channels}")
        if split not in SPLITS:
            raise ConfigError(f"labelled data has splits {', '.join(SPLITS)}, not {split!r}")
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
    def _class_dirs(cls, folder: Path) -> list[Path]:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))

    @classmethod
    def read_classes(cls, root: Path) -> tuple[str, ...]:
        """The class names: from the training split's folders, ordered as dataset.json says."""
        if not root.exists():
            raise DataError(f"data directory {root} does not exist")
        if not root.is_dir():
            raise DataError(f"data directory {root} is not a directory")
        if (root / "test").is_dir() and not (root / "train").is_dir():
            raise DataError(f"{root} has a test/ folder but no train/ folder\nExpected:\n{cls.EXPECTED_TREE}")
        train = cls.split_folder(root, "train")
        dirs = cls._class_dirs(train)
        loose = [p.name for p in train.iterdir() if p.is_file() and is_image_file(p)]
        if len(dirs) < 2 or loose:
            found = sorted(p.name + ("/" if p.is_dir() else "") for p in train.iterdir() if not p.name.startswith("."))
            shown = ", ".join(found[:20]) + (f", ... ({len(found)} entries)" if len(found) > 20 else "")
            why = (f"images directly in {train} ({', '.join(loose[:3])}...) belong in class folders" if loose
                   else f"{len(dirs)} class folder{'s' if len(dirs) != 1 else ''} in {train}, need at least 2")
            raise DataError(f"{root} does not have the labelled layout: {why}\n"
                            f"Expected:\n{cls.EXPECTED_TREE}\nFound in {train}: {shown or 'nothing'}")
        names = [d.name for d in dirs]
        order = cls._declared_classes(root)
        if order is None:
            return tuple(names)
        if sorted(order) != names:
            raise DataError(f"{root / 'dataset.json'}: \"classes\" {order} do not match the class folders "
                            f"of {train}: {names}")
        return tuple(order)

    @staticmethod
    def _declared_classes(root: Path) -> list[str] | None:
        meta = root / "dataset.json"
        if not meta.is_file():
            return None
        try:
            classes = json.loads(meta.read_text()).get("classes")
        except (ValueError, AttributeError) as exc:
            raise DataError(f"{meta}: not a valid JSON object ({exc})") from exc
        if classes is not None and not (isinstance(classes, list) and all(isinstance(c, str) for c in classes)
                                        and len(set(classes)) == len(classes)):
            raise DataError(f"{meta}: \"classes\" must be a list of distinct names, got {classes!r}")
        return classes

    def _collect(self, folder: Path) -> list[tuple[Path, int]]:
        index = {name: i for i, name in enumerate(self.classes)}
        items = []
        for d in self._class_dirs(folder):
            if d.name not in index:
                raise DataError(f"{d}: class {d.name!r} is not a training class "
                                f"(training classes: {', '.join(self.classes)})")
            paths = list_images(d)
            if not paths:
                raise DataError(f"class folder {d} contains no images (looked for {', '.join(IMAGE_EXTENSIONS)})")
            items += [(p, index[d.name]) for p in paths[: self.max_items]]
        if not items:
            raise DataError(f"{folder}: no class folders with images\nExpected:\n{self.EXPECTED_TREE}")
        return sorted(items, key=lambda item: (item[1], item[0].name))  # class by class, in class order

    @classmethod
    def has_split(cls, root, split) -> bool:
        folder = cls.split_folder(Path(root), split)
        return folder is not None and any(list_images(d) for d in cls._class_dirs(folder))

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
        path = self.items[i][0]
        arr = load_image(path, self.channels)
        if arr.shape[:2] != (self.image_size, self.image_size):
            shrink = max(arr.shape[:2]) > self.image_size
            arr = cv2.resize(arr, (self.image_size, self.image_size),
                             interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
            arr = arr[:, :, None] if arr.ndim == 2 else arr
        return torch.from_numpy(np.ascontiguousarray(to_unit_range(arr).transpose(2, 0, 1)))

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
