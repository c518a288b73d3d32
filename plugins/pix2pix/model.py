"""pix2pix, as in "Image-to-Image Translation with Conditional Adversarial Networks" (Isola, Zhu,
Zhou, Efros 2017) and its reference implementation's defaults.

A U-Net generator G maps an input image x to y' = G(x); the noise z is dropout in the decoder.
A PatchGAN discriminator D sees the input and an output *together* (conditional GAN: x and y
concatenated along channels) and classifies each 70x70 patch as real or fake. G minimizes the
GAN loss plus lambda_L1 * |y - G(x)|_1 (the L1 term carries the low frequencies, D the high
ones). D's loss is halved to slow it down relative to G. Adam (lr 2e-4, beta1 0.5), BatchNorm.
With --lambda-gan 0 the same model is the paper's "L1 only" baseline.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from translate import __version__
from translate.config import opt
from translate.errors import ConfigError
from translate.model import DataInfo, ExportSpec, TranslationModel
from translate.nn.discriminators import NLayerDiscriminator
from translate.nn.generators import UnetGenerator
from translate.nn.layers import init_weights
from translate.nn.losses import OBJECTIVES, GANLoss
from translate.nn.schedules import linear_decay
from translate.plugins.pix2pix.test_time import test_time_generator


@dataclass
class Config:
    ngf: int = opt(64, "generator width (filters in the first conv layer)")
    ndf: int = opt(64, "discriminator width")
    num_downs: int = opt(0, "U-Net levels; 0 = log2(image size): unet_256 at 256x256, unet_128 at 128x128, 6 at 64x64")
    n_layers_d: int = opt(3, "PatchGAN depth: 3 = 70x70 patches")
    norm: str = opt("batch", "normalization layers (the paper: batch)", ["batch", "instance", "none"])
    dropout: bool = opt(True, "dropout (p = 0.5) in the U-Net decoder: the paper's noise source")
    gan_mode: str = opt("nonsaturating", "GAN objective; the paper's is the original GAN loss with G maximizing "
                        "log D(x, G(x)) (the reference code's 'vanilla' BCE loss) = nonsaturating", list(OBJECTIVES))
    lambda_l1: float = opt(100.0, "weight of the L1 loss |y - G(x)|")
    lambda_gan: float = opt(1.0, "weight of the GAN loss; 0 trains the L1-only U-Net baseline (no discriminator)")
    test_mode: str = opt("paper", "networks at test time (samples, evaluate, export, predict): paper = dropout on "
                         "and BatchNorm with the statistics of the test image (the paper's test batches of 1); "
                         "eval = no dropout, BatchNorm running averages", ["paper", "eval"])
    lr: float = opt(2e-4, "Adam learning rate")
    beta1: float = opt(0.5, "Adam beta1")
    beta2: float = opt(0.999, "Adam beta2")
    decay_start: float = opt(0.5, "fraction of the steps after which the learning rate decays linearly to 0")
    init_gain: float = opt(0.02, "std of the normal(0, gain) weight initialization")
    kid_samples: int = opt(0, "held-out pairs for KID-EffLite0 (G(A) vs the real B) in `evaluate` (needs the "
                           "'kid' extra; slow on CPU); 0 = off", evaluation=True)


class Pix2Pix(TranslationModel):
    name = "pix2pix"
    summary = "pix2pix: paired A->B translation (U-Net, conditional 70x70 PatchGAN, GAN + L1)"
    dataset_kind = "paired"
    default_data = "fluent_silhouette2flat"
    Config = Config
    network_names = ("G", "D")
    version = __version__
    # A 64x64 run on the built-in Fluent emoji pairs (two epochs of the 1,000 training pairs at the
    # paper's batch size 1): measured 6.1 it/s on 2 free CPU cores, under 9 minutes end to end.
    train_defaults = {"steps": 2000, "sample_every": 500, "checkpoint_every": 1000, "log_every": 50}
    tiny_config = {"ngf": 8, "ndf": 8, "n_layers_d": 2}

    def __init__(self, config: Config, data: DataInfo, total_steps: int):
        super().__init__(config, data, total_steps)
        c, ch = config, data.channels
        self.num_downs = c.num_downs or int(math.log2(data.image_size))
        if self.num_downs < 5:
            raise ConfigError(f"pix2pix's U-Net needs at least 5 levels (image size >= 32), got "
                              f"--num-downs {self.num_downs} for --image-size {data.image_size}")
        if data.image_size % 2**self.num_downs:
            raise ConfigError(f"--image-size {data.image_size} must be a multiple of 2^num_downs = {2**self.num_downs}")
        if c.kid_samples < 0 or c.kid_samples == 1:
            raise ConfigError(f"--kid-samples must be 0 (off) or at least 2 (KID compares sets), got {c.kid_samples}")
        self.G = UnetGenerator(ch, ch, self.num_downs, c.ngf, c.norm, c.dropout)
        self.D = NLayerDiscriminator(2 * ch, c.ndf, c.n_layers_d, c.norm)  # sees (x, y) concatenated
        for net in (self.G, self.D):
            init_weights(net, "normal", c.init_gain)
        self.gan = GANLoss(c.gan_mode)

    def configure_optimizers(self):
        c = self.config
        betas = (c.beta1, c.beta2)
        optimizers = {"G": torch.optim.Adam(self.G.parameters(), lr=c.lr, betas=betas)}
        if c.lambda_gan > 0:  # the L1-only baseline has no adversary to train
            optimizers["D"] = torch.optim.Adam(self.D.parameters(), lr=c.lr, betas=betas)
        return optimizers, {k: linear_decay(o, self.total_steps, c.decay_start) for k, o in optimizers.items()}

    def training_step(self, batch, engine):
        c = self.config
        real_A, real_B = batch["A"], batch["B"]
        use_gan = c.lambda_gan > 0

        with engine.autocast():
            fake_B = self.G(real_A)

        # -- D: real pairs (x, y) vs fake pairs (x, G(x)); the loss is halved ---------------------
        if use_gan:
            with engine.autocast():
                real_logits = self.D(torch.cat([real_A, real_B], 1))
                fake_logits = self.D(torch.cat([real_A, fake_B.detach()], 1))
                loss_D = 0.5 * (self.gan.d_loss_half(real_logits, True) + self.gan.d_loss_half(fake_logits, False))
            engine.backward(loss_D)
            engine.step("D")

        # -- G: fool D on (x, G(x)) and stay close to y in L1 -------------------------------------
        with engine.autocast():
            loss_l1 = F.l1_loss(fake_B.float(), real_B) * c.lambda_l1
            loss_G = loss_l1
            if use_gan:
                with engine.frozen(self.D) as D:
                    loss_gan = self.gan.g_loss(D(torch.cat([real_A, fake_B], 1))) * c.lambda_gan
                loss_G = loss_G + loss_gan
        engine.backward(loss_G)
        engine.step("G")

        out = {"L1": loss_l1.item()}
        if use_gan:
            out.update({"G_gan": loss_gan.item(), "D": loss_D.item()})
        return out

    def loss_watch(self):
        return {"D": "discriminator"} if self.config.lambda_gan > 0 else {}

    # -- inference --------------------------------------------------------------------------
    def translator(self):
        """G as it runs at test time (`--test-mode`): what samples, evaluation and export use."""
        from translate.engine import unwrap

        return test_time_generator(unwrap(self.G), self.config.test_mode)

    @torch.no_grad()
    def visuals(self, batch):
        a, b = batch["A"], batch["B"]
        return {"real_A": a, "fake_B": self.translator()(a), "real_B": b}

    def exports(self):
        source, target = (list(self.data.domains) + ["A", "B"])[:2]
        ch, size = self.data.channels, self.data.image_size

        def make_inputs(h, w, n=1):
            return (torch.rand(n, ch, h, w) * 2 - 1,)

        net = self.translator()
        return [ExportSpec(
            name="A2B", module=net, example_inputs=make_inputs(size, size),
            input_names=["image"], output_names=["translated"],
            dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                          "translated": {0: "batch", 2: "height", 3: "width"}},
            metadata={"task": "image-to-image", "direction": "A2B", "source_domain": source,
                      "target_domain": target, "size_multiple": net.size_multiple,
                      "test_mode": self.config.test_mode},
            make_inputs=make_inputs,
        )]

    @torch.no_grad()
    def evaluate(self, dataset, device):
        """PSNR/SSIM (kornia) of G(A) against the true B on held-out pairs, beside the identity
        baseline (output = input); with --kid-samples N, also KID-EffLite0 between the real B and
        G(A) of the first N pairs (and between B and A, the identity baseline)."""
        from translate.metrics import psnr_ssim

        net = self.translator().to(device)
        loader = torch.utils.data.DataLoader(dataset, batch_size=16, shuffle=False)
        sums: dict[str, float] = {}
        kept: dict[str, list[torch.Tensor]] = {"A": [], "B": [], "A2B": []}  # the pairs KID looks at
        n = 0
        for batch in loader:
            a, b = batch["A"].to(device), batch["B"].to(device)
            fake = net(a)
            for key, out in (("A2B", fake), ("identity", a)):
                psnr, ssim = psnr_ssim(out, b)
                sums[f"{key}/psnr"] = sums.get(f"{key}/psnr", 0.0) + psnr.sum().item()
                sums[f"{key}/ssim"] = sums.get(f"{key}/ssim", 0.0) + ssim.sum().item()
            room = self.config.kid_samples - n
            if room > 0:
                for key, images in (("A", a), ("B", b), ("A2B", fake)):
                    kept[key].append(images[:room].float().clamp(-1, 1).cpu())
            n += a.size(0)
        out = {"pairs": n, **{k: v / max(n, 1) for k, v in sums.items()}}
        if kept["B"]:
            from translate.metrics import kid_report

            real_b = torch.cat(kept["B"])
            out["kid_pairs"] = real_b.size(0)
            for key in ("A2B", "identity"):
                out.update(kid_report(real_b, torch.cat(kept["A" if key == "identity" else key]), device,
                                      prefix=f"{key}/"))
        return out
