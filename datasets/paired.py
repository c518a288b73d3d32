"""The "paired" dataset kind: aligned (A, B) image pairs, as pix2pix trains on.

Two layouts, found automatically:
- the common pix2pix layout: <root>/train/, val/, test/, each file A and B side by side
  (A on the left half, B on the right), as the pix2pix datasets (facades, maps, ...) ship;
- A/ + B/ folders with matching file names per split: <root>/A/train/x.png <-> <root>/B/train/x.png
  (what pix2pix's combine_A_and_B script takes as input).

Both halves of a pair get the same random resize-crop and flip (albumentations additional
targets). As in the unpaired kind, every random choice of item i comes from a generator seeded
by (seed, epoch, i), so resuming a run is exact. Pairs whose halves differ in size, or that lack
a partner, are reported by name before training starts.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from translate.datasets.unpaired import UnpairedDataset, few
from translate.errors import DataError
from translate.imageio import IMAGE_EXTENSIONS, list_images, load_image, require_images

SPLITS = ("train", "val", "test")


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) as decoded (upright), from the file header, without decoding the pixels."""
    try:
        with Image.open(path) as img:
            turned = img.getexif().get(0x0112) in (5, 6, 7, 8)   # EXIF orientations with a quarter turn
            return img.size[::-1] if turned else img.size
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{path}: cannot read image ({type(exc).__name__}: {exc})") from exc


class PairedDataset(UnpairedDataset):
    """Reuses the unpaired kind's augmentation (shared crop/flip for "image" and "image_b"),
    tensor conversion, domain names and epoch handling; only the layout differs."""

    kind = "paired"
    held_out_splits = ("test", "val")   # edges2shoes, maps, night2day: train/ and val/ only
    EXPECTED_TREE = (
        "either the pix2pix layout, each image A|B side by side (A left, B right, same size):\n"
        "<root>/\n"
        "  train/         training pairs\n"
        "  val/           optional\n"
        "  test/          held-out pairs (optional)\n"
        "or A/ and B/ folders with the same file names in each split:\n"
        "<root>/\n"
        "  A/train/  B/train/     training pairs (x.png in A/train/ pairs with x.png in B/train/)\n"
        "  A/test/   B/test/      held-out pairs (optional)\n"
        "and optionally dataset.json: {\"domains\": [\"nameA\", \"nameB\"]}"
    )

    def __init__(self, root, split="train", *, image_size=256, load_size=None, channels=3,
                 augment=True, seed=0, max_items=None, batch_augment=False):
        # pix2pix: resize to 286 then random-crop 256 (jitter), flip; the same for both halves.
        self._set_options(root, split, image_size, load_size, channels, augment, seed, batch_augment)
        self.aligned = True
        self.side_by_side, self.paths_a, self.paths_b = self._find_pairs(self.root, split)
        if max_items is not None:
            self.paths_a, self.paths_b = self.paths_a[: int(max_items)], self.paths_b[: int(max_items)]
        self.domains = self._read_domains(self.root)
        self.transform = self._build_transform()

    # -- layout ---------------------------------------------------------------------------
    @classmethod
    def _find_pairs(cls, root: Path, split: str) -> tuple[bool, list[Path], list[Path]]:
        """(side_by_side, A paths, B paths); for side-by-side files both lists are the same files."""
        if not root.is_dir():
            raise DataError(f"data directory {root} " + ("does not exist" if not root.exists() else "is not a directory"))
        if (root / split).is_dir():
            paths = require_images(root / split, "split folder")
            cls._check_side_by_side(paths)
            return True, paths, list(paths)
        dir_a, dir_b = root / "A" / split, root / "B" / split
        if dir_a.is_dir() and dir_b.is_dir():
            paths_a, paths_b = cls._match_names(dir_a, dir_b)
            cls._check_same_sizes(paths_a, paths_b)
            return False, paths_a, paths_b
        found = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir() if not p.name.startswith("."))
        raise DataError(f"{root} does not have a paired layout for split {split!r}: no {split}/ folder and no "
                        f"A/{split}/ + B/{split}/ folders.\nExpected {cls.EXPECTED_TREE}\n"
                        f"Found in {root}: {few(found, 20) or 'nothing'}")

    @staticmethod
    def _check_side_by_side(paths: list[Path]) -> None:
        odd = [p.name for p in paths if _image_size(p)[0] % 2]
        if odd:
            raise DataError(f"{paths[0].parent}: side-by-side pairs need an even width (A left half, B right "
                            f"half); odd width: {few(odd)}")

    @staticmethod
    def _match_names(dir_a: Path, dir_b: Path) -> tuple[list[Path], list[Path]]:
        by_a = {p.stem: p for p in list_images(dir_a)}
        by_b = {p.stem: p for p in list_images(dir_b)}
        only_a, only_b = sorted(by_a.keys() - by_b.keys()), sorted(by_b.keys() - by_a.keys())
        if only_a or only_b:
            raise DataError(f"pairs need the same file names in {dir_a} and {dir_b}; without a partner: "
                            f"only in A: {few(only_a) or 'none'}; only in B: {few(only_b) or 'none'}")
        if not by_a:
            raise DataError(f"{dir_a} and {dir_b} contain no images (looked for {', '.join(IMAGE_EXTENSIONS)})")
        names = sorted(by_a)
        return [by_a[n] for n in names], [by_b[n] for n in names]

    @staticmethod
    def _check_same_sizes(paths_a: list[Path], paths_b: list[Path]) -> None:
        bad = []
        for a, b in zip(paths_a, paths_b):
            size_a, size_b = _image_size(a), _image_size(b)
            if size_a != size_b:
                bad.append(f"{a.stem} (A {size_a[0]}x{size_a[1]}, B {size_b[0]}x{size_b[1]})")
        if bad:
            raise DataError(f"the two images of a pair must have the same size; they differ for: {few(bad)} "
                            f"in {paths_a[0].parent} and {paths_b[0].parent}")

    @classmethod
    def has_split(cls, root, split) -> bool:
        root = Path(root)
        if (root / split).is_dir():
            return bool(list_images(root / split))
        return all((root / d / split).is_dir() and any(list_images(root / d / split)) for d in "AB")

    @classmethod
    def batch_augmenter(cls, image_size: int, aligned: bool = True):
        """On-device crop/flip (kornia): always the same one for both halves of a pair."""
        return super().batch_augmenter(image_size, aligned=True)

    # -- Dataset ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.paths_a)

    def _load_pair(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        if self.side_by_side:
            ab = load_image(self.paths_a[i], self.channels)
            half = ab.shape[1] // 2
            return ab[:, :half], ab[:, half:]
        return load_image(self.paths_a[i], self.channels), load_image(self.paths_b[i], self.channels)

    def __getitem__(self, i):
        if not 0 <= i < len(self):
            raise IndexError(i)
        rng = np.random.default_rng([self.seed, self.epoch, int(i)])
        a, b = self._load_pair(i)
        out = self._augment(rng, image=np.ascontiguousarray(a), image_b=np.ascontiguousarray(b))
        return {"A": self._to_tensor(out["image"]), "B": self._to_tensor(out["image_b"]),
                "A_path": str(self.paths_a[i]), "B_path": str(self.paths_b[i])}
