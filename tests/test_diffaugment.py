"""translate.nn.diffaugment: the discriminator's differentiable shifts and cutouts."""
from __future__ import annotations

import pytest
import torch

from translate.nn.diffaugment import DiffAugment

SIZE = 16


def distinct_images(n=6):
    """Images with no zero and no repeated value: every pixel can be traced."""
    return torch.arange(1, n * 3 * SIZE * SIZE + 1, dtype=torch.float32).view(n, 3, SIZE, SIZE)


def test_none_is_the_identity_and_draws_no_random_numbers():
    x = distinct_images()
    state = torch.get_rng_state()
    assert DiffAugment("none", SIZE)(x) is x
    assert torch.equal(torch.get_rng_state(), state)


def test_translation_shifts_each_image_by_whole_pixels_with_zero_padding():
    torch.manual_seed(0)
    x = distinct_images()
    y = DiffAugment("translation", SIZE)(x)
    shifts = set()
    for a, b in zip(x, y):
        kept = b != 0
        # Find where b's first kept pixel came from in a: the whole kept region is that shift.
        r, c = (int(v) for v in kept[0].nonzero()[0])
        src = (a[0] == b[0, r, c]).nonzero()[0]
        dy, dx = int(src[0]) - r, int(src[1]) - c
        assert abs(dy) <= SIZE // 8 and abs(dx) <= SIZE // 8
        shifted = torch.roll(a, shifts=(-dy, -dx), dims=(1, 2))
        torch.testing.assert_close(b[kept], shifted[kept], rtol=0, atol=0)
        assert int(kept[0].sum()) == (SIZE - abs(dy)) * (SIZE - abs(dx))  # the rest is padding
        shifts.add((dy, dx))
    assert len(shifts) > 1, "every image gets its own shift"


def test_cutout_zeroes_one_square_of_half_the_size_per_image_and_keeps_the_rest():
    torch.manual_seed(0)
    x = distinct_images()
    y = DiffAugment("cutout", SIZE)(x)
    corners = set()
    for a, b in zip(x, y):
        cut = b == 0
        assert torch.equal(cut[0], cut[1]) and torch.equal(cut[0], cut[2])  # all channels
        rows, cols = cut[0].any(1).nonzero().flatten(), cut[0].any(0).nonzero().flatten()
        assert len(rows) == len(cols) == SIZE // 2 and int(cut[0].sum()) == (SIZE // 2) ** 2
        assert torch.equal(b[~cut], a[~cut])
        corners.add((int(rows[0]), int(cols[0])))
    assert len(corners) > 1


def test_the_gradient_passes_through_kept_pixels_only():
    """The generator learns through the augmentation: d(out)/d(in) is 1 where a pixel is kept
    (shifted), 0 where it was cut or shifted out."""
    torch.manual_seed(0)
    x = distinct_images().requires_grad_(True)
    y = DiffAugment("translation,cutout", SIZE)(x)
    y.sum().backward()
    assert set(x.grad.unique().tolist()) == {0.0, 1.0}
    assert int(x.grad.sum()) == int((y != 0).sum())


def test_an_unknown_policy_is_refused_with_the_valid_ones():
    with pytest.raises(ValueError, match="unknown augmentation \\['color'\\].*translation,cutout"):
        DiffAugment("translation,color", SIZE)
