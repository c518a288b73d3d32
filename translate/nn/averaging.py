"""Polyak averaging of network weights: an exponential moving average of the weights a model
trains, kept beside them as frozen copies, for evaluation and export. The late weights of a GAN
or an SGD run jitter from step to step; their average is a smoother, often better model."""
from __future__ import annotations

import copy
from collections.abc import Mapping

import torch
from torch import nn


def averaged_copies(nets: Mapping[str, nn.Module]) -> nn.ModuleDict:
    """Frozen copies of `nets` to hold their average. A plugin keeps them as a network of its own
    (in `network_names`): checkpointed, so a resume stays exact and export/evaluate find them."""
    average = nn.ModuleDict({name: copy.deepcopy(net) for name, net in nets.items()})
    average.requires_grad_(False)
    return average


@torch.no_grad()
def update_average(average: nn.ModuleDict, nets: Mapping[str, nn.Module], decay: float, steps_done: int) -> None:
    """Fold the weights after step `steps_done` (1-based) into `average`. The average is
    bias-corrected, as Adam's moments are: the weights after steps 1..t weighted decay^(t - i),
    normalized, so the initial weights get no share and short runs are averaged too. It depends
    only on the step index, which checkpoints restore. Buffers (batch-norm statistics) are not
    averaged but copied: they belong to the latest weights' activations."""
    weight = (1.0 - decay) / (1.0 - decay ** max(1, steps_done))
    for name, avg in average.items():
        live = nets[name]
        for a, p in zip(avg.parameters(), live.parameters()):
            a.lerp_(p.detach(), weight)
        for a, b in zip(avg.buffers(), live.buffers()):
            a.copy_(b)
