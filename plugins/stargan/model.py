"""StarGAN, as in "StarGAN: Unified Generative Adversarial Networks for Multi-Domain
Image-to-Image Translation" (Choi, Choi, Kim, Ha, Kim, Choo 2018) and its reference
implementation's defaults.

One generator G(x, c) translates x to the domain given by label c; one discriminator D(x)
gives real/fake logits per patch and domain logits. D: WGAN-GP (lambda_gp = 10) plus the domain
classification loss on real images; G, once every n_critic = 5 steps: the adversarial loss, the
classification loss of its fakes (lambda_cls = 1) and the reconstruction G(G(x, c), c_x) ~ x
(lambda_rec = 10); with --lambda-id (off, as in the paper) also the identity G(x, c_x) ~ x.
Target labels are the batch's labels shuffled, as in the reference.

Faster than the reference with the same math: D sees real and fake images in one call (it has
no normalization, so images do not interact); the D step's fakes are generated without an
autograd graph, except on generator steps, where the same fakes (G has not changed) serve the
G update too instead of being generated a second time; D's weights get no gradients in the G
update.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from translate import __version__
from translate.config import opt
from translate.engine import unwrap
from translate.errors import ConfigError
from translate.model import DataInfo, ExportSpec, TranslationModel
from translate.nn.averaging import averaged_copies, update_average
from translate.nn.diffaugment import POLICIES, DiffAugment
from translate.nn.losses import gradient_penalty
from translate.nn.schedules import linear_decay
from translate.plugins.stargan.networks import StarDiscriminator, StarGenerator


@dataclass
class Config:
    ngf: int = opt(64, "generator width (filters in the first conv layer)")
    ndf: int = opt(64, "discriminator width")
    n_blocks: int = opt(6, "residual blocks in the generator")
    n_layers_d: int = opt(0, "stride-2 layers in the discriminator; 0 = the paper's choice: 6 at 128x128, "
                             "i.e. log2(size) - 1, leaving 2x2 patches (5 at 64x64)")
    lambda_cls: float = opt(1.0, "weight of the domain classification losses")
    lambda_rec: float = opt(10.0, "weight of the reconstruction loss")
    lambda_gp: float = opt(10.0, "weight of the WGAN-GP gradient penalty")
    lambda_id: float = opt(0.0, "weight of an identity loss G(x, c_x) ~ x on generator updates, against G "
                                "dropping the content; CycleGAN and StarGAN-VC use half of lambda_rec, 5; "
                                "0 = off (the paper)")
    n_critic: int = opt(5, "discriminator updates per generator update")
    g_lr: float = opt(1e-4, "generator Adam learning rate")
    d_lr: float = opt(1e-4, "discriminator Adam learning rate")
    beta1: float = opt(0.5, "Adam beta1")
    beta2: float = opt(0.999, "Adam beta2")
    decay_start: float = opt(0.5, "fraction of the steps after which the learning rates decay linearly to 0")
    ema: float = opt(0.0, "decay of a bias-corrected moving average of the generator's weights (Polyak averaging), "
                          "folded in after each generator update; samples, evaluation and export then use it; "
                          "0 = off (the paper; StarGAN v2 uses 0.999); `evaluate --ema 0` scores such a run's "
                          "live weights", evaluation=True)
    d_augment: str = opt("none", "differentiable augmentation of every image D sees, real and fake (DiffAugment, "
                                 "Zhao et al. 2020): random shifts and/or cutouts against D memorizing a small "
                                 "training set; none = the paper", list(POLICIES))


class StarGAN(TranslationModel):
    name = "stargan"
    summary = "StarGAN: one generator for many domains (label-conditioned ResNet, PatchGAN + domain classifier, WGAN-GP)"
    dataset_kind = "multidomain"
    default_data = "emoji_styles"
    Config = Config
    network_names = ("G", "D")
    version = __version__
    # The README's CPU run: the paper trains 200,000 steps of 16 at 128x128 (`--steps 200000
    # --batch-size 16 --image-size 128`). On a 2-core CPU, 32x32 emoji make each step ~4x cheaper
    # than 64x64, which buys the many steps D's domain head needs at the paper's lr 1e-4 and
    # n_critic 5 (400 steps at 64x64 stayed at chance); the model's Config is the paper's.
    train_defaults = {"steps": 2000, "batch_size": 8, "sample_every": 500, "checkpoint_every": 1000, "log_every": 50}
    data_defaults = {"image_size": 32}
    # Every step must train both networks in the contract tests (n_critic = 5 would skip G).
    tiny_config = {"n_critic": 1}

    def __init__(self, config: Config, data: DataInfo, total_steps: int):
        super().__init__(config, data, total_steps)
        c, n = config, len(data.domains)
        if n < 2:
            raise ConfigError(f"StarGAN needs at least two domains, the data has {list(data.domains)}")
        if c.n_critic < 1:
            raise ConfigError(f"--n-critic must be at least 1, got {c.n_critic}")
        n_layers = c.n_layers_d or max(1, data.image_size.bit_length() - 2)
        if data.image_size % 2**n_layers:
            raise ConfigError(f"--image-size {data.image_size}: the discriminator's {n_layers} stride-2 "
                              f"layers need a multiple of {2**n_layers} (or set --n-layers-d)")
        self.G = StarGenerator(data.channels, n, c.ngf, c.n_blocks)
        self.D = StarDiscriminator(data.channels, n, data.image_size, c.ndf, n_layers)
        self.d_augment = DiffAugment(c.d_augment, data.image_size)
        self.last_g: dict[str, float] = {}
        if not 0.0 <= c.ema < 1.0:
            raise ConfigError(f"--ema {c.ema}: expected 0 (off) or a decay in (0, 1), e.g. 0.999")
        if c.ema > 0:
            # A network of its own: checkpointed (exact resume), found by export and evaluate.
            self.G_ema = averaged_copies({"G": self.G})
            self.network_names = (*type(self).network_names, "G_ema")

    def configure_optimizers(self):
        c = self.config
        opt_G = torch.optim.Adam(self.G.parameters(), lr=c.g_lr, betas=(c.beta1, c.beta2))
        opt_D = torch.optim.Adam(self.D.parameters(), lr=c.d_lr, betas=(c.beta1, c.beta2))
        return ({"G": opt_G, "D": opt_D},
                {"G": linear_decay(opt_G, self.total_steps, c.decay_start),
                 "D": linear_decay(opt_D, self.total_steps, c.decay_start)})

    def classification_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy over domains; for attributes, binary cross-entropy summed over them
        and averaged over the batch (as the reference)."""
        logits = logits.float()
        if self.data.multi_label:
            return F.binary_cross_entropy_with_logits(logits, labels, reduction="sum") / logits.size(0)
        return F.cross_entropy(logits, labels.argmax(1))

    def training_step(self, batch, engine):
        c = self.config
        x_real, label_org = batch["image"], batch["label"].float()
        label_trg = label_org[torch.randperm(label_org.size(0), device=label_org.device)]
        update_g = (engine.step_index + 1) % c.n_critic == 0

        # -- discriminator ------------------------------------------------------------------
        with engine.autocast():
            with torch.set_grad_enabled(update_g):  # the graph is only needed for the G update
                x_fake = self.G(x_real, label_trg)
            # With --d-augment, D sees (and is penalized on) augmented images only, as in DiffAugment.
            d_in = self.d_augment(torch.cat([x_real, x_fake.detach()]))
            src, cls = self.D(d_in)
            src_real, src_fake = src.float().split(x_real.size(0))
            d_real, d_fake = -src_real.mean(), src_fake.mean()
            d_cls = self.classification_loss(cls[: x_real.size(0)], label_org)
        # The plain D: DDP does not support double backward; the penalty's weight gradients still
        # reach DDP's hooks, which see each weight's summed gradient once per backward.
        gp = gradient_penalty(unwrap(self.D), *d_in.split(x_real.size(0)), select=lambda out: out[0])
        loss_D = d_real + d_fake + c.lambda_cls * d_cls + c.lambda_gp * gp
        engine.backward(loss_D)
        engine.step("D")
        out = {"D": loss_D.item(), "D_real": d_real.item(), "D_fake": d_fake.item(), "D_cls": d_cls.item(),
               "D_gp": gp.item()}

        # -- generator, every n_critic steps ------------------------------------------------
        if update_g:
            with engine.autocast():
                with engine.frozen(self.D) as D:
                    src, cls = D(self.d_augment(x_fake))
                g_fake = -src.float().mean()
                g_cls = self.classification_loss(cls, label_trg)
                x_rec = self.G(x_fake, label_org)
                g_rec = F.l1_loss(x_rec.float(), x_real.float())
                loss_G = g_fake + c.lambda_rec * g_rec + c.lambda_cls * g_cls
                if c.lambda_id > 0:
                    g_id = F.l1_loss(self.G(x_real, label_org).float(), x_real.float())
                    loss_G = loss_G + c.lambda_id * g_id
            engine.backward(loss_G)
            engine.step("G")
            if c.ema > 0:  # counted in generator updates, the steps G's weights change at
                nets = self.networks()
                update_average(nets["G_ema"], nets, c.ema, (engine.step_index + 1) // c.n_critic)
            self.last_g = {"G": loss_G.item(), "G_fake": g_fake.item(), "G_cls": g_cls.item(), "G_rec": g_rec.item()}
            if c.lambda_id > 0:
                self.last_g["G_id"] = g_id.item()
        # The generator's losses as of its latest update (it is not updated every step).
        return {**out, **self.last_g}

    def loss_watch(self):
        return {"D": "discriminator"}

    # -- labels -----------------------------------------------------------------------------
    def target_labels(self, label_org: torch.Tensor, k: int) -> torch.Tensor:
        """Labels for "translate to domain k": one-hot, or for attributes the original ones with
        attribute k flipped."""
        if self.data.multi_label:
            out = label_org.clone()
            out[:, k] = 1 - out[:, k]
            return out
        return F.one_hot(torch.full_like(label_org[:, 0], k, dtype=torch.long), label_org.size(1)).to(label_org.dtype)

    # -- inspection -------------------------------------------------------------------------
    def generator(self):
        """The generator that samples, evaluation and export use: the average with --ema."""
        nets = self.networks()
        return nets["G_ema"]["G"] if "G_ema" in nets else nets["G"]

    @torch.no_grad()
    def visuals(self, batch):
        x, label = batch["image"], batch["label"].float()
        G, out = self.generator(), {"real": x}
        for k, name in enumerate(self.data.domains):
            out[f"to_{name}"] = G(x, self.target_labels(label, k))
        return out

    def exports(self):
        ch, n = self.data.channels, len(self.data.domains)

        def make_inputs(h, w, batch=1):
            target = F.one_hot(torch.arange(batch) % n, n).float()
            return (torch.rand(batch, ch, h, w) * 2 - 1, target)

        size = self.data.image_size
        return [ExportSpec(
            name="G", module=self.generator(), example_inputs=make_inputs(size, size),
            input_names=["image", "target"], output_names=["translated"],
            dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"}, "target": {0: "batch"},
                          "translated": {0: "batch", 2: "height", 3: "width"}},
            metadata={"task": "multi-domain", "domains": list(self.data.domains),
                      "multi_label": bool(self.data.multi_label), "size_multiple": StarGenerator.size_multiple},
            make_inputs=make_inputs,
        )]

    @torch.no_grad()
    def evaluate(self, dataset, device):
        from translate.plugins.stargan.evaluation import evaluate_translations

        return evaluate_translations(self, dataset, device)
