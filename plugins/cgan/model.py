"""Conditional GAN, as in "Conditional Generative Adversarial Nets" (Mirza & Osindero 2014),
with DCGAN networks and training settings (Radford, Metz, Chintala 2016).

G(z, y) turns noise z ~ N(0, I) and a class label y into an image; D(x, y) judges whether x is
a real image of class y. Each step updates D on a real batch (with its labels) and a generated
batch (conditioned on the same labels), then G with the non-saturating loss (maximize
log D(G(z, y), y)) by default; every core objective of translate.nn.losses can be chosen.
Adam(2e-4, beta1 0.5) with a constant learning rate, N(0, 0.02) initialization, as DCGAN.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from translate import __version__
from translate.config import opt
from translate.model import DataInfo, ExportSpec, TranslationModel
from translate.nn.layers import init_weights
from translate.nn.losses import OBJECTIVES, GANLoss, gradient_penalty
from translate.plugins.cgan.evaluation import evaluate_conditional
from translate.plugins.cgan.networks import ConditionalDiscriminator, ConditionalGenerator

SAMPLE_COLUMNS = 8  # generated columns per sample-grid row (one fixed noise vector each)


@dataclass
class Config:
    nz: int = opt(100, "size of the noise vector z (the latent size)")
    ngf: int = opt(32, "generator width (filters of its last hidden layer; 4x4 map: ngf * 2**(k-1))")
    ndf: int = opt(32, "discriminator width (filters of its first layer)")
    gan_mode: str = opt("nonsaturating", "GAN objective", list(OBJECTIVES))
    lambda_gp: float = opt(10.0, "gradient penalty weight (gan_mode wgangp only)")
    lr: float = opt(2e-4, "Adam learning rate (both networks)")
    beta1: float = opt(0.5, "Adam beta1")
    beta2: float = opt(0.999, "Adam beta2")
    init_gain: float = opt(0.02, "std of the normal(0, gain) weight initialization")
    eval_samples_per_class: int = opt(100, "generated images per class for `evaluate`", evaluation=True)
    eval_classifier_steps: int = opt(500, "training steps of the classifier `evaluate` trains on the real training "
                                          "images", evaluation=True)
    kid_samples: int = opt(0, "images per set for KID-EffLite0 in `evaluate` (needs the 'kid' extra; slow on CPU); "
                              "0 = off", evaluation=True)


class ConditionalGAN(TranslationModel):
    name = "cgan"
    summary = "cGAN: class-conditional DCGAN generator G(z, label) -> image (labelled data)"
    dataset_kind = "labelled"
    default_data = "mnist"
    Config = Config
    network_names = ("G", "D")
    version = __version__
    # The README run: MNIST, batch 64 as DCGAN; recognizable digits in a few minutes on a CPU.
    train_defaults = {"steps": 1500, "batch_size": 64, "sample_every": 250, "checkpoint_every": 500,
                      "log_every": 50, "sample_count": 10}
    data_defaults = {"channels": 1}  # the built-in digits are grayscale; --channels 3 for colour data
    tiny_config = {"nz": 8, "ngf": 8, "ndf": 8, "eval_samples_per_class": 3,
                   "eval_classifier_steps": 5}

    def __init__(self, config: Config, data: DataInfo, total_steps: int):
        super().__init__(config, data, total_steps)
        c = config
        if len(data.classes) < 2:
            raise ValueError(f"a conditional GAN needs at least 2 classes, got {list(data.classes)}")
        n = len(data.classes)
        self.G = ConditionalGenerator(n, data.channels, data.image_size, c.nz, c.ngf)
        self.D = ConditionalDiscriminator(n, data.channels, data.image_size, c.ndf)
        for net in (self.G, self.D):
            init_weights(net, "normal", c.init_gain)
        self.gan = GANLoss(c.gan_mode)

    def configure_optimizers(self):
        c = self.config
        betas = (c.beta1, c.beta2)
        return ({"G": torch.optim.Adam(self.G.parameters(), lr=c.lr, betas=betas),
                 "D": torch.optim.Adam(self.D.parameters(), lr=c.lr, betas=betas)}, {})

    def training_step(self, batch, engine):
        c = self.config
        real, labels = batch["image"], batch["label"]
        z = torch.randn(real.size(0), c.nz, device=real.device)

        # -- discriminator: real images of class y vs generated ones conditioned on y ----------
        with engine.autocast():
            fake = self.G(z, labels)
            loss_D = self.gan.d_loss(self.D(real, labels), self.D(fake.detach(), labels))
        out = {"D": loss_D.item()}
        if c.gan_mode == "wgangp":
            gp = gradient_penalty(lambda x: self.D(x, labels), real, fake) * c.lambda_gp
            loss_D = loss_D + gp
            out["gp"] = gp.item()
        engine.backward(loss_D)
        engine.step("D")

        # -- generator -----------------------------------------------------------------------
        with engine.autocast():
            with engine.frozen(self.D) as D:
                loss_G = self.gan.g_loss(D(fake, labels))
        engine.backward(loss_G)
        engine.step("G")
        out["G"] = loss_G.item()
        return out

    def loss_watch(self):
        return {"D": "discriminator"}

    # -- inspection -------------------------------------------------------------------------
    def _fixed_noise(self, count: int, device) -> torch.Tensor:
        return torch.randn(count, self.config.nz, generator=torch.Generator().manual_seed(0)).to(device)

    @torch.no_grad()
    def visuals(self, batch):
        """Row i: a real image of class y_i, then G(z_j, y_i) for SAMPLE_COLUMNS fixed z_j."""
        real, labels = batch["image"], batch["label"]
        noise = self._fixed_noise(SAMPLE_COLUMNS, real.device)
        out = {"real": real}
        for j in range(SAMPLE_COLUMNS):
            out[f"z{j}"] = self.G(noise[j].expand(real.size(0), -1), labels).float()
        return out

    def exports(self):
        nz, n = self.config.nz, len(self.data.classes)

        def make_inputs(h=0, w=0, batch=1):  # the image size is fixed by the network
            return (torch.randn(batch, nz), torch.randint(n, (batch,)))

        return [ExportSpec(
            name="generator", module=self.G, example_inputs=make_inputs(batch=2),
            input_names=["z", "label"], output_names=["image"],
            dynamic_axes={"z": {0: "batch"}, "label": {0: "batch"}, "image": {0: "batch"}},
            metadata={"task": "generate", "classes": list(self.data.classes), "latent_size": nz,
                      "latent_distribution": "normal(0, 1)", "size_multiple": 1},
            make_inputs=make_inputs,
        )]

    def evaluate(self, dataset, device):
        """Label accuracy and diversity of generated images; see plugins/cgan/evaluation.py."""
        c = self.config
        return evaluate_conditional(self.G, c.nz, dataset.sibling("train"), dataset, device,
                                    samples_per_class=c.eval_samples_per_class,
                                    classifier_steps=c.eval_classifier_steps, kid_samples=c.kid_samples)
