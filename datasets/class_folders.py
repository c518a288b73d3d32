"""Shared reading of image folders named after their class (or domain): <folder>/<class>/*.png.

The "labelled" and "adaptation" kinds read class folders the same way, and "multidomain" lists
and names its folders the same way; these are those common pieces. Which folders make a split,
the order of the items and the layout each kind expects stay with the kind.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import torch

from translate.errors import ConfigError, DataError
from translate.imageio import list_images, load_image, require_images, to_unit_range

SPLITS = ("train", "test")


def set_options(dataset, root, split: str, *, image_size, channels, seed, max_items) -> None:
    """Store the options every class-folder kind takes on `dataset`, validated."""
    dataset.root = Path(root)
    dataset.split = split
    dataset.image_size = int(image_size)
    dataset.channels = int(channels)
    dataset.seed = int(seed)
    dataset.max_items = int(max_items) if max_items else None  # 0 or None: no limit
    if dataset.image_size <= 0:
        raise ConfigError(f"image_size must be positive, got {dataset.image_size}")
    if dataset.channels not in (1, 3):
        raise ConfigError(f"channels must be 1 or 3, got {dataset.channels}")
    if split not in SPLITS:
        raise ConfigError(f"{dataset.kind} data has splits {' and '.join(SPLITS)}, not {split!r}")


def check_root(root: Path) -> None:
    if not root.exists():
        raise DataError(f"data directory {root} does not exist")
    if not root.is_dir():
        raise DataError(f"data directory {root} is not a directory")


def read_dataset_json(root: Path) -> dict:
    """root/dataset.json as a dict; {} when there is none (the file is optional)."""
    path = root / "dataset.json"
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text())
    except ValueError as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise DataError(f"{path}: expected a JSON object")
    return meta


def declared_classes(root: Path, meta: dict) -> list[str] | None:
    """dataset.json's "classes" (their order), or None when it gives none."""
    classes = meta.get("classes")
    if classes is not None and not (isinstance(classes, list) and all(isinstance(c, str) for c in classes)
                                    and len(set(classes)) == len(classes)):
        raise DataError(f"{root / 'dataset.json'}: \"classes\" must be a list of distinct names, got {classes!r}")
    return classes


def class_dirs(folder: Path) -> list[Path]:
    # Hidden folders (.ipynb_checkpoints, .DS_Store bundles, ...) are never classes.
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def order_classes(root: Path, folder: Path, names: list[str], declared: list[str] | None) -> tuple[str, ...]:
    """The class names found in `folder` (sorted), in the declared order if dataset.json gives one."""
    if declared is None:
        return tuple(names)
    # The declared order fixes the label indices, so it must name exactly the folders found.
    if sorted(declared) != sorted(names):
        raise DataError(f"{root / 'dataset.json'}: \"classes\" {declared} do not match the class folders "
                        f"of {folder}: {names}")
    return tuple(declared)


def images_per_class(folder: Path, classes: tuple[str, ...], role: str) -> list[list[tuple[Path, int]]]:
    """(path, class index) of the images of each class folder of `folder`, one list per folder.

    `role` names the classes in the error for a folder that is not one of them ("training").
    """
    index = {name: i for i, name in enumerate(classes)}
    per_class = []
    for d in class_dirs(folder):
        if d.name not in index:
            raise DataError(f"{d}: class {d.name!r} is not a {role} class ({role} classes: {', '.join(classes)})")
        # An empty class folder is a mistake (a failed copy), not a class without examples.
        paths = require_images(d, "class folder")
        per_class.append([(p, index[d.name]) for p in paths])
    return per_class


def has_class_images(folder: Path) -> bool:
    return folder.is_dir() and any(list_images(d) for d in class_dirs(folder))


def listing(folder: Path) -> str:
    """What `folder` holds, for a layout error: "a/, b/, notes.txt" (folders marked by a slash)."""
    if not folder.is_dir():
        return "nothing"
    entries = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir() if not p.name.startswith("."))
    # Enough to recognise the layout; a folder of 60,000 images would drown the message.
    return ", ".join(entries[:20]) + (f", ... ({len(entries)} entries)" if len(entries) > 20 else "") or "nothing"


def layout_error(kind: str, root: Path, why: str, expected_tree: str, folder: Path) -> DataError:
    """The error for data that is not in the `kind` layout: why, the expected tree and what `folder` holds."""
    return DataError(f"{root} does not have the {kind} layout: {why}\n"
                     f"Expected:\n{expected_tree}\nFound in {folder}: {listing(folder)}")


def read_resized(path: Path, channels: int, size: int) -> np.ndarray:
    """The image at `path` as (size, size, channels) uint8."""
    arr = load_image(path, channels)
    if arr.shape[:2] != (size, size):
        # Area averaging does not alias when shrinking; cubic is smoother when enlarging.
        shrink = max(arr.shape[:2]) > size
        arr = cv2.resize(arr, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
        arr = arr[:, :, None] if arr.ndim == 2 else arr  # OpenCV drops a single channel axis
    return arr


def to_tensor(arr: np.ndarray) -> torch.Tensor:
    """(H, W, C) uint8 -> (C, H, W) float in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(to_unit_range(arr).transpose(2, 0, 1)))
