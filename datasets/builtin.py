"""Built-in sample datasets: packed zip shards in the package, extracted once into a cache.

The package ships datasets/data/<name>/{dataset.json, LICENSE.md, <folder>-<k>.zip}; each zip
holds entries "<folder>/<file>". `materialize(name)` unpacks them into the standard CycleGAN
layout under $TRANSLATE_CACHE/datasets/<name>-<hash>, where the hash covers the packed files,
so a changed dataset gets a new folder and a finished folder is never rewritten.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
import zipfile
from pathlib import Path

from translate.errors import DataError, did_you_mean

DATA_DIR = Path(__file__).resolve().parent / "data"
_STALE_TMP_SECONDS = 3600  # temp folders older than this were left by an interrupted extraction


def cache_dir() -> Path:
    """$TRANSLATE_CACHE, else $XDG_CACHE_HOME/translate, else ~/.cache/translate."""
    if os.environ.get("TRANSLATE_CACHE"):
        return Path(os.environ["TRANSLATE_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "translate"


def available() -> list[str]:
    return sorted(p.name for p in DATA_DIR.iterdir() if (p / "dataset.json").is_file()) if DATA_DIR.is_dir() else []


def _packed_files(src: Path) -> list[Path]:
    return sorted(p for p in src.iterdir() if p.is_file() and not p.name.startswith("."))


def content_hash(name: str) -> str:
    """A short hash of the packed files (names and bytes) of built-in dataset `name`."""
    h = hashlib.sha256()
    for p in _packed_files(DATA_DIR / name):
        h.update(p.name.encode() + b"\0")
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()[:12]


def _extract(src: Path, dest: Path) -> None:
    for p in _packed_files(src):
        if p.suffix == ".zip":
            with zipfile.ZipFile(p) as zf:
                for member in zf.namelist():
                    # Our own archives, but refuse anything that would escape dest anyway.
                    if member.startswith("/") or ".." in Path(member).parts:
                        raise DataError(f"{p}: unsafe path {member!r} in archive")
                zf.extractall(dest)
        else:  # dataset.json, LICENSE.md travel with the images
            shutil.copy2(p, dest / p.name)


def _remove_stale_temps(parent: Path, prefix: str) -> None:
    now = time.time()
    for p in parent.glob(prefix + "*"):
        try:
            if now - p.stat().st_mtime > _STALE_TMP_SECONDS:
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            pass


def materialize(name: str) -> Path:
    """Extract built-in dataset `name` (once) and return its root folder (trainA/ trainB/ testA/ testB/)."""
    src = DATA_DIR / name
    if not (src / "dataset.json").is_file():
        raise DataError(f"unknown built-in dataset {name!r}; available: {', '.join(available()) or 'none'}."
                        + did_you_mean(name, available()))
    parent = cache_dir() / "datasets"
    final = parent / f"{name}-{content_hash(name)}"
    if final.is_dir():  # only a complete extraction is ever renamed to this name
        return final
    parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{final.name}.tmp-"
    _remove_stale_temps(parent, prefix)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))  # same filesystem: os.replace is atomic
    try:
        _extract(src, tmp)
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700; the cache folder is an ordinary folder
        try:
            os.replace(tmp, final)
        except OSError:
            # Another process finished first (the target exists and is not empty): use theirs.
            if not final.is_dir():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def noto2twemoji() -> Path:
    """Google Noto emoji (A) <-> Twemoji (B), 64x64; see datasets/data/noto2twemoji/LICENSE.md."""
    return materialize("noto2twemoji")


def mnist() -> Path:
    """MNIST digits in class folders, 32x32 grayscale; see datasets/data/mnist/LICENSE.md."""
    return materialize("mnist")


def emoji_styles() -> Path:
    """Emoji as Noto, Twemoji and Fluent flat (a domain per style), 64x64; see its LICENSE.md."""
    return materialize("emoji_styles")


def fluent_silhouette2flat() -> Path:
    """Fluent emoji pairs, high-contrast silhouette (A) -> flat color (B), 64x64; see its LICENSE.md."""
    return materialize("fluent_silhouette2flat")


def mnist2mnistm() -> Path:
    """MNIST (source) -> MNIST-M-style digits on photo patches (target), 28x28; see its LICENSE.md."""
    return materialize("mnist2mnistm")
