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

import json
import os
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import Dataset  # noqa: E402

from translate.errors import ConfigError, DataError  # noqa: E402
from translate.imageio import IMAGE_EXTENSIONS, list_images, load_image, to_unit_range  # noqa: E402
from translate.model import DataInfo  # noqa: E402

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
        self.root = Path(root)
        self.split = split
        self.image_size = int(image_size)
        self.channels = int(channels)
        self.seed = int(seed)
        self.max_items = int(max_items) if max_items else None
        self.epoch = 0
        self._cache: dict[Path, np.ndarray] = {}
        self._cached_bytes = 0
        if self.image_size <= 0:
            raise ConfigError(f"image_size must be positive, got {self.image_size}")
        if self.channels not in (1, 3):
            raise ConfigError(f"channels must be 1 or 3, got {self.channels}")
        if split not in ("train", "test"):
            raise ConfigError(f"adaptation data has splits train and test, not {split!r}")
        meta = self._read_meta(self.root)
        self.classes = self._read_classes(self.root, meta.get("classes"))
        self.domains = tuple(meta.get("domains") or ("source", "target"))
        if split == "train":
            self.source = self._labelled(self.root / "source" / "train")
            self.target = self._unlabelled(self.root / "target" / "train")
        else:
            parts = [(d, self.root / name / "test") for d, name in ((SOURCE, "source"), (TARGET, "target"))]
            self.items = [(path, label, d) for d, folder in parts if self._has_images(folder)
                          for path, label in self._labelled(folder)]
            if not self.items:
                raise DataError(f"{self.root}: no test split (source/test/ or target/test/ class folders)\n"
                                f"Expected:\n{self.EXPECTED_TREE}")

    # -- layout ---------------------------------------------------------------------------
    @classmethod
    def _layout_error(cls, root: Path, why: str, folder: Path) -> DataError:
        found = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir()
                       if not p.name.startswith(".")) if folder.is_dir() else []
        shown = ", ".join(found[:20]) + (f", ... ({len(found)} entries)" if len(found) > 20 else "")
        return DataError(f"{root} does not have the adaptation layout: {why}\n"
                         f"Expected:\n{cls.EXPECTED_TREE}\nFound in {folder}: {shown or 'nothing'}")

    @staticmethod
    def _read_meta(root: Path) -> dict:
        if not root.is_dir():
            raise DataError(f"data directory {root} does not exist or is not a directory")
        path = root / "dataset.json"
        if not path.is_file():
            return {}
        try:
            meta = json.loads(path.read_text())
        except ValueError as exc:
            raise DataError(f"{path}: not valid JSON ({exc})") from exc
        if not isinstance(meta, dict):
            raise DataError(f"{path}: expected a JSON object")
        domains, classes = meta.get("domains"), meta.get("classes")
        if domains is not None and not (isinstance(domains, list) and len(domains) == 2
                                        and all(isinstance(d, str) for d in domains)):
            raise DataError(f"{path}: \"domains\" must be a list of two names (source, target), got {domains!r}")
        if classes is not None and not (isinstance(classes, list) and all(isinstance(c, str) for c in classes)):
            raise DataError(f"{path}: \"classes\" must be a list of names, got {classes!r}")
        return meta

    @staticmethod
    def _class_dirs(folder: Path) -> list[Path]:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))

    @classmethod
    def _read_classes(cls, root: Path, declared) -> tuple[str, ...]:
        """The class names: the folders of source/train/, in dataset.json's order if it gives one."""
        train = root / "source" / "train"
        if not train.is_dir():
            where = root / "source" if (root / "source").is_dir() else root
            raise cls._layout_error(root, f"missing {train.relative_to(root)}/", where)
        names = [d.name for d in cls._class_dirs(train)]
        if len(names) < 2:
            raise cls._layout_error(root, f"{len(names)} class folder(s) in source/train/, need at least 2", train)
        if declared is None:
            return tuple(names)
        if sorted(declared) != names:
            raise DataError(f"{root / 'dataset.json'}: \"classes\" {declared} do not match the class folders "
                            f"of {train}: {names}")
        return tuple(declared)

    def _labelled(self, folder: Path) -> list[tuple[Path, int]]:
        """(path, class index) of every image in folder/<class>/, classes interleaved so that
        --max-items keeps every class."""
        index = {name: i for i, name in enumerate(self.classes)}
        if not folder.is_dir():
            raise self._layout_error(self.root, f"missing {folder.relative_to(self.root)}/", folder.parent)
        per_class = []
        for d in self._class_dirs(folder):
            if d.name not in index:
                raise DataError(f"{d}: class {d.name!r} is not a source training class "
                                f"(classes: {', '.join(self.classes)})")
            paths = list_images(d)
            if not paths:
                raise DataError(f"class folder {d} contains no images (looked for {', '.join(IMAGE_EXTENSIONS)})")
            per_class.append([(p, index[d.name]) for p in paths])
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
            subdirs = self._class_dirs(folder)
            why = (f"target/train/ must hold the unlabelled images directly, not in folders "
                   f"({', '.join(d.name for d in subdirs[:5])})" if subdirs
                   else f"target/train/ contains no images (looked for {', '.join(IMAGE_EXTENSIONS)})")
            raise self._layout_error(self.root, why, folder)
        return paths[: self.max_items]

    @classmethod
    def _has_images(cls, folder: Path) -> bool:
        return folder.is_dir() and any(list_images(d) for d in cls._class_dirs(folder))

    @classmethod
    def has_split(cls, root, split) -> bool:
        """"test" means a labelled target test set (what adaptation is judged on)."""
        root = Path(root)
        if split == "test":
            return cls._has_images(root / "target" / "test")
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
            arr = load_image(path, self.channels)
            if arr.shape[:2] != (self.image_size, self.image_size):
                shrink = max(arr.shape[:2]) > self.image_size
                arr = cv2.resize(arr, (self.image_size, self.image_size),
                                 interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
                arr = arr[:, :, None] if arr.ndim == 2 else arr
            # Every image is seen many times (small digit sets, many epochs): keep the decoded
            # pixels while they fit in the budget; decoding was a quarter of a CPU training step.
            if self._cached_bytes + arr.nbytes <= CACHE_BYTES:
                self._cache[path] = arr
                self._cached_bytes += arr.nbytes
        return torch.from_numpy(np.ascontiguousarray(to_unit_range(arr).transpose(2, 0, 1)))

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
