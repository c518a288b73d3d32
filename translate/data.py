"""Finding a run's data: a folder, or a built-in dataset by name, read by the model's kind."""
from __future__ import annotations

import json
from pathlib import Path

from translate.errors import ConfigError, DataError, did_you_mean

DEFAULT_IMAGE_SIZE = 256


def resolve_root(data: str, kind: str, plugins) -> tuple[Path, str]:
    """(root folder, canonical value for the config: a built-in name or an absolute path)."""
    path = Path(data).expanduser()
    if data in plugins.builtin_datasets and not path.exists():
        entry = plugins.builtin_datasets.get(data)
        if entry.extra.get("kind") != kind:
            raise DataError(f"--data {data}: built-in dataset of kind {entry.extra.get('kind')!r}, "
                            f"but this model needs kind {kind!r}")
        return Path(entry.load()()), data
    if path.exists():
        if not path.is_dir():
            raise DataError(f"--data {data}: expected a dataset folder, got a file")
        return path.resolve(), str(path.resolve())
    builtin = [n for n, e in plugins.builtin_datasets.entries.items() if e.extra.get("kind") == kind]
    raise DataError(f"--data {data}: no such folder, and not a built-in dataset."
                    f"{did_you_mean(data, builtin)} Built-in datasets of kind {kind!r}: {', '.join(builtin) or 'none'}")


def held_out_splits(kind_cls) -> tuple[str, ...]:
    """The splits a kind holds out for samples and `evaluate`, in order of preference."""
    return tuple(getattr(kind_cls, "held_out_splits", ("test",)))


def held_out_split(kind_cls, root: Path) -> str | None:
    """The split that sample grids and `evaluate` use: the first of the kind's held-out splits
    (default: "test" only) that the data has, or None. pix2pix datasets such as edges2shoes and
    maps ship train/ and val/ only, so the paired kind falls back to val/."""
    for split in held_out_splits(kind_cls):
        if kind_cls.has_split(root, split):
            return split
    return None


def native_size(root: Path) -> int:
    """The image size a dataset declares in dataset.json (built-ins do), else 256."""
    meta = Path(root) / "dataset.json"
    if meta.is_file():
        try:
            return int(json.loads(meta.read_text()).get("image_size", DEFAULT_IMAGE_SIZE))
        except (ValueError, TypeError):
            pass
    return DEFAULT_IMAGE_SIZE


def make_dataset(kind_cls, root: Path, split: str, data_cfg, *, seed: int, augment: bool, **options):
    domains = getattr(data_cfg, "domains", "")
    if domains:  # only kinds that choose among domains take it; elsewhere it would be silently ignored
        if not getattr(kind_cls, "selects_domains", False):
            raise ConfigError(f"--domains {domains}: only multi-domain data chooses domains; this "
                              f"model's data is of kind {getattr(kind_cls, 'kind', kind_cls.__name__)!r}")
        options["domains"] = [d.strip() for d in domains.split(",") if d.strip()]
    return kind_cls(root, split, image_size=data_cfg.image_size, load_size=data_cfg.load_size or None,
                    channels=data_cfg.channels, augment=augment, seed=seed,
                    max_items=data_cfg.max_items or None, **options)


def batch_augmenter(kind_cls, data_cfg, device):
    """The kind's on-device crop/flip (kornia) when `--augment-with` asks for it (auto: on CUDA),
    else None (albumentations in the loader). A kind supports it by a `batch_augmenter(image_size)`
    classmethod and a `batch_augment=True` constructor option."""
    choice = data_cfg.augment_with
    supported = hasattr(kind_cls, "batch_augmenter")
    if choice == "kornia" and not supported:
        raise ConfigError(f"--augment-with kornia: dataset kind {kind_cls.kind!r} has no batch "
                          f"augmentation; use --augment-with albumentations")
    if choice == "kornia" or (choice == "auto" and supported and device.type == "cuda"):
        return kind_cls.batch_augmenter(data_cfg.image_size)
    return None
