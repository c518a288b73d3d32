"""The widely used reference CycleGAN implementation (junyanz/pytorch-CycleGAN-and-pix2pix),
written out here in plain PyTorch, trained and scored on OUR split of the built-in Noto -> Twemoji
data: the same-split control for benchmarks/quality.py.

The issue's reference numbers (A->B PSNR 12.05 after 2,163 iterations) come from a split *like*
ours (720/721 training images, 200 held-out pairs), not ours (718/718, 200): other held-out
emoji, another seed. This script runs the reference's algorithm on our data and scores it with
our evaluation (translate.metrics.psnr_ssim on the same 200 pairs), so the two can be compared
like for like.

What it reproduces (the reference's `train.py --model cycle_gan` at 64x64, batch 1):
- data: the images as `translate` reads them (transparent backgrounds composited on white: the
  issue's identity baseline, 11.45, matches that, and PIL's plain convert("RGB") would keep
  whatever colour the transparent pixels store); Resize(load) + RandomCrop(crop) + horizontal flip +
  Normalize(0.5, 0.5) (torchvision); A in shuffled order, B drawn at random each iteration;
  an epoch is max(|A|, |B|) iterations;
- networks: ResNet generator with reflection padding, transposed-conv upsampling and conv biases
  (6 blocks), 3-layer PatchGAN (LeakyReLU 0.2), instance norm without affine or running stats,
  N(0, 0.02) init;
- losses: LSGAN (MSE against 1/0), cycle L1 x 10, identity L1 x 5, D loss halved; an image pool of
  50 (p = 0.5 swap);
- order: G_A and G_B step with the discriminators frozen, then D_A and D_B step;
- Adam(2e-4, betas (0.5, 0.999)) for both pairs. `--schedule reference` (default) sets the
  learning rate at the start of each epoch e (1-based) to
  lr * (1 - max(0, e + 1 - n_epochs) / (n_epochs_decay + 1)): with its defaults (100 + 100
  epochs) it stays constant through these 2,163 iterations (3 epochs of our 718 images and 9
  iterations of a fourth). `--schedule paper` is the paper's shape squeezed into the
  iterations, as the `cyclegan` plugin runs it: constant for the first half, then linear to 0
  at the last iteration (the reference cannot express that in 3 epochs: a 3-epoch schedule of
  its own spends the last epoch at lr 0).

    python benchmarks/reference_cyclegan.py                     # the reference's defaults, stopped at 2,163 iterations
    python benchmarks/reference_cyclegan.py --schedule paper    # the plugin's schedule: implementations compared alone
"""
from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torchvision import transforms

from translate.datasets.builtin import materialize
from translate.imageio import list_images, load_image
from translate.metrics import psnr_ssim

ISSUE_REFERENCE = {"A2B": 12.05, "B2A": 11.36, "identity": 11.45}


# -- networks ------------------------------------------------------------------------------

class ResidualBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3, bias=True), nn.InstanceNorm2d(ch), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3, bias=True), nn.InstanceNorm2d(ch))

    def forward(self, x):
        return x + self.body(x)


def resnet_generator(ngf: int = 64, n_blocks: int = 6) -> nn.Sequential:
    layers = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7, bias=True), nn.InstanceNorm2d(ngf), nn.ReLU(True)]
    ch = ngf
    for _ in range(2):
        layers += [nn.Conv2d(ch, ch * 2, 3, stride=2, padding=1, bias=True), nn.InstanceNorm2d(ch * 2), nn.ReLU(True)]
        ch *= 2
    layers += [ResidualBlock(ch) for _ in range(n_blocks)]
    for _ in range(2):
        layers += [nn.ConvTranspose2d(ch, ch // 2, 3, stride=2, padding=1, output_padding=1, bias=True),
                   nn.InstanceNorm2d(ch // 2), nn.ReLU(True)]
        ch //= 2
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ch, 3, 7), nn.Tanh()]
    return nn.Sequential(*layers)


def patch_discriminator(ndf: int = 64, n_layers: int = 3) -> nn.Sequential:
    layers = [nn.Conv2d(3, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
    mult = 1
    for n in range(1, n_layers + 1):
        prev, mult = mult, min(2 ** n, 8)
        stride = 2 if n < n_layers else 1
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=stride, padding=1, bias=True),
                   nn.InstanceNorm2d(ndf * mult), nn.LeakyReLU(0.2, True)]
    layers += [nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1)]
    return nn.Sequential(*layers)


def init_normal(net: nn.Module, gain: float = 0.02) -> nn.Module:
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return net


class Pool:
    """50 past fakes; once full, each query returns a stored one (replaced by the new) half the time."""

    def __init__(self, size: int = 50):
        self.size, self.images = size, []

    def query(self, image: torch.Tensor) -> torch.Tensor:
        image = image.detach()
        if len(self.images) < self.size:
            self.images.append(image)
            return image
        if random.uniform(0, 1) > 0.5:
            i = random.randint(0, self.size - 1)
            old, self.images[i] = self.images[i], image
            return old
        return image


# -- data ----------------------------------------------------------------------------------

def load(path: Path, transform) -> torch.Tensor:
    return transform(Image.fromarray(load_image(path))).unsqueeze(0)


# -- training and scoring ------------------------------------------------------------------

def lr_factor(schedule: str, epoch: int, it: int, iterations: int, n_epochs: int, n_epochs_decay: int) -> float:
    if schedule == "paper":
        half = iterations // 2
        return 1.0 if it < half else max(0.0, 1.0 - (it - half) / (iterations - half))
    return max(0.0, 1.0 - max(0, epoch + 1 - n_epochs) / float(n_epochs_decay + 1))


def train(root: Path, iterations: int, schedule: str, n_epochs: int, n_epochs_decay: int, size: int,
          load_size: int, lr: float = 2e-4, n_blocks: int = 6):
    augment = transforms.Compose([
        transforms.Resize([load_size, load_size], transforms.InterpolationMode.BICUBIC),
        transforms.RandomCrop(size), transforms.RandomHorizontalFlip(),
        transforms.ToTensor(), transforms.Normalize((0.5,) * 3, (0.5,) * 3)])
    files_A, files_B = list_images(root / "trainA"), list_images(root / "trainB")
    G_A, G_B = init_normal(resnet_generator(n_blocks=n_blocks)), init_normal(resnet_generator(n_blocks=n_blocks))
    D_A, D_B = init_normal(patch_discriminator()), init_normal(patch_discriminator())
    opt_G = torch.optim.Adam([*G_A.parameters(), *G_B.parameters()], lr=lr, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam([*D_A.parameters(), *D_B.parameters()], lr=lr, betas=(0.5, 0.999))
    pool_A, pool_B = Pool(), Pool()   # pool_A holds fakes of B (for D_A), as in the reference
    epoch_len = max(len(files_A), len(files_B))
    it = 0
    epoch = 0
    while it < iterations:
        epoch += 1
        order = torch.randperm(epoch_len).tolist()
        for index in order:
            if it >= iterations:
                break
            factor = lr_factor(schedule, epoch, it, iterations, n_epochs, n_epochs_decay)
            for opt in (opt_G, opt_D):
                for group in opt.param_groups:
                    group["lr"] = lr * factor
            real_A = load(files_A[index % len(files_A)], augment)
            real_B = load(files_B[random.randint(0, len(files_B) - 1)], augment)
            fake_B = G_A(real_A)
            rec_A = G_B(fake_B)
            fake_A = G_B(real_B)
            rec_B = G_A(fake_A)
            # generators, with the discriminators frozen
            for p in [*D_A.parameters(), *D_B.parameters()]:
                p.requires_grad_(False)
            opt_G.zero_grad()
            idt_A, idt_B = G_A(real_B), G_B(real_A)
            pred_A, pred_B = D_A(fake_B), D_B(fake_A)
            loss_G = (F.mse_loss(pred_A, torch.ones_like(pred_A)) + F.mse_loss(pred_B, torch.ones_like(pred_B))
                      + 10.0 * (F.l1_loss(rec_A, real_A) + F.l1_loss(rec_B, real_B))
                      + 5.0 * (F.l1_loss(idt_A, real_B) + F.l1_loss(idt_B, real_A)))
            loss_G.backward()
            opt_G.step()
            # discriminators
            for p in [*D_A.parameters(), *D_B.parameters()]:
                p.requires_grad_(True)
            opt_D.zero_grad()
            for D, real, fake in ((D_A, real_B, pool_A.query(fake_B)), (D_B, real_A, pool_B.query(fake_A))):
                pr, pf = D(real), D(fake.detach())
                loss_D = 0.5 * (F.mse_loss(pr, torch.ones_like(pr)) + F.mse_loss(pf, torch.zeros_like(pf)))
                loss_D.backward()
            opt_D.step()
            it += 1
    return G_A, G_B, epoch


@torch.no_grad()
def parity_with_translate(size: int, n_blocks: int = 6) -> dict:
    """The written-out networks against translate's (same parameter counts; max abs output
    difference with the reference's weights copied in, on random input)."""
    from translate.nn.discriminators import NLayerDiscriminator
    from translate.nn.generators import ResnetGenerator

    out = {}
    for name, ref, ours in (("G", init_normal(resnet_generator(n_blocks=n_blocks)),
                             ResnetGenerator(3, 3, 64, n_blocks, "instance", False)),
                            ("D", init_normal(patch_discriminator()),
                             NLayerDiscriminator(3, 64, 3, "instance", False))):
        params = list(ours.parameters())
        out[f"{name}_parameters"] = [sum(p.numel() for p in ref.parameters()), sum(p.numel() for p in params)]
        for a, b in zip(ref.parameters(), params, strict=True):
            b.copy_(a)
        x = torch.randn(2, 3, size, size)
        out[f"{name}_max_abs_diff"] = float((ref(x) - ours(x)).abs().max())
    return out


@torch.no_grad()
def score(G_A, G_B, root: Path) -> dict:
    """Mean per-image PSNR/SSIM on the held-out pairs testA/x <-> testB/x, as `translate evaluate`."""
    to_tensor = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,) * 3, (0.5,) * 3)])
    names = sorted(p.name for p in list_images(root / "testA"))
    A = torch.cat([load(root / "testA" / n, to_tensor) for n in names])
    B = torch.cat([load(root / "testB" / n, to_tensor) for n in names])
    fake_B = torch.cat([G_A(a) for a in A.split(16)])
    fake_A = torch.cat([G_B(b) for b in B.split(16)])
    out = {}
    for key, (pred, target) in {"A2B": (fake_B, B), "B2A": (fake_A, A), "identity": (A, B)}.items():
        psnr, ssim = psnr_ssim(pred, target)
        out[key] = {"psnr": round(psnr.mean().item(), 3), "ssim": round(ssim.mean().item(), 4)}
    return {"pairs": len(names), **out}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iterations", type=int, default=2163)
    p.add_argument("--schedule", choices=["reference", "paper"], default="reference")
    p.add_argument("--n-epochs", type=int, default=100, help="epochs at the initial learning rate (reference default)")
    p.add_argument("--n-epochs-decay", type=int, default=100, help="epochs of linear decay (reference default)")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--load-size", type=int, default=64, help="resize before the random crop (64: no crop jitter)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    root = materialize("noto2twemoji")
    t = time.perf_counter()
    G_A, G_B, epochs = train(root, args.iterations, args.schedule, args.n_epochs, args.n_epochs_decay, args.size,
                             args.load_size)
    minutes = (time.perf_counter() - t) / 60
    print(json.dumps({"benchmark": "cyclegan_quality_reference_reimplementation", "data": "noto2twemoji",
                      "iterations": args.iterations, "epochs_started": epochs, "schedule": args.schedule,
                      "n_epochs": args.n_epochs, "n_epochs_decay": args.n_epochs_decay, "size": args.size,
                      "load_size": args.load_size, "seed": args.seed, **score(G_A, G_B, root),
                      "parity": parity_with_translate(args.size), "issue_reference": ISSUE_REFERENCE,
                      "train_minutes": round(minutes, 1), "threads": torch.get_num_threads()}), flush=True)


if __name__ == "__main__":
    main()
