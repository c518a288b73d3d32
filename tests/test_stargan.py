"""The StarGAN plugin: networks, the gradient penalty, n_critic, the same math as the reference
step, export + torch-free runtime + `translate predict --to`, and a learning test."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import translate
from translate.engine import Engine
from translate.errors import ConfigError
from translate.metrics import psnr_ssim
from translate.model import DataInfo
from translate.nn.losses import gradient_penalty
from translate.plugins.stargan.model import Config, StarGAN
from translate.plugins.stargan.networks import StarDiscriminator, StarGenerator

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
TINY = dict(ngf=8, ndf=8, n_blocks=1, n_layers_d=2)


def tiny_model(n_critic=5, size=16, domains=("x", "y", "z"), multi_label=False, **overrides):
    torch.manual_seed(0)
    info = DataInfo("multidomain", 3, size, domains, multi_label=multi_label)
    return StarGAN(Config(n_critic=n_critic, **{**TINY, **overrides}), info, 100)


def one_hot(idx, n=3):
    return torch.nn.functional.one_hot(torch.as_tensor(idx), n).float()


# -- networks --------------------------------------------------------------------------------------

def test_generator_is_conditioned_on_the_target_label_at_any_size():
    torch.manual_seed(0)
    G = StarGenerator(3, 3, ngf=8, n_blocks=1).eval()
    x = torch.rand(2, 3, 20, 28) * 2 - 1
    a, b = G(x, one_hot([0, 0])), G(x, one_hot([2, 2]))
    assert a.shape == x.shape and a.abs().max() <= 1
    assert (a - b).abs().mean() > 1e-3  # the label planes reach the output


def test_discriminator_gives_patches_and_domain_logits():
    D = StarDiscriminator(3, 4, image_size=32, ndf=8, n_layers=3)
    src, cls = D(torch.zeros(5, 3, 32, 32))
    assert src.shape == (5, 1, 4, 4) and cls.shape == (5, 4)
    with pytest.raises(ValueError, match="multiple of 8"):
        StarDiscriminator(3, 4, image_size=36, ndf=8, n_layers=3)


def test_image_size_that_the_discriminator_cannot_take_is_a_config_error():
    with pytest.raises(ConfigError, match="--image-size 40"):
        StarGAN(Config(), DataInfo("multidomain", 3, 40, ("a", "b")), 10)


# -- gradient penalty ------------------------------------------------------------------------------

class LinearCritic(torch.nn.Module):
    """D(x) = <w, x> with ||w|| = slope: its gradient has norm `slope` everywhere. Returns
    (patch logits, class logits) like StarGAN's discriminator."""

    def __init__(self, shape, slope):
        super().__init__()
        w = torch.randn(shape)
        self.w = torch.nn.Parameter(w / w.norm() * slope)

    def forward(self, x):
        return (x * self.w).flatten(1).sum(1, keepdim=True), torch.zeros(x.size(0), 2)


@pytest.mark.parametrize("slope, expected", [(1.0, 0.0), (0.5, 0.25), (5.0, 16.0)])
def test_gradient_penalty_is_zero_for_a_1_lipschitz_critic_and_positive_for_a_steep_one(slope, expected):
    torch.manual_seed(0)
    critic = LinearCritic((3, 8, 8), slope)
    real, fake = torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)
    gp = gradient_penalty(critic, real, fake, select=lambda out: out[0])
    assert gp.item() == pytest.approx(expected, abs=1e-5)
    gp.backward()  # differentiable w.r.t. the critic's weights (create_graph)
    assert (critic.w.grad.abs().sum() > 0) == (slope != 1.0)


# -- the training step -------------------------------------------------------------------------------

def attach(model, sgd_lr=None):
    engine = Engine(torch.device("cpu"))
    if sgd_lr is None:
        engine.attach(*model.configure_optimizers())
    else:  # plain SGD: equal gradients give equal weights (Adam's first step is ~lr * sign(grad))
        engine.attach({"G": torch.optim.SGD(model.G.parameters(), sgd_lr),
                       "D": torch.optim.SGD(model.D.parameters(), sgd_lr)}, {})
    engine.prepare(model)
    return engine


def weights(net):
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def changed(before, net):
    return any(not torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_generator_steps_once_every_n_critic_steps():
    model = tiny_model(n_critic=3)
    engine = attach(model)
    x, label = torch.rand(4, 3, 16, 16) * 2 - 1, one_hot([0, 1, 2, 0])
    seen = []
    for step in range(6):
        g, d = weights(model.G), weights(model.D)
        engine.step_index = step
        metrics = model.training_step({"image": x, "label": label}, engine)
        engine.end_step()
        seen.append((changed(g, model.G), changed(d, model.D)))
        assert ("G_rec" in metrics) == (step >= 2)
    assert seen == [(False, True), (False, True), (True, True)] * 2


def test_identity_loss_adds_lambda_id_times_the_l1_of_g_on_its_own_labels():
    """--lambda-id: one step moves G by exactly -lr * lambda_id * grad L1(G(x, c_x), x) more than
    the same step without it (the D step, and so the rest of G's gradient, is the same)."""
    x, label = torch.rand(4, 3, 16, 16) * 2 - 1, one_hot([0, 1, 2, 0])
    after = {}
    for lambda_id in (0.0, 2.0):
        model = tiny_model(n_critic=1, lambda_id=lambda_id)
        engine = attach(model, sgd_lr=0.1)
        if lambda_id:
            G0 = tiny_model().G   # the same initial weights (seed 0)
            l1 = torch.nn.functional.l1_loss(G0(x, label), x)
            l1.backward()
        torch.manual_seed(1)
        engine.step_index = 0
        metrics = model.training_step({"image": x, "label": label}, engine)
        assert ("G_id" in metrics) == bool(lambda_id)
        after[lambda_id] = model.G.state_dict()
    assert metrics["G_id"] == pytest.approx(l1.item(), rel=1e-5)
    for name, p in G0.named_parameters():
        torch.testing.assert_close(after[2.0][name] - after[0.0][name], -0.1 * 2.0 * p.grad, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("multi_label", [False, True])
def test_training_step_has_the_reference_implementations_math(multi_label):
    """Our step (fused D calls, fakes reused for the G update, frozen D) gives the same weights
    as the reference implementation's step, written out in benchmarks/speed_stargan.py."""
    spec = importlib.util.spec_from_file_location("speed_stargan", BENCHMARKS / "speed_stargan.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    ours = tiny_model(n_critic=2, multi_label=multi_label)
    ref = tiny_model(n_critic=2, multi_label=multi_label)
    engine = attach(ours, sgd_lr=0.01)
    g_opt, d_opt = torch.optim.SGD(ref.G.parameters(), 0.01), torch.optim.SGD(ref.D.parameters(), 0.01)
    gen = torch.Generator().manual_seed(1)
    for step in range(4):
        x = torch.rand(4, 3, 16, 16, generator=gen) * 2 - 1
        label = (torch.rand(4, 3, generator=gen) > 0.5).float() if multi_label else one_hot([0, 1, 2, 1])
        torch.manual_seed(100 + step)  # the same target permutation and interpolation weights
        engine.step_index = step
        got = ours.training_step({"image": x, "label": label}, engine)
        torch.manual_seed(100 + step)
        want = bench.reference_step(ref.G, ref.D, g_opt, d_opt, x, label, step, ref.config, multi_label)
        assert got["D"] == pytest.approx(want["D"], rel=1e-4, abs=1e-5)
        if "G" in want:
            assert got["G"] == pytest.approx(want["G"], rel=1e-4, abs=1e-5)
    for name in ("G", "D"):
        a, b = getattr(ours, name).state_dict(), getattr(ref, name).state_dict()
        for key in a:
            torch.testing.assert_close(a[key], b[key], atol=1e-5, rtol=1e-4, msg=f"{name}.{key}")


def test_d_augment_shows_d_augmented_images_only_and_g_learns_through_them():
    """--d-augment translation,cutout: every batch D sees (the D step's, the penalty's
    penalty's interpolates between them, the G step's fakes) is augmented; with the reconstruction and
    classification losses off, G still learns: its adversarial gradient passes through the
    augmentation. Without it D sees the batch as it is."""
    x, label = torch.rand(4, 3, 16, 16) * 2 - 1, one_hot([0, 1, 2, 0])   # no exact zeros
    for policy in ("translation,cutout", "none"):
        model = tiny_model(n_critic=1, d_augment=policy, lambda_rec=0.0, lambda_cls=0.0)
        engine = attach(model, sgd_lr=0.1)
        seen = []
        model.D.register_forward_pre_hook(lambda _, args: seen.append(args[0].detach().clone()))
        g = weights(model.G)
        engine.step_index = 0
        model.training_step({"image": x, "label": label}, engine)
        assert len(seen) == 3   # the D step, the penalty, the G step
        real, fake, between = seen[0][:4], seen[0][4:], seen[1]
        alpha = ((between - fake) * (real - fake)).flatten(1).sum(1) / (real - fake).pow(2).flatten(1).sum(1)
        alpha = alpha.view(-1, 1, 1, 1)
        torch.testing.assert_close(between, alpha * real + (1 - alpha) * fake)  # on the segment D saw
        if policy == "none":
            assert torch.equal(real, x)
        else:
            for batch in (seen[0], seen[2]):   # an 8x8 square cut from each image, in all channels
                assert bool(((batch == 0).flatten(1).sum(1) >= 3 * 8 * 8).all())
        assert changed(g, model.G)


# -- the averaged generator (--ema) ----------------------------------------------------------------

def test_ema_folds_in_the_generator_after_each_generator_update():
    """With n_critic = 2 the average changes on every second step only: after the first G update
    it is that update's weights (bias-corrected, the initial weights get no share), after the
    second the decay-weighted mean (d * w1 + w2) / (1 + d)."""
    decay = 0.9
    model = tiny_model(n_critic=2, ema=decay)
    assert set(model.networks()) == {"G", "D", "G_ema"} and model.generator() is model.G_ema["G"]
    engine = attach(model)
    gen = torch.Generator().manual_seed(0)
    updates = []
    for step in range(4):
        before = weights(model.G_ema["G"])
        engine.step_index = step
        model.training_step({"image": torch.rand(4, 3, 16, 16, generator=gen) * 2 - 1,
                             "label": one_hot([0, 1, 2, 0])}, engine)
        engine.end_step()
        assert changed(before, model.G_ema["G"]) == (step % 2 == 1)
        if step % 2 == 1:
            updates.append(weights(model.G))
    params = dict(model.G_ema["G"].named_parameters())
    for key, w1 in updates[0].items():
        if key in params:  # buffers are copied, not averaged
            torch.testing.assert_close(params[key].detach(), (decay * w1 + updates[1][key]) / (1 + decay))
    assert not any(p.requires_grad for p in model.G_ema.parameters())


def translation_psnrs(G, test) -> list[float]:
    """PSNR of each held-out image translated by G to each other domain, against the true image."""
    scores = []
    for i in range(len(test)):
        item = test[i]
        for k in range(len(item["label"])):
            if item["label"][k] == 0:
                with torch.no_grad():
                    out = G(item["image"][None], one_hot([k], len(item["label"])))
                scores.append(psnr_ssim(out, test.counterpart(i, k)[None])[0].item())
    return scores


def test_ema_generator_is_what_samples_evaluation_and_export_use(tmp_path):
    from conftest import make_multidomain

    from translate.datasets.multidomain import MultiDomainDataset

    model = tiny_model(ema=0.99)
    assert [spec.module for spec in model.exports()] == [model.G_ema["G"]]
    with torch.no_grad():   # the average apart from the live weights, so outputs tell them apart
        for p in model.G_ema.parameters():
            p.add_(0.05 * torch.randn_like(p))
    data = make_multidomain(tmp_path / "data")
    test = MultiDomainDataset(data, "test", image_size=16, channels=3, augment=False)
    x, label = test[0]["image"][None], test[0]["label"][None].float()
    with torch.no_grad():
        expected = model.G_ema["G"](x, one_hot([1]))
        assert not torch.allclose(expected, model.G(x, one_hot([1])))
    assert torch.equal(model.visuals({"image": x, "label": label})["to_y"], expected)
    psnrs = translation_psnrs(model.G_ema["G"], test)   # what evaluate's PSNR must be: the average's
    ev = model.evaluate(test, torch.device("cpu"))
    assert ev["pairs"] == len(psnrs) == 12 and ev["psnr"] == pytest.approx(sum(psnrs) / len(psnrs), rel=1e-5)
    plain = tiny_model()
    assert "G_ema" not in plain.networks() and plain.generator() is plain.G
    with pytest.raises(ConfigError, match="--ema 1.0"):
        tiny_model(ema=1.0)


def test_ema_and_d_augment_run_trains_resumes_exactly_and_exports(tmp_path):
    """The contract's checks with --ema and --d-augment on: the average is checkpointed, and the
    augmentation draws from the random state checkpoints keep (a resumed run ends with the weights
    and average of an uninterrupted one); the export, the average, matches PyTorch."""
    from translate.testing.contract import Contract

    Contract("stargan", workdir=tmp_path, overrides={"ema": 0.9, "d_augment": "translation,cutout"},
             cli_subprocess=False).run_all(["training_step", "resume", "onnx"])


def test_evaluate_ema_0_scores_the_live_weights_of_an_ema_run(tmp_path, run_cli):
    """`translate evaluate CKPT --ema 0` (or `--ema 0 CKPT`): the checkpoint's live generator, not its average."""
    import json

    from conftest import make_multidomain, tiny_overrides

    from translate.datasets.multidomain import MultiDomainDataset
    from translate.restore import build_model, load_run

    data = make_multidomain(tmp_path / "data")
    result = translate.fit("stargan", quiet=True, **tiny_overrides(StarGAN, data=str(data), out=str(tmp_path / "runs"),
                                                                   ema=0.5))
    _, ckpt, cls, config = load_run(str(result.checkpoint))
    model = build_model(cls, config, ckpt)
    test = MultiDomainDataset(data, "test", image_size=config.data.image_size, channels=3, augment=False)

    def mean_psnr(G):
        scores = translation_psnrs(G, test)
        return sum(scores) / len(scores)

    scored = {}
    for name, args in {"average": [result.checkpoint, "--data", data, "--json"],
                       "live": [result.checkpoint, "--data", data, "--json", "--ema", 0],
                       # the model's flag before the checkpoint: its value is not taken for the run
                       "live, flags first": ["--ema", 0, "--data", data, "--json", result.checkpoint]}.items():
        code, out, err = run_cli("evaluate", *args)
        assert code == 0, err
        scored[name] = json.loads(out)["psnr"]
    live, average = mean_psnr(model.G), mean_psnr(model.G_ema["G"])
    assert live != pytest.approx(average, rel=1e-4)
    assert scored["live"] == pytest.approx(live, rel=1e-5)
    assert scored["live, flags first"] == pytest.approx(live, rel=1e-5)
    assert scored["average"] == pytest.approx(average, rel=1e-5)


# -- export, runtime, predict --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A 2-step tiny run on a folder-per-domain dataset, exported to ONNX."""
    from conftest import make_multidomain, tiny_overrides

    base = tmp_path_factory.mktemp("stargan-export")
    data = make_multidomain(base / "data", domains=("cat", "dog", "fox"))
    result = translate.fit("stargan", quiet=True, **tiny_overrides(StarGAN, data=str(data), out=str(base / "runs"),
                                                                   export=True))
    return result.run_dir / "exports" / "G.onnx", base


def test_export_metadata_lists_the_domains_in_order(exported):
    from translate.export import runtime

    meta = runtime.read_metadata(exported[0])
    assert meta["task"] == "multi-domain" and meta["domains"] == ["cat", "dog", "fox"]
    assert meta["multi_label"] is False and [i["name"] for i in meta["inputs"]] == ["image", "target"]


def test_evaluate_ema_on_a_run_trained_without_the_average_names_the_checkpoint(exported, run_cli):
    checkpoint = next((exported[1] / "runs").glob("*/checkpoints/*.pt"))
    code, _, err = run_cli("evaluate", checkpoint, "--ema", 0.9)
    assert code != 0 and f"{checkpoint}: checkpoint lacks networks ['G_ema']" in err, err


def test_runtime_translates_to_a_domain_given_by_name(exported, png):
    from translate.export import runtime

    model = runtime.load(exported[0])
    image = png(exported[1] / "in" / "odd.png", seed=3, size=(30, 22))  # not a multiple of 4
    to_cat, to_fox = model(str(image), to="cat"), model([str(image)], to="fox")[0]
    assert to_cat.size == (30, 22) and to_fox.size == (30, 22)
    assert np.abs(np.asarray(to_cat, np.int16) - np.asarray(to_fox, np.int16)).mean() > 0  # the label matters
    with pytest.raises(ConfigError, match=r"unknown domain 'cow'.*valid domains: cat, dog, fox"):
        model(str(image), to="cow")
    with pytest.raises(ConfigError, match="one target domain"):
        model(str(image), to="cat,dog")


def test_predict_takes_the_target_domain_by_name(exported, run_cli, png, tmp_path):
    onnx_file, _ = exported
    image = png(tmp_path / "in" / "a.png", seed=1)
    code, out, err = run_cli("predict", onnx_file, image, "--to", "dog", "--output", tmp_path / "out")
    assert code == 0, err
    with Image.open(tmp_path / "out" / "a.png") as result:
        assert result.size == (32, 32)
    code, out, err = run_cli("predict", onnx_file, image, "--to", "dog", "--resize", "16", "--output", tmp_path / "small")
    assert code == 0, err
    with Image.open(tmp_path / "small" / "a.png") as result:
        assert result.size == (16, 16)


@pytest.mark.parametrize("args, message", [
    (["--to", "dgo"], "unknown domain 'dgo'; valid domains: cat, dog, fox. Did you mean: dog?"),
    ([], "give one with --to (valid: cat, dog, fox)"),
])
def test_predict_with_a_wrong_or_missing_domain_is_an_error_that_writes_nothing(exported, run_cli, png, tmp_path,
                                                                                   args, message):
    image = png(tmp_path / "in" / "a.png", seed=1)
    code, out, err = run_cli("predict", exported[0], image, *args, "--output", tmp_path / "out")
    assert code != 0 and message in err
    assert not (tmp_path / "out").exists()


def test_to_is_refused_for_an_image_to_image_model(tiny_run, run_cli, png, tmp_path):
    image = png(tmp_path / "a.png", seed=1)
    code, _, err = run_cli("predict", tiny_run.run_dir / "exports" / "A2B.onnx", image, "--to", "x",
                           "--output", tmp_path / "out")
    assert code != 0 and "--to is for multi-domain models" in err


# -- learning -------------------------------------------------------------------------------------------

def write_tinted(root: Path, split: str, n: int, seed: int) -> None:
    """Three domains = three colour tints of the same kind of random blob images."""
    rng = np.random.default_rng(seed)
    tints = {"red": (1.0, 0.15, 0.15), "green": (0.15, 1.0, 0.15), "blue": (0.15, 0.15, 1.0)}
    for i in range(n):
        yy, xx = np.mgrid[0:16, 0:16]
        cy, cx, r = rng.uniform(4, 12), rng.uniform(4, 12), rng.uniform(3, 6)
        shape = np.clip(1.2 - np.hypot(yy - cy, xx - cx) / r, 0, 1)[..., None]
        for name, tint in tints.items():
            if split == "train" and i % 3 != list(tints).index(name):
                continue  # training images of each domain are different blobs (unpaired)
            img = 255 - shape * (255 - 255 * np.array(tint) * 0.6)
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img.astype(np.uint8)).save(folder / f"{i}.png")


def test_translations_are_recognized_as_their_target_domain(tmp_path):
    """A short CPU run on tiny tinted data: both judges (a CNN and a colour palette, trained on
    real images) assign the translated held-out images to their target domain well above chance
    (1/3), while the untranslated inputs would score 0 (each is judged as its own domain)."""
    write_tinted(tmp_path / "data", "train", 60, seed=0)
    write_tinted(tmp_path / "data", "test", 8, seed=1)
    result = translate.fit("stargan", quiet=True, data=str(tmp_path / "data"), out=str(tmp_path / "runs"),
                           image_size=16, steps=150, batch_size=8, n_critic=1, ngf=16, ndf=16, n_blocks=1,
                           n_layers_d=2, g_lr=1e-3, d_lr=1e-3, device="cpu", num_workers=0, export=False,
                           log_every=50, sample_every=0, checkpoint_every=0)
    ev = result.evaluation
    assert ev["real_accuracy"] > 0.9 and ev["palette/real_accuracy"] > 0.9  # the judges themselves work
    assert ev["translations"] == 8 * 3 * 2
    # Both judges, the palette one too: generated images can pass it when their colours are the target's.
    assert ev["target_accuracy"] > 0.6 and ev["palette/target_accuracy"] > 0.6, ev


def test_attribute_table_trains_exports_and_runs_with_attribute_names(tmp_path, png):
    """Multi-label (CelebA style): --domains picks attributes; evaluation flips one attribute at a
    time; the runtime switches on the attributes named."""
    from test_multidomain_data import celeba

    from translate.export import runtime

    root = celeba(tmp_path / "c", png, rows=20)
    result = translate.fit("stargan", quiet=True, data=str(root), domains="Male,Smiling,Young",
                           out=str(tmp_path / "runs"), image_size=16, steps=2, batch_size=4, n_critic=1,
                           device="cpu", num_workers=0, sample_every=0, checkpoint_every=0, **TINY)
    ev = result.evaluation
    assert ev["translations"] == 2 * 3 and 0 <= ev["target_accuracy"] <= 1 and "pairs" not in ev
    assert "palette/target_accuracy" not in ev   # a palette says nothing about one attribute
    model = runtime.load(result.run_dir / "exports" / "G.onnx")
    assert model.metadata["domains"] == ["Male", "Smiling", "Young"] and model.metadata["multi_label"]
    assert model(str(root / "images" / "000001.jpg"), to="Male,Young").size == (32, 32)
    with pytest.raises(ConfigError, match="unknown domain 'Blond_Hair'"):
        model(str(root / "images" / "000001.jpg"), to="Blond_Hair")
