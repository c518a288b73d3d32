"""GAN objectives shared by every plugin, and the WGAN-GP gradient penalty.

Each objective gives the discriminator loss on (real, fake) logits and the generator loss on
fake logits. Losses are computed in fp32 even under autocast: logits are upcast first.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

OBJECTIVES = ("vanilla", "nonsaturating", "lsgan", "wgangp", "hinge")


class GANLoss:
    """mode:
    - vanilla: the minimax game of Goodfellow et al.; G minimizes log(1 - D(G(z))).
    - nonsaturating: same D; G maximizes log D(G(z)) (stronger gradients early on).
    - lsgan: least squares (Mao et al.), targets 1 for real and 0 for fake.
    - wgangp: Wasserstein critic (add `gradient_penalty` to the D loss).
    - hinge: hinge loss for D, -D(G(z)) for G.
    """

    def __init__(self, mode: str):
        if mode not in OBJECTIVES:
            raise ValueError(f"GAN objective must be one of {', '.join(OBJECTIVES)}, got {mode!r}")
        self.mode = mode

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        real, fake = real.float(), fake.float()
        if self.mode in ("vanilla", "nonsaturating"):
            return F.binary_cross_entropy_with_logits(real, torch.ones_like(real)) + \
                F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
        if self.mode == "lsgan":
            return F.mse_loss(real, torch.ones_like(real)) + F.mse_loss(fake, torch.zeros_like(fake))
        if self.mode == "wgangp":
            return fake.mean() - real.mean()
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()  # hinge

    def d_loss_half(self, logits: torch.Tensor, real: bool) -> torch.Tensor:
        """The D loss term of one side only (real or fake), for discriminators updated per side."""
        logits = logits.float()
        if self.mode in ("vanilla", "nonsaturating"):
            target = torch.ones_like(logits) if real else torch.zeros_like(logits)
            return F.binary_cross_entropy_with_logits(logits, target)
        if self.mode == "lsgan":
            return F.mse_loss(logits, torch.ones_like(logits) if real else torch.zeros_like(logits))
        if self.mode == "wgangp":
            return -logits.mean() if real else logits.mean()
        return F.relu(1.0 - logits).mean() if real else F.relu(1.0 + logits).mean()

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        fake = fake.float()
        if self.mode == "vanilla":
            # minimize log(1 - sigmoid(x)) = -softplus(x)
            return -F.softplus(fake).mean()
        if self.mode == "nonsaturating":
            return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
        if self.mode == "lsgan":
            return F.mse_loss(fake, torch.ones_like(fake))
        return -fake.mean()  # wgangp, hinge


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, *, select=None) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E[(||grad_x D(x_hat)||_2 - 1)^2] on random interpolates.

    `select` picks the real/fake output from a critic that returns several (e.g. StarGAN's
    (patch logits, class logits)). Computed in fp32: the penalty is ill-conditioned in fp16."""
    alpha = torch.rand(real.size(0), *([1] * (real.dim() - 1)), device=real.device)
    x_hat = (alpha * real.detach().float() + (1 - alpha) * fake.detach().float()).requires_grad_(True)
    with torch.autocast(device_type=real.device.type, enabled=False):
        out = critic(x_hat)
        out = select(out) if select is not None else out
        (grad,) = torch.autograd.grad(out.float().sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1.0) ** 2).mean()
