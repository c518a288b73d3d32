"""Mixed precision on the CPU (CPU autocast runs bf16 and fp16; on a GPU they are the fast path):
the engine's gradient scaler, and an fp16 run that logs its loss scale and resumes exactly."""
from __future__ import annotations

import json
import warnings

import torch

from translate.checkpoint import load_checkpoint
from translate.engine import Engine
from translate.testing.contract import Contract


def _engine(precision: str, lr: float = 1.0):
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    engine = Engine(torch.device("cpu"), precision)
    engine.attach({"net": opt}, {"net": torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)})
    return net, engine


def test_fp16_steps_with_unscaled_gradients_and_skips_an_overflowing_step():
    net, engine = _engine("fp16")
    x = torch.full((1, 3), 0.25)
    scale = engine.scaler.get_scale()
    w = net.weight.detach().clone()

    # An overflowing step: the scaled gradient is inf, so the optimizer is skipped and the scale
    # halves; the schedule still counts the step, without torch's "scheduler before optimizer" warning.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with engine.autocast():
            loss = net(x).float().sum() * 1e36
        engine.backward(loss)
        engine.step("net")
        engine.end_step()
    assert not [w for w in caught if "lr_scheduler.step()" in str(w.message)]
    assert torch.equal(net.weight, w)
    assert engine.scaler.get_scale() == scale / 2
    assert engine.log_values() == {"lr_net": 1.0, "loss_scale": scale / 2}

    # A normal step: SGD with lr 1 moves each weight by exactly its unscaled gradient (d out / dw = 0.25).
    with engine.autocast():
        loss = net(x).float().sum()
    engine.backward(loss)
    engine.step("net")
    engine.end_step()
    torch.testing.assert_close(net.weight, w - 0.25)


def test_fp32_and_bf16_log_no_loss_scale():
    for precision in ("fp32", "bf16"):
        _, engine = _engine(precision)
        assert engine.scaler is None and engine.log_values() == {"lr_net": 1.0}


def test_an_fp16_run_logs_its_loss_scale_and_resumes_exactly(shared_unpaired, tmp_path):
    """The contract's checkpoint and resume checks, on an fp16 run: the scaler's state is part of
    the checkpoint, so N + N steps equal 2N."""
    contract = Contract("cyclegan", data=shared_unpaired, workdir=tmp_path, overrides={"precision": "fp16"},
                        cli_subprocess=False)
    contract.run("checkpoint")
    contract.run("resume")
    run_dir = contract.history()[0].run_dir
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    scales = [r["loss_scale"] for r in records]
    assert len(scales) == 4 and all(0 < s <= 2.0**16 for s in scales)
    ckpt = load_checkpoint(run_dir / "checkpoints" / "step_000004.pt")
    assert ckpt["config"]["train"]["precision"] == "fp16"
    assert ckpt["scaler"]["scale"] == scales[-1]
    assert "loss_scale" not in (run_dir / "index.html").read_text()   # not drawn as a loss curve
