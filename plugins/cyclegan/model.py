"""CycleGAN, as in "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial
Networks" (Zhu, Park, Isola, Efros 2017) and its reference implementation's defaults.

Two generators G_AB: A -> B and G_BA: B -> A; two PatchGAN discriminators, D_B judging domain B
and D_A judging domain A. The generators minimize an LSGAN loss plus a cycle-consistency loss
(A -> B -> A and B -> A -> B, weight lambda_cycle) and an identity loss (G_AB(B) ~ B, weight
lambda_identity * lambda_cycle). The discriminators learn from a pool of 50 past fakes.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from translate import __version__
from translate.config import opt
from translate.errors import ConfigError
from translate.metrics import psnr_ssim
from translate.model import DataInfo, ExportSpec, TranslationModel
from translate.nn.averaging import averaged_copies, update_average
from translate.nn.discriminators import NLayerDiscriminator
from translate.nn.generators import ResnetGenerator
from translate.nn.layers import init_weights
from translate.nn.losses import OBJECTIVES, GANLoss
from translate.nn.pool import ImagePool
from translate.nn.schedules import linear_decay


@dataclass
class Config:
    ngf: int = opt(64, "generator width (filters in the first conv layer)")
    ndf: int = opt(64, "discriminator width")
    n_blocks: int = opt(0, "ResNet blocks in the generators; 0 = the paper's choice: 9 at 256x256, 6 at 128x128 and below")
    n_layers_d: int = opt(3, "PatchGAN depth: 3 = 70x70 patches")
    norm: str = opt("instance", "normalization layers", ["instance", "batch", "none"])
    gan_mode: str = opt("lsgan", "GAN objective", list(OBJECTIVES))
    lambda_cycle: float = opt(10.0, "weight of the cycle-consistency losses (lambda_A = lambda_B)")
    lambda_identity: float = opt(0.5, "identity loss weight, relative to lambda_cycle (0 disables it)")
    pool_size: int = opt(50, "size of the image pools of generated images the discriminators learn from")
    lr: float = opt(2e-4, "Adam learning rate")
    beta1: float = opt(0.5, "Adam beta1")
    beta2: float = opt(0.999, "Adam beta2")
    decay_start: float = opt(0.5, "fraction of the steps after which the learning rate decays linearly to 0")
    init_gain: float = opt(0.02, "std of the normal(0, gain) weight initialization")
    spectral_norm: bool = opt(False, "spectral normalization in the discriminators")
    dropout: bool = opt(False, "dropout in the generators' residual blocks")
    ema: float = opt(0.0, "decay of a bias-corrected moving average of the generators' weights (Polyak "
                          "averaging), which samples, evaluation and export then use; 0 = off (the paper); "
                          "`evaluate --ema 0` scores such a run's live weights", evaluation=True)
    kid_samples: int = opt(0, "held-out images per domain for KID-EffLite0 in `evaluate` (G_AB(A) vs the real B, "
                              "G_BA(B) vs the real A; paired or not; needs the 'kid' extra; slow on CPU); 0 = off",
                         evaluation=True)


class CycleGAN(TranslationModel):
    name = "cyclegan"
    summary = "CycleGAN: unpaired A<->B translation (ResNet generators, PatchGAN, LSGAN, cycle loss)"
    dataset_kind = "unpaired"
    default_data = "noto2twemoji"
    Config = Config
    network_names = ("G_AB", "G_BA", "D_A", "D_B")
    eval_data_options = {"aligned": "auto"}   # held-out pairs (testA/x.png <-> testB/x.png) when named so
    version = __version__
    # The README's main job: a 64x64 run on the built-in emoji that must finish in under 10 minutes
    # on a 2-core CPU. 1,000 steps took 8 min on a fast day of the dev VM but 14 on a slow one
    # (1.24 it/s; 700 steps: 10 min 1 s end to end), so 500: the grid shows the translation by then.
    train_defaults = {"steps": 500, "sample_every": 125, "checkpoint_every": 250, "log_every": 25}

    def __init__(self, config: Config, data: DataInfo, total_steps: int):
        super().__init__(config, data, total_steps)
        c, ch = config, data.channels
        n_blocks = c.n_blocks or (9 if data.image_size >= 256 else 6)
        self.n_blocks = n_blocks
        if c.kid_samples < 0 or c.kid_samples == 1:
            raise ConfigError(f"--kid-samples must be 0 (off) or at least 2 (KID compares sets), got {c.kid_samples}")
        ResnetGenerator.check_image_size(data.image_size)
        self.G_AB = ResnetGenerator(ch, ch, c.ngf, n_blocks, c.norm, c.dropout)
        self.G_BA = ResnetGenerator(ch, ch, c.ngf, n_blocks, c.norm, c.dropout)
        self.D_A = NLayerDiscriminator(ch, c.ndf, c.n_layers_d, c.norm, c.spectral_norm)
        self.D_B = NLayerDiscriminator(ch, c.ndf, c.n_layers_d, c.norm, c.spectral_norm)
        for net in (self.G_AB, self.G_BA, self.D_A, self.D_B):
            init_weights(net, "normal", c.init_gain)
        self.gan = GANLoss(c.gan_mode)
        self.pool_A = ImagePool(c.pool_size, seed=1)
        self.pool_B = ImagePool(c.pool_size, seed=2)
        # Instance norm treats every image on its own, so two batches can go through a network
        # as one (same math, fewer, larger kernels). Batch norm would mix them: keep them apart.
        self.fuse_batches = c.norm != "batch"
        if not 0.0 <= c.ema < 1.0:
            raise ConfigError(f"--ema {c.ema}: expected 0 (off) or a decay in (0, 1), e.g. 0.999")
        if c.ema > 0:
            # A network of its own: checkpointed (exact resume), found by export and evaluate.
            self.G_ema = averaged_copies({"G_AB": self.G_AB, "G_BA": self.G_BA})
            self.network_names = (*type(self).network_names, "G_ema")

    def configure_optimizers(self):
        c = self.config
        betas = (c.beta1, c.beta2)
        opt_G = torch.optim.Adam([*self.G_AB.parameters(), *self.G_BA.parameters()], lr=c.lr, betas=betas)
        opt_D = torch.optim.Adam([*self.D_A.parameters(), *self.D_B.parameters()], lr=c.lr, betas=betas)
        return ({"G": opt_G, "D": opt_D},
                {"G": linear_decay(opt_G, self.total_steps, c.decay_start),
                 "D": linear_decay(opt_D, self.total_steps, c.decay_start)})

    def _together(self, net, *batches):
        """net(x) for each batch x, as one call when the batches may share it."""
        if self.fuse_batches and len(batches) > 1:
            return net(torch.cat(batches)).split([x.size(0) for x in batches])
        return tuple(net(x) for x in batches)

    def training_step(self, batch, engine):
        c = self.config
        real_A, real_B = batch["A"], batch["B"]
        use_idt = c.lambda_identity > 0

        # -- generators ---------------------------------------------------------------------
        with engine.autocast():
            # Three calls, not four: G_BA's own batches and the cycle through it go together.
            if use_idt:
                fake_B, idt_B = self._together(self.G_AB, real_A, real_B)   # G_AB(B) should be B
                fake_A, idt_A, rec_A = self._together(self.G_BA, real_B, real_A, fake_B)
            else:
                fake_B = self.G_AB(real_A)
                fake_A, rec_A = self._together(self.G_BA, real_B, fake_B)
            rec_B = self.G_AB(fake_A)
            with engine.frozen(self.D_A, self.D_B) as (D_A, D_B):
                loss_gan_AB = self.gan.g_loss(D_B(fake_B))
                loss_gan_BA = self.gan.g_loss(D_A(fake_A))
            loss_cycle = (F.l1_loss(rec_A.float(), real_A) + F.l1_loss(rec_B.float(), real_B)) * c.lambda_cycle
            loss_G = loss_gan_AB + loss_gan_BA + loss_cycle
            if use_idt:
                loss_idt = (F.l1_loss(idt_B.float(), real_B) + F.l1_loss(idt_A.float(), real_A)) \
                    * c.lambda_cycle * c.lambda_identity
                loss_G = loss_G + loss_idt
        engine.backward(loss_G)
        engine.step("G")
        if c.ema > 0:
            nets = self.networks()
            update_average(nets["G_ema"], nets, c.ema, engine.step_index + 1)

        # -- discriminators, on pooled fakes -------------------------------------------------
        pooled_B = self.pool_B.query(fake_B.detach())
        pooled_A = self.pool_A.query(fake_A.detach())
        with engine.autocast():
            loss_D_B = self._d_loss(self.D_B, real_B, pooled_B)
            loss_D_A = self._d_loss(self.D_A, real_A, pooled_A)
        engine.backward(loss_D_A + loss_D_B)
        engine.step("D")

        out = {"G_AB": loss_gan_AB.item(), "G_BA": loss_gan_BA.item(), "cycle": loss_cycle.item(),
               "D_A": loss_D_A.item(), "D_B": loss_D_B.item()}
        if use_idt:
            out["idt"] = loss_idt.item()
        return out

    def _d_loss(self, D, real, fake):
        real_logits, fake_logits = self._together(D, real, fake)
        return 0.5 * (self.gan.d_loss_half(real_logits, True) + self.gan.d_loss_half(fake_logits, False))

    def loss_watch(self):
        return {"D_A": "discriminator", "D_B": "discriminator"}

    # -- state ------------------------------------------------------------------------------
    def extra_state(self):
        return {"pool_A": self.pool_A.state_dict(), "pool_B": self.pool_B.state_dict()}

    def load_extra_state(self, state):
        device = next(self.parameters()).device
        self.pool_A.load_state_dict(state["pool_A"], device)
        self.pool_B.load_state_dict(state["pool_B"], device)

    # -- inspection -------------------------------------------------------------------------
    def generators(self):
        """(G_AB, G_BA) as samples, evaluation and export use them: the averages with --ema."""
        nets = self.networks()
        if "G_ema" in nets:
            return nets["G_ema"]["G_AB"], nets["G_ema"]["G_BA"]
        return nets["G_AB"], nets["G_BA"]

    @torch.no_grad()
    def visuals(self, batch):
        a, b = batch["A"], batch["B"]
        G_AB, G_BA = self.generators()
        fake_B, fake_A = G_AB(a), G_BA(b)
        return {"real_A": a, "fake_B": fake_B, "rec_A": G_BA(fake_B),
                "real_B": b, "fake_A": fake_A, "rec_B": G_AB(fake_A)}

    def exports(self):
        source, target = (list(self.data.domains) + ["A", "B"])[:2]
        ch = self.data.channels

        def make_inputs(h, w, n=1):
            return (torch.rand(n, ch, h, w) * 2 - 1,)

        size = self.data.image_size
        G_AB, G_BA = self.generators()
        specs = []
        for name, net, src, dst in (("A2B", G_AB, source, target), ("B2A", G_BA, target, source)):
            specs.append(ExportSpec(
                name=name, module=net, example_inputs=make_inputs(size, size),
                input_names=["image"], output_names=["translated"],
                dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                              "translated": {0: "batch", 2: "height", 3: "width"}},
                metadata={"task": "image-to-image", "direction": name, "source_domain": src,
                          "target_domain": dst, "size_multiple": ResnetGenerator.size_multiple},
                make_inputs=make_inputs,
            ))
        return specs

    @torch.no_grad()
    def evaluate(self, dataset, device):
        """On held-out pairs (testA/x <-> testB/x): PSNR/SSIM (kornia) of G_AB(A) against the true
        B and of G_BA(B) against the true A, beside the identity baseline (output = input).
        Unpaired held-out folders (horse2zebra and most downloaded datasets) have no true target:
        then PSNR/SSIM of the cycle reconstructions A -> B -> A and B -> A -> B, each image once.
        With --kid-samples N, either way: KID-EffLite0 of G_AB(A) against the real B and of G_BA(B)
        against the real A (first N held-out images of each), beside identity (A against B)."""
        loader = torch.utils.data.DataLoader(dataset, batch_size=16, shuffle=False)
        means, kid = _Means(), _KidSets(self.config.kid_samples)
        paired = getattr(dataset, "aligned", False)
        seen: dict[str, set] = {"A": set(), "B": set()}
        G_AB, G_BA = self.generators()
        for batch in loader:
            for side, there, back in (("A", G_AB, G_BA), ("B", G_BA, G_AB)):
                # Unpaired, the shorter folder repeats along the longer one: each image counts once.
                paths = batch[f"{side}_path"]
                new = list(range(len(paths))) if paired else _first_visits(paths, seen[side])
                if not new:
                    continue
                x = batch[side][new].to(device)
                fake = there(x)
                kid.add(side, x, fake)
                if paired:
                    other = "B" if side == "A" else "A"
                    means.add(f"{side}2{other}", *psnr_ssim(fake, batch[other][new].to(device)))
                else:
                    means.add("A2B2A" if side == "A" else "B2A2B", *psnr_ssim(back(fake), x))
            if paired:
                means.add("identity", *psnr_ssim(batch["A"], batch["B"]))
        if paired:
            return {"pairs": len(dataset), **means.result(), **kid.result(device)}
        return {"held_out": "unpaired (testA/ and testB/ file names differ): cycle reconstructions, "
                            "no true targets",
                "images_A": len(seen["A"]), "images_B": len(seen["B"]), **means.result(), **kid.result(device)}


def _first_visits(paths, seen: set) -> list[int]:
    """Indices of the paths not in `seen` (repeats within `paths` too), which are added to it."""
    new = []
    for i, path in enumerate(paths):
        if path not in seen:
            seen.add(path)
            new.append(i)
    return new


class _KidSets:
    """The first `n` held-out images of each domain and their translations, for KID-EffLite0."""

    def __init__(self, n: int):
        self.n = n
        self.images: dict[str, list[torch.Tensor]] = {"A": [], "B": [], "A2B": [], "B2A": []}

    def add(self, side: str, real: torch.Tensor, fake: torch.Tensor) -> None:
        room = self.n - sum(x.size(0) for x in self.images[side])
        if room > 0:
            self.images[side].append(real[:room].float().cpu())
            self.images["A2B" if side == "A" else "B2A"].append(fake[:room].float().clamp(-1, 1).cpu())

    def result(self, device) -> dict[str, float]:
        if not self.n:
            return {}
        from translate.metrics import kid_report

        sets = {k: torch.cat(v) for k, v in self.images.items()}
        return {"kid_images": min(sets["A"].size(0), sets["B"].size(0)),
                **kid_report(sets["B"], sets["A2B"], device, prefix="A2B/"),
                **kid_report(sets["A"], sets["B2A"], device, prefix="B2A/"),
                **kid_report(sets["B"], sets["A"], device, prefix="identity/")}


class _Means:
    """Running means of per-image PSNR and SSIM, by name."""

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, name: str, psnr: torch.Tensor, ssim: torch.Tensor) -> None:
        for key, values in ((f"{name}/psnr", psnr), (f"{name}/ssim", ssim)):
            self.sums[key] = self.sums.get(key, 0.0) + values.sum().item()
            self.counts[key] = self.counts.get(key, 0) + values.numel()

    def result(self) -> dict[str, float]:
        return {k: v / self.counts[k] for k, v in self.sums.items()}

