"""The gradient reversal layer and the schedules of "Unsupervised Domain Adaptation by
Backpropagation" (Ganin & Lempitsky 2015), p = training progress in [0, 1]."""
from __future__ import annotations

import math

import torch


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lambd: float):
        ctx.lambd = lambd
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.lambd * grad, None


def reverse_gradient(x: torch.Tensor, lambd: float) -> torch.Tensor:
    """Identity forward; the gradient is multiplied by -lambd on the way back, so the layers
    before it learn to *increase* the loss of the layers after it (the domain classifier)."""
    return _ReverseGradient.apply(x, float(lambd))


def adaptation_factor(p: float, gamma: float = 10.0) -> float:
    """lambda_p = 2 / (1 + exp(-gamma p)) - 1: 0 at the start, when the domain classifier's
    signal is noise, rising to ~1."""
    return 2.0 / (1.0 + math.exp(-gamma * p)) - 1.0


class AnnealedLR:
    """mu_p / mu_0 = 1 / (1 + alpha p)^beta, stepped once per training step. Picklable, so the
    scheduler's state_dict is plain data."""

    def __init__(self, total_steps: int, alpha: float = 10.0, beta: float = 0.75):
        self.total, self.alpha, self.beta = max(1, int(total_steps)), float(alpha), float(beta)

    def __call__(self, step: int) -> float:
        p = min(1.0, step / self.total)
        return 1.0 / (1.0 + self.alpha * p) ** self.beta


def annealed_lr(optimizer: torch.optim.Optimizer, total_steps: int, alpha: float = 10.0, beta: float = 0.75):
    return torch.optim.lr_scheduler.LambdaLR(optimizer, AnnealedLR(total_steps, alpha, beta))
