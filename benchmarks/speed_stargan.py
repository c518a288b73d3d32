"""StarGAN training speed: seconds per iteration, averaged over critic-only and generator
iterations (whole n_critic cycles), beside the reference implementation's training step
(yunjey/stargan's Solver.train, written out below as `reference_step`, with plain convolutions
and torch's default Adam) on the same weights, shapes and data. Each runs in its own process
(ours with the memory setting `translate fit` makes on the CPU, translate/allocator.py; the
reference with the defaults), stepped alternately so both see the same machine load. Also
FLOPs per iteration (torch.utils.flop_counter's registry), achieved GFLOP/s and a matmul peak measured in
the same run. On CUDA it adds peak memory, in fp32 and bf16. Prints one JSON line per result.

    python benchmarks/speed_stargan.py                      # 128x128, batch 4 and 16, one cycle each
    python benchmarks/speed_stargan.py --batch 16 --cycles 3
    python benchmarks/speed_stargan.py --device cuda --precision fp32 bf16
"""
from __future__ import annotations

import argparse
import copy
import json
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import matmul_peak, sync  # noqa: E402  (the same peak as the CycleGAN benchmark)

from translate.config import DataConfig  # noqa: E402
from translate.data import make_dataset, resolve_root  # noqa: E402
from translate.allocator import keep_freed_memory  # noqa: E402
from translate.engine import Distributed, Engine, select_device  # noqa: E402
from translate.model import DataInfo  # noqa: E402
from translate.nn.layers import SmallOutputConv2d  # noqa: E402
from translate.nn.direct import direct_convolutions  # noqa: E402
from translate.nn.image_conv import ImageConv2d  # noqa: E402
from translate.nn.winograd import WinogradConv2d  # noqa: E402
from translate.plugins.stargan.model import Config, StarGAN  # noqa: E402
from translate.registry import get_plugins  # noqa: E402


# -- the reference implementation's step ----------------------------------------------------------

def reference_gradient_penalty(y, x):
    """yunjey/stargan Solver.gradient_penalty: (||dy/dx||_2 - 1)^2, averaged."""
    weight = torch.ones(y.size(), device=y.device)
    dydx = torch.autograd.grad(outputs=y, inputs=x, grad_outputs=weight, retain_graph=True,
                               create_graph=True, only_inputs=True)[0]
    dydx = dydx.view(dydx.size(0), -1)
    return torch.mean((torch.sqrt(torch.sum(dydx**2, dim=1)) - 1) ** 2)


def reference_classification_loss(logit, target, multi_label):
    if multi_label:
        return F.binary_cross_entropy_with_logits(logit, target, reduction="sum") / logit.size(0)
    return F.cross_entropy(logit, target.argmax(1))


def reference_step(G, D, g_opt, d_opt, x_real, label_org, i, c: Config, multi_label=False) -> dict:
    """One iteration of yunjey/stargan's Solver.train (iteration index i, 0-based): separate D
    calls for real, fake and interpolated images; on every n_critic-th iteration the fakes are
    generated again for the G update, and D's weights get gradients there too."""
    rand_idx = torch.randperm(label_org.size(0), device=label_org.device)
    label_trg = label_org[rand_idx]
    c_org, c_trg = label_org, label_trg

    out_src, out_cls = D(x_real)
    d_loss_real = -torch.mean(out_src)
    d_loss_cls = reference_classification_loss(out_cls, label_org, multi_label)
    x_fake = G(x_real, c_trg)
    out_src, out_cls = D(x_fake.detach())
    d_loss_fake = torch.mean(out_src)
    alpha = torch.rand(x_real.size(0), 1, 1, 1, device=x_real.device)
    x_hat = (alpha * x_real.data + (1 - alpha) * x_fake.data).requires_grad_(True)
    out_src, _ = D(x_hat)
    d_loss_gp = reference_gradient_penalty(out_src, x_hat)
    d_loss = d_loss_real + d_loss_fake + c.lambda_cls * d_loss_cls + c.lambda_gp * d_loss_gp
    g_opt.zero_grad()
    d_opt.zero_grad()
    d_loss.backward()
    d_opt.step()
    out = {"D": d_loss.item()}

    if (i + 1) % c.n_critic == 0:
        x_fake = G(x_real, c_trg)
        out_src, out_cls = D(x_fake)
        g_loss_fake = -torch.mean(out_src)
        g_loss_cls = reference_classification_loss(out_cls, label_trg, multi_label)
        x_reconst = G(x_fake, c_org)
        g_loss_rec = torch.mean(torch.abs(x_real - x_reconst))
        g_loss = g_loss_fake + c.lambda_rec * g_loss_rec + c.lambda_cls * g_loss_cls
        g_opt.zero_grad()
        d_opt.zero_grad()
        g_loss.backward()
        g_opt.step()
        out["G"] = g_loss.item()
    return out


# -- timing ---------------------------------------------------------------------------------------

class CountFlops(TorchDispatchMode):
    """FLOPs of every op torch's flop counter knows (convolutions, matmuls, their backward).
    FlopCounterMode itself cannot be used: its module hooks break the gradient penalty's
    autograd.grad."""

    def __init__(self):
        super().__init__()
        self.flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        count = flop_registry.get(func._overloadpacket)
        if count is not None:
            self.flops += count(*args, **kwargs, out_val=out)
        return out


def build(size, n_domains, device, precision):
    torch.manual_seed(0)
    model = StarGAN(Config(), DataInfo("multidomain", 3, size, tuple(f"d{k}" for k in range(n_domains))), 1000)
    model.to(device)
    engine = Engine(device, precision)
    engine.attach(*model.configure_optimizers())
    engine.prepare(model)
    # The reference trains copies of the same weights, with plain convolutions and torch's
    # default optimizer kernels.
    G, D = copy.deepcopy(model.G), copy.deepcopy(model.D)
    for m in (*G.modules(), *D.modules()):
        if isinstance(m, (SmallOutputConv2d, WinogradConv2d, ImageConv2d)):
            m.__class__ = torch.nn.Conv2d
    c = model.config
    opts = (torch.optim.Adam(G.parameters(), c.g_lr, (c.beta1, c.beta2)),
            torch.optim.Adam(D.parameters(), c.d_lr, (c.beta1, c.beta2)))
    return model, engine, (G, D, *opts)


def batches(size, batch, device):
    plugins = get_plugins()
    root, _ = resolve_root("emoji_styles", "multidomain", plugins)
    kind = plugins.dataset_kinds.get("multidomain").load()
    dataset = make_dataset(kind, root, "train", DataConfig(image_size=size), seed=0, augment=True)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True, drop_last=True,
                                         generator=torch.Generator().manual_seed(0))
    while True:
        for b in loader:
            yield b["image"].to(device), b["label"].float().to(device)


def timed(fn, device) -> float:
    sync(device)
    t = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t


def worker(variant, size, batch, device, precision, conn) -> None:
    """One variant in its own process, so each runs with its own process settings: ours with
    the memory setting `translate fit` makes on the CPU, the reference with the defaults. Runs
    step i when sent i and answers its time; "flops" counts one n_critic cycle; None ends it."""
    if variant == "translate" and device.type == "cpu":
        keep_freed_memory()
    model, engine, (G, D, g_opt, d_opt) = build(size, 3, device, precision)
    data = batches(size, batch, device)

    def step(i, x, lab):
        if variant == "translate":
            engine.step_index = i
            model.training_step({"image": x, "label": lab}, engine)
            engine.end_step()
        else:
            with engine.autocast():
                reference_step(G, D, g_opt, d_opt, x, lab, i, model.config)

    while (msg := conn.recv()) is not None:
        if msg == "flops":   # as direct convolutions compute them (Winograd's are fewer)
            with direct_convolutions(), CountFlops() as counter:
                for i in range(model.config.n_critic):
                    step(i, *next(data))
            conn.send(counter.flops / model.config.n_critic)
        else:
            if device.type == "cuda" and msg == model.config.n_critic:   # after the warm-up cycle
                torch.cuda.reset_peak_memory_stats(device)
            x, lab = next(data)
            conn.send(timed(lambda: step(msg, x, lab), device))
    conn.send(torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None)


def bench(size, batch, cycles, device, precision, peak, threads) -> None:
    ctx = multiprocessing.get_context("spawn")
    names = ("translate", "reference")
    conns, procs = {}, []
    for name in names:
        conns[name], child = ctx.Pipe()
        procs.append(ctx.Process(target=worker, args=(name, size, batch, device, precision, child)))
        procs[-1].start()
    n_critic = Config().n_critic
    times = {name: [] for name in names}
    for i in range(n_critic * (cycles + 1)):  # the first cycle warms up (oneDNN/cuDNN plans, allocator)
        for name in names:                  # alternately, so both see the same machine load
            conns[name].send(i)
            t = conns[name].recv()
            if i >= n_critic:
                times[name].append(t)
    conns["translate"].send("flops")
    flops = conns["translate"].recv()
    peak_gib = {}
    for name in names:
        conns[name].send(None)
        peak_gib[name] = conns[name].recv()
    for p in procs:
        p.join()
    common = {"size": size, "batch": batch, "device": str(device), "precision": precision,
              "threads": threads, "cycles": cycles, "n_critic": n_critic}
    per_it = {name: sum(ts) / len(ts) for name, ts in times.items()}
    for name, s in per_it.items():
        rec = {"benchmark": "stargan_train_step", "variant": name, **common, "s_per_it": round(s, 4),
               "median_s_per_it": round(statistics.median(times[name]), 4),
               "gflop_per_it": round(flops / 1e9, 1), "gflop_s": round(flops / 1e9 / s, 1),
               "matmul_peak_gflop_s": round(peak, 1), "fraction_of_peak": round(flops / 1e9 / s / peak, 3)}
        if name == "translate":
            rec["speedup_vs_reference"] = round(per_it["reference"] / s, 3)
        if peak_gib[name] is not None:
            rec["peak_gib"] = round(peak_gib[name], 3)
        print(json.dumps(rec), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--batch", type=int, nargs="+", default=[4, 16])
    p.add_argument("--cycles", type=int, default=1, help="timed n_critic cycles per configuration (after one warm-up)")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", nargs="+", default=None, choices=["fp32", "bf16", "fp16"],
                   help="default: fp32 on CPU; fp32 and bf16 on CUDA")
    args = p.parse_args()
    device = select_device(args.device, Distributed())
    precisions = args.precision or (["fp32", "bf16"] if device.type == "cuda" else ["fp32"])
    peak = matmul_peak(device)
    for precision in precisions:
        for batch in args.batch:
            bench(args.size, batch, args.cycles, device, precision, peak, torch.get_num_threads())


if __name__ == "__main__":
    main()
