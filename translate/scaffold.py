"""`translate new-plugin NAME`: write a working skeleton of a third-party model plugin.

The skeleton is a package of its own: a pyproject with the entry point (group "translate"), a
torch-free registration module, a small working unpaired model built from translate.nn (a
residual generator A -> B judged by a PatchGAN, with a content loss), a README, and a test
that runs the contract suite (`translate.testing.check_model_plugin`). It passes its own tests
as written; the author then changes the model.
"""
from __future__ import annotations

import importlib.util
import keyword
import re
from pathlib import Path
from string import Template

from translate import __version__
from translate.errors import ConfigError

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")

PYPROJECT = Template('''\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "$title: a model plugin for translate (translate-i2i)"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["translate-i2i[train]>=$toolkit_version"]

[project.optional-dependencies]
test = ["pytest>=8"]

# How translate finds the plugin: entry point group "translate", name -> registration module.
[project.entry-points.translate]
$name = "$package.plugin"

[tool.setuptools]
packages = ["$package"]

[tool.pytest.ini_options]
testpaths = ["tests"]
''')

INIT = Template('''\
"""$title: a model plugin for translate. Registration is in `$package.plugin`."""

__version__ = "0.1.0"
''')

PLUGIN = Template('''\
"""Registration, imported whenever translate loads its plugins: keep it free of torch.
The model class is named as a "module:attr" string and imported only when it is used."""
from translate import hookimpl


@hookimpl
def register_models(register):
    register.model("$name", "$package.model:$cls", summary="$title: one-sided A->B translation (ResNet + PatchGAN)")
''')

MODEL = Template('''\
"""$title: translates domain A to domain B with one residual generator G, judged by a PatchGAN
discriminator D on domain B. Unpaired data: a content loss |G(a) - a| keeps the output close to
its input while the adversarial loss pulls it towards B. Replace it with your model; the contract
test in tests/ keeps you inside the model contract while you do.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from translate.config import opt
from translate.model import DataInfo, ExportSpec, TranslationModel
from translate.nn.discriminators import NLayerDiscriminator
from translate.nn.generators import ResnetGenerator
from translate.nn.layers import init_weights
from translate.nn.losses import OBJECTIVES, GANLoss
from translate.nn.schedules import linear_decay

from $package import __version__


@dataclass
class Config:
    # Every field becomes a `translate fit --plugin $name` flag; the defaults are your paper's.
    ngf: int = opt(64, "generator width")
    ndf: int = opt(64, "discriminator width")
    n_blocks: int = opt(6, "residual blocks in the generator")
    n_layers_d: int = opt(3, "PatchGAN depth (3 = 70x70 patches)")
    gan_mode: str = opt("lsgan", "GAN objective", list(OBJECTIVES))
    lambda_content: float = opt(10.0, "weight of the content loss |G(a) - a|")
    lr: float = opt(2e-4, "Adam learning rate")
    beta1: float = opt(0.5, "Adam beta1")
    beta2: float = opt(0.999, "Adam beta2")
    decay_start: float = opt(0.5, "fraction of the steps after which the learning rate decays linearly to 0")


class $cls(TranslationModel):
    name = "$name"
    summary = "$title: one-sided A->B translation (ResNet + PatchGAN)"
    dataset_kind = "unpaired"            # trainA/ trainB/ (testA/ testB/ held-out pairs)
    default_data = "noto2twemoji"        # a built-in dataset: `translate fit --plugin $name` needs no download
    Config = Config
    network_names = ("G", "D")
    eval_data_options = {"aligned": "auto"}   # held-out pairs (testA/x.png <-> testB/x.png) when named so
    version = __version__
    train_defaults = {"steps": 1000, "sample_every": 250, "checkpoint_every": 500, "log_every": 25}

    def __init__(self, config: Config, data: DataInfo, total_steps: int):
        super().__init__(config, data, total_steps)
        ch = data.channels
        ResnetGenerator.check_image_size(data.image_size)
        self.G = ResnetGenerator(ch, ch, config.ngf, config.n_blocks)
        self.D = NLayerDiscriminator(ch, config.ndf, config.n_layers_d)
        for net in (self.G, self.D):
            init_weights(net, "normal", 0.02)
        self.gan = GANLoss(config.gan_mode)

    def configure_optimizers(self):
        c = self.config
        opt_G = torch.optim.Adam(self.G.parameters(), lr=c.lr, betas=(c.beta1, c.beta2))
        opt_D = torch.optim.Adam(self.D.parameters(), lr=c.lr, betas=(c.beta1, c.beta2))
        return ({"G": opt_G, "D": opt_D},
                {"G": linear_decay(opt_G, self.total_steps, c.decay_start),
                 "D": linear_decay(opt_D, self.total_steps, c.decay_start)})

    def training_step(self, batch, engine):
        real_A, real_B = batch["A"], batch["B"]
        # The generator: fool D, stay close to the input. The engine owns backward/step
        # (mixed precision, gradient scaling and DDP stay there).
        with engine.autocast():
            fake_B = self.G(real_A)
            with engine.frozen(self.D) as D:
                loss_gan = self.gan.g_loss(D(fake_B))
            loss_content = F.l1_loss(fake_B.float(), real_A) * self.config.lambda_content
        engine.backward(loss_gan + loss_content)
        engine.step("G")
        # The discriminator: real B against the detached fakes.
        with engine.autocast():
            loss_D = self.gan.d_loss(self.D(real_B), self.D(fake_B.detach()))
        engine.backward(loss_D)
        engine.step("D")
        return {"G": loss_gan.item(), "content": loss_content.item(), "D": loss_D.item()}

    def loss_watch(self):
        return {"D": "discriminator"}   # warned about when it collapses to ~0

    @torch.no_grad()
    def visuals(self, batch):
        return {"real_A": batch["A"], "fake_B": self.G(batch["A"]), "real_B": batch["B"]}

    def exports(self):
        ch, size = self.data.channels, self.data.image_size
        source, target = (list(self.data.domains) + ["A", "B"])[:2]

        def make_inputs(h, w, n=1):
            return (torch.rand(n, ch, h, w) * 2 - 1,)

        axes = {0: "batch", 2: "height", 3: "width"}
        return [ExportSpec(
            name="A2B", module=self.G, example_inputs=make_inputs(size, size),
            input_names=["image"], output_names=["translated"],
            dynamic_axes={"image": axes, "translated": axes},
            metadata={"task": "image-to-image", "direction": "A2B", "source_domain": source,
                      "target_domain": target, "size_multiple": ResnetGenerator.size_multiple},
            make_inputs=make_inputs,
        )]

    @torch.no_grad()
    def evaluate(self, dataset, device):
        """Mean absolute error of G(A) against the true B on held-out pairs, beside the
        identity baseline (output = input)."""
        if not dataset.aligned:  # e.g. horse2zebra: testA/ and testB/ are not pairs
            return {"held_out": "unpaired (testA/ and testB/ file names differ): no true targets"}
        loader = torch.utils.data.DataLoader(dataset, batch_size=16, shuffle=False)
        n, err, base = 0, 0.0, 0.0
        for batch in loader:
            a, b = batch["A"].to(device), batch["B"].to(device)
            err += (self.G(a).clamp(-1, 1) - b).abs().flatten(1).mean(1).sum().item()
            base += (a - b).abs().flatten(1).mean(1).sum().item()
            n += a.size(0)
        return {"pairs": n, "A2B/l1": err / max(n, 1), "identity/l1": base / max(n, 1)}
''')

TEST = Template('''\
"""The translate model contract for $name: one training step with finite losses, checkpoint
round trip, exact resume, ONNX parity, visuals, built-in data, and the CLI end to end, at a
tiny size on the CPU (translate.testing.check_model_plugin)."""
from translate.testing import check_model_plugin


def test_${name}_passes_the_model_contract(tmp_path):
    check_model_plugin("$name", workdir=tmp_path)
''')

README = Template('''\
# $dist

$title, a model plugin for [translate](https://pypi.org/project/translate-i2i/) (`translate-i2i`).

```bash
pip install -e ".[test]"          # registers the plugin (entry point group "translate")
translate plugins                  # $name  [$dist 0.1.0]  model $name
python -m pytest -q                # the model contract suite, at a tiny size on the CPU
translate fit --plugin $name       # trains on translate's built-in emoji data
translate fit --plugin $name --help   # every Config field is a flag
```

- `$package/plugin.py` registers the model (torch-free: it is imported whenever translate loads plugins).
- `$package/model.py` is the model: `Config` (its defaults become the flags), the networks,
  optimizers, `training_step`, `visuals`, `exports` and `evaluate`.
- `tests/test_contract.py` runs `translate.testing.check_model_plugin("$name")`.

See translate's plugin author guide (docs/plugins.md) for the hooks and the model contract.
''')


def names_for(name: str) -> dict[str, str]:
    """The skeleton's names: model/entry point, import package, distribution, class, title."""
    if not NAME_RE.match(name) or keyword.iskeyword(name):
        raise ConfigError(f"new-plugin {name!r}: the name must be a Python identifier in lower case "
                          f"(letters, digits, underscores; starting with a letter), e.g. 'mygan'")
    if importlib.util.find_spec(name) is not None:  # the package would shadow it (or be shadowed)
        raise ConfigError(f"new-plugin {name}: {name!r} is already an importable module or package "
                          f"here; choose another name")
    cls = "".join(part.capitalize() for part in name.split("_") if part)
    return {"name": name, "package": name, "dist": "translate-" + name.replace("_", "-"),
            "cls": cls, "title": cls, "toolkit_version": __version__}


def skeleton_files(name: str) -> dict[str, str]:
    """relative path -> text of every file of the skeleton package."""
    n = names_for(name)
    pkg = n["package"]
    return {
        "pyproject.toml": PYPROJECT.substitute(n),
        "README.md": README.substitute(n),
        f"{pkg}/__init__.py": INIT.substitute(n),
        f"{pkg}/plugin.py": PLUGIN.substitute(n),
        f"{pkg}/model.py": MODEL.substitute(n),
        "tests/test_contract.py": TEST.substitute(n),
    }


def new_plugin(name: str, output: str | Path = ".", *, registered_models=()) -> Path:
    """Write the skeleton package `output/name/`; an existing folder or a model name that is
    already registered is an error, and nothing is written then."""
    files = skeleton_files(name)
    if name in registered_models:
        raise ConfigError(f"new-plugin {name}: a model named {name!r} is already registered "
                          f"(see `translate plugins`); choose another name")
    root = Path(output) / name
    if root.exists():
        raise ConfigError(f"new-plugin {name}: {root} already exists; choose another name or --output folder")
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root
