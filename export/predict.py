"""`translate predict MODEL.onnx INPUTS... --output DIR`: run an exported model on images.

Torch-free and plugin-free: the ONNX file's metadata says everything, its "task" included. Each
task has a runner in RUNNERS (image-to-image here; other tasks in their own modules) and may own
flags, listed in TASK_FLAGS so a flag given to a model of another task is an error, not ignored.
Every input is checked (exists, decodes, no two write the same output, no output would be
clobbered) before the first file is written, so a bad input never leaves a half-finished folder.
"""
from __future__ import annotations

import argparse
import os
import uuid
from pathlib import Path

from translate.errors import ConfigError, DataError, ExportError
from translate.export import runtime
from translate.export.predict_classify import run_classify
from translate.export.predict_generate import run_generate
from translate.export.predict_multidomain import run_multi_domain
from translate.run import make_folder
from translate.imageio import IMAGE_EXTENSIONS, list_images, load_image

CHUNK = 8  # images decoded and run together; bounds memory on large folders


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="an .onnx file written by `translate export`")
    parser.add_argument("inputs", nargs="*", metavar="INPUT",
                        help="image files and/or folders of images (folders are not searched recursively)")
    parser.add_argument("-o", "--output", required=True, metavar="DIR",
                        help="folder for the results, one <input name>.png per input")
    parser.add_argument("--overwrite", action="store_true", help="replace output files that already exist")
    parser.add_argument("--providers", default=None, metavar="LIST",
                        help="comma-separated onnxruntime execution providers "
                             "(default: CUDAExecutionProvider if available, else CPUExecutionProvider)")
    parser.add_argument("--to", metavar="DOMAIN",
                        help="multi-domain models: the target domain by name (attribute models: "
                             "comma-separated attributes to switch on); the model's metadata lists them")
    parser.add_argument("--resize", type=int, metavar="N",
                        help="image-to-image and multi-domain models: scale each input so its shorter side is N "
                             "pixels first, e.g. the training size in the model's metadata (default: as it is)")
    parser.add_argument("--label", metavar="NAME",
                        help="generate models: the class to generate, by name (the model's metadata lists them)")
    parser.add_argument("--count", type=int, metavar="N",
                        help="generate models: how many images (default 16); writes grid.png and <label>_000.png ...")
    parser.add_argument("--seed", type=int, metavar="S", help="generate models: noise seed (default 0)")


def collect_inputs(inputs) -> list[Path]:
    """Image files from files and folders (non-recursive), in order, each file once."""
    files, seen = [], set()
    for raw in inputs:
        path = Path(raw)
        if not path.exists():
            raise DataError(f"{path}: input does not exist")
        if path.is_dir():
            found = list_images(path)
            if not found:
                raise DataError(f"{path}: folder has no images (looked for {', '.join(IMAGE_EXTENSIONS)}; "
                                f"subfolders are not searched)")
        else:
            found = [path]
        for file in found:
            key = file.resolve()
            if key not in seen:
                seen.add(key)
                files.append(file)
    return files


def plan_outputs(files: list[Path], output: Path, overwrite: bool) -> list[Path]:
    """<output>/<stem>.png per input; collisions, clobbering an input, or (without --overwrite)
    an existing file are errors."""
    make_folder(output, "--output", create=False)   # checked before any image is decoded
    targets, owner = [], {}
    for file in files:
        target = output / f"{file.stem}.png"
        key = target.name.lower()  # case-insensitive file systems would merge A.png and a.png
        if key in owner:
            raise DataError(f"{owner[key]} and {file} would both be written to {target}; "
                            f"rename one or run them separately")
        owner[key] = file
        targets.append(target)
    inputs = {f.resolve() for f in files}
    for file, target in zip(files, targets):
        if target.resolve() in inputs:
            raise DataError(f"--output {output}: writing {target} would replace an input image; "
                            f"choose another output folder")
    if not overwrite:
        existing = [t for t in targets if t.exists()]
        if existing:
            more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
            raise DataError(f"--output: {existing[0]} already exists{more}; pass --overwrite to replace")
    return targets


def run(args) -> int:
    model_path = Path(args.model)
    meta = runtime.read_metadata(model_path)  # cheap: fails fast on a wrong file, before any decoding
    task = meta["task"]
    if task not in RUNNERS:
        raise ExportError(f"{model_path}: `translate predict` cannot run models of task {task!r} "
                          f"(it runs: {', '.join(sorted(RUNNERS))})")
    for dest, (flag, tasks) in TASK_FLAGS.items():
        if getattr(args, dest, None) not in (None, False) and task not in tasks:
            raise ConfigError(f"{flag} is for {' / '.join(tasks)} models; {model_path.name} is an {task} model")
    if args.resize is not None and args.resize < 1:
        raise ConfigError(f"--resize {args.resize}: expected a positive number of pixels")
    return RUNNERS[task](args, model_path, meta)


def require_inputs(args, what: str = "image files and/or folders") -> list[Path]:
    if not args.inputs:
        raise DataError(f"translate predict {args.model}: give the {what} to run the model on")
    return collect_inputs(args.inputs)


def run_image_to_image(args, model_path: Path, meta: dict, **call_options) -> int:
    """`call_options` go to every model call (a task's further inputs, e.g. the target domain)."""
    files = require_inputs(args)
    output = Path(args.output)
    targets = plan_outputs(files, output, args.overwrite)
    channels = meta.get("channels", 3)
    for file in files:
        load_image(file, channels if channels in (1, 3) else 3)  # DataError naming an unreadable file
    model = runtime.load(model_path, providers=args.providers)

    make_folder(output, "--output")
    for start in range(0, len(files), CHUNK):
        chunk = slice(start, start + CHUNK)
        for image, target in zip(model([str(f) for f in files[chunk]], resize=args.resize, **call_options),
                                 targets[chunk]):
            save_png(image, target)
            print(target)
    print(f"translated {len(files)} image{'s' if len(files) != 1 else ''} with {model_path.name} "
          f"({model.providers[0]}) into {output}")
    return 0


#: task -> runner(args, model_path, metadata) -> exit code
RUNNERS = {"image-to-image": run_image_to_image, "multi-domain": run_multi_domain, "generate": run_generate,
           "classify": run_classify}
#: argparse dest of a task-specific flag -> (flag, tasks it applies to)
TASK_FLAGS: dict[str, tuple[str, tuple[str, ...]]] = {"to": ("--to", ("multi-domain",)),
                                                       "label": ("--label", ("generate",)),
                                                       "count": ("--count", ("generate",)),
                                                       "seed": ("--seed", ("generate",)),
                                                       "resize": ("--resize", ("image-to-image", "multi-domain"))}


def save_png(image, target: Path) -> None:
    # Temp name + rename: an interrupted run never leaves a truncated PNG under the final name.
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        image.save(tmp, format="PNG")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
