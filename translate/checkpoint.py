"""Self-describing checkpoints, written atomically and loaded with weights_only=True.

A checkpoint never runs code: loading refuses anything but tensors and plain data. It carries
the format version, plugin name and version, the resolved config, every network / optimizer /
scheduler / scaler state, the model's extra state (image pools), the step and the RNG states,
so `--resume`, `translate export` and `translate evaluate` need no training flags. A DDP run's
checkpoint adds `other_ranks`: the RNG and extra states of processes 1..N-1 (rank 0's are the
top-level ones), so each process of a resumed run continues with its own.
"""
from __future__ import annotations

import os
import pickle
import re
import tempfile
from pathlib import Path

import torch

from translate.errors import CheckpointError

FORMAT_VERSION = 1
STEP_FILE = re.compile(r"^step_(\d+)\.pt$")


def atomic_write(path: Path, write) -> None:
    """Write through `write(fileobj)` to a temp file beside `path`, fsync, then rename over it:
    a crash leaves the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def save_checkpoint(path: Path, payload: dict) -> Path:
    payload = {"format_version": FORMAT_VERSION, **payload}
    atomic_write(path, lambda f: torch.save(payload, f))
    return Path(path)


def load_checkpoint(path, map_location="cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch says "Unsupported global: GLOBAL <name>" for a pickled object; anything else
        # (e.g. "Unsupported operand") means the bytes are not a checkpoint at all.
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        if found is None:
            raise CheckpointError(f"checkpoint {path} cannot be read: not a checkpoint file, or a corrupt one "
                                  f"({_weights_only_detail(exc)})") from exc
        raise CheckpointError(
            f"checkpoint {path} was refused: it holds a pickled Python object ({found.group(1)}), and "
            f"checkpoints are loaded with weights_only=True so that loading one never runs code"
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} cannot be read: {str(exc).splitlines()[0]}") from exc
    if not isinstance(ckpt, dict) or "format_version" not in ckpt or "plugin" not in ckpt:
        raise CheckpointError(f"{path} is not a translate checkpoint (no format_version/plugin)")
    if ckpt["format_version"] > FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {ckpt['format_version']}; this translate "
            f"reads up to {FORMAT_VERSION}: upgrade translate-i2i"
        )
    return ckpt


def _weights_only_detail(exc: Exception) -> str:
    """The unpickler's own reason from torch's long weights_only message."""
    lines = [line.strip() for line in str(exc).splitlines()]
    for i, line in enumerate(lines):
        if "WeightsUnpickler error:" in line:
            rest = line.split("WeightsUnpickler error:", 1)[1].strip() or next((x for x in lines[i + 1:] if x), "")
            return rest or "unreadable"
    return lines[0] if lines else type(exc).__name__


def step_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := STEP_FILE.match(p.name))]
    return sorted(found)


def resolve_checkpoint(run_or_checkpoint) -> Path:
    """A run directory -> its latest checkpoint; a file -> itself."""
    p = Path(run_or_checkpoint)
    if p.is_file():
        return p
    if p.is_dir():
        found = step_checkpoints(p / "checkpoints") or step_checkpoints(p)
        if not found:
            raise CheckpointError(f"{p}: no checkpoints (expected {p / 'checkpoints'}/step_NNNNNN.pt)")
        return found[-1][1]
    raise CheckpointError(f"{p}: no such run directory or checkpoint file")


def run_dir_of(checkpoint: Path) -> Path:
    checkpoint = Path(checkpoint).resolve()
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent


def prune(folder: Path, keep: int) -> None:
    """Keep the `keep` newest step checkpoints (at least one)."""
    for _, path in step_checkpoints(folder)[: -max(1, keep)]:
        path.unlink(missing_ok=True)


# -- RNG state as plain data (weights_only-loadable) ----------------------------------------------

def capture_rng() -> dict:
    import random

    import numpy as np

    version, internal, gauss = random.getstate()
    np_state = np.random.get_state()
    state = {
        "python": [version, list(internal), gauss],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype("int64")), *np_state[2:]],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict) -> None:
    import random

    import numpy as np

    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype("uint32"), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
