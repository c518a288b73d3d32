"""TensorBoard logger, a built-in plugin on the lifecycle hooks (the same ones a third-party
logger uses): losses and learning rates as scalars, sample grids as images, in RUN/tensorboard/.

    pip install 'translate-i2i[tensorboard]' && tensorboard --logdir runs

Active when tensorboard is installed; otherwise `translate plugins` lists it as inactive. Only
rank 0 writes. This module stays torch-free: the writer is imported when a run starts.
"""
from __future__ import annotations

import importlib.util
import math

from translate import hookimpl

WRITER = "tensorboard"   # key of the SummaryWriter in run.extras
NOT_SCALARS = {"step", "epoch", "time"}


def translate_inactive() -> str | None:
    """Why this plugin is inactive, or None (read by the registry when plugins load)."""
    if importlib.util.find_spec("tensorboard") is None:
        return "tensorboard is not installed (pip install 'translate-i2i[tensorboard]')"
    return None


def tag(metric: str) -> str:
    """metrics.jsonl keys -> TensorBoard tags, grouped: lr_G -> lr/G, it_s -> speed/it_s,
    loss_scale -> amp/loss_scale, D_A -> train/D_A."""
    if metric.startswith("lr_"):
        return f"lr/{metric[3:]}"
    if metric in ("it_s", "data_s"):
        return f"speed/{metric}"
    if metric == "loss_scale":  # fp16's gradient scaler
        return "amp/loss_scale"
    return f"train/{metric}"


@hookimpl
def fit_start(run):
    # The writer is opened on the first write: a resumed run that has nothing left to train
    # leaves its run directory unchanged (no empty event file).
    if run.is_main and run.dir is not None:
        run.extras[WRITER] = None


def writer_of(run):
    """The run's SummaryWriter (opened now if needed), or None when this process does not write."""
    if WRITER not in run.extras:
        return None
    if run.extras[WRITER] is None:
        from torch.utils.tensorboard import SummaryWriter

        run.extras[WRITER] = SummaryWriter(log_dir=str(run.dir / "tensorboard"))
    return run.extras[WRITER]


@hookimpl
def metrics_logged(run, step, metrics):
    writer = writer_of(run)
    if writer is None:
        return
    for key, value in metrics.items():
        if key not in NOT_SCALARS and isinstance(value, (int, float)) and math.isfinite(value):
            writer.add_scalar(tag(key), value, step)
    writer.flush()


@hookimpl
def samples_saved(run, step, path, images):
    writer = writer_of(run)
    if writer is None:
        return
    import numpy as np
    from PIL import Image

    # The saved PNG is the grid exactly as index.html shows it (columns = the model's visuals).
    with Image.open(path) as grid:
        writer.add_image("samples", np.asarray(grid.convert("RGB")), step, dataformats="HWC")
    writer.flush()


@hookimpl
def fit_end(run, status):
    writer = run.extras.pop(WRITER, None)
    if writer is not None:
        writer.add_text("status", status, run.step)
        writer.close()
