"""Shared fixtures: tiny real data on disk, tiny model settings, CLI runners, plugin isolation.

Everything is real: PNG files written with PIL, checkpoints written by the engine, plugins
registered through pluggy (and, in test_registry, found through real entry points). Sizes are
tiny so the whole suite runs in minutes on a 2-core CPU.
"""
from __future__ import annotations

import os

# Tiny networks on a small (often busy) CPU: one thread beats OpenMP's barriers by far. Set
# before torch is imported anywhere; subprocesses inherit it. An explicit setting wins.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

# The generic tiny settings are the plugin author's test kit's (translate.testing).
from translate.testing import TINY_SIZE, tiny_overrides  # noqa: E402

TESTS = Path(__file__).resolve().parent
FIXTURES = TESTS / "fixtures"      # helper modules: test model plugins, the DDP worker script
SIZE = TINY_SIZE                   # training crop of the tiny runs

# Flags of a tiny, fast cyclegan run (a few seconds on one CPU thread).
TINY_FLAGS = [
    "--ngf", "8", "--ndf", "8", "--n-blocks", "1", "--n-layers-d", "2", "--pool-size", "2",
    "--image-size", str(SIZE), "--max-items", "4", "--steps", "2", "--batch-size", "1",
    "--log-every", "1", "--sample-every", "0", "--checkpoint-every", "0", "--sample-count", "2",
    "--device", "cpu", "--num-workers", "0", "--no-export", "--quiet",
]
# The same as `translate.fit` keyword overrides: tiny_overrides(model_cls), i.e. translate.testing's
# TINY_TRAIN and TINY_MODEL plus the model's tiny_config.


# -- real image data ----------------------------------------------------------------------------

def write_png(path: Path, seed: int, size=(SIZE, SIZE)) -> Path:
    """A random-ish RGB image: a smooth colour gradient plus noise (w x h = size)."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / max(w - 1, 1), yy * 255 / max(h - 1, 1), np.full((h, w), rng.integers(256))], -1)
    img = np.clip(base + rng.normal(0, 40, (h, w, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)
    return path


def make_unpaired(root: Path, n_train: int = 4, n_test: int = 3) -> Path:
    """CycleGAN layout: trainA/ trainB/ (different names) and testA/ testB/ (matching names)."""
    for i in range(n_train):
        write_png(root / "trainA" / f"a{i}.png", seed=i)
        write_png(root / "trainB" / f"b{i}.png", seed=100 + i)
    for i in range(n_test):
        write_png(root / "testA" / f"t{i}.png", seed=200 + i)
        write_png(root / "testB" / f"t{i}.png", seed=300 + i)
    return root


def make_multidomain(root: Path, domains=("x", "y", "z"), n_train: int = 2, n_test: int = 2) -> Path:
    """A folder per domain: train/<d>/ and test/<d>/ (test names shared across domains)."""
    for k, d in enumerate(domains):
        for i in range(n_train):
            write_png(root / "train" / d / f"{d}{i}.png", seed=400 + 10 * k + i)
        for i in range(n_test):
            write_png(root / "test" / d / f"t{i}.png", seed=500 + 10 * k + i)
    return root


def make_paired(root: Path, n_train: int = 4, n_test: int = 3) -> Path:
    """The pix2pix layout: train/ and test/, each PNG A|B side by side (B = A's colour negative)."""
    for split, n, seed in (("train", n_train, 600), ("test", n_test, 700)):
        for i in range(n):
            a = write_png(root / split / f"p{i}.png", seed=seed + i)
            arr = np.asarray(Image.open(a))
            Image.fromarray(np.concatenate([arr, 255 - arr], axis=1)).save(a)
    return root


def make_labelled(root: Path, classes=("cat", "dog", "owl"), n_train: int = 3, n_test: int = 2) -> Path:
    """A folder per class: train/<class>/ and test/<class>/ (32x32 PNGs)."""
    for k, name in enumerate(classes):
        for split, n, seed in (("train", n_train, 800), ("test", n_test, 900)):
            for i in range(n):
                write_png(root / split / name / f"{i}.png", seed=seed + 10 * k + i)
    return root


def make_adaptation(root: Path, classes=("a", "b"), n_source: int = 3, n_target: int = 4, n_test: int = 2) -> Path:
    """source/train/<class>/, flat unlabelled target/train/, and source/test/ + target/test/<class>/."""
    for k, name in enumerate(classes):
        for i in range(n_source):
            write_png(root / "source" / "train" / name / f"{i}.png", seed=1000 + 10 * k + i)
        for i in range(n_test):
            write_png(root / "source" / "test" / name / f"{i}.png", seed=1100 + 10 * k + i)
            write_png(root / "target" / "test" / name / f"{i}.png", seed=1200 + 10 * k + i)
    for i in range(n_target):
        write_png(root / "target" / "train" / f"{i}.png", seed=1300 + i)
    return root


#: dataset kind -> builder of a tiny dataset of that kind. A plugin with a new kind must add one
#: here: the contract tests fail for a model whose kind has no builder.
DATA_BUILDERS = {"multidomain": make_multidomain, "paired": make_paired, "unpaired": make_unpaired,
                 "labelled": make_labelled, "adaptation": make_adaptation}


@pytest.fixture(scope="session")
def png():
    """`png(path, seed, size=(w, h)) -> path`: write a random-ish RGB PNG."""
    return write_png


@pytest.fixture
def unpaired_dir(tmp_path) -> Path:
    """A small unpaired dataset (4 + 4 train images, 3 held-out pairs, 32x32 PNGs)."""
    return make_unpaired(tmp_path / "data")


@pytest.fixture(scope="session")
def shared_unpaired(tmp_path_factory) -> Path:
    """The same small unpaired dataset, shared read-only by session/module fixtures."""
    return make_unpaired(tmp_path_factory.mktemp("shared") / "data")


@pytest.fixture
def data_for_kind(tmp_path):
    """kind -> the root folder of a tiny dataset of that kind (fails for a kind without a builder)."""
    def build(kind: str) -> Path:
        if kind not in DATA_BUILDERS:
            pytest.fail(f"no tiny dataset builder for dataset kind {kind!r}: add one to DATA_BUILDERS "
                        f"in tests/conftest.py so the contract tests can run models of this kind")
        return DATA_BUILDERS[kind](tmp_path / f"data-{kind}")

    return build


@pytest.fixture(scope="session")
def tiny_flags() -> list[str]:
    """CLI flags for a tiny, fast cyclegan run (2 steps, no export); later flags override them."""
    return list(TINY_FLAGS)


@pytest.fixture(scope="session")
def tiny():
    """`tiny(model_cls, **extra)`: keyword overrides for a tiny `translate.fit` of any model."""
    return tiny_overrides


# -- environment -------------------------------------------------------------------------------

@pytest.fixture(scope="session", autouse=True)
def translate_cache(tmp_path_factory):
    """Built-in datasets extract into a temporary cache, never into the home folder."""
    path = tmp_path_factory.mktemp("translate-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRANSLATE_CACHE", str(path))
        yield path


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """Plugin autoload on, no tracing, not under torchrun, and a scratch working directory."""
    for var in ("TRANSLATE_DISABLE_PLUGIN_AUTOLOAD", "TRANSLATE_TRACE_PLUGINS", "WORLD_SIZE", "RANK",
                "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)


# -- plugins -------------------------------------------------------------------------------------

@pytest.fixture
def fresh_plugins():
    """Tests that replace or reload the process-wide plugin set; the previous one comes back after."""
    from translate import registry

    saved = registry._plugins
    registry.reset_plugins()
    yield registry
    registry.reset_plugins(saved)


@pytest.fixture
def test_models(fresh_plugins, monkeypatch):
    """The built-ins plus the test model plugin of tests/fixtures/translate_test_models.py
    (models nan_at_step3, collapsed_d, ddp_probe), installed as the process-wide plugin set."""
    monkeypatch.syspath_prepend(str(FIXTURES))
    import translate_test_models

    plugins = fresh_plugins.Plugins(
        extra_plugins=((translate_test_models.TestModels(), "translate-test-models", "tests/fixtures"),))
    assert not plugins.failures(), [f.error for f in plugins.failures()]
    fresh_plugins.reset_plugins(plugins)
    return plugins


# -- running the CLI -------------------------------------------------------------------------------

@pytest.fixture
def run_cli(capsys):
    """`run_cli(*args) -> (exit code, stdout, stderr)`: `translate.cli.main` in this process."""
    from translate.cli import main

    def run(*args):
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse errors and --help
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def make_subprocess_env(**extra) -> dict:
    return {**os.environ, **{k: str(v) for k, v in extra.items()}}


@pytest.fixture(scope="session")
def subprocess_env():
    """`subprocess_env(**extra) -> dict`: this process's environment (TRANSLATE_CACHE, one
    thread) plus `extra`, for a command in a fresh interpreter."""
    return make_subprocess_env


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def run_translate():
    """`run_translate(*args, cwd=..., **env) -> CompletedProcess`: the CLI in a fresh interpreter
    (`python -m translate.cli`), with the session's TRANSLATE_CACHE."""
    def run(*args, cwd=None, timeout=300, **env):
        return subprocess.run([sys.executable, "-m", "translate.cli", *map(str, args)], cwd=cwd,
                              env=make_subprocess_env(**env), capture_output=True, text=True, timeout=timeout)

    return run


def file_digests(folder: Path) -> dict[str, tuple[int, str]]:
    """relative path -> (size, hash) of every file under `folder`: to check nothing changed."""
    import hashlib

    return {p.relative_to(folder).as_posix(): (p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def digests():
    return file_digests


# -- one small trained run, shared read-only --------------------------------------------------------

@pytest.fixture(scope="session")
def tiny_run(shared_unpaired, tmp_path_factory):
    """A finished 2-step cyclegan run (checkpoints at steps 1 and 2, ONNX exports). Read-only:
    copy it before changing anything."""
    import translate
    from translate.restore import model_class

    out = tmp_path_factory.mktemp("tiny-run")
    return translate.fit("cyclegan", quiet=True, **tiny_overrides(
        model_class("cyclegan"), data=str(shared_unpaired), out=str(out), name="run",
        checkpoint_every=1, export=True))
