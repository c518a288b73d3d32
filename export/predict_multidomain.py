"""`translate predict G.onnx INPUTS... --to DOMAIN --output DIR` for multi-domain (StarGAN) models.

The target domain is a name from the model's metadata, checked before any image is decoded or
any file written; an unknown name is an error that lists the valid ones. Everything else (inputs,
outputs, padding to the size multiple) is the image-to-image runner's. Torch-free.
"""
from __future__ import annotations

from pathlib import Path

from translate.errors import ConfigError
from translate.export.runtime import domain_vector


def run_multi_domain(args, model_path: Path, meta: dict) -> int:
    from translate.export.predict import run_image_to_image  # predict imports this module

    domains = [str(d) for d in meta.get("domains") or []]
    if not args.to:
        raise ConfigError(f"{model_path.name} translates to any of several domains: give one with --to "
                          f"(valid: {', '.join(domains)})")
    domain_vector(domains, bool(meta.get("multi_label")), args.to, f"--to {args.to}")
    return run_image_to_image(args, model_path, meta, to=args.to)
