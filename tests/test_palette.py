"""The colour-palette classifier (translate.nn.palette): it tells domains apart by their colours
alone, and sees no shape."""
from __future__ import annotations

import pytest
import torch

from translate.nn.classifier import accuracy, predict
from translate.nn.palette import PaletteClassifier, fit_palette_classifier

# Two palettes of near colours (a few 16-level bins apart), as emoji styles' face yellows are.
PALETTES = [torch.tensor([[0.95, 0.75, 0.20], [0.85, 0.30, 0.20]]),
            torch.tensor([[0.98, 0.82, 0.30], [0.90, 0.40, 0.25]])]


def blobs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n random two-colour blob images on white per palette, both palettes with the same shapes."""
    gen = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
    images, labels = [], []
    for _ in range(n):
        cy, cx, r = (torch.rand(3, generator=gen) * torch.tensor([8, 8, 3]) + torch.tensor([4, 4, 3])).tolist()
        d = ((yy - cy) ** 2 + (xx - cx) ** 2).sqrt()
        for k, palette in enumerate(PALETTES):
            img = torch.ones(3, 16, 16)
            img[:, d < r] = palette[0][:, None]
            img[:, d < r / 2] = palette[1][:, None]
            images.append(img * 2 - 1)
            labels.append(k)
    return torch.stack(images), torch.tensor(labels)


def test_tells_palettes_apart_on_held_out_shapes_and_ignores_where_colours_are():
    x, y = blobs(20, seed=0)
    model = fit_palette_classifier(x, y, 2)
    x_test, y_test = blobs(10, seed=1)
    assert accuracy(model, x_test, y_test) == 1.0
    shuffled = x_test.flatten(2)[:, :, torch.randperm(256)].view_as(x_test)  # same colours, no shape
    with torch.no_grad():
        torch.testing.assert_close(model(shuffled), model(x_test))


def test_histogram_is_the_roots_of_bin_frequencies():
    model = PaletteClassifier(3, 2, bins=4)
    x = torch.full((1, 3, 2, 2), -1.0)   # three black pixels, one white
    x[0, :, 0, 0] = 1.0
    h = model.histogram(x)
    assert h.shape == (1, 64) and h[0, 0].item() == pytest.approx(0.75 ** 0.5)
    assert h[0, 63].item() == pytest.approx(0.5) and h.pow(2).sum().item() == pytest.approx(1.0)


def test_grey_images_and_bad_input():
    grey = torch.cat([torch.full((4, 1, 8, 8), -0.5), torch.full((4, 1, 8, 8), 0.5)])
    labels = torch.tensor([0] * 4 + [1] * 4)
    assert predict(fit_palette_classifier(grey, labels, 2), grey).tolist() == labels.tolist()
    with pytest.raises(ValueError, match="expected 1-3"):
        PaletteClassifier(4, 2)
    with pytest.raises(ValueError, match="expected images"):
        fit_palette_classifier(torch.zeros(3, 8, 8), torch.zeros(3), 2)
