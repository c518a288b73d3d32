"""The "multidomain" dataset kind: images of several domains, for StarGAN-style translation.

Two layouts:
- a folder per domain (single-label: each image belongs to exactly one domain), as RaFD or the
  built-in emoji styles; test/ images with the same file name in several domains are the same
  content in each domain, so a translation can be scored against the true target image;
- an attribute table (multi-label, CelebA style): any subset of the chosen attributes can be on.

A wrong layout is the most common way to train garbage silently, so the layout is validated
up front: fewer than two domains, an empty domain or a missing image is an error that lists
what was found (domains and image counts) beside the expected tree.
"""
from __future__ import annotations

import os
import random
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no network call on import
import albumentations as A  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import Dataset  # noqa: E402

from translate.datasets.class_folders import check_root, class_dirs, listing, read_dataset_json  # noqa: E402
from translate.datasets.unpaired import UnpairedDataset  # noqa: E402
from translate.errors import ConfigError, DataError, did_you_mean  # noqa: E402
from translate.imageio import IMAGE_EXTENSIONS, list_images, load_image  # noqa: E402
from translate.model import DataInfo  # noqa: E402

# The paper's CelebA domains (and its default `--selected_attrs`).
CELEBA_DEFAULT_DOMAINS = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young")
ATTRIBUTE_TABLES = ("list_attr_celeba.txt", "attributes.txt")
IMAGE_FOLDERS = ("images", "img_align_celeba")
TABLE_SPLIT_SEED = 1234        # the reference implementation shuffles the table with this seed ...
TABLE_TEST_SIZE = 2000         # ... and holds out the first 2,000 rows

EXPECTED_TREE = (
    "either a folder per domain (single-label):\n"
    "  <root>/\n"
    "    train/\n"
    "      <domain 1>/  *.png|jpg    at least two domain folders, none empty\n"
    "      <domain 2>/  ...\n"
    "    test/          optional, the same domain folders; a file name found in several domains\n"
    "                   is the same content in each (translations are scored against it)\n"
    "    dataset.json   optional: {\"domains\": [...]} fixes the domain order\n"
    "or an attribute table (multi-label, CelebA style):\n"
    "  <root>/\n"
    f"    {' or '.join(IMAGE_FOLDERS)}/   the images\n"
    f"    {' or '.join(ATTRIBUTE_TABLES)}   [count line,] attribute names line, then `<file> 1 -1 ...` rows\n"
    "  (--domains picks the attributes; 2,000 rows of a seeded shuffle, 10% of a smaller table, are held out)"
)


class MultiDomainDataset(Dataset):
    kind = "multidomain"
    selects_domains = True     # takes `--domains` (translate.data.make_dataset)
    EXPECTED_TREE = EXPECTED_TREE
    # The unpaired kind's option checks, seeded augmentation stream and tensor conversion, shared.
    _set_options = UnpairedDataset._set_options   # validated sizes, channels, seed
    _augment = UnpairedDataset._augment
    _to_tensor = staticmethod(UnpairedDataset._to_tensor)

    def __init__(self, root, split="train", *, image_size=128, load_size=None, channels=3, augment=True,
                 seed=0, max_items=None, domains=None):
        # The paper only flips: no load size above the image size (one adds a random crop).
        self._set_options(root, split, image_size, load_size or image_size, channels, augment, seed, False)
        table = find_table(self.root)
        if table is None:
            if domains:
                raise ConfigError(f"--domains: {self.root} has a folder per domain, and every folder is a "
                                  f"domain; --domains chooses attributes of an attribute table")
            self.multi_label = False
            self.domains, self.items = read_folders(self.root, split, max_items)
        else:
            self.multi_label = True
            self.domains, self.items = read_table(self.root, table, split, domains, max_items)
        self.by_name = {(Path(p).stem, int(lab.argmax())): k for k, (p, lab) in enumerate(self.items)
                        if not self.multi_label}
        self.transform = self._build_transform()

    # -- what was found ---------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Images per domain (per attribute that is on, for an attribute table)."""
        totals = np.sum([lab for _, lab in self.items], axis=0)
        return {d: int(n) for d, n in zip(self.domains, totals)}

    def describe(self) -> str:
        kind = "attributes" if self.multi_label else "domains"
        return f"{self.split} {kind}: " + ", ".join(f"{d} ({n})" for d, n in self.counts().items())

    @classmethod
    def has_split(cls, root, split) -> bool:
        root = Path(root)
        if find_table(root) is not None:
            return True
        folder = root / split
        return folder.is_dir() and any(any(list_images(d)) for d in folder.iterdir() if d.is_dir())

    # -- augmentation -----------------------------------------------------------------------
    def _build_transform(self) -> A.Compose:
        steps = [A.Resize(self.load_size, self.load_size, interpolation=cv2.INTER_CUBIC)]
        if self.augment:
            if self.load_size > self.image_size:
                steps.append(A.RandomCrop(self.image_size, self.image_size))
            steps.append(A.HorizontalFlip(p=0.5))
        return A.Compose(steps)

    def _load(self, path, rng=None) -> torch.Tensor:
        image = load_image(path, self.channels)
        if rng is None:
            return self._to_tensor(self.transform(image=image)["image"])
        return self._to_tensor(self._augment(rng, image=image)["image"])

    # -- Dataset ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.items)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __getitem__(self, i):
        if not 0 <= i < len(self):
            raise IndexError(i)
        path, label = self.items[i]
        rng = np.random.default_rng([self.seed, self.epoch, int(i)]) if self.augment else None
        domain = -1 if self.multi_label else int(label.argmax())
        return {"image": self._load(path, rng), "label": torch.from_numpy(label.copy()),
                "domain": domain, "path": str(path)}

    def counterpart(self, i: int, domain: int) -> torch.Tensor | None:
        """The held-out image with item i's file name in `domain` (the true translation), if any."""
        k = self.by_name.get((Path(self.items[i][0]).stem, int(domain)))
        return None if k is None else self._load(self.items[k][0])

    def info(self) -> DataInfo:
        return DataInfo(kind=self.kind, channels=self.channels, image_size=self.image_size,
                        domains=tuple(self.domains), multi_label=self.multi_label)


# -- layouts ------------------------------------------------------------------------------------

def find_table(root: Path) -> Path | None:
    for name in ATTRIBUTE_TABLES:
        if (root / name).is_file():
            return root / name
    return None


def _layout_error(root: Path, problem: str, found: str) -> DataError:
    return DataError(f"{root}: {problem}\nFound: {found}\nExpected:\n{EXPECTED_TREE}")


def _declared_order(root: Path, found: list[str]) -> list[str]:
    """dataset.json's "domains" (which must name exactly the folders), else sorted names."""
    meta = root / "dataset.json"
    declared = read_dataset_json(root).get("domains")  # {} without a dataset.json
    if declared is None:
        return sorted(found)
    if not isinstance(declared, list) or sorted(map(str, declared)) != sorted(found):
        raise DataError(f"{meta}: \"domains\" {declared!r} must name exactly the domain folders "
                        f"found: {', '.join(sorted(found))}")
    return [str(d) for d in declared]


def read_folders(root: Path, split: str, max_items) -> tuple[list[str], list[tuple[Path, np.ndarray]]]:
    """(domain names, [(image path, one-hot label)]) of root/<split>/<domain>/*."""
    check_root(root)
    folder = root / split
    if not folder.is_dir():
        raise _layout_error(root, f"no {split}/ folder and no attribute table "
                            f"({', '.join(ATTRIBUTE_TABLES)}){_domains_at_root_hint(root)}",
                            f"in {root}: {listing(root)}")
    images = {d.name: list_images(d) for d in class_dirs(folder)}
    loose = list_images(folder)
    counts = ", ".join(f"{d}/ ({len(p)} images)" for d, p in images.items()) or "no domain folders"
    found = f"in {folder}: {counts}" + (f"; {len(loose)} images directly in {split}/ (they must be "
                                        f"inside a domain folder)" if loose else "")
    if len(images) < 2:
        raise _layout_error(root, f"multi-domain data needs at least two domain folders in {split}/, "
                            f"found {len(images)}", found)
    empty = [d for d, p in images.items() if not p]
    if empty:
        raise _layout_error(root, f"domain folder{'s' if len(empty) > 1 else ''} "
                            f"{', '.join(f'{split}/{d}/' for d in empty)} contain{'s' if len(empty) == 1 else ''} "
                            f"no images (looked for {', '.join(IMAGE_EXTENSIONS)})", found)
    domains = _declared_order(root, list(images))
    if split != "train" and (root / "train").is_dir():
        train = [d.name for d in class_dirs(root / "train")]
        if sorted(domains) != train:
            raise _layout_error(root, f"{split}/ must have the same domain folders as train/ "
                                f"(train/: {', '.join(train)})", found)
    items = []
    for k, d in enumerate(domains):
        label = np.zeros(len(domains), np.float32)
        label[k] = 1.0
        paths = images[d][: int(max_items)] if max_items else images[d]
        items += [(p, label) for p in paths]
    return domains, items


def _domains_at_root_hint(root: Path) -> str:
    """When `root`'s own folders hold images, they are domains one level too high: say where
    they go (the reference implementation is pointed at data/RaFD/train, this toolkit at data/RaFD)."""
    domains = [d for d in class_dirs(root) if list_images(d)]
    if len(domains) < 2:
        return ""
    if root.name == "train":
        return f".\nThe image folders here look like domains: if {root} is the training split, pass its parent " \
               f"(--data {root.parent})"
    return f".\nThe image folders here look like domains: move them into {root / 'train'}/ (held-out images " \
           f"into {root / 'test'}/, with the same domain folders)"


def read_table(root: Path, table: Path, split: str, domains, max_items):
    """(attribute names, [(image path, 0/1 attribute vector)]) of a CelebA-style table."""
    image_dir = next((root / n for n in IMAGE_FOLDERS if (root / n).is_dir()), None)
    if image_dir is None:
        raise _layout_error(root, f"an attribute table ({table.name}) but no image folder "
                            f"({' or '.join(IMAGE_FOLDERS)}/)", f"in {root}: {listing(root)}")
    lines = [ln.split() for ln in table.read_text().splitlines() if ln.strip()]
    if lines and len(lines[0]) == 1 and lines[0][0].isdigit():
        lines = lines[1:]  # CelebA's first line is the row count
    if len(lines) < 2:
        raise DataError(f"{table}: expected a line of attribute names and at least one row")
    names, rows = lines[0], lines[1:]
    wanted = list(domains) if domains else list(CELEBA_DEFAULT_DOMAINS)
    unknown = [d for d in wanted if d not in names]
    if unknown:
        hint = "" if domains else " (the default is the paper's CelebA attributes; choose with --domains)"
        raise ConfigError(f"--domains: {', '.join(unknown)} not in {table}{hint}."
                          f"{did_you_mean(unknown[0], names)} Attributes: {', '.join(names)}")
    if len(wanted) < 2:
        raise ConfigError(f"--domains: need at least two attributes, got {', '.join(wanted)}")
    columns = [names.index(d) for d in wanted]
    order = list(range(len(rows)))
    random.Random(TABLE_SPLIT_SEED).shuffle(order)
    n_test = min(TABLE_TEST_SIZE, len(rows) // 10)
    chosen = sorted(order[:n_test] if split == "test" else order[n_test:])
    items = []
    for r in chosen:
        row = rows[r]
        if len(row) != len(names) + 1:
            raise DataError(f"{table}, row {r + 1}: expected a file name and {len(names)} values, got {len(row) - 1}")
        try:
            label = np.array([float(row[1 + c]) > 0 for c in columns], np.float32)
        except ValueError as exc:
            raise DataError(f"{table}, row {r + 1}: values must be 1 / -1 (or 1 / 0): {exc}") from exc
        items.append((image_dir / row[0], label))
    if max_items:
        items = items[: int(max_items)]
    missing = [p for p, _ in items if not p.is_file()]
    if missing:
        raise DataError(f"{table}: {len(missing)} listed image(s) not found in {image_dir}, e.g. {missing[0].name}")
    totals = np.sum([lab for _, lab in items], axis=0) if items else np.zeros(len(wanted))
    # A small held-out split may lack an attribute; a training split without one trains garbage.
    empty = [d for d, n in zip(wanted, totals) if n == 0] if split == "train" else []
    if not items or empty:
        counts = ", ".join(f"{d} ({int(n)})" for d, n in zip(wanted, totals))
        raise _layout_error(root, f"attribute{'s' if len(empty) > 1 else ''} {', '.join(empty) or '(all)'} "
                            f"on in no {split} image", f"{len(items)} {split} rows; images with each attribute: {counts}")
    return wanted, items
