"""PatchNCE pieces on their own: location sampling, patch gathering, the loss, the heads."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from translate_fastcut.patchnce import ProjectionHeads, gather_patches, patchnce_loss, sample_locations


def unit(*shape, seed=0):
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


def test_sample_locations_are_distinct_and_inside_the_grid():
    torch.manual_seed(0)
    where = sample_locations(5, 7, 20)
    assert where.shape == (20,) and len(set(where.tolist())) == 20
    assert 0 <= where.min() and where.max() < 35
    assert sorted(sample_locations(3, 3, 256).tolist()) == list(range(9))  # small grid: all of it


def test_gather_patches_reads_the_vectors_at_the_locations():
    feature = torch.randn(2, 4, 3, 5)
    where = torch.tensor([0, 7, 14])
    patches = gather_patches(feature, where)
    assert patches.shape == (2, 3, 4)
    for p, flat in enumerate(where.tolist()):
        y, x = divmod(flat, 5)
        torch.testing.assert_close(patches[:, p], feature[:, :, y, x])


def test_loss_is_low_for_matching_patches_and_high_for_shuffled_ones():
    key = unit(2, 32, 16)
    query = F.normalize(key + 0.1 * torch.randn(2, 32, 16), dim=-1)   # the same patches, noisy
    shuffled = query[:, torch.randperm(32)]
    matched, mismatched = patchnce_loss(query, key), patchnce_loss(shuffled, key)
    assert matched < 0.5 < math.log(32) < mismatched


def test_loss_is_the_infonce_cross_entropy_of_each_query():
    query, key, tau = unit(1, 4, 8, seed=1), unit(1, 4, 8, seed=2), 0.07
    expected = 0.0
    for i in range(4):   # -log(exp(q_i.k_i / tau) / sum_j exp(q_i.k_j / tau)), written out
        scores = [float(query[0, i] @ key[0, j]) / tau for j in range(4)]
        expected -= scores[i] - math.log(sum(math.exp(s) for s in scores))
    assert patchnce_loss(query, key, tau).item() == pytest.approx(expected / 4, rel=1e-5)


def test_negatives_come_only_from_the_same_image():
    query, key = unit(2, 8, 16, seed=3), unit(2, 8, 16, seed=4)
    changed = key.clone()
    changed[1] = unit(8, 16, seed=5)     # image 1's keys cannot affect image 0's queries
    per_image = [patchnce_loss(query[:1], k[:1]) for k in (key, changed)]
    torch.testing.assert_close(per_image[0], per_image[1])


def test_gradient_reaches_the_queries_and_never_the_keys():
    query = unit(1, 8, 16, seed=6).requires_grad_(True)
    key = unit(1, 8, 16, seed=7).requires_grad_(True)
    patchnce_loss(query, key).backward()
    assert query.grad is not None and query.grad.abs().sum() > 0
    assert key.grad is None


def test_projection_heads_give_unit_vectors_per_layer_and_are_seeded_parameters():
    torch.manual_seed(0)
    heads = ProjectionHeads([3, 8], width=16)
    out = heads([torch.randn(2, 5, 3), torch.randn(2, 5, 8)])
    assert [o.shape for o in out] == [(2, 5, 16), (2, 5, 16)]
    torch.testing.assert_close(out[0].norm(dim=-1), torch.ones(2, 5))
    torch.manual_seed(0)
    again = ProjectionHeads([3, 8], width=16)
    assert all(torch.equal(a, b) for a, b in zip(heads.state_dict().values(), again.state_dict().values()))
    assert set(heads.state_dict()) == {f"mlps.{i}.{j}.{w}" for i in (0, 1) for j in (0, 2) for w in ("weight", "bias")}
