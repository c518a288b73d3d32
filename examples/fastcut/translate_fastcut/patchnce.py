"""PatchNCE (Park et al. 2020, "Contrastive Learning for Unpaired Image-to-Image Translation").

A patch of the output should be closer to the input patch at the same place than to the other
input patches of that image. Both are encoded by the generator's own encoder at several layers;
per layer, the same random locations are read from the query (output) and key (input) features,
projected by a small MLP head and L2-normalized, and scored with an InfoNCE loss at
temperature tau: the positive is the key at the query's location, the negatives are the keys at
the other sampled locations of the same image.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from translate.nn.layers import init_weights


def sample_locations(height: int, width: int, count: int, device=None) -> torch.Tensor:
    """`count` distinct flat indices into an H x W grid (all of them, shuffled, when the grid is
    smaller). Drawn on the CPU from the global RNG, so a run is reproducible on any device and a
    resumed run (which restores that RNG) draws the same ones."""
    return torch.randperm(height * width)[:count].to(device)


def gather_patches(feature: torch.Tensor, locations: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) features -> (N, P, C): the feature vectors at `locations` (flat indices)."""
    return feature.flatten(2).index_select(2, locations).transpose(1, 2)


class ProjectionHeads(nn.Module):
    """One two-layer MLP (Linear-ReLU-Linear, `width` units) per encoder layer. Built eagerly from
    the layers' channel counts, unlike the paper's lazily created heads, so they are ordinary
    parameters: initialized with the model's seed, optimized from step 1 and checkpointed."""

    def __init__(self, channels: list[int], width: int = 256, init_gain: float = 0.02):
        super().__init__()
        self.mlps = nn.ModuleList(
            nn.Sequential(nn.Linear(c, width), nn.ReLU(inplace=True), nn.Linear(width, width)) for c in channels)
        init_weights(self, "normal", init_gain)

    def forward(self, patches: list[torch.Tensor]) -> list[torch.Tensor]:
        """Per layer, (N, P, C) patches -> (N, P, width) unit vectors."""
        return [F.normalize(mlp(p), dim=-1) for mlp, p in zip(self.mlps, patches)]


def patchnce_loss(query: torch.Tensor, key: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    """InfoNCE over patches of the same image. `query`, `key`: (N, P, D) unit vectors, row p of
    both from the same location. Keys are constants (no gradient flows into them), as in the
    paper: only the query's encoder path and projection are trained by this loss.

    Returns the mean over the N * P queries of -log softmax(score)[positive]."""
    query, key = query.float(), key.detach().float()
    scores = torch.bmm(query, key.transpose(1, 2)) / temperature      # (N, P, P): [i, j] = q_i . k_j
    # Row i's positive is column i; the other columns are its negatives. Cross-entropy over each
    # row with target i is exactly -log(exp(pos) / (exp(pos) + sum exp(neg))).
    n, p, _ = scores.shape
    target = torch.arange(p, device=scores.device).expand(n, p)
    return F.cross_entropy(scores.flatten(0, 1), target.flatten())
