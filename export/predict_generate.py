"""`translate predict G.onnx --label NAME --count N --seed S --output DIR` for generate (cGAN) models.

Writes DIR/grid.png (all samples, tiled) and DIR/<label>_000.png ... one file per sample. The
label is checked against the model's classes, and every output path (no existing file without
--overwrite) before anything is generated or written. Torch-free: numpy + pillow + onnxruntime.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

from PIL import Image

from translate.errors import ConfigError, DataError
from translate.export import runtime
from translate.run import make_folder

DEFAULT_COUNT = 16
GRID_PADDING = 2  # pixels between tiles (and around the grid), white


def make_grid(images: list[Image.Image], columns: int | None = None) -> Image.Image:
    """Tile same-size images row by row, columns = ceil(sqrt(n)) unless given."""
    columns = columns or math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    w, h = images[0].size
    p = GRID_PADDING
    grid = Image.new(images[0].mode, (columns * (w + p) + p, rows * (h + p) + p), "white")
    for i, image in enumerate(images):
        grid.paste(image, (p + (i % columns) * (w + p), p + (i // columns) * (h + p)))
    return grid


def safe_name(label: str) -> str:
    """A class name as a file name part: anything but letters, digits, '-', '.' becomes '_'."""
    return re.sub(r"[^A-Za-z0-9.-]", "_", label) or "_"


def run_generate(args, model_path: Path, meta: dict) -> int:
    from translate.export.predict import plan_outputs, save_png  # predict imports this module

    classes = [str(c) for c in meta.get("classes") or []]
    if args.inputs:
        raise DataError(f"{model_path.name} generates images from a label and takes no input images "
                        f"(got {args.inputs[0]}); use --label NAME --count N")
    if args.label is None:
        raise ConfigError(f"{model_path.name} generates images of a class: give one with --label "
                          f"(valid: {', '.join(classes)})")
    count = DEFAULT_COUNT if args.count is None else args.count
    if count < 1:
        raise ConfigError(f"--count {count}: expected a positive number of images")
    seed = 0 if args.seed is None else args.seed
    runtime.class_index(classes, args.label, f"--label {args.label}")
    stem = safe_name(str(args.label))
    output = Path(args.output)
    names = [Path("grid")] + [Path(f"{stem}_{i:03d}") for i in range(count)]
    grid_target, *targets = plan_outputs(names, output, args.overwrite)

    model = runtime.load(model_path, providers=args.providers)
    images = model(label=args.label, count=count, seed=seed)
    make_folder(output, "--output")
    save_png(make_grid(images), grid_target)
    for image, target in zip(images, targets):
        save_png(image, target)
    print(grid_target)
    print(f"generated {count} image{'s' if count != 1 else ''} of class {args.label!r} with {model_path.name} "
          f"(seed {seed}, {model.providers[0]}) into {output}: grid.png and {targets[0].name} ... {targets[-1].name}")
    return 0

