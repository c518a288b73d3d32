"""The cGAN plugin: it learns (generated digits carry their conditioning label), every objective
trains, the evaluation's diversity figure exposes collapse, and the exported generator runs in the
torch-free runtime and `translate predict --label/--count/--seed`."""
from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import translate
from translate.errors import ConfigError
from translate.export import runtime
from translate.nn.losses import OBJECTIVES
from translate.restore import model_class
from translate.testing import tiny_overrides

from conftest import file_digests, make_labelled

CGAN = model_class("cgan")


@pytest.fixture(scope="module")
def tiny_cgan(tmp_path_factory):
    """A finished 2-step cGAN run on three tiny classes (cat, dog, owl), with its ONNX export."""
    base = tmp_path_factory.mktemp("cgan")
    data = make_labelled(base / "data")
    return translate.fit("cgan", quiet=True, **tiny_overrides(CGAN, data=str(data), out=str(base / "runs"),
                                                             name="run", export=True))


# -- learning --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def three_digits(tmp_path_factory) -> Path:
    """60 real training and 30 held-out MNIST digits of each of the classes 0, 1 and 4, as a
    labelled folder (the built-in data's own PNG files)."""
    from translate.datasets.builtin import mnist

    src, root = mnist(), tmp_path_factory.mktemp("digits")
    for split, n in (("train", 60), ("test", 30)):
        for digit in ("0", "1", "4"):
            (root / split / digit).mkdir(parents=True)
            for path in sorted((src / split / digit).iterdir())[:n]:
                shutil.copy(path, root / split / digit / path.name)
    return root


def test_generated_digits_are_classified_as_their_label_far_above_chance(three_digits, tmp_path):
    """A short CPU run; a classifier trained on the real training digits must recognize the
    conditioning label in most generated digits (chance: 1/3)."""
    result = translate.fit("cgan", quiet=True, data=str(three_digits), image_size=32, steps=600, batch_size=16, ngf=16, ndf=16,
                           eval_samples_per_class=30, eval_classifier_steps=150, device="cpu", num_workers=0,
                           sample_every=0, checkpoint_every=0, export=False, out=str(tmp_path / "runs"))
    ev = result.evaluation
    assert ev["chance_accuracy"] == pytest.approx(1 / 3) and ev["samples"] == 90
    assert ev["real_test_accuracy"] > 0.9, ev            # the judge itself works
    assert ev["label_accuracy"] > 0.8, ev                # chance is 0.33
    assert ev["diversity"] > 0.1, ev                     # not one image per class


def test_every_objective_trains_with_finite_losses(tmp_path):
    data = make_labelled(tmp_path / "data", n_test=0)
    for mode in OBJECTIVES:
        result = translate.fit("cgan", quiet=True, **tiny_overrides(CGAN, data=str(data), gan_mode=mode,
                                                                   out=str(tmp_path / "runs"), name=mode))
        assert all(math.isfinite(v) for v in result.metrics.values()), (mode, result.metrics)
        assert ("gp" in result.metrics) == (mode == "wgangp")


def test_diversity_is_zero_for_a_collapsed_generator():
    from translate.plugins.cgan.evaluation import within_class_distance

    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    collapsed = torch.cat([torch.full((3, 1, 4, 4), 0.5), torch.full((3, 1, 4, 4), -0.5)])
    varied = torch.rand(6, 1, 4, 4, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert within_class_distance(collapsed, labels) == 0
    assert within_class_distance(varied, labels) > 0.3


def test_image_size_must_suit_the_dcgan_networks():
    from translate.plugins.cgan.networks import upsamplings

    assert [upsamplings(s) for s in (8, 32, 64)] == [1, 3, 4]
    for bad in (28, 4, 48):
        with pytest.raises(ConfigError, match=f"--image-size {bad}"):
            upsamplings(bad)


# -- export, runtime, predict --------------------------------------------------------------------------

def test_runtime_generates_images_of_a_named_class(tiny_cgan):
    model = runtime.load(tiny_cgan.run_dir / "exports" / "generator.onnx")
    assert model.task == "generate"
    assert model.metadata["classes"] == ["cat", "dog", "owl"] and model.metadata["latent_size"] == 8
    images = model(label="dog", count=5, seed=0)
    assert len(images) == 5 and all(im.size == (32, 32) and im.mode == "L" for im in images)
    again = model(label="dog", count=5, seed=0)
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(images, again))
    other = model(label="dog", count=5, seed=1)
    assert not all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(images, other))
    with pytest.raises(ConfigError, match="valid labels: cat, dog, owl"):
        model(label="dgo", count=1)


def test_runtime_matches_the_pytorch_generator(tiny_cgan):
    from translate.restore import build_model, load_run

    _, ckpt, cls, config = load_run(tiny_cgan.run_dir)
    G = build_model(cls, config, ckpt).G.eval()
    z, labels = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32), np.array([0, 1, 2, 1])
    got = runtime.load(tiny_cgan.run_dir / "exports" / "generator.onnx")._runner.generate_array(z, labels)
    with torch.no_grad():
        expected = G(torch.from_numpy(z), torch.from_numpy(labels)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_predict_writes_a_grid_and_single_images(tiny_cgan, run_cli, tmp_path):
    onnx_file = tiny_cgan.run_dir / "exports" / "generator.onnx"
    out = tmp_path / "out"
    code, stdout, err = run_cli("predict", onnx_file, "--label", "owl", "--count", "5", "--seed", "3", "-o", out)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["grid.png"] + [f"owl_{i:03d}.png" for i in range(5)]
    with Image.open(out / "grid.png") as grid:
        assert grid.size == (3 * 34 + 2, 2 * 34 + 2)   # 3 columns x 2 rows of 32px tiles, 2px gaps
    expected = runtime.load(onnx_file)(label="owl", count=5, seed=3)
    with Image.open(out / "owl_004.png") as im:
        assert np.array_equal(np.asarray(im), np.asarray(expected[4]))

    before = file_digests(out)   # without --overwrite nothing is replaced
    code, _, err = run_cli("predict", onnx_file, "--label", "owl", "--count", "5", "--seed", "4", "-o", out)
    assert code != 0 and "already exists" in err and file_digests(out) == before
    code, _, err = run_cli("predict", onnx_file, "--label", "owl", "--count", "5", "--seed", "4", "-o", out, "--overwrite")
    assert code == 0 and file_digests(out) != before


@pytest.mark.parametrize("args, message", [
    (["--label", "horse"], "--label horse: not a class of this model; valid labels: cat, dog, owl"),
    ([], "give one with --label (valid: cat, dog, owl)"),
    (["--label", "cat", "--count", "0"], "--count 0"),
    (["photo.png", "--label", "cat"], "takes no input images"),
])
def test_predict_rejects_bad_generate_requests(tiny_cgan, run_cli, tmp_path, args, message):
    code, _, err = run_cli("predict", tiny_cgan.run_dir / "exports" / "generator.onnx", *args, "-o", tmp_path / "o")
    assert code != 0 and message in err
    assert not (tmp_path / "o").exists()


def test_generate_flags_are_refused_for_image_to_image_models(tiny_run, run_cli, tmp_path, png):
    image = png(tmp_path / "a.png", seed=0)
    code, _, err = run_cli("predict", tiny_run.run_dir / "exports" / "A2B.onnx", image, "--label", "7", "-o", tmp_path / "o")
    assert code != 0 and "--label is for generate models" in err
