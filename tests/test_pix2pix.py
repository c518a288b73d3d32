"""pix2pix: it learns (beats the identity baseline), the paper's test-time networks, the L1-only
baseline, the U-Net depth, and export == PyTorch through `translate predict`."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

import translate
from conftest import make_paired, write_png
from translate import metrics
from translate.datasets.paired import PairedDataset
from translate.engine import Engine
from translate.errors import ConfigError
from translate.model import DataInfo
from translate.plugins.pix2pix import test_time
from translate.plugins.pix2pix.model import Config, Pix2Pix
from translate.restore import build_model, load_run


def tiny_model(size=32, **config) -> Pix2Pix:
    torch.manual_seed(0)
    return Pix2Pix(Config(**{**Pix2Pix.tiny_config, **config}), DataInfo(kind="paired", image_size=size), 10)


def images(n=3, size=32, seed=0) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# -- learning ------------------------------------------------------------------------------------

def test_learns_silhouette_to_colour_better_than_identity(tiny, tmp_path):
    """250 CPU steps on 64 built-in pairs at 32x32: on held-out pairs G(A) is closer (L1) to the
    true colour emoji B than the silhouette A itself is, and the run's own evaluation agrees."""
    result = translate.fit("pix2pix", quiet=True, **tiny(
        Pix2Pix, steps=250, max_items=64, batch_size=4, ngf=16, ndf=16, out=str(tmp_path / "runs")))
    _, ckpt, cls, config = load_run(result.run_dir)
    model = build_model(cls, config, ckpt)
    assert config.model.test_mode == "paper" and config.data.data == "fluent_silhouette2flat"

    root = translate.datasets.builtin.fluent_silhouette2flat()
    test = PairedDataset(root, "test", image_size=32, max_items=48)
    batch = torch.utils.data.default_collate([test[i] for i in range(len(test))])
    with torch.no_grad():
        fake = model.translator()(batch["A"])
    l1_model = (fake - batch["B"]).abs().mean().item()
    l1_identity = (batch["A"] - batch["B"]).abs().mean().item()
    assert l1_model < 0.85 * l1_identity, (l1_model, l1_identity)
    ev = result.evaluation
    assert ev["pairs"] == 64, ev  # --max-items limits the test split too
    assert ev["A2B/psnr"] > ev["identity/psnr"] + 1.0, ev


@pytest.mark.skipif(not metrics.is_available(), reason="the 'kid' extra is not installed")
def test_evaluate_reports_kid_of_the_translations_against_the_real_targets():
    """--kid-samples N: KID-EffLite0 between the real B and G(A) of the first N held-out pairs (across
    evaluation batches), beside the identity baseline (B against the silhouettes A)."""
    n = 20  # not a multiple of evaluate's batch of 16
    model = tiny_model(kid_samples=n)
    from translate.datasets.builtin import fluent_silhouette2flat

    test = PairedDataset(fluent_silhouette2flat(), "test", image_size=32, max_items=40)
    ev = model.evaluate(test, torch.device("cpu"))
    batch = torch.utils.data.default_collate([test[i] for i in range(n)])
    with torch.no_grad():
        fake = model.translator()(batch["A"]).clamp(-1, 1)
    expected = metrics.kid_report(batch["B"], fake)
    baseline = metrics.kid_report(batch["B"], batch["A"])
    assert ev["pairs"] == 40 and ev["kid_pairs"] == n, ev
    assert ev["A2B/kid_efflite0"] == pytest.approx(expected["kid_efflite0"], rel=1e-4, abs=1e-6), ev
    assert ev["identity/kid_efflite0"] == pytest.approx(baseline["kid_efflite0"], rel=1e-4, abs=1e-6), ev
    # an untrained G's outputs are further from real colour emoji than the silhouettes are
    assert ev["A2B/kid_efflite0"] > ev["identity/kid_efflite0"] > 0, ev


def test_kid_samples_must_make_a_set():
    with pytest.raises(ConfigError, match="--kid-samples"):
        tiny_model(kid_samples=1)


# -- the paper's test-time networks ----------------------------------------------------------------

def test_paper_test_mode_keeps_dropout_and_uses_each_images_statistics():
    model = tiny_model(size=64)  # 6 levels: the innermost decoder level has dropout (none at 32x32)
    model.train()
    x = images(3, size=64)
    with torch.no_grad():
        trained_noise = (model.G(x) - model.G(x)).abs().max().item()
        running = {k: v.clone() for k, v in model.G.state_dict().items() if "running" in k}
        net = model.translator()
        out = net(x)
        assert torch.equal(out, net(x)), "the same image gives the same output"
        alone = net(x[1:2])
        eval_out = test_time.test_time_generator(model.G, "eval")(x)
    assert trained_noise > 0, "training-time dropout is random"
    torch.testing.assert_close(alone, out[1:2], atol=1e-5, rtol=0)  # independent of its batch
    assert all(torch.equal(v, model.G.state_dict()[k]) for k, v in running.items()), "inference changed BN stats"
    assert (out - eval_out).abs().mean() > 1e-3, "paper mode must differ from running-average eval mode"
    assert model.G.training, "building the test-time network must not change G's mode"


def test_input_keyed_dropout_drops_half_the_units_differently_per_image():
    drop = test_time.InputKeyedDropout(0.5, salt=1)
    x = images(2, size=16)
    drop.key = test_time.image_key(x)
    assert drop.key[0] != drop.key[1]
    ones = torch.ones(2, 8, 16, 16)
    y = drop(ones)
    kept = (y > 0).float()
    assert set(y.unique().tolist()) <= {0.0, 2.0}  # rescaled by 1 / (1 - p)
    assert 0.45 < kept.mean().item() < 0.55
    assert (kept[0] != kept[1]).float().mean() > 0.3, "different images get different masks"


def test_eval_test_mode_is_the_generator_in_eval_mode():
    model = tiny_model(size=64, test_mode="eval")
    x = images(2, size=64)
    with torch.no_grad():
        out = model.translator()(x)
        model.G.eval()
        expected = model.G(x)
    assert torch.equal(out, expected)


def test_export_and_translate_predict_reproduce_pytorch(tiny, tmp_path, run_cli):
    result = translate.fit("pix2pix", quiet=True, **tiny(Pix2Pix, export=True, out=str(tmp_path / "runs")))
    onnx_file = result.run_dir / "exports" / "A2B.onnx"
    assert result.exports == [onnx_file]
    png = write_png(tmp_path / "in" / "photo.png", seed=5, size=(96, 64))   # a multiple of 32: no padding
    code, out, err = run_cli("predict", onnx_file, png, "--output", tmp_path / "out")
    assert code == 0, err
    got = np.asarray(Image.open(tmp_path / "out" / "photo.png")).astype(int)

    _, ckpt, cls, config = load_run(result.run_dir)
    model = build_model(cls, config, ckpt)
    x = torch.from_numpy(np.asarray(Image.open(png)).astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
    with torch.no_grad():
        y = model.translator()(x)[0].permute(1, 2, 0).numpy()
    expected = np.clip((y + 1) * 127.5 + 0.5, 0, 255).astype(int)
    assert got.shape == expected.shape == (64, 96, 3)
    assert np.abs(got - expected).max() <= 1
    from translate.export import runtime
    assert runtime.load(onnx_file).metadata["test_mode"] == "paper"


def test_export_with_test_time_dropout_is_verified_against_pytorch(tmp_path):
    from translate.export.onnx_export import export_model

    model = tiny_model(size=64)
    model.eval()
    assert model.translator().dropouts, "a 64x64 U-Net has a dropout level"
    logs = []
    (onnx_file,) = export_model(model, tmp_path, base_metadata={"plugin": "pix2pix", "model": "pix2pix",
                                                                "channels": 3}, log=logs.append)
    assert any("max abs error" in line for line in logs)  # verified by the exporter at another size
    import onnxruntime as ort

    x = images(2, size=128, seed=3)
    got = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"]).run(None, {"image": x.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, model.translator()(x).numpy(), atol=1e-4, rtol=0)


# -- configuration ----------------------------------------------------------------------------------

def test_l1_only_baseline_trains_no_discriminator():
    model = tiny_model(lambda_gan=0.0)
    optimizers, schedulers = model.configure_optimizers()
    engine = Engine(torch.device("cpu"))
    engine.attach(optimizers, schedulers)
    engine.prepare(model)
    d_before = {k: v.clone() for k, v in model.D.state_dict().items()}
    g_before = {k: v.clone() for k, v in model.G.state_dict().items()}
    model.train()
    metrics = model.training_step({"A": images(2), "B": images(2, seed=1)}, engine)
    assert set(metrics) == {"L1"} and model.loss_watch() == {}
    assert all(torch.equal(v, model.D.state_dict()[k]) for k, v in d_before.items())
    assert any(not torch.equal(v, model.G.state_dict()[k]) for k, v in g_before.items())


@pytest.mark.parametrize("size, levels", [(32, 5), (64, 6), (128, 7), (256, 8)])
def test_unet_depth_follows_the_image_size_and_d_sees_both_images(size, levels):
    model = Pix2Pix(Config(ngf=2, ndf=2), DataInfo(kind="paired", image_size=size), 1)
    assert model.num_downs == levels and model.G.size_multiple == 2**levels
    assert model.D.model[0].in_channels == 6  # conditional: input and output concatenated


def test_image_size_that_the_unet_cannot_take_is_a_config_error():
    with pytest.raises(ConfigError, match="--image-size 48"):
        tiny_model(size=48)
    with pytest.raises(ConfigError, match="at least 5 levels"):
        tiny_model(size=16)


def test_data_with_train_and_val_only_is_evaluated_on_val(tiny, tmp_path, run_cli):
    """edges2shoes and maps ship train/ and val/ only: samples and `evaluate` use val/."""
    data = make_paired(tmp_path / "edges2shoes", n_train=3, n_test=2)
    (data / "test").rename(data / "val")
    result = translate.fit("pix2pix", quiet=True, **tiny(Pix2Pix, data=str(data), out=str(tmp_path / "runs")))
    assert result.evaluation["pairs"] == 2
    saved = json.loads((result.run_dir / "eval.json").read_text())
    assert saved["split"] == "val" and saved["A2B/psnr"] == pytest.approx(result.evaluation["A2B/psnr"])
    code, out, err = run_cli("evaluate", result.run_dir, "--json")
    assert code == 0, err
    assert json.loads(out)["split"] == "val"
    shutil.rmtree(data / "val")
    code, out, err = run_cli("evaluate", result.run_dir, "--json")
    assert code != 0 and "test or val" in err and "Traceback" not in err
