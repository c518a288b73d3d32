"""`translate predict CLASSIFIER.onnx IMAGES... --output DIR` for classify (DANN) models.

Writes DIR/predictions.csv (image, class, probability, then one probability column per class)
and DIR/predictions.json (the same, plus the model's classes and domains). Every input is decoded
and the outputs are checked (no existing file without --overwrite) before anything is written.
Torch-free: numpy + pillow + onnxruntime.
"""
from __future__ import annotations

import csv
import io
import json
import os
import uuid
from pathlib import Path

from translate.errors import DataError
from translate.export import runtime
from translate.imageio import load_image
from translate.run import make_folder

OUTPUTS = ("predictions.csv", "predictions.json")


def run_classify(args, model_path: Path, meta: dict) -> int:
    from translate.export.predict import require_inputs  # predict imports this module

    files = require_inputs(args)
    output = Path(args.output)
    if output.exists() and not output.is_dir():
        raise DataError(f"--output {output}: exists and is not a folder")
    targets = [output / name for name in OUTPUTS]
    existing = [t for t in targets if t.exists()]
    if existing and not args.overwrite:
        raise DataError(f"--output: {existing[0]} already exists; pass --overwrite to replace it")
    channels = meta.get("channels", 3)
    for file in files:
        load_image(file, channels if channels in (1, 3) else 3)  # DataError naming an unreadable file
    model = runtime.load(model_path, providers=args.providers)

    preds = model([str(f) for f in files])
    classes = [str(c) for c in meta["classes"]]
    rows = [{"image": str(f), "class": p.label, "probability": p.probability, "probabilities": p.probabilities}
            for f, p in zip(files, preds)]
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["image", "class", "probability", *[f"p_{c}" for c in classes]])
    for row in rows:
        writer.writerow([row["image"], row["class"], f"{row['probability']:.6f}",
                         *[f"{row['probabilities'][c]:.6f}" for c in classes]])
    report = {"model": str(model_path), "classes": classes, "source_domain": meta.get("source_domain"),
              "target_domain": meta.get("target_domain"), "predictions": rows}
    make_folder(output, "--output")
    write_text(targets[0], table.getvalue())
    write_text(targets[1], json.dumps(report, indent=2) + "\n")
    for row in rows:
        print(f"{row['image']}\t{row['class']}\t{row['probability']:.4f}")
    print(f"classified {len(files)} image{'s' if len(files) != 1 else ''} with {model_path.name} "
          f"({model.providers[0]}): {targets[0]}, {targets[1]}")
    return 0


def write_text(target: Path, text: str) -> None:
    # Temp name + rename: an interrupted run never leaves a truncated file under the final name.
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
