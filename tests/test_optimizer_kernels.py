"""The engine runs the optimizers plugins create with torch's default kernel choice on their
fused kernel (the same update rule in one pass), and leaves explicit choices alone."""
from __future__ import annotations

import copy

import torch

from translate.engine import Engine


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.LeakyReLU(0.2), torch.nn.Conv2d(8, 1, 3))


def _train(net, opt, engine=None, steps=20):
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        loss = net(torch.randn(2, 3, 9, 9, generator=g)).square().mean()
        loss.backward()
        if engine is not None:
            engine.step("net")
        else:
            opt.step()
            opt.zero_grad(set_to_none=True)
    return torch.cat([p.detach().flatten() for p in net.parameters()])


def test_a_default_adam_runs_fused_with_the_same_updates():
    net = _net()
    loop, start = copy.deepcopy(net), torch.cat([p.detach().flatten() for p in net.parameters()])
    opt = torch.optim.Adam(net.parameters(), lr=1e-2, betas=(0.5, 0.999))
    engine = Engine(torch.device("cpu"))
    engine.attach({"net": opt}, {})
    assert all(g["fused"] is True for g in opt.param_groups)
    fused = _train(net, opt, engine)
    reference = _train(loop, torch.optim.Adam(loop.parameters(), lr=1e-2, betas=(0.5, 0.999), fused=False))
    assert (fused - start).abs().max() > 1e-2     # it trained
    torch.testing.assert_close(fused, reference, rtol=0, atol=1e-5)


def test_explicit_kernel_choices_and_optimizers_without_a_fused_kernel_are_left_alone():
    engine = Engine(torch.device("cpu"))
    net = _net()
    chosen = {"loop": torch.optim.Adam(net.parameters(), fused=False),
              "foreach": torch.optim.AdamW(net.parameters(), foreach=True),
              "rmsprop": torch.optim.RMSprop(net.parameters())}
    engine.attach(chosen, {})
    assert chosen["loop"].param_groups[0]["fused"] is False
    assert chosen["foreach"].param_groups[0]["fused"] is None and chosen["foreach"].param_groups[0]["foreach"]
    assert "fused" not in chosen["rmsprop"].param_groups[0]
