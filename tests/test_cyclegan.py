"""CycleGAN's held-out evaluation beyond PSNR/SSIM (KID-EffLite0 of the translations, on paired
and on unpaired, horse2zebra-style, held-out folders) and its averaged generators (--ema)."""
from __future__ import annotations

import pytest
import torch

from conftest import write_png
from translate import metrics
from translate.datasets.unpaired import UnpairedDataset
from translate.errors import ConfigError
from translate.model import DataInfo
from translate.plugins.cyclegan.model import Config, CycleGAN

SIZE = 32


def tiny_model(**config) -> CycleGAN:
    torch.manual_seed(0)
    c = Config(**{"ngf": 8, "ndf": 8, "n_blocks": 1, **config})
    return CycleGAN(c, DataInfo(kind="unpaired", image_size=SIZE), 10).eval()


def held_out(root, names_a, names_b):
    for i, name in enumerate(names_a):
        write_png(root / "trainA" / f"{name}.png", seed=i)
        write_png(root / "testA" / f"{name}.png", seed=10 + i)
    for i, name in enumerate(names_b):
        write_png(root / "trainB" / f"{name}.png", seed=50 + i)
        write_png(root / "testB" / f"{name}.png", seed=60 + i)
    return UnpairedDataset(root, "test", image_size=SIZE, aligned="auto")


@pytest.mark.skipif(not metrics.is_available(), reason="the 'kid' extra is not installed")
@pytest.mark.parametrize("paired", [True, False])
def test_kid_compares_each_translation_with_the_real_images_of_its_target_domain(tmp_path, paired):
    """--kid-samples N: the first N held-out images of each domain (each once, also when unpaired
    folders differ in length) against the translations of the other domain's first N."""
    names_b = [f"x{i}" for i in range(18)] if paired else [f"zebra{i}" for i in range(21)]
    test = held_out(tmp_path / "data", [f"x{i}" for i in range(18)] if paired else [f"horse{i}" for i in range(5)],
                    names_b)
    assert test.aligned == paired
    n = 17 if paired else 5   # across evaluate's batches of 16; unpaired: all 5 A images, 5 of the 21 B
    model = tiny_model(kid_samples=17)
    ev = model.evaluate(test, torch.device("cpu"))
    a = torch.stack([UnpairedDataset(tmp_path / "data", "test", image_size=SIZE)[i]["A"] for i in range(n)])
    b = torch.stack([UnpairedDataset(tmp_path / "data", "test", image_size=SIZE)[i]["B"] for i in range(17)])
    with torch.no_grad():
        fake_b, fake_a = model.G_AB(a).clamp(-1, 1), model.G_BA(b).clamp(-1, 1)
    assert ev["kid_images"] == n
    for key, real, fake in (("A2B", b, fake_b), ("B2A", a, fake_a), ("identity", b, a)):
        expected = metrics.kid_report(real, fake)["kid_efflite0"]
        assert ev[f"{key}/kid_efflite0"] == pytest.approx(expected, rel=1e-4, abs=1e-6), (key, ev)
    assert ("pairs" in ev) == paired and ("A2B2A/psnr" in ev) != paired


def test_kid_samples_must_make_a_set():
    with pytest.raises(ConfigError, match="--kid-samples"):
        tiny_model(kid_samples=1)


def test_ema_generators_are_what_samples_evaluation_and_export_use(tmp_path):
    model = tiny_model(ema=0.99)
    assert set(model.networks()) == {"G_AB", "G_BA", "D_A", "D_B", "G_ema"}
    assert model.generators() == (model.G_ema["G_AB"], model.G_ema["G_BA"])
    assert [spec.module for spec in model.exports()] == [model.G_ema["G_AB"], model.G_ema["G_BA"]]
    with torch.no_grad():   # the averages apart from the live weights, so outputs tell them apart
        for p in model.G_ema.parameters():
            p.add_(0.05 * torch.randn_like(p))
    test = held_out(tmp_path / "data", ["x0", "x1"], ["x0", "x1"])
    batch = torch.utils.data.default_collate([test[0], test[1]])
    with torch.no_grad():
        expected = model.G_ema["G_AB"](batch["A"])
        assert not torch.allclose(expected, model.G_AB(batch["A"]))
    assert torch.equal(model.visuals(batch)["fake_B"], expected)
    psnr = metrics.psnr_ssim(expected, batch["B"])[0].mean().item()
    assert model.evaluate(test, torch.device("cpu"))["A2B/psnr"] == pytest.approx(psnr, rel=1e-5)
    plain = tiny_model()
    assert "G_ema" not in plain.networks() and plain.generators() == (plain.G_AB, plain.G_BA)
    with pytest.raises(ConfigError, match="--ema 1.0"):
        tiny_model(ema=1.0)


def test_ema_run_with_winograd_convolutions_trains_resumes_exactly_and_exports(tmp_path, monkeypatch):
    """The contract's checks with --ema on and the residual blocks' 3x3 convolutions run by
    Winograd (as they are on the CPU at real widths and sizes; the thresholds are lowered for the
    tiny model): the averages change every step and are checkpointed (resume gives the same
    weights and averages as an uninterrupted run), and the export matches PyTorch."""
    from translate.nn.winograd import WinogradConv2d
    from translate.testing.contract import Contract

    calls = []
    monkeypatch.setattr(WinogradConv2d, "min_channels", 1)
    monkeypatch.setattr(WinogradConv2d, "min_tiles", 1)
    monkeypatch.setattr(WinogradConv2d, "_use_winograd",
                        lambda self, x, use=WinogradConv2d._use_winograd: calls.append(use(self, x)) or calls[-1])
    Contract("cyclegan", workdir=tmp_path, overrides={"ema": 0.9},
             cli_subprocess=False).run_all(["training_step", "resume", "onnx"])
    assert any(calls), "no convolution ran by Winograd"


@pytest.mark.parametrize("identity", [0.5, 0.0])
def test_fused_generator_calls_train_as_one_call_per_image_does(identity):
    """The step sends several batches through a generator as one call (instance norm treats
    each image on its own): losses and the trained weights are those of one call per image."""
    from translate.engine import Engine

    g = torch.Generator().manual_seed(0)
    batch = {"A": torch.rand(2, 3, SIZE, SIZE, generator=g) * 2 - 1, "B": torch.rand(2, 3, SIZE, SIZE, generator=g) * 2 - 1}
    results = []
    for fuse in (True, False):
        model = tiny_model(lambda_identity=identity).train()
        model.fuse_batches = fuse
        A, B, G_AB, G_BA, l1 = batch["A"], batch["B"], model.G_AB, model.G_BA, torch.nn.functional.l1_loss
        with torch.no_grad():   # the paper's losses, written out, from the untrained networks
            cycle = 10 * (l1(G_BA(G_AB(A)), A) + l1(G_AB(G_BA(B)), B)).item()
            idt = 10 * identity * (l1(G_AB(B), B) + l1(G_BA(A), A)).item()
        engine = Engine(torch.device("cpu"))
        engine.attach(*model.configure_optimizers())
        engine.prepare(model)
        losses = [model.training_step(batch, engine) for _ in range(2)]
        assert losses[0]["cycle"] == pytest.approx(cycle, rel=1e-5)
        assert losses[0].get("idt", 0.0) == pytest.approx(idt, rel=1e-5)
        results.append((losses, model.state_dict()))
    (fused_losses, fused_state), (single_losses, single_state) = results
    assert fused_losses[0].keys() == single_losses[0].keys()
    for fused, single in zip(fused_losses, single_losses):
        for name in fused:
            assert fused[name] == pytest.approx(single[name], rel=1e-4, abs=1e-6), name
    # A bias followed by instance norm has no effect and a zero gradient up to rounding, which
    # Adam scales up to lr-sized steps either way: those are left out.
    cancelled = {f"{name}.{i}.bias" for name, seq in model.named_modules() if isinstance(seq, torch.nn.Sequential)
                 for i in range(len(seq) - 1) if isinstance(seq[i + 1], torch.nn.InstanceNorm2d)}
    assert "G_AB.model.0.bias" in cancelled
    for name, value in fused_state.items():
        if name not in cancelled:
            torch.testing.assert_close(value, single_state[name], atol=1e-5, rtol=1e-4, msg=name)
