"""Build-time helpers for Microsoft Fluent emoji, from the npm package `fluentui-emoji@1.3.0` (MIT).

Used by the dataset build scripts only (datasets/build_*.py), never at run time: rendering needs
cairosvg (`pip install cairosvg`, which needs libcairo), which is not a dependency of the package.

The package holds one SVG per emoji and style under package/icons/<style>/<slug>.svg, with
styles "flat" (color), "high-contrast" (a black silhouette) and "modern". It gives no codepoints,
so an emoji's key is its file slug, e.g. "grinning-face" or "thumbs-up-default" (skin-tone
variants are separate slugs: "thumbs-up-dark", ...; "high-contrast" only has the "-default" ones).
"""
from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

PACKAGE = "fluentui-emoji"
VERSION = "1.3.0"
TARBALL = f"{PACKAGE}-{VERSION}.tgz"
STYLES = ("flat", "high-contrast", "modern")


def _build_cache() -> Path:
    from translate.datasets.builtin import cache_dir  # torch-free; keeps the cache in one place

    return cache_dir() / "build"


def _npm_pack(dest: Path) -> Path:
    """`npm pack` the pinned tarball into dest (the only step that needs the network)."""
    if shutil.which("npm") is None:
        raise SystemExit("npm is not installed: install Node.js, or pass a folder holding " + TARBALL)
    subprocess.run(["npm", "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", str(dest)],
                   check=True, stdout=subprocess.DEVNULL)
    return dest / TARBALL


def _extract(tarball: Path, dest: Path) -> None:
    with tarfile.open(tarball, "r:gz") as tar:
        members = [m for m in tar.getmembers() if m.isfile() or m.isdir()]  # no links
        for m in members:
            if m.name.startswith("/") or ".." in Path(m.name).parts:
                raise SystemExit(f"{tarball}: unsafe path {m.name!r} in archive")
        tar.extractall(dest, members=members, filter="data")


def fetch_fluent(tarball_dir: Path | None = None) -> Path:
    """Return the extracted package root (the folder holding icons/ and LICENSE).

    With `tarball_dir`, the tarball is read from there (no network); otherwise it is fetched
    with `npm pack`. It is extracted once into <translate cache>/build/fluentui-emoji-1.3.0/."""
    root = _build_cache() / f"{PACKAGE}-{VERSION}"
    if (root / "package" / "icons").is_dir() and tarball_dir is None:
        return root / "package"
    root.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root.parent) as tmp:
        tarball = Path(tarball_dir) / TARBALL if tarball_dir else _npm_pack(Path(tmp))
        if not tarball.is_file():
            raise SystemExit(f"missing {tarball} (run without a tarball folder to `npm pack` it)")
        staged = Path(tmp) / "extracted"
        _extract(tarball, staged)
        if root.exists():
            shutil.rmtree(root)
        staged.rename(root)  # a half-extracted folder never gets the final name
    return root / "package"


def fluent_svgs(package_root: Path, style: str) -> dict[str, Path]:
    """Emoji key (file slug, e.g. "grinning-face") -> SVG path for one style, sorted by key."""
    if style not in STYLES:
        raise ValueError(f"unknown Fluent style {style!r}; expected one of {', '.join(STYLES)}")
    folder = Path(package_root) / "icons" / style
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} does not exist: is {package_root} the extracted {PACKAGE} package?")
    return {p.stem: p for p in sorted(folder.glob("*.svg"))}


def render_svg(path: Path, size: int) -> Image.Image:
    """Render an SVG to a size x size RGB image composited over white (emoji have transparent
    backgrounds). Deterministic for a given cairo/cairosvg version."""
    import cairosvg
    from PIL import Image

    png = cairosvg.svg2png(url=str(path), output_width=size, output_height=size)
    rgba = Image.open(io.BytesIO(png)).convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")
