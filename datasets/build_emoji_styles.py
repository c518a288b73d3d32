"""Rebuild the built-in `emoji_styles` dataset: emoji in three styles, a domain per style.

    python -m translate.datasets.build_emoji_styles [--tarball-dir DIR] [--out DIR]

Styles: Google Noto and Twemoji (64px PNGs of `emoji-datasource-google@16.0.0` and
`emoji-datasource-twitter@16.0.0`, read as build_noto2twemoji reads them) and Microsoft Fluent
"flat" (SVGs of `fluentui-emoji@1.3.0`, rendered at 64x64 over white; needs cairosvg at build
time). --tarball-dir holds the three .tgz files; without it they are fetched with `npm pack`.

Selection: base emoji of emoji.json with a Google and a Twitter image, outside the "Flags" and
"Component" categories, whose Fluent slug is found from the Unicode name or a short name
("GRINNING FACE" -> grinning-face, or grinning-face-default for emoji with skin tones); a slug
claimed by two emoji is left out. Split (seed SEED): TEST_SIZE emoji form test/<style>/ in all
three styles (same file names, so a translation is scored against the true image); the rest is
cut into three disjoint thirds, one per style, for train/<style>/: no emoji is seen in two
styles during training. Deterministic: the same tarballs and cairo version give the same zips.
"""
from __future__ import annotations

import argparse
import io
import json
import random
import re
import tempfile
from pathlib import Path

from translate.datasets.build_noto2twemoji import (EXCLUDED_CATEGORIES, PACKAGES, VERSION, npm_pack,
                                                  open_tarballs, report, select, write_shards)
from translate.datasets.fluent_emoji import PACKAGE as FLUENT, VERSION as FLUENT_VERSION
from translate.datasets.fluent_emoji import fetch_fluent, fluent_svgs, render_svg

NAME = "emoji_styles"
STYLES = ("noto", "twemoji", "fluent")   # the domain order
SEED = 20261123
TEST_SIZE = 100
IMAGE_SIZE = 64

LICENSE_MD = """\
# emoji_styles: licenses and attribution

64x64 emoji in three styles, a domain each: Google Noto Emoji ("noto"), Twemoji ("twemoji") and
Microsoft Fluent Emoji flat ("fluent"). Noto and Twemoji images are the original PNG bytes of the
npm packages `emoji-datasource-google@{v}` and `emoji-datasource-twitter@{v}`; Fluent images are
rendered from the SVGs of `{fluent}@{fluent_v}` at 64x64 over a white background. File names
are the emoji's codepoints (as in emoji-datasource), the same in every style.

## Noto Emoji images (*/noto/)

Noto Emoji, Copyright Google Inc. Licensed under the Apache License, Version 2.0
(https://www.apache.org/licenses/LICENSE-2.0). Source: https://github.com/googlefonts/noto-emoji

## Twemoji images (*/twemoji/)

Twemoji graphics, Copyright 2019 Twitter, Inc (now X Corp.) and other contributors.
Licensed under CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/).
Attribution: "Emoji graphics by Twemoji (https://github.com/twitter/twemoji), licensed under
CC BY 4.0." The images were not modified; this dataset only selects them and packs them into zip
archives. Anyone redistributing this data, or images derived from it, must keep this attribution.

## Fluent Emoji images (*/fluent/)

Fluent Emoji, Copyright (c) Microsoft Corporation. Licensed under the MIT License.
Source: https://github.com/microsoft/fluentui-emoji, as repackaged in the npm package
`{fluent}@{fluent_v}`, whose license is:

{fluent_mit}

## emoji-datasource packages (metadata, packaging)

emoji-data / emoji-datasource, Copyright (c) 2013 Cal Henderson (iamcal), MIT License
(https://github.com/iamcal/emoji-data). The MIT notice:

{mit}

## Rebuilding

    pip install cairosvg
    python -m translate.datasets.build_emoji_styles                    # runs `npm pack` (network)
    python -m translate.datasets.build_emoji_styles --tarball-dir DIR  # with the three .tgz files

Selection: base emoji of emoji.json with a Google and a Twitter image, outside the "Flags" and
"Component" categories, with a Fluent flat SVG found by name ({matched} emoji). Split with seed
{seed}: {test} emoji form test/ in all three styles; the other {rest} are cut into three
disjoint thirds, one per style, for train/.
"""


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def fluent_matches(entries: list[dict], slugs: set[str]) -> dict[str, str]:
    """emoji-datasource image name -> Fluent slug, by the Unicode name first, then the short
    names; with or without the "-default" skin-tone suffix. Slugs claimed twice are dropped."""
    found: dict[str, str] = {}
    for e in entries:
        for text in [e["name"], *e.get("short_names", [])]:
            slug = next((s for s in (slugify(text), slugify(text) + "-default") if s in slugs), None)
            if slug:
                found[e["image"]] = slug
                break
    claims: dict[str, int] = {}
    for slug in found.values():
        claims[slug] = claims.get(slug, 0) + 1
    return {image: slug for image, slug in sorted(found.items()) if claims[slug] == 1}


def split(names: list[str]) -> dict[str, list[str]]:
    """test: TEST_SIZE names (every style); train/<style>: a disjoint third of the rest each."""
    order = list(names)
    random.Random(SEED).shuffle(order)
    test, rest = sorted(order[:TEST_SIZE]), order[TEST_SIZE:]
    parts = {"test": test}
    for k, style in enumerate(STYLES):
        parts[f"train/{style}"] = sorted(rest[k::len(STYLES)])
    return parts


def render_png(svg: Path) -> bytes:
    buf = io.BytesIO()
    render_svg(svg, IMAGE_SIZE).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def build(tarball_dir: Path, out: Path, fluent_tarball_dir: Path | None = None) -> dict:
    tars = open_tarballs(tarball_dir)
    fluent_root = fetch_fluent(fluent_tarball_dir)
    svgs = fluent_svgs(fluent_root, "flat")
    emoji = json.loads(tars["noto"].read("emoji.json"))
    both = set(select(emoji, tars))
    entries = [e for e in emoji if e["image"] in both and e["category"] not in EXCLUDED_CATEGORIES]
    slug_of = fluent_matches(entries, set(svgs))
    names = sorted(slug_of)
    print(f"{len(both)} emoji with a Google and a Twitter image; {len(names)} of them with a Fluent flat SVG")

    def image(style: str, name: str) -> bytes:
        if style == "fluent":
            return render_png(svgs[slug_of[name]])
        return tars[style].read(f"img/{PACKAGES[style][1]}/64/{name}")

    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.zip"):
        old.unlink()
    parts = split(names)
    counts = {}
    for part, files in parts.items():
        for style in STYLES:
            if part.startswith("train/") and not part.endswith(style):
                continue
            folder = f"{part.split('/')[0]}/{style}"
            write_shards(out, folder, [(n, image(style, n)) for n in files], archive=folder.replace("/", "-"))
            counts[folder] = len(files)
    meta = {
        "name": NAME,
        "kind": "multidomain",
        "domains": list(STYLES),
        "sources": [f"{p}@{VERSION}" for p, _ in PACKAGES.values()] + [f"{FLUENT}@{FLUENT_VERSION} (flat)"],
        "counts": counts,
        "image_size": IMAGE_SIZE,
        "test_paired": True,
        "split_seed": SEED,
        "license": "Noto Emoji: Apache-2.0 (Google); Twemoji: CC BY 4.0 (Twitter/X); Fluent Emoji: MIT "
                   "(Microsoft); see LICENSE.md",
    }
    (out / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n")
    (out / "LICENSE.md").write_text(LICENSE_MD.format(
        v=VERSION, fluent=FLUENT, fluent_v=FLUENT_VERSION, mit=tars["noto"].read("LICENSE").decode().strip(),
        fluent_mit=(fluent_root / "LICENSE").read_text().strip(), matched=len(names), seed=SEED,
        test=TEST_SIZE, rest=len(names) - TEST_SIZE))
    report(out, counts)
    return meta


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tarball-dir", type=Path,
                    help=f"folder with the emoji-datasource .tgz files and {FLUENT}-{FLUENT_VERSION}.tgz (default: npm pack)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "data" / NAME)
    args = ap.parse_args(argv)
    if args.tarball_dir:
        fluent_dir = args.tarball_dir if (args.tarball_dir / f"{FLUENT}-{FLUENT_VERSION}.tgz").is_file() else None
        build(args.tarball_dir, args.out, fluent_dir)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            build(npm_pack(Path(tmp)), args.out)


if __name__ == "__main__":
    main()
