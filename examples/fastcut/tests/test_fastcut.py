"""FastCUT as a translate plugin: the toolkit's contract suite, the generator's encoder
features, where PatchNCE's gradient goes, flip equivariance, bad flags, and that it learns."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import translate
from translate.errors import ConfigError
from translate.model import DataInfo
from translate.nn.generators import ResnetGenerator
from translate.testing import check_model_plugin

from translate_fastcut.model import Config, FastCUT


@pytest.fixture(scope="module", autouse=True)
def translate_cache(tmp_path_factory):
    """The built-in data extracts into a temporary cache, never into the home folder. (No
    conftest.py here: the toolkit's own tests import theirs by the name `conftest`.)"""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRANSLATE_CACHE", str(tmp_path_factory.mktemp("translate-cache")))
        yield


def tiny_model(**changes) -> FastCUT:
    torch.manual_seed(0)
    config = Config(**{**FastCUT.tiny_config, **changes})
    return FastCUT(config, DataInfo("unpaired", 3, 32), total_steps=10)


def test_the_toolkit_contract_suite_passes(tmp_path):
    """Training step, checkpoints, exact resume, ONNX parity, visuals, built-in data, CLI."""
    torch.set_num_threads(1)   # tiny networks: one thread beats OpenMP's barriers
    results = check_model_plugin("fastcut", workdir=tmp_path)
    assert results and all(v == "passed" for v in results.values()), results


def test_fastcut_is_found_through_its_entry_point():
    from translate.registry import get_plugins

    entry = get_plugins().models.get("fastcut")
    assert entry.load() is FastCUT


# -- the generator's encoder features ----------------------------------------------------------------

def test_encode_returns_the_activations_at_the_cut_points_in_the_order_asked():
    torch.manual_seed(0)
    g = ResnetGenerator(3, 3, ngf=8, n_blocks=2).eval()
    x = torch.randn(2, 3, 16, 16)
    last, first, middle = g.encode(x, [len(g.model), 0, 4])
    assert torch.equal(first, x)
    torch.testing.assert_close(last, g(x))
    torch.testing.assert_close(middle, g.model[:4](x))
    assert middle.shape == (2, 16, 8, 8)   # after the first stride-2 conv
    with pytest.raises(ValueError, match="cut points"):
        g.encode(x, [len(g.model) + 1])


def test_the_paper_layers_give_the_papers_feature_widths():
    model = FastCUT(Config(), DataInfo("unpaired", 3, 64), total_steps=10)
    widths = [mlp[0].in_features for mlp in model.F.mlps]
    assert widths == [3, 128, 256, 256, 256]   # pixels, 2 downsampling convs, ResNet blocks 1 and 5
    assert [mlp[2].out_features for mlp in model.F.mlps] == [256] * 5


# -- PatchNCE inside the model -----------------------------------------------------------------------

def test_nce_gradient_trains_the_generator_and_heads_through_the_output_only():
    model = tiny_model()
    source = torch.rand(2, 3, 32, 32).mul(2).sub(1).requires_grad_(True)
    output = model.G(source.detach())
    model.nce_loss(source, output).backward()
    assert source.grad is None                                   # keys are constants
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.F.parameters())
    assert model.G.model[0].weight.grad.abs().sum() > 0          # through the query encoder and G
    assert all(p.grad is None for p in model.D.parameters())


def test_flipped_outputs_are_compared_after_mirroring_back():
    model = tiny_model(nce_layers="0")        # cut 0 = the image itself: the loss sees pixels
    a = torch.rand(2, 3, 32, 32) * 2 - 1

    def loss(output, flipped):
        torch.manual_seed(1)                  # the same sampled locations every time
        return model.nce_loss(a, output, flipped).item()

    assert loss(a.flip(3), flipped=True) == pytest.approx(loss(a, flipped=False))
    assert loss(a.flip(3), flipped=False) > loss(a, flipped=False) + 1.0


def test_bad_nce_layers_is_a_config_error_naming_the_flag(tmp_path):
    for bad in ("0,99", "two", ""):
        with pytest.raises(ConfigError, match="--nce-layers"):
            tiny_model(nce_layers=bad)


def test_paper_defaults():
    c = Config()
    assert (c.lambda_gan, c.lambda_nce, c.nce_idt, c.flip_equivariance, c.gan_mode) == (1.0, 10.0, False, True, "lsgan")
    assert (c.nce_t, c.num_patches, c.head_width, c.lr, c.beta1, c.beta2) == (0.07, 256, 256, 2e-4, 0.5, 0.999)
    assert c.decay_start == 0.75   # 150 constant + 50 decaying epochs


# -- learning ----------------------------------------------------------------------------------------

def scene(rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """Red-orange discs and squares on a dark background."""
    img = np.full((size, size, 3), 20, np.uint8)
    yy, xx = np.mgrid[0:size, 0:size]
    for _ in range(rng.integers(2, 4)):
        cy, cx = rng.integers(4, size - 4, 2)
        r = rng.integers(3, 8)
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        mask = disc if rng.random() < 0.5 else (abs(yy - cy) <= r) & (abs(xx - cx) <= r)
        img[mask] = (rng.integers(160, 256), rng.integers(0, 100), rng.integers(0, 60))
    return img


def write_colour_swap_data(root: Path, n_train=64, n_test=16) -> Path:
    """Domain B is domain A with red and blue swapped. Training scenes differ between the domains
    (unpaired); the held-out pairs show the same scene in both."""
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        for i in range(n):
            a = scene(rng)
            b = (scene(rng) if split == "train" else a)[..., ::-1]
            for domain, img in (("A", a), ("B", b)):
                path = root / f"{split}{domain}" / f"{domain.lower() if split == 'train' else ''}{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.ascontiguousarray(img)).save(path)
    return root


def test_fastcut_learns_an_unpaired_colour_swap(tmp_path):
    """300 steps (~30 s on one busy core): the held-out translations must beat the identity
    baseline (output = input) by a wide PSNR margin; an untrained or broken model does not."""
    root = write_colour_swap_data(tmp_path / "data")
    result = translate.fit("fastcut", data=str(root), out=str(tmp_path / "runs"), steps=300, batch_size=4,
                           image_size=32, ngf=8, ndf=16, n_blocks=2, n_layers_d=2, nce_layers="0,4,7,10",
                           num_patches=64, head_width=64, lr=5e-4, device="cpu", num_workers=0, export=False,
                           quiet=True, log_every=50, sample_every=0, checkpoint_every=0)
    ev = result.evaluation
    assert ev["pairs"] == 16
    assert ev["A2B/psnr"] > ev["identity/psnr"] + 4.0, ev
