"""translate.nn.classifier: the small judge classifiers of cGAN and StarGAN evaluation."""
import math

import pytest
import torch

from translate.nn.classifier import SmallClassifier, accuracy, fit_classifier


def stripes(n: int, seed: int, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 0: horizontal stripes, class 1: vertical ones, in a random blob at a random place,
    period and phase: a texture task, held-out images never seen in training."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(2, (n,), generator=g)
    ys, xs = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    images = []
    for label in labels.tolist():
        period = 3 + 3 * torch.rand(1, generator=g).item()
        phase = 2 * math.pi * torch.rand(1, generator=g).item()
        wave = torch.sin(2 * math.pi * (ys if label == 0 else xs) / period + phase)
        cy, cx = (size * (0.3 + 0.4 * torch.rand(2, generator=g))).tolist()
        blob = ((ys - cy) ** 2 + (xs - cx) ** 2 < (size / 4) ** 2).float()
        images.append((wave * blob).expand(3, size, size))
    return torch.stack(images), labels


@pytest.mark.parametrize("local", [False, True])
def test_classifier_learns_a_texture_and_generalizes(local):
    x, y = stripes(256, seed=0)
    x_test, y_test = stripes(128, seed=1)
    model = fit_classifier(x, y, 2, steps=30, seed=0, local=local)
    assert accuracy(model, x_test, y_test) > 0.9


def test_local_design_keeps_an_8x8_map_and_pools_mean_and_max():
    model = SmallClassifier(3, 4, 32, width=8, local=True)
    assert model.features(torch.zeros(2, 3, 32, 32)).shape == (2, 16, 8, 8)   # stem, 32 -> 16 -> 8
    assert model.head.in_features == 2 * 16
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 4)
    shape = SmallClassifier(3, 4, 32, width=8)
    assert shape.features(torch.zeros(2, 3, 32, 32)).shape[2:] == (4, 4)


def test_fewer_than_two_classes_is_an_error():
    with pytest.raises(ValueError, match="at least 2 classes"):
        SmallClassifier(3, 1, 32)
