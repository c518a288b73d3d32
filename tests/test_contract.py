"""The model contract, checked for EVERY registered model (built-in or installed third-party):
one training step, checkpoint round trip, exact resume, ONNX parity, visuals, built-in data.

A new plugin gets these tests for free; if its dataset kind is new, add a tiny data builder
to DATA_BUILDERS in tests/conftest.py (the tests fail with that message until it does).
"""
from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch

import translate
from translate.checkpoint import FORMAT_VERSION, load_checkpoint
from translate.config import resolve
from translate.data import make_dataset
from translate.engine import Engine
from translate.fit_loop import export_metadata
from translate.model import ExportSpec, TranslationModel
from translate.registry import Plugins, get_plugins
from translate.restore import build_model, load_run, model_class

MODELS = get_plugins().models.names()
STOCHASTIC = {"dropout": True}  # model Config fields that add randomness, where a model has them
pytestmark = pytest.mark.parametrize("model_name", MODELS)


@pytest.fixture
def model_cls(model_name):
    return model_class(model_name)


@pytest.fixture
def data_root(model_cls, data_for_kind):
    return data_for_kind(model_cls.dataset_kind)


def build(model_cls, root, tiny):
    """A freshly initialized model on the tiny config, its training dataset and config."""
    kind_cls = get_plugins().dataset_kinds.get(model_cls.dataset_kind).load()
    config = resolve(model_cls, overrides=tiny(model_cls, data=str(root)))
    dataset = make_dataset(kind_cls, root, "train", config.data, seed=0, augment=True)
    return model_cls(config.model, dataset.info(), config.train.steps), dataset, config


def batch_of(dataset, n=2):
    return torch.utils.data.default_collate([dataset[i] for i in range(n)])


def snapshot(model) -> dict:
    return {n: {k: v.detach().clone() for k, v in net.state_dict().items()} for n, net in model.networks().items()}


def assert_same_tensors(a: dict, b: dict, where=""):
    assert a.keys() == b.keys(), where
    for key in a:
        if isinstance(a[key], dict):
            assert_same_tensors(a[key], b[key], f"{where}/{key}")
        elif isinstance(a[key], torch.Tensor):
            assert torch.equal(a[key], b[key]), f"{where}/{key} differs"
        elif isinstance(a[key], list) and a[key] and isinstance(a[key][0], torch.Tensor):
            assert len(a[key]) == len(b[key]) and all(torch.equal(x, y) for x, y in zip(a[key], b[key])), where
        else:
            assert a[key] == b[key], f"{where}/{key}"


class CaptureWeights:
    """A lifecycle-hook plugin: the live network weights whenever a checkpoint was saved."""

    def __init__(self):
        self.at = {}

    @translate.hookimpl
    def checkpoint_saved(self, run, step, path):
        self.at[step] = (path, snapshot(run.model))


# -- declaration -------------------------------------------------------------------------------------

def test_model_declares_the_contract(model_name, model_cls):
    assert issubclass(model_cls, TranslationModel)
    assert model_cls.name == model_name
    assert model_cls.summary and model_cls.network_names
    assert model_cls.dataset_kind in get_plugins().dataset_kinds
    assert model_cls.default_data in get_plugins().builtin_datasets, "every plugin runs with no download"
    assert get_plugins().builtin_datasets.get(model_cls.default_data).extra["kind"] == model_cls.dataset_kind
    model_cls.Config()  # every field has a default (the paper's)


# -- one step ------------------------------------------------------------------------------------------

def test_one_training_step_has_finite_losses_and_trains_every_network(model_cls, data_root, tiny):
    torch.manual_seed(0)
    model, dataset, _ = build(model_cls, data_root, tiny)
    optimizers, schedulers = model.configure_optimizers()
    assert optimizers and set(schedulers) <= set(optimizers)
    engine = Engine(torch.device("cpu"))
    engine.attach(optimizers, schedulers)
    engine.prepare(model)
    before = snapshot(model)
    model.train()
    metrics = model.training_step(engine.to_device(batch_of(dataset)), engine)
    engine.end_step()

    assert metrics and all(isinstance(k, str) for k in metrics)
    assert all(isinstance(v, (int, float)) and math.isfinite(v) for v in metrics.values()), metrics
    assert set(model.loss_watch()) <= set(metrics), "watched losses must be reported metrics"
    after = snapshot(model)
    for name in model_cls.network_names:  # network_names are the networks it trains
        changed = any(not torch.equal(before[name][k], after[name][k]) for k in before[name])
        assert changed, f"network {name} did not change in a training step"


# -- checkpoints --------------------------------------------------------------------------------------

def test_checkpoint_round_trip(model_name, model_cls, data_root, tiny, tmp_path, fresh_plugins):
    capture = CaptureWeights()
    fresh_plugins.reset_plugins(Plugins(extra_plugins=((capture, "capture-weights", "tests"),)))
    result = translate.fit(model_name, quiet=True, **tiny(model_cls, data=str(data_root), out=str(tmp_path / "runs"),
                                                          name="rt", checkpoint_every=1))
    assert sorted(capture.at) == [1, 2]
    assert result.checkpoint == capture.at[2][0] and result.checkpoint.name == "step_000002.pt"

    path, ckpt, cls, config = load_run(result.run_dir)       # a run directory -> its latest checkpoint
    assert path == result.checkpoint and cls is model_cls
    assert ckpt["format_version"] == FORMAT_VERSION and ckpt["plugin"] == model_name
    assert ckpt["plugin_version"] == model_cls.version and ckpt["step"] == 2
    assert ckpt["optimizers"] and set(ckpt["schedulers"]) <= set(ckpt["optimizers"])
    assert {"python", "numpy", "torch"} <= set(ckpt["rng"])
    assert config.to_dict() == ckpt["config"]
    model = build_model(cls, config, ckpt)
    assert not model.training
    assert_same_tensors(snapshot(model), capture.at[2][1], "networks")  # the live weights at step 2
    # The step-1 checkpoint holds the step-1 weights, which training then changed.
    ckpt1 = load_checkpoint(result.run_dir / "checkpoints" / "step_000001.pt")
    assert_same_tensors(ckpt1["networks"], capture.at[1][1], "step 1")
    assert any(not torch.equal(ckpt1["networks"][n][k], ckpt["networks"][n][k])
               for n in ckpt["networks"] for k in ckpt["networks"][n])


def test_resume_is_exact(model_name, model_cls, data_root, tiny, tmp_path):
    runs = tmp_path / "runs"
    # Random layers (dropout) draw from the global RNG, so the resume must restore it too; the
    # tiny pool is full after 2 steps, so its own RNG and contents matter as well.
    stochastic = {k: v for k, v in STOCHASTIC.items() if k in model_cls.Config.__dataclass_fields__}
    settings = tiny(model_cls, data=str(data_root), out=str(runs), steps=4, checkpoint_every=2, keep_checkpoints=5,
                    **stochastic)
    full = translate.fit(model_name, quiet=True, name="full", **settings)
    assert full.checkpoint.name == "step_000004.pt"

    # The same run, stopped after step 2: a copy without its step-4 checkpoint.
    copy = runs / "stopped"
    shutil.copytree(full.run_dir, copy)
    (copy / "checkpoints" / "step_000004.pt").unlink()
    resumed = translate.fit(resume=str(copy), quiet=True)
    assert resumed.run_dir == copy.resolve() and resumed.step == 4
    assert sorted(p.name for p in runs.iterdir()) == ["full", "stopped"]  # no new run directory

    a = load_checkpoint(full.run_dir / "checkpoints" / "step_000004.pt")
    b = load_checkpoint(copy / "checkpoints" / "step_000004.pt")
    assert_same_tensors(a["networks"], b["networks"], "networks")
    assert_same_tensors(a["optimizers"], b["optimizers"], "optimizers")
    assert_same_tensors(a["schedulers"], b["schedulers"], "schedulers")
    assert_same_tensors(a["extra"], b["extra"], "extra")


# -- export ---------------------------------------------------------------------------------------------

def test_onnx_parity_of_the_restored_model(model_name, model_cls, data_root, tiny, tmp_path):
    onnx_export = pytest.importorskip(
        "translate.export.onnx_export", reason="translate.export.onnx_export (export_model) is not available yet")
    import onnx
    import onnxruntime as ort

    result = translate.fit(model_name, quiet=True, **tiny(model_cls, data=str(data_root), out=str(tmp_path / "runs")))
    _, ckpt, cls, config = load_run(result.checkpoint)
    model = build_model(cls, config, ckpt)
    specs = model.exports()
    assert specs and all(isinstance(s, ExportSpec) for s in specs)
    assert len({s.name for s in specs}) == len(specs)

    files = onnx_export.export_model(model, tmp_path / "exports", base_metadata=export_metadata(model, config),
                                     log=lambda msg: None)
    assert [f.name for f in files] == [f"{s.name}.onnx" for s in specs]
    for spec, file in zip(specs, files):
        assert file.is_file() and file.stat().st_size > 0
        props = {p.key: p.value for p in onnx.load(str(file)).metadata_props}
        meta = json.loads(props[getattr(onnx_export, "METADATA_KEY", "translate")])
        assert meta["plugin"] == model_name and meta["model"] == model_name
        assert meta["plugin_version"] == model_cls.version and meta["channels"] == model.data.channels
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
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            assert g.shape == tuple(e.shape)
            np.testing.assert_allclose(g, e.numpy(), atol=1e-4, rtol=0)


# -- inspection --------------------------------------------------------------------------------------------

def test_visuals_are_image_batches_in_unit_range(model_cls, data_root, tiny):
    torch.manual_seed(0)
    model, dataset, config = build(model_cls, data_root, tiny)
    model.eval()
    visuals = model.visuals(batch_of(dataset, 3))
    assert visuals
    for name, images in visuals.items():
        assert isinstance(images, torch.Tensor) and images.dim() == 4, name
        n, c, h, w = images.shape
        assert n == 3 and c == model.data.channels, name
        assert (h, w) == (config.data.image_size, config.data.image_size), name
        assert torch.isfinite(images).all() and images.min() >= -1 and images.max() <= 1, name


def test_trains_on_its_builtin_dataset_without_data(model_name, model_cls, tiny, tmp_path):
    result = translate.fit(model_name, quiet=True, **tiny(model_cls, steps=1, max_items=2, out=str(tmp_path / "runs")))
    _, ckpt, _, config = load_run(result.run_dir)
    assert config.data.data == model_cls.default_data
    assert ckpt["step"] == 1 and ckpt["data_info"]["kind"] == model_cls.dataset_kind
