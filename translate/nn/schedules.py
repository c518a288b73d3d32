"""Learning-rate schedules, stepped once per training step."""
from __future__ import annotations

import torch


class LinearDecay:
    """Constant learning rate, then linear decay to zero at the last step (CycleGAN/pix2pix:
    `decay_start` = 0.5 is "100 epochs constant + 100 epochs decay"). Picklable, so the
    scheduler's state_dict is plain data."""

    def __init__(self, total_steps: int, decay_start: float = 0.5):
        self.total = max(1, int(total_steps))
        self.start = int(round(self.total * decay_start))

    def __call__(self, step: int) -> float:
        if step < self.start:
            return 1.0
        return max(0.0, 1.0 - (step - self.start) / max(1, self.total - self.start))


def linear_decay(optimizer: torch.optim.Optimizer, total_steps: int, decay_start: float = 0.5):
    return torch.optim.lr_scheduler.LambdaLR(optimizer, LinearDecay(total_steps, decay_start))
