"""`translate.fit`: the training loop behind `translate fit`.

One process, or one of several under `torchrun` (DDP; rank 0 writes everything). Data order
and augmentation depend only on (seed, epoch, index) and every RNG is checkpointed, so a run
resumed from step N reaches exactly the weights of an uninterrupted run on CPU.
"""
from __future__ import annotations

import contextlib
import json
import math
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from translate import __version__, allocator
from translate.checkpoint import (capture_rng, load_checkpoint, prune, resolve_checkpoint, restore_rng,
                                  run_dir_of, save_checkpoint, step_checkpoints)
from translate.config import RunConfig, resolve
from translate.data import batch_augmenter, held_out_split, make_dataset, native_size, resolve_root
from translate.engine import Engine, distributed_from_env, init_process_group, select_device
from translate.errors import CheckpointError, ConfigError, DataError, TrainingError
from translate.progress import Progress
from translate.registry import get_plugins
from translate.report import write_index
from translate.restore import load_networks, model_class
from translate.run import MetricsLog, RunContext, create_run_dir, write_text_atomic

# Flags that may change when a run is resumed: they do not change the math of the steps to come.
RESUMABLE_TRAIN_KEYS = {"device", "num_workers", "log_every", "sample_every", "checkpoint_every",
                        "keep_checkpoints", "sample_count", "export", "compile", "channels_last", "precision"}
COLLAPSE_THRESHOLD = 1e-3      # a discriminator loss below this ...
COLLAPSE_INTERVALS = 3         # ... for this many logging intervals is warned about


@dataclass
class FitResult:
    run_dir: Path | None
    checkpoint: Path | None
    step: int
    metrics: dict = field(default_factory=dict)
    exports: list = field(default_factory=list)
    evaluation: dict = field(default_factory=dict)


def fit(plugin: str | None = None, *, config_file=None, resume=None, overrides: dict | None = None,
        quiet: bool = False, **kwargs) -> FitResult:
    """Train `plugin` (a registered model name). `overrides`/kwargs are flag values by field
    name (steps=..., data=..., lambda_cycle=...); `resume` is a run directory or checkpoint."""
    overrides = {**(overrides or {}), **kwargs}
    plugins = get_plugins()
    dist = distributed_from_env()

    ckpt = ckpt_path = None
    if resume:
        ckpt_path = resolve_checkpoint(resume)
        ckpt = load_checkpoint(ckpt_path)
        if plugin and plugin != ckpt["plugin"]:
            raise CheckpointError(f"--resume {resume}: a checkpoint of plugin {ckpt['plugin']!r}, "
                                  f"but --plugin {plugin} was given")
        model_cls = model_class(ckpt["plugin"])
        config = RunConfig.from_dict(ckpt["config"], model_cls, where=f"checkpoint {ckpt_path}", saved=True)
        _apply_resume_overrides(config, overrides, model_cls)
    else:
        if not plugin:
            raise ConfigError("--plugin is required (see `translate plugins` for the models)")
        model_cls = model_class(plugin)
        config = resolve(model_cls, config_file, overrides)

    tc = config.train
    device = select_device(tc.device, dist)
    if device.type == "cpu":
        allocator.keep_freed_memory()   # big tensors re-allocated every step: no page faults
    init_process_group(dist, device)
    torch.manual_seed(tc.seed)

    # -- data ------------------------------------------------------------------------------------
    kind_cls = plugins.dataset_kinds.get(model_cls.dataset_kind).load()
    root, config.data.data = resolve_root(config.data.data or model_cls.default_data, model_cls.dataset_kind, plugins)
    if config.data.image_size <= 0:
        config.data.image_size = native_size(root)
    if tc.batch_size < 1 or tc.steps < 1:
        raise ConfigError("--steps and --batch-size must be at least 1")
    augmenter = batch_augmenter(kind_cls, config.data, device)
    config.data.augment_with = "kornia" if augmenter else "albumentations"  # a resume keeps the choice
    dataset = make_dataset(kind_cls, root, "train", config.data, seed=tc.seed, augment=True,
                           **({"batch_augment": True} if augmenter else {}))
    info = dataset.info()
    per_rank = len(dataset) // dist.world_size
    steps_per_epoch = per_rank // tc.batch_size
    if steps_per_epoch == 0:
        raise DataError(f"--data {config.data.data}: {len(dataset)} training items, fewer than "
                        f"--batch-size {tc.batch_size} x {dist.world_size} process(es)")
    sample_batch = _sample_batch(kind_cls, root, config, model_cls)

    # -- model, optimizers, engine ----------------------------------------------------------------
    model = model_cls(config.model, info, tc.steps)
    engine = Engine(device, tc.precision, dist, tc.channels_last, tc.compile)
    engine.total_steps = tc.steps
    model.to(device)
    optimizers, schedulers = model.configure_optimizers()
    engine.attach(optimizers, schedulers)
    start = 0
    own = None  # this process's random state and extra state in the checkpoint
    if ckpt is not None:
        own = _own_state(ckpt, dist)
        start = _restore(ckpt, ckpt_path, model, engine, own)
    engine.prepare(model)

    # -- run directory (rank 0 creates it, the others learn its name) -----------------------------
    run_dir = None
    if dist.is_main:
        if ckpt is not None:
            run_dir = run_dir_of(ckpt_path)
        else:
            run_dir = create_run_dir(tc.out, model_cls.name, tc.name)
            for sub in ("samples", "checkpoints", "exports"):
                (run_dir / sub).mkdir()
        _write_config(run_dir / "config.yaml", config)
    if dist.enabled:
        box = [str(run_dir) if run_dir else None]
        torch.distributed.broadcast_object_list(box, src=0)
        run_dir = Path(box[0])
    ckpt_dir = run_dir / "checkpoints"
    run = RunContext(run_dir, config, model, engine, is_main=dist.is_main, step=start)
    hooks = plugins.hook
    log = MetricsLog(run_dir / "metrics.jsonl")
    progress = Progress(tc.steps, start, enabled=dist.is_main and not quiet)
    title = f"{model_cls.name} — {run_dir.name}"
    if dist.is_main:
        progress.message(f"run {run_dir}  |  {model_cls.name} on {config.data.data} ({len(dataset)} items, "
                         f"{info.image_size}px)  |  {device} {tc.precision}"
                         + (f"  |  {dist.world_size} processes" if dist.enabled else "")
                         + (f"  |  resuming at step {start}" if start else ""))
        if hasattr(dataset, "describe"):  # e.g. the domains found and their image counts
            progress.message(dataset.describe())
        if start >= tc.steps:
            progress.message(f"the run already finished its {tc.steps} steps: nothing to train")
        hooks.fit_start(run=run)

    if own is not None:
        restore_rng(own["rng"])  # last: everything above may have drawn random numbers
    batches = _batches(dataset, tc, dist, device, start, steps_per_epoch)
    sums: dict[str, float] = {}
    count, data_time, t_log = 0, 0.0, time.perf_counter()
    existing = step_checkpoints(ckpt_dir)
    last_ckpt = existing[-1][1] if existing else None
    low_d: dict[str, int] = {}
    warned: set[str] = set()
    watch = model.loss_watch()
    done = start
    status = "failed"
    last_metrics: dict = {}
    try:
        with _sigterm_as_interrupt():
            for step in range(start, tc.steps):
                t0 = time.perf_counter()
                epoch, batch = next(batches)
                data_time += time.perf_counter() - t0
                engine.step_index = step
                model.train()
                batch = engine.to_device(batch)
                if augmenter is not None:  # per (seed, step, rank): a resume sees the same crops
                    batch = engine.to_device(augmenter(batch, seed=(tc.seed * 1_000_003 + step) * 1009 + dist.rank))
                metrics = model.training_step(batch, engine)
                engine.end_step()
                _check_finite(metrics, step + 1, last_ckpt, dist, device)
                done = step + 1
                run.step = done
                for k, v in metrics.items():
                    sums[k] = sums.get(k, 0.0) + float(v)
                count += 1
                progress.update(done, metrics)
                checkpoint_now = (tc.checkpoint_every and done % tc.checkpoint_every == 0) or done == tc.steps
                others = _gather_other_ranks(model, dist) if checkpoint_now and dist.enabled else None
                if not dist.is_main:
                    continue
                if done % tc.log_every == 0 or done == tc.steps:
                    elapsed = time.perf_counter() - t_log
                    avg = {k: v / count for k, v in sums.items()}
                    record = {"step": done, "epoch": epoch, "time": time.time(), **avg,
                              **engine.log_values(),
                              "it_s": count / max(elapsed, 1e-9), "data_s": data_time / count}
                    log.append(record)
                    last_metrics = avg
                    hooks.metrics_logged(run=run, step=done, metrics=record)
                    progress.log(done, avg)
                    _watch_collapse(avg, watch, low_d, warned, done, progress)
                    sums, count, data_time, t_log = {}, 0, 0.0, time.perf_counter()
                    write_index(run_dir, title)
                if (tc.sample_every and done % tc.sample_every == 0) or done == tc.steps:
                    _save_samples(model, sample_batch, engine, run, done, hooks)
                if checkpoint_now:
                    last_ckpt = _save(model, engine, config, info, done, ckpt_dir, tc.keep_checkpoints, others)
                    hooks.checkpoint_saved(run=run, step=done, path=last_ckpt)
        status = "completed"
    except KeyboardInterrupt:
        status = "interrupted"
        if dist.is_main and done > start and (last_ckpt is None or not last_ckpt.name.endswith(f"{done:06d}.pt")):
            last_ckpt = _save(model, engine, config, info, done, ckpt_dir, tc.keep_checkpoints)
            progress.message(f"interrupted at step {done}: saved {last_ckpt}; continue with --resume {run_dir}")
        raise
    finally:
        progress.close()
        if dist.is_main:
            write_index(run_dir, title)
            hooks.fit_end(run=run, status=status)

    result = FitResult(run_dir, last_ckpt, done, last_metrics)
    if dist.is_main:
        with engine.unwrapped(model):
            if tc.export:
                result.exports = export_from_model(model, config, run_dir / "exports", done, log=progress.message)
            split = held_out_split(kind_cls, root)
            if split:
                result.evaluation = evaluate_model(model, kind_cls, root, config, device, split)
                write_text_atomic(run_dir / "eval.json",
                                  json.dumps({"step": done, "split": split, **result.evaluation}, indent=2))
                progress.message(f"held-out evaluation ({split}): " + format_evaluation(result.evaluation))
            write_index(run_dir, title, extra=result.evaluation or None)
            progress.message(f"done: {run_dir}  (checkpoint {last_ckpt.name if last_ckpt else '-'}, "
                             f"open {run_dir / 'index.html'})")
    if dist.enabled:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return result


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM (a scheduler preempting the job) stops training like Ctrl-C: the current step
    finishes and a checkpoint is saved, so `--resume` loses nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# -- pieces --------------------------------------------------------------------------------------

def _apply_resume_overrides(config: RunConfig, overrides: dict, model_cls) -> None:
    train_keys = set(config.train.__dataclass_fields__)
    for key, value in overrides.items():
        key = key.replace("-", "_")
        if key in RESUMABLE_TRAIN_KEYS:
            setattr(config.train, key, value)
        elif key in train_keys or key in config.data.__dataclass_fields__ or key in config.model.__dataclass_fields__:
            raise ConfigError(f"--{key.replace('_', '-')} cannot change when resuming: the run continues with "
                              f"the configuration in its checkpoint (only {', '.join(sorted(RESUMABLE_TRAIN_KEYS))} may)")
        else:
            raise ConfigError(f"unknown option {key!r}")


def _restore(ckpt: dict, path: Path, model, engine, own: dict) -> int:
    load_networks(model, ckpt, path)
    for name, opt in engine.optimizers.items():
        opt.load_state_dict(ckpt["optimizers"][name])
    for name, sched in engine.schedulers.items():
        sched.load_state_dict(ckpt["schedulers"][name])
    if engine.scaler is not None and ckpt.get("scaler"):
        engine.scaler.load_state_dict(ckpt["scaler"])
    model.load_extra_state(own["extra"])
    newer = [p for s, p in step_checkpoints(path.parent) if s > ckpt["step"]]
    if newer:
        raise CheckpointError(f"--resume {path}: the run has newer checkpoints ({newer[-1].name}); resuming "
                              f"from an older one would overwrite them. Resume the run directory, or copy the run first")
    return int(ckpt["step"])


def _process_state(model) -> dict:
    """What differs between the processes of a DDP run: random state and extra state (image pools)."""
    return {"rng": capture_rng(), "extra": _to_cpu(model.extra_state())}


def _to_cpu(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def _gather_other_ranks(model, dist) -> list | None:
    """On every process (a collective): rank 0 gets the process states of ranks 1..N-1, so a
    resume gives each process its own image pools and random state back."""
    states = [None] * dist.world_size if dist.is_main else None
    torch.distributed.gather_object(_process_state(model), states, dst=0, group=dist.cpu_group)
    return states[1:] if dist.is_main else None


def _own_state(ckpt: dict, dist) -> dict:
    """This process's state in a checkpoint: rank 0's is the checkpoint's own `rng`/`extra`,
    rank r's is `other_ranks[r - 1]`. Without states for this world size (another number of
    processes, or a checkpoint saved on Ctrl-C/SIGTERM) every process starts from rank 0's."""
    others = ckpt.get("other_ranks") or []
    if dist.rank > 0 and len(others) == dist.world_size - 1:
        return others[dist.rank - 1]
    if dist.enabled and dist.is_main and len(others) != dist.world_size - 1:
        print(f"note: the checkpoint holds the state of {len(others) + 1} process(es), this run has "
              f"{dist.world_size}: every process continues from rank 0's image pools and random state, "
              f"so the resume is not bit-exact", file=sys.stderr)
    return {"rng": ckpt["rng"], "extra": ckpt.get("extra", {})}


def _save(model, engine, config, info, step, ckpt_dir: Path, keep: int, other_ranks: list | None = None) -> Path:
    payload = {
        "toolkit_version": __version__,
        "plugin": model.name,
        "plugin_version": model.version,
        "config": config.to_dict(),
        "data_info": info.to_dict(),
        "step": step,
        "networks": {n: net.state_dict() for n, net in model.networks().items()},
        "optimizers": {n: o.state_dict() for n, o in engine.optimizers.items()},
        "schedulers": {n: s.state_dict() for n, s in engine.schedulers.items()},
        "scaler": engine.scaler.state_dict() if engine.scaler is not None else None,
        **_process_state(model),  # rank 0's "rng" and "extra"
    }
    if other_ranks:
        payload["other_ranks"] = other_ranks
    path = save_checkpoint(ckpt_dir / f"step_{step:06d}.pt", payload)
    prune(ckpt_dir, keep)
    return path


def _batches(dataset, tc, dist, device, start: int, steps_per_epoch: int):
    """(epoch, batch) forever, starting at global step `start` (mid-epoch on resume)."""
    from torch.utils.data import DataLoader, DistributedSampler

    workers = tc.num_workers if tc.num_workers >= 0 else (4 if device.type == "cuda" else 0)
    epoch, skip = divmod(start, steps_per_epoch)
    while True:
        dataset.set_epoch(epoch)
        sampler = DistributedSampler(dataset, num_replicas=dist.world_size, rank=dist.rank,
                                     shuffle=True, seed=tc.seed, drop_last=True)
        sampler.set_epoch(epoch)
        indices = list(sampler)[skip * tc.batch_size:]
        # A generator of its own: creating the loader must not draw from the global RNG,
        # or a resumed run would diverge from an uninterrupted one.
        loader = DataLoader(dataset, batch_size=tc.batch_size, sampler=indices, drop_last=True,
                            num_workers=workers, pin_memory=device.type == "cuda",
                            generator=torch.Generator().manual_seed(tc.seed * 100003 + epoch))
        for batch in loader:
            yield epoch, batch
        epoch, skip = epoch + 1, 0


def _sample_batch(kind_cls, root, config, model_cls) -> dict:
    """A fixed batch for the sample grids: held-out images when the data has them."""
    split = held_out_split(kind_cls, root) or "train"
    options = getattr(model_cls, "eval_data_options", {}) if split != "train" else {}
    ds = make_dataset(kind_cls, root, split, config.data, seed=config.train.seed, augment=False, **options)
    n = min(config.train.sample_count, len(ds))
    items = [ds[i * max(1, len(ds) // n)] for i in range(n)]
    return torch.utils.data.default_collate(items)


def _save_samples(model, batch, engine, run, step, hooks) -> None:
    import torchvision

    with torch.random.fork_rng(devices=[]), engine.unwrapped(model):  # must not disturb training RNG
        was_training = model.training
        model.eval()
        images = model.visuals(engine.to_device(batch))
        model.train(was_training)
    cols = list(images)
    n = next(iter(images.values())).size(0)
    tiles = [images[c][i].float().cpu() for i in range(n) for c in cols]
    grid = torchvision.utils.make_grid(torch.stack(tiles), nrow=len(cols), padding=2, pad_value=1.0)
    path = run.dir / "samples" / f"step_{step:06d}.png"
    torchvision.utils.save_image((grid + 1) / 2, path)
    write_text_atomic(run.dir / "samples" / "columns.txt", " | ".join(cols) + "\n")
    hooks.samples_saved(run=run, step=step, path=path, images=images)


def _check_finite(metrics: dict, step: int, last_ckpt, dist, device) -> None:
    bad = [k for k, v in metrics.items() if not math.isfinite(float(v))]
    if dist.enabled:  # every rank stops together
        flag = torch.tensor([1.0 if bad else 0.0], device=device)
        torch.distributed.all_reduce(flag)
        if flag.item() and not bad:
            bad = ["(on another process)"]
    if bad:
        kept = f"the last good checkpoint is {last_ckpt}" if last_ckpt else "no checkpoint was written yet"
        raise TrainingError(
            f"training stopped at step {step}: non-finite loss {', '.join(bad)} "
            f"({', '.join(f'{k}={metrics.get(k)}' for k in bad if k in metrics)}). Nothing was saved for this "
            f"step; {kept}. Try a lower learning rate, --precision fp32, or check the data for broken images."
        )


def _watch_collapse(avg: dict, watch: dict, low: dict, warned: set, step: int, progress) -> None:
    for key, role in watch.items():
        if role != "discriminator" or key not in avg:
            continue
        low[key] = low.get(key, 0) + 1 if abs(avg[key]) < COLLAPSE_THRESHOLD else 0
        if low[key] >= COLLAPSE_INTERVALS and key not in warned:
            warned.add(key)
            msg = (f"step {step}: discriminator loss {key} has been ~0 (< {COLLAPSE_THRESHOLD}) for "
                   f"{low[key]} logging intervals: the discriminator wins outright and the generator gets "
                   f"little gradient. Consider a lower discriminator learning rate, spectral norm, or more data.")
            warnings.warn(msg, RuntimeWarning, stacklevel=2)
            progress.message("warning: " + msg)


def _write_config(path: Path, config: RunConfig) -> None:
    import yaml

    write_text_atomic(path, yaml.safe_dump(config.to_dict(), sort_keys=False))


# -- shared with `translate export` / `translate evaluate` ---------------------------------------

def export_metadata(model, config: RunConfig) -> dict:
    return {
        "toolkit_version": __version__,
        "plugin": model.name,
        "plugin_version": model.version,
        "model": model.name,
        "channels": model.data.channels,
        "image_size": model.data.image_size,
        "normalization": {"range": [-1, 1], "mean": [0.5] * model.data.channels, "std": [0.5] * model.data.channels},
        "data": config.data.data,
    }


def export_from_model(model, config: RunConfig, out_dir: Path, step: int, log=print) -> list[Path]:
    # export_model moves each exported module to CPU and back, and creates out_dir.
    from translate.export.onnx_export import export_model

    return export_model(model, out_dir, base_metadata={**export_metadata(model, config), "step": step}, log=log)


def evaluate_model(model, kind_cls, root: Path, config: RunConfig, device, split: str = "test") -> dict:
    options = getattr(type(model), "eval_data_options", {})
    ds = make_dataset(kind_cls, root, split, config.data, seed=config.train.seed, augment=False, **options)
    with torch.random.fork_rng(devices=[]):
        model.eval()
        return model.evaluate(ds, device)


def format_evaluation(metrics: dict) -> str:
    return "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items())
