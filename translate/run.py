"""A run directory: config.yaml, metrics.jsonl, samples/, checkpoints/, exports/, index.html.
A new run never reuses or overwrites an existing directory."""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from translate.errors import ConfigError


def make_folder(path: str | Path, flag: str, create: bool = True) -> Path:
    """The output folder given by `flag`, created (with its parents) unless `create` is False:
    a ConfigError naming the flag when it, or a folder it should be in, is a file, or when it
    cannot be created. Check with create=False before any slow work, create when writing."""
    path = Path(path)
    for part in (path, *path.parents):
        if part.exists():
            if not part.is_dir():
                where = "exists" if part == path else f"is inside {part}, which exists"
                raise ConfigError(f"{flag} {path}: {where} and is not a folder")
            break
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"{flag} {path}: cannot create the folder ({exc.strerror or exc})") from exc
    return path


def create_run_dir(out: str | Path, plugin: str, name: str = "") -> Path:
    """Make a fresh run directory; an explicit `name` that exists is an error, an automatic
    name gets a numeric suffix instead."""
    if name and (Path(name).name != name or name in (".", "..")):
        raise ConfigError(f"--name {name!r}: a run directory name, without folders (use --out for where runs go)")
    out = make_folder(out, "--out")
    if name:
        path = out / name
        try:
            path.mkdir()
        except FileExistsError:
            raise ConfigError(
                f"--name {name}: run directory {path} already exists; continue it with "
                f"`translate fit --resume {path}` or choose another --name"
            ) from None
        return path
    stem = f"{plugin}-{time.strftime('%Y%m%d-%H%M%S')}"
    for i in range(1000):
        path = out / (stem if i == 0 else f"{stem}-{i}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise ConfigError(f"--out {out}: could not create a new run directory")


@dataclass
class RunContext:
    """What lifecycle hooks receive as `run`."""

    dir: Path | None
    config: Any          # translate.config.RunConfig
    model: Any
    engine: Any
    is_main: bool = True
    step: int = 0
    extras: dict = field(default_factory=dict)


class MetricsLog:
    """metrics.jsonl: one JSON object per logging interval (rank 0 only)."""

    def __init__(self, path: Path):
        self.path = path

    def append(self, record: dict) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
