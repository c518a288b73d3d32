"""The built-in TensorBoard logger: a real tiny fit writes event files that TensorBoard's own
reader (EventAccumulator) reads back with the losses and the sample grids; without tensorboard
the plugin is listed as inactive and none of its hooks is called."""
from __future__ import annotations

import importlib.util
import io
import json

import numpy as np
import pytest
from PIL import Image

import translate
from translate.registry import get_plugins
from translate.restore import model_class
from translate.run import RunContext
from translate.testing import tiny_overrides

PLUGIN = "translate.plugins.tensorboard"


@pytest.fixture(scope="module")
def events(tmp_path_factory, shared_unpaired):
    pytest.importorskip("tensorboard", reason="tensorboard is not installed (it is in the dev extra)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = translate.fit("cyclegan", quiet=True, **tiny_overrides(
        model_class("cyclegan"), data=str(shared_unpaired), out=str(tmp_path_factory.mktemp("tb")),
        steps=3, sample_every=2))
    acc = EventAccumulator(str(result.run_dir / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    return result, acc


def test_losses_and_learning_rates_are_scalars_per_logged_step(events):
    result, acc = events
    tags = set(acc.Tags()["scalars"])
    assert {"train/G_AB", "train/D_A", "train/cycle", "lr/G", "lr/D", "speed/it_s"} <= tags
    assert not {"train/step", "train/time", "train/epoch"} & tags
    logged = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    scalars = acc.Scalars("train/G_AB")
    assert [s.step for s in scalars] == [r["step"] for r in logged] == [1, 2, 3]
    assert [s.value for s in scalars] == pytest.approx([r["G_AB"] for r in logged], rel=1e-6)


def test_metric_tags_are_grouped():
    from translate.plugins.tensorboard import tag

    assert [tag(k) for k in ("lr_G", "it_s", "loss_scale", "D_A")] == ["lr/G", "speed/it_s", "amp/loss_scale", "train/D_A"]


def test_sample_grids_are_images(events):
    result, acc = events
    images = acc.Images("samples")
    assert [i.step for i in images] == [2, 3]
    decoded = np.asarray(Image.open(io.BytesIO(images[-1].encoded_image_string)).convert("RGB"))
    with Image.open(result.run_dir / "samples" / "step_000003.png") as png:
        assert np.array_equal(decoded, np.asarray(png.convert("RGB")))   # the grid the run saved


def test_only_the_main_process_writes(tmp_path):
    pytest.importorskip("tensorboard")
    from translate.plugins import tensorboard

    run = RunContext(tmp_path, None, None, None, is_main=False)
    tensorboard.fit_start(run=run)
    tensorboard.metrics_logged(run=run, step=1, metrics={"G": 1.0})
    tensorboard.fit_end(run=run, status="completed")
    assert not (tmp_path / "tensorboard").exists() and run.extras == {}


def test_inactive_without_tensorboard(monkeypatch, fresh_plugins, run_cli):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorboard" else real_find_spec(name, *a))
    info = get_plugins().info[PLUGIN]
    assert info.inactive == "tensorboard is not installed (pip install 'translate-i2i[tensorboard]')"
    assert info.hooks == [] and not get_plugins().pm.has_plugin(PLUGIN) and info.error is None
    code, out, _ = run_cli("plugins")
    assert code == 0 and f"{PLUGIN}  [built-in" in out
    assert "  inactive: tensorboard is not installed (pip install 'translate-i2i[tensorboard]')" in out
    code, out, _ = run_cli("plugins", "--json", "--strict")   # inactive is not a failure
    row = {r["name"]: r for r in json.loads(out)}[PLUGIN]
    assert code == 0 and row["inactive"].startswith("tensorboard is not installed") and row["hooks"] == []


def test_active_with_tensorboard_implements_the_lifecycle_hooks():
    pytest.importorskip("tensorboard")
    info = get_plugins().info[PLUGIN]
    assert info.inactive is None
    assert info.hooks == ["fit_end", "fit_start", "metrics_logged", "samples_saved"]
