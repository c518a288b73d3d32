"""FastCUT, as in "Contrastive Learning for Unpaired Image-to-Image Translation" (Park, Efros,
Zhang, Zhu 2020) and its reference implementation's FastCUT settings.

One generator G: A -> B (CycleGAN's ResNet generator) and one PatchGAN discriminator on B, LSGAN.
Instead of a second generator and a cycle, G is kept content-preserving by PatchNCE: a patch of
G(a), encoded by G's own encoder, must match the patch of `a` at the same place among the other
patches of `a` (lambda_nce 10, tau 0.07, 256 patches at each of five encoder layers, a 256-unit
two-layer MLP head per layer). FastCUT drops CUT's identity NCE term on B and instead asks for
flip equivariance: half of the time G sees a mirrored `a` and its output is mirrored back before
the comparison. The learning rate is constant for 3/4 of training (150 + 50 epochs), then decays.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from translate.config import opt
from translate.errors import ConfigError
from translate.model import DataInfo, ExportSpec, TranslationModel
from translate.nn.discriminators import NLayerDiscriminator
from translate.nn.generators import ResnetGenerator
from translate.nn.layers import init_weights
from translate.nn.losses import OBJECTIVES, GANLoss
from translate.nn.schedules import linear_decay

from translate_fastcut import __version__
from translate_fastcut.metrics import held_out_quality
from translate_fastcut.patchnce import ProjectionHeads, gather_patches, patchnce_loss, sample_locations

# The paper reads its ResNet generator's layers 0, 4, 8, 12, 16: the (padded) input, the first and
# second downsampling convs, and the outputs of ResNet blocks 1 and 5. The same places as cut
# points of translate.nn's generator (ResnetGenerator.encode):
PAPER_LAYERS = "0,4,7,10,14"


@dataclass
class Config:
    ngf: int = opt(64, "generator width (filters in the first conv layer)")
    ndf: int = opt(64, "discriminator width")
    n_blocks: int = opt(0, "ResNet blocks in the generator; 0 = 9 at 256x256, 6 at 128x128 and below (as CycleGAN)")
    n_layers_d: int = opt(3, "PatchGAN depth: 3 = 70x70 patches")
    norm: str = opt("instance", "normalization layers", ["instance", "batch", "none"])
    gan_mode: str = opt("lsgan", "GAN objective", list(OBJECTIVES))
    lambda_gan: float = opt(1.0, "weight of the adversarial loss")
    lambda_nce: float = opt(10.0, "weight of the PatchNCE loss")
    nce_idt: bool = opt(False, "also apply PatchNCE to G(b) vs b (CUT); FastCUT turns it off")
    nce_layers: str = opt(PAPER_LAYERS, "generator cut points whose features PatchNCE compares "
                                        "(ResnetGenerator.encode; the paper's layers 0,4,8,12,16)")
    nce_t: float = opt(0.07, "PatchNCE temperature tau")
    num_patches: int = opt(256, "locations sampled per layer and image")
    head_width: int = opt(256, "units of the two-layer MLP projection heads")
    flip_equivariance: bool = opt(True, "mirror G's input at random and compare the mirrored-back output (FastCUT)")
    lr: float = opt(2e-4, "Adam learning rate")
    beta1: float = opt(0.5, "Adam beta1")
    beta2: float = opt(0.999, "Adam beta2")
    decay_start: float = opt(0.75, "fraction of the steps after which the learning rate decays linearly to 0 "
                                    "(FastCUT: 150 constant + 50 decaying epochs)")
    init_gain: float = opt(0.02, "std of the normal(0, gain) weight initialization")


def parse_layers(text: str, generator: ResnetGenerator) -> list[int]:
    try:
        layers = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        layers = []
    top = len(generator.model)
    if not layers or any(not 0 <= k <= top for k in layers):
        raise ConfigError(f"--nce-layers {text!r}: expected comma-separated cut points of the generator "
                          f"in 0..{top} (with these --n-blocks), e.g. {PAPER_LAYERS}")
    return layers


class FastCUT(TranslationModel):
    name = "fastcut"
    summary = "FastCUT: one-sided unpaired A->B translation with PatchNCE (Park et al. 2020)"
    dataset_kind = "unpaired"
    default_data = "noto2twemoji"
    Config = Config
    network_names = ("G", "D", "F")
    eval_data_options = {"aligned": "auto"}   # held-out pairs (testA/x.png <-> testB/x.png) when named so
    version = __version__
    train_defaults = {"steps": 1000, "sample_every": 250, "checkpoint_every": 500, "log_every": 25}
    tiny_config = {"ngf": 8, "ndf": 8, "n_blocks": 1, "n_layers_d": 2, "nce_layers": "0,4,7,10",
                   "num_patches": 16, "head_width": 16}

    def __init__(self, config: Config, data: DataInfo, total_steps: int):
        super().__init__(config, data, total_steps)
        c, ch = config, data.channels
        ResnetGenerator.check_image_size(data.image_size)
        self.G = ResnetGenerator(ch, ch, c.ngf, c.n_blocks or (9 if data.image_size >= 256 else 6), c.norm)
        self.D = NLayerDiscriminator(ch, c.ndf, c.n_layers_d, c.norm)
        init_weights(self.G, "normal", c.init_gain)
        init_weights(self.D, "normal", c.init_gain)
        self.nce_layers = parse_layers(c.nce_layers, self.G)
        with torch.no_grad():  # channels at each cut point, from a dry run on a tiny image
            probe = self.G.encode(torch.zeros(1, ch, 8, 8), self.nce_layers)
        self.F = ProjectionHeads([f.size(1) for f in probe], c.head_width, c.init_gain)
        self.gan = GANLoss(c.gan_mode)

    def configure_optimizers(self):
        c = self.config
        betas = (c.beta1, c.beta2)
        opts = {"G": torch.optim.Adam(self.G.parameters(), lr=c.lr, betas=betas),
                "D": torch.optim.Adam(self.D.parameters(), lr=c.lr, betas=betas),
                "F": torch.optim.Adam(self.F.parameters(), lr=c.lr, betas=betas)}
        return opts, {n: linear_decay(o, self.total_steps, c.decay_start) for n, o in opts.items()}

    # -- losses ---------------------------------------------------------------------------------
    def nce_loss(self, source: torch.Tensor, output: torch.Tensor, flipped: bool = False) -> torch.Tensor:
        """PatchNCE between G's input `source` (keys) and its output (queries), averaged over the
        layers. `flipped`: the output came from the mirrored source; mirror its features back."""
        c = self.config
        G, F = self.networks()["G"], self.networks()["F"]   # encode() lives on the unwrapped G
        with torch.no_grad():  # keys carry no gradient (see patchnce_loss): skip their graph
            keys = G.encode(source, self.nce_layers)
        queries = G.encode(output, self.nce_layers)
        if flipped:
            queries = [q.flip(3) for q in queries]
        where = [sample_locations(k.size(2), k.size(3), c.num_patches, k.device) for k in keys]
        q = F([gather_patches(f, i) for f, i in zip(queries, where)])
        with torch.no_grad():
            k = F([gather_patches(f, i) for f, i in zip(keys, where)])
        return sum(patchnce_loss(qi, ki, c.nce_t) for qi, ki in zip(q, k)) / len(q)

    def training_step(self, batch, engine):
        c = self.config
        real_A, real_B = batch["A"], batch["B"]
        flipped = c.flip_equivariance and bool(torch.rand(()) < 0.5)
        source = real_A.flip(3) if flipped else real_A
        with engine.autocast():
            if c.nce_idt:  # one generator call for both batches (instance norm: same math)
                fake_B, idt_B = self.G(torch.cat([source, real_B])).split([real_A.size(0), real_B.size(0)])
            else:
                fake_B = self.G(source)

        # -- discriminator first, as in the paper's code ----------------------------------------
        with engine.autocast():
            loss_D = 0.5 * (self.gan.d_loss_half(self.D(real_B), True)
                            + self.gan.d_loss_half(self.D(fake_B.detach()), False))
        engine.backward(loss_D)
        engine.step("D")

        # -- generator and projection heads -----------------------------------------------------
        with engine.autocast():
            with engine.frozen(self.D) as D:
                loss_gan = self.gan.g_loss(D(fake_B)) * c.lambda_gan
            loss_nce = self.nce_loss(real_A, fake_B, flipped) * c.lambda_nce
            loss_G = loss_gan + loss_nce
            if c.nce_idt:
                loss_idt = self.nce_loss(real_B, idt_B) * c.lambda_nce
                loss_G = loss_gan + 0.5 * (loss_nce + loss_idt)
        engine.backward(loss_G)
        engine.step("G")
        engine.step("F")

        out = {"D": loss_D.item(), "G_gan": loss_gan.item(), "nce": loss_nce.item()}
        if c.nce_idt:
            out["nce_idt"] = loss_idt.item()
        return out

    def loss_watch(self):
        return {"D": "discriminator"}

    # -- inspection -----------------------------------------------------------------------------
    @torch.no_grad()
    def visuals(self, batch):
        return {"real_A": batch["A"], "fake_B": self.G(batch["A"]), "real_B": batch["B"]}

    def exports(self):
        source, target = (list(self.data.domains) + ["A", "B"])[:2]
        ch, size = self.data.channels, self.data.image_size

        def make_inputs(h, w, n=1):
            return (torch.rand(n, ch, h, w) * 2 - 1,)

        return [ExportSpec(
            name="A2B", module=self.G, example_inputs=make_inputs(size, size),
            input_names=["image"], output_names=["translated"],
            dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                          "translated": {0: "batch", 2: "height", 3: "width"}},
            metadata={"task": "image-to-image", "direction": "A2B", "source_domain": source,
                      "target_domain": target, "size_multiple": ResnetGenerator.size_multiple},
            make_inputs=make_inputs)]

    @torch.no_grad()
    def evaluate(self, dataset, device):
        """PSNR/SSIM of G(A) against the true B on held-out pairs, beside the identity baseline."""
        if not dataset.aligned:  # e.g. horse2zebra: testA/ and testB/ are not pairs
            return {"held_out": "unpaired (testA/ and testB/ file names differ): no true targets"}
        return held_out_quality(dataset, device, {"A2B": lambda a, b: (self.G(a), b), "identity": lambda a, b: (a, b)})
