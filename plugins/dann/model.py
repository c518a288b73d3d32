"""DANN, as in "Unsupervised Domain Adaptation by Backpropagation" (Ganin & Lempitsky 2015).

A feature extractor feeds a label predictor, trained on the labelled source images, and,
through a gradient reversal layer, a domain classifier that learns to tell source features from
target features. Reversed, its gradient pushes the extractor towards features the domain
classifier cannot separate, so the label predictor also works on the unlabelled target domain.
One SGD optimizer (momentum 0.9) over all three networks with mu_p = mu_0 / (1 + 10 p)^0.75;
the reversal's weight lambda_p = 2 / (1 + exp(-10 p)) - 1 (p = training progress).
`--mode source_only` sets lambda to 0: the same networks and data, the baseline without adaptation
(the domain classifier still learns, so its accuracy shows how separable the domains are).
Additions to the paper, each a config option (dann's target accuracy on the built-in data,
`python benchmarks/quality_dann.py [--set KEY=VALUE]`, 1,000 steps, mean of seeds 0/1/2):
  `--shift` (default 2) randomly translates the training images: 0.638 -> 0.727.
  `--standardize channel` (default) makes the extractor's first layer subtract each image's own
  per-channel mean and divide by its std (exported with the classifier): 0.737 alone; "gray"
  (the same on the channel mean, 1 channel in) 0.720.
  `--ema 0.995` (default) evaluates and exports a bias-corrected moving average of the weights
  (Polyak averaging; checkpointed as the network "ema"): 0.734 alone (0.99); with
  `--standardize channel` 0.755 (0.99) / 0.759 (0.995; 1,500 steps: 0.745). The two defaults
  together: DANN 0.759 +- 0.016, source-only 0.585 +- 0.029 (+17.4 points; was 0.727 / 0.545,
  benchmarks/results/quality_dann-standardize-ema995-cpu-2core.jsonl).
  `--dropout 0.7` (default) zeroes whole feature maps of the extractor's last block while
  training (Dropout2d); it regularizes both modes: DANN 0.759 -> 0.790 +- 0.024, source-only
  0.585 -> 0.613 +- 0.018 (+17.7 points; benchmarks/results/quality_dann-dropout07-seeds012-*).
  On seeds 3/4/5: DANN 0.761, source-only 0.606 (+15.5). 0.3 / 0.5 gave DANN 0.770 / 0.781 on
  seeds 0/1/2 (0.5 on six seeds: DANN 0.769, source-only 0.616; 0.7: 0.775 / 0.609).
  `--invert P` (default 0) negates each channel of each training image of both domains with
  probability P. It encodes how MNIST-M is made (|photo - digit| inverts the strokes of a bright
  background), so it lifts the baseline more than DANN: with the defaults above, P = 0.1 /
  0.2 / 0.3 gives DANN 0.836 / 0.873 / 0.886, source-only 0.729 / 0.778 / 0.780
  (benchmarks/results/quality_dann-invert*.jsonl).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from translate import __version__
from translate.config import opt
from translate.errors import ConfigError, DataError
from translate.model import DataInfo, ExportSpec, TranslationModel
from translate.nn.averaging import averaged_copies, update_average
from translate.plugins.dann.gradient_reversal import adaptation_factor, annealed_lr, reverse_gradient
from translate.plugins.dann.networks import STANDARDIZE, Classifier, FeatureExtractor, mlp

MODES = ("dann", "source_only")


@dataclass
class Config:
    mode: str = opt("dann", "dann: adapt with the reversed domain gradient; source_only: lambda = 0 (the baseline)",
                    list(MODES))
    width: int = opt(32, "filters in the first conv block of the feature extractor (the paper's 32, then 48)")
    depth: int = opt(2, "conv blocks (5x5 conv + ReLU + 2x2 max-pool) in the feature extractor")
    hidden: int = opt(100, "units of the hidden layers of the label predictor and the domain classifier")
    label_layers: int = opt(2, "hidden layers of the label predictor")
    domain_layers: int = opt(1, "hidden layers of the domain classifier")
    lr: float = opt(0.01, "initial SGD learning rate mu_0")
    momentum: float = opt(0.9, "SGD momentum")
    lr_alpha: float = opt(10.0, "alpha of the learning-rate annealing mu_0 / (1 + alpha p)^beta")
    lr_beta: float = opt(0.75, "beta of the learning-rate annealing")
    gamma: float = opt(10.0, "gamma of the adaptation schedule lambda_p = 2 / (1 + exp(-gamma p)) - 1")
    lambda_max: float = opt(1.0, "scale of lambda_p (the weight of the reversed domain gradient)")
    shift: int = opt(2, "translate each training image (source and target) by a random -N..N pixels in x "
                        "and y, edges replicated; 0 = no augmentation, the paper's setting")
    invert: float = opt(0.0, "invert each channel of each training image (source and target) with this "
                             "probability (x -> -x on the [-1, 1] pixels); 0 = off. On the built-in data it "
                             "lifts source-only more than DANN (0.2: 0.778 / 0.873; off: 0.585 / 0.759)")
    dropout: float = opt(0.7, "Dropout2d on the feature extractor's last block while training (whole feature "
                              "maps zeroed with this probability); 0 = off, the paper's setting",
                         before=0.0)  # checkpoints from before this option trained without it
    ema: float = opt(0.995, "decay of a bias-corrected moving average of the weights (Polyak averaging), "
                            "used for evaluation and export; 0 = off (the trained weights), the paper's setting; "
                            "`evaluate --ema 0` scores such a run's live weights",
                     before=0.0, evaluation=True)  # checkpoints from before this option trained without it
    standardize: str = opt("channel", "first layer of the feature extractor: channel = each image minus its "
                                      "own per-channel mean, over its per-channel std; gray = the same on the "
                                      "mean of the channels (1 channel in); none = the raw pixels, the paper's",
                           list(STANDARDIZE), before="none")


class DANN(TranslationModel):
    name = "dann"
    summary = "DANN: domain-adversarial classifier (gradient reversal) for an unlabelled target domain"
    dataset_kind = "adaptation"
    default_data = "mnist2mnistm"
    Config = Config
    network_names = ("features", "label_predictor", "domain_classifier")
    version = __version__
    # 64 source + 64 target images per step; about half a minute on 2 CPU cores. Longer runs on
    # the built-in data score lower on the target (seed 0, before --standardize/--ema: 0.711 at
    # 1,000 steps, 0.691 at 1,500, 0.669 at 3,000:
    # `python benchmarks/quality_dann.py --steps 3000 --seeds 0 --modes dann --set standardize=none --set ema=0`).
    train_defaults = {"batch_size": 64, "steps": 1000, "log_every": 50, "sample_every": 1000,
                      "checkpoint_every": 1000, "sample_count": 8}
    tiny_config = {"width": 4, "depth": 1, "hidden": 8}

    def __init__(self, config: Config, data: DataInfo, total_steps: int):
        super().__init__(config, data, total_steps)
        c = config
        if c.mode not in MODES:
            raise ConfigError(f"--mode {c.mode!r}: expected one of {', '.join(MODES)}")
        if len(data.classes) < 2:
            raise DataError(f"DANN needs a labelled source with at least 2 classes, got {list(data.classes)}")
        self.features = FeatureExtractor(data.channels, data.image_size, c.width, c.depth, c.standardize,
                                         c.dropout)
        n = self.features.out_features
        self.label_predictor = mlp(n, c.hidden, c.label_layers, len(data.classes))
        self.domain_classifier = mlp(n, c.hidden, c.domain_layers, 1)
        if c.shift < 0:
            raise ConfigError(f"--shift {c.shift}: expected 0 (off) or a positive number of pixels")
        self._shift = self._make_shift(c.shift, data.image_size)
        if not 0.0 <= c.invert <= 1.0:
            raise ConfigError(f"--invert {c.invert}: expected a probability in [0, 1]")
        if not 0.0 <= c.ema < 1.0:
            raise ConfigError(f"--ema {c.ema}: expected 0 (off) or a decay in (0, 1), e.g. 0.99")
        if c.ema > 0:
            # The averaged copies are a network of their own: checkpointed (exact resume), and
            # what `translate export` / `translate evaluate` rebuild from a checkpoint.
            self.ema = averaged_copies({n: getattr(self, n) for n in self.network_names})
            self.network_names = (*type(self).network_names, "ema")

    @staticmethod
    def _make_shift(pixels: int, size: int):
        """kornia's random crop of the edge-padded image: a random translation per image. On the
        built-in data (2,500 source digits) it lifts DANN's target accuracy from 0.638 to 0.727
        (benchmarks/quality_dann.py, 3 seeds); the source-only baseline does not gain from it."""
        if not pixels:
            return None
        import kornia.augmentation as K

        return K.RandomCrop((size, size), padding=pixels, padding_mode="replicate")

    def _invert(self, x: torch.Tensor) -> torch.Tensor:
        """--invert: each channel of each image negated with probability P (torch's RNG, like --shift)."""
        flip = torch.rand(x.size(0), x.size(1), 1, 1, device=x.device) < self.config.invert
        return torch.where(flip, -x, x)

    def configure_optimizers(self):
        c = self.config
        params = [p for net in (self.features, self.label_predictor, self.domain_classifier) for p in net.parameters()]
        opt_all = torch.optim.SGD(params, lr=c.lr, momentum=c.momentum)
        return {"sgd": opt_all}, {"sgd": annealed_lr(opt_all, self.total_steps, c.lr_alpha, c.lr_beta)}

    def adaptation_lambda(self, progress: float) -> float:
        if self.config.mode == "source_only":
            return 0.0
        return self.config.lambda_max * adaptation_factor(progress, self.config.gamma)

    def training_step(self, batch, engine):
        source, labels, target = batch["source"], batch["label"], batch["target"]
        if self._shift is not None:  # torch's RNG, checkpointed by the fit loop: resume stays exact
            source, target = self._shift(source), self._shift(target)
        if self.config.invert > 0:
            source, target = self._invert(source), self._invert(target)
        lambd = self.adaptation_lambda(engine.progress)
        n = source.size(0)
        with engine.autocast():
            feats = self.features(torch.cat([source, target]))
            logits = self.label_predictor(feats[:n])
            loss_cls = F.cross_entropy(logits.float(), labels)
            # lambda_p only scales what reaches the extractor; the domain classifier itself
            # always learns at full strength (the paper's setting).
            domain_logits = self.domain_classifier(reverse_gradient(feats, lambd)).float().squeeze(1)
            domains = torch.cat([torch.zeros(n), torch.ones(target.size(0))]).to(domain_logits.device)
            loss_domain = F.binary_cross_entropy_with_logits(domain_logits, domains)
        engine.backward(loss_cls + loss_domain)
        engine.step("sgd")
        if self.config.ema > 0:
            nets = self.networks()
            update_average(nets["ema"], nets, self.config.ema, engine.step_index + 1)
        return {"cls": loss_cls.item(), "domain": loss_domain.item(),
                "source_acc": (logits.argmax(1) == labels).float().mean().item(),
                "domain_acc": ((domain_logits > 0).float() == domains).float().mean().item(),
                "lambda": lambd}

    def _eval_networks(self) -> dict[str, nn.Module]:
        """The networks evaluation and export use: the averaged copies when --ema is on."""
        nets = self.networks()
        return dict(nets["ema"]) if "ema" in nets else nets

    def loss_watch(self):
        # A domain loss near 0 means the domains stay perfectly separable: no adaptation.
        return {"domain": "discriminator"}

    # -- inspection -------------------------------------------------------------------------
    def classifier(self) -> Classifier:
        nets = self._eval_networks()
        return Classifier(nets["features"], nets["label_predictor"])

    @torch.no_grad()
    def visuals(self, batch):
        """Training batches: the source and target images side by side; test batches: the images."""
        if "source" in batch:
            return {"source": batch["source"], "target": batch["target"]}
        return {"image": batch["image"]}

    def exports(self):
        """The adapted classifier: images at the training size -> class probabilities. The
        spatial size is fixed (the runtime resizes images to it), the batch is dynamic."""
        ch, size = self.data.channels, self.data.image_size

        def make_inputs(h=size, w=size, n=1):  # a classifier of fixed-size images: h, w are ignored
            return (torch.rand(n, ch, size, size) * 2 - 1,)

        source, target = (list(self.data.domains) + ["source", "target"])[:2]
        return [ExportSpec(
            name="classifier", module=self.classifier(), example_inputs=make_inputs(),
            input_names=["image"], output_names=["probabilities"],
            dynamic_axes={"image": {0: "batch"}, "probabilities": {0: "batch"}},
            metadata={"task": "classify", "classes": list(self.data.classes), "source_domain": source,
                      "target_domain": target, "mode": self.config.mode, "size_multiple": 1},
            make_inputs=make_inputs, tolerance=1e-4,
        )]

    @torch.no_grad()
    def evaluate(self, dataset, device):
        """Accuracy on the labelled target test set (what adaptation is for) and the source test
        set, and the domain classifier's balanced accuracy on both (0.5 = domain-invariant features)."""
        loader = torch.utils.data.DataLoader(dataset, batch_size=256, shuffle=False)
        correct, count, domain_correct = [0, 0], [0, 0], [0, 0]
        nets = self._eval_networks()
        for batch in loader:
            images, labels, domains = batch["image"].to(device), batch["label"].to(device), batch["domain"].to(device)
            feats = nets["features"](images)
            hit = nets["label_predictor"](feats).argmax(1) == labels
            said_target = nets["domain_classifier"](feats).squeeze(1) > 0
            for d in (0, 1):
                mine = domains == d
                correct[d] += int(hit[mine].sum())
                domain_correct[d] += int((said_target[mine] == bool(d)).sum())
                count[d] += int(mine.sum())
        out = {"mode": self.config.mode, "chance": 1.0 / len(self.data.classes)}
        names = ("source", "target")
        for d in (1, 0):
            if count[d]:
                out[f"{names[d]}_accuracy"] = correct[d] / count[d]
                out[f"{names[d]}_test_images"] = count[d]
        if count[0] and count[1]:
            out["domain_accuracy"] = 0.5 * (domain_correct[0] / count[0] + domain_correct[1] / count[1])
        return out
