"""The model contract checks behind `translate.testing.check_model_plugin`.

Each check is a method `check_<name>` that raises AssertionError with what was expected. The
checkpoint, resume and ONNX checks share one 4-step training run (a checkpoint at every step),
so the whole suite trains a tiny model only a few times.
"""
from __future__ import annotations

import json
import math
import shutil
import traceback
from pathlib import Path

import numpy as np
import torch

import translate
from translate.checkpoint import FORMAT_VERSION, load_checkpoint
from translate.config import resolve
from translate.data import make_dataset, resolve_root
from translate.engine import Engine
from translate.errors import did_you_mean
from translate.fit_loop import export_metadata
from translate.model import ExportSpec, TranslationModel
from translate.registry import get_plugins
from translate.restore import build_model, load_run, model_class
from translate.testing import CHECKS, plugin_registered, tiny_overrides
from translate.testing.cli_check import check_cli

HISTORY_STEPS = 4
STOCHASTIC = ("dropout",)  # Config fields that add randomness (a resume must restore the RNG)
ONNX_ATOL = 1e-4
FP16_TRIES = 20  # the scaler starts at 2**16 and halves on each overflow


def stochastic_settings(config_cls) -> dict:
    """The STOCHASTIC fields of a model's Config, switched on: a bool flag True, a rate (float)
    0.5 unless its default is already above 0."""
    out = {}
    for name in STOCHASTIC:
        field = config_cls.__dataclass_fields__.get(name)
        if field is None:
            continue
        if isinstance(field.default, bool):
            out[name] = True
        elif isinstance(field.default, float) and field.default <= 0:
            out[name] = 0.5
    return out


def snapshot(model) -> dict:
    return {n: {k: v.detach().clone() for k, v in net.state_dict().items()} for n, net in model.networks().items()}


def parameters_of(model) -> dict:
    """The trainable weights of each network (not buffers such as BatchNorm statistics, which
    change in a forward pass even when no optimizer stepped)."""
    return {n: {k: p.detach().clone() for k, p in net.named_parameters()} for n, net in model.networks().items()}


def untrained(before: dict, after: dict) -> list[str]:
    """The networks none of whose weights changed between two `parameters_of`."""
    return [n for n in before if all(torch.equal(before[n][k], after[n][k]) for k in before[n])]


def non_finite(metrics: dict) -> dict:
    """The metrics that are not finite python numbers."""
    return {k: v for k, v in metrics.items() if not (isinstance(v, (int, float)) and math.isfinite(v))}


def assert_same_tensors(a, b, where=""):
    """Equal nested state: dicts, lists and tuples of tensors (equal exactly) and plain values."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), \
            f"{where}: keys differ ({sorted(a)} vs {sorted(b) if isinstance(b, dict) else b!r})"
        for key in a:
            assert_same_tensors(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), f"{where} differs"
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), f"{where}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_tensors(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


class CaptureWeights:
    """A lifecycle-hook plugin: the live network weights whenever a checkpoint was saved."""

    def __init__(self):
        self.at: dict[int, tuple[Path, dict]] = {}

    @translate.hookimpl
    def checkpoint_saved(self, run, step, path):
        self.at[step] = (path, snapshot(run.model))


class Contract:
    """The contract checks for one registered model, sharing their training runs."""

    def __init__(self, name: str, *, data=None, workdir: Path, overrides: dict | None = None,
                 cli_subprocess: bool = True):
        self.name = name
        self.cli_subprocess = cli_subprocess
        self.model_cls = model_class(name)
        self.data = str(data) if data is not None else None
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.overrides = dict(overrides or {})
        self._history = None

    # -- running ---------------------------------------------------------------------------------
    def run_all(self, checks=None) -> dict[str, str]:
        names = list(CHECKS if checks is None else checks)
        for check in names:
            if check not in CHECKS:
                raise ValueError(f"unknown contract check {check!r}.{did_you_mean(check, CHECKS)} "
                                 f"Checks: {', '.join(CHECKS)}")
        results, failures = {}, []
        for check in names:
            try:
                results[check] = self.run(check)
            except Exception as exc:  # noqa: BLE001 - every check runs; all failures are reported
                where = traceback.extract_tb(exc.__traceback__)[-1]
                failures.append(f"  {check}: {type(exc).__name__}: {exc} ({Path(where.filename).name}:{where.lineno})")
        if failures:
            raise AssertionError(f"model {self.name!r} failed {len(failures)} contract check(s):\n" + "\n".join(failures))
        return results

    def run(self, check: str) -> str:
        """Run one check; "passed" or a note. Raises AssertionError when it fails."""
        return getattr(self, f"check_{check}")() or "passed"

    def settings(self, **extra) -> dict:
        """The tiny `translate.fit` settings: tiny defaults < the author's overrides < `extra`."""
        base = tiny_overrides(self.model_cls, **self.overrides)
        if self.data is not None:
            base["data"] = self.data
        return {**base, **extra}

    def fresh_model(self, **settings):
        """A freshly initialized model on the tiny config (plus `settings`), with its training dataset."""
        torch.manual_seed(0)
        plugins = get_plugins()
        cls = self.model_cls
        config = resolve(cls, overrides=self.settings(**settings))
        kind_cls = plugins.dataset_kinds.get(cls.dataset_kind).load()
        root, _ = resolve_root(config.data.data or cls.default_data, cls.dataset_kind, plugins)
        dataset = make_dataset(kind_cls, root, "train", config.data, seed=0, augment=True)
        return cls(config.model, dataset.info(), config.train.steps), dataset, config

    @staticmethod
    def batch_of(dataset, n: int):
        assert len(dataset) >= n, f"the tiny dataset has {len(dataset)} items, the check needs {n}"
        return torch.utils.data.default_collate([dataset[i] for i in range(n)])

    def history(self):
        """(FitResult, CaptureWeights): a 4-step run with a checkpoint after every step."""
        if self._history is None:
            stochastic = stochastic_settings(self.model_cls.Config)
            capture = CaptureWeights()
            try:
                with plugin_registered(capture, "translate-testing-capture-weights"):
                    result = translate.fit(self.name, quiet=True, **self.settings(
                        out=str(self.workdir / "runs"), name="history", steps=HISTORY_STEPS, checkpoint_every=1,
                        keep_checkpoints=HISTORY_STEPS + 1, **stochastic))
            except Exception as exc:
                self._history = exc
                raise
            self._history = (result, capture)
        if isinstance(self._history, Exception):
            raise AssertionError(f"the shared {HISTORY_STEPS}-step training run failed: "
                                 f"{type(self._history).__name__}: {self._history}")
        return self._history

    # -- the checks ------------------------------------------------------------------------------
    def check_declaration(self):
        cls, plugins = self.model_cls, get_plugins()
        assert issubclass(cls, TranslationModel), f"{cls} must subclass translate.model.TranslationModel"
        assert cls.name == self.name, f"{cls.__name__}.name is {cls.name!r}, registered as {self.name!r}"
        assert cls.summary, "a one-line `summary` is required"
        assert cls.network_names, "`network_names` must name the networks it trains"
        assert cls.dataset_kind in plugins.dataset_kinds, \
            f"dataset_kind {cls.dataset_kind!r} is not a registered kind ({', '.join(plugins.dataset_kinds.names())})"
        assert cls.default_data in plugins.builtin_datasets, \
            f"default_data {cls.default_data!r} is not a registered built-in dataset: every plugin runs with no download"
        kind = plugins.builtin_datasets.get(cls.default_data).extra["kind"]
        assert kind == cls.dataset_kind, f"default_data {cls.default_data!r} is of kind {kind!r}, not {cls.dataset_kind!r}"
        assert isinstance(cls.Config, type) and hasattr(cls.Config, "__dataclass_fields__"), "Config must be a dataclass"
        cls.Config()  # every field has a default (the paper's)

    def check_training_step(self):
        model, dataset, _ = self.fresh_model()
        optimizers, schedulers = model.configure_optimizers()
        assert optimizers, "configure_optimizers() returned no optimizers"
        assert set(schedulers) <= set(optimizers), "every scheduler belongs to a named optimizer"
        engine = Engine(torch.device("cpu"))
        engine.attach(optimizers, schedulers)
        engine.prepare(model)
        before = parameters_of(model)
        model.train()
        metrics = model.training_step(engine.to_device(self.batch_of(dataset, 2)), engine)
        engine.end_step()
        assert metrics and all(isinstance(k, str) for k in metrics), f"training_step returned {metrics!r}"
        bad = non_finite(metrics)
        assert not bad, f"losses must be finite python numbers: {bad}"
        assert set(model.loss_watch()) <= set(metrics), "loss_watch() names metrics that training_step does not report"
        stale = untrained(before, parameters_of(model))
        assert not stale, f"the weights of {', '.join(stale)} did not change in a training step"

    def check_mixed_precision(self):
        """The training step under `--precision bf16` and `fp16` (CPU autocast runs both; on a GPU
        they are the fast path): finite losses, every network trained, weights kept in fp32. A
        step whose fp16 gradients overflow is skipped by the scaler, which halves the scale and
        goes on, so fp16 gets up to FP16_TRIES steps to train every network."""
        for precision, tries in (("bf16", 1), ("fp16", FP16_TRIES)):
            # A long schedule, so the learning rates do not decay to 0 within the tries.
            model, dataset, _ = self.fresh_model(steps=1000)
            engine = Engine(torch.device("cpu"), precision)
            engine.attach(*model.configure_optimizers())
            engine.prepare(model)
            before = parameters_of(model)
            batch = engine.to_device(self.batch_of(dataset, 2))
            model.train()
            for step in range(tries):
                engine.step_index = step
                metrics = model.training_step(batch, engine)
                engine.end_step()
                bad = non_finite(metrics)
                assert not bad, f"{precision}: losses must be finite: {bad}"
                stale = untrained(before, parameters_of(model))
                if not stale:
                    break
            assert not stale, f"{precision}: the weights of {', '.join(stale)} did not change in {tries} step(s)"
            wrong = sorted({str(p.dtype) for net in model.networks().values() for p in net.parameters()} - {"torch.float32"})
            assert not wrong, f"{precision}: weights must stay fp32 (autocast casts per op), found {wrong}"

    def check_visuals(self):
        model, dataset, config = self.fresh_model()
        model.eval()
        visuals = model.visuals(self.batch_of(dataset, 3))
        assert visuals, "visuals() returned nothing"
        for name, images in visuals.items():
            assert isinstance(images, torch.Tensor) and images.dim() == 4, f"{name}: expected an (N, C, H, W) tensor"
            n, c, h, w = images.shape
            assert n == 3 and c == model.data.channels, f"{name}: shape {tuple(images.shape)}"
            assert (h, w) == (config.data.image_size,) * 2, f"{name}: {h}x{w}, not the training size"
            assert torch.isfinite(images).all() and images.min() >= -1 and images.max() <= 1, f"{name}: not in [-1, 1]"

    def check_checkpoint(self):
        result, capture = self.history()
        assert sorted(capture.at) == list(range(1, HISTORY_STEPS + 1)), \
            f"checkpoint_saved was called at steps {sorted(capture.at)}"
        last = HISTORY_STEPS
        assert result.checkpoint == capture.at[last][0] and result.checkpoint.name == f"step_{last:06d}.pt"
        path, ckpt, cls, config = load_run(result.run_dir)      # a run directory -> its latest checkpoint
        assert path == result.checkpoint and cls is self.model_cls
        assert ckpt["format_version"] == FORMAT_VERSION and ckpt["plugin"] == self.name
        assert ckpt["plugin_version"] == cls.version and ckpt["step"] == last
        assert ckpt["optimizers"] and set(ckpt["schedulers"]) <= set(ckpt["optimizers"])
        assert {"python", "numpy", "torch"} <= set(ckpt["rng"])
        assert config.to_dict() == ckpt["config"]
        model = build_model(cls, config, ckpt)
        assert not model.training, "a restored model is in eval mode"
        assert_same_tensors(snapshot(model), capture.at[last][1], "restored networks")
        first = load_checkpoint(result.run_dir / "checkpoints" / "step_000001.pt")
        assert_same_tensors(first["networks"], capture.at[1][1], "step-1 checkpoint")
        assert any(not torch.equal(first["networks"][n][k], ckpt["networks"][n][k])
                   for n in ckpt["networks"] for k in ckpt["networks"][n]), "training did not change the weights"

    def check_resume(self):
        result, _ = self.history()
        copy = self.workdir / "runs" / "resumed"
        shutil.rmtree(copy, ignore_errors=True)   # a check run again starts over
        shutil.copytree(result.run_dir, copy)
        half = HISTORY_STEPS // 2
        for step in range(half + 1, HISTORY_STEPS + 1):   # as if the run stopped after step `half`
            (copy / "checkpoints" / f"step_{step:06d}.pt").unlink()
        resumed = translate.fit(resume=str(copy), quiet=True)
        assert resumed.run_dir == copy.resolve() and resumed.step == HISTORY_STEPS
        name = f"step_{HISTORY_STEPS:06d}.pt"
        a = load_checkpoint(result.run_dir / "checkpoints" / name)
        b = load_checkpoint(copy / "checkpoints" / name)
        for part in ("networks", "optimizers", "schedulers", "extra"):
            assert_same_tensors(a[part], b[part], f"resumed {part}")

    def check_onnx(self):
        from translate.export import onnx_export
        import onnx
        import onnxruntime as ort

        result, _ = self.history()
        _, ckpt, cls, config = load_run(result.checkpoint)
        model = build_model(cls, config, ckpt)
        specs = model.exports()
        assert specs and all(isinstance(s, ExportSpec) for s in specs), "exports() must return ExportSpecs"
        assert len({s.name for s in specs}) == len(specs), "export names must be unique"
        files = onnx_export.export_model(model, self.workdir / "onnx", base_metadata=export_metadata(model, config),
                                         log=lambda msg: None)
        assert [f.name for f in files] == [f"{s.name}.onnx" for s in specs]
        for spec, file in zip(specs, files):
            props = {p.key: p.value for p in onnx.load(str(file)).metadata_props}
            meta = json.loads(props[onnx_export.METADATA_KEY])
            assert meta["plugin"] == self.name and meta["model"] == self.name
            assert meta["plugin_version"] == cls.version and meta["channels"] == model.data.channels
            assert isinstance(meta.get("task"), str), f"{file.name}: metadata has no task"
            if meta["task"] == "image-to-image":
                assert meta["direction"] == spec.metadata["direction"]
            m = int(meta.get("size_multiple", 1) or 1)
            h, w = m * math.ceil(40 / m), m * math.ceil(52 / m)   # not the training size, not square
            inputs = spec.make_inputs(h, w, 3) if spec.make_inputs else spec.example_inputs
            with torch.no_grad():
                expected = spec.module(*inputs)
            expected = [expected] if isinstance(expected, torch.Tensor) else list(expected)
            session = ort.InferenceSession(str(file), providers=["CPUExecutionProvider"])
            got = session.run(None, {n: t.numpy() for n, t in zip(spec.input_names, inputs)})
            assert len(got) == len(expected), f"{file.name}: {len(got)} outputs, PyTorch gives {len(expected)}"
            for g, e in zip(got, expected):
                assert g.shape == tuple(e.shape), f"{file.name}: output shape {g.shape} != {tuple(e.shape)}"
                np.testing.assert_allclose(g, e.numpy(), atol=ONNX_ATOL, rtol=0, err_msg=f"{file.name} vs PyTorch")

    def check_builtin_data(self):
        if self.data is None:        # the shared run already trained on the built-in data
            result, _ = self.history()
        else:
            result = translate.fit(self.name, quiet=True, **{**self.settings(steps=1, max_items=2),
                                                             "data": "", "out": str(self.workdir / "builtin")})
        _, ckpt, _, config = load_run(result.run_dir)
        assert config.data.data == self.model_cls.default_data, f"trained on {config.data.data!r}"
        assert ckpt["data_info"]["kind"] == self.model_cls.dataset_kind

    def check_cli(self):
        return check_cli(self)
