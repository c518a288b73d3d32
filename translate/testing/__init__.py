"""The plugin author's test kit: the model contract suite, runnable against any registered model.

    from translate.testing import check_model_plugin
    check_model_plugin("mygan")          # raises AssertionError naming every failed check

It is also a pytest plugin (entry point `pytest11`, see `translate.testing.pytest_plugin`), and
`plugin_registered(obj)` registers a plugin object for the duration of a `with` block.

Importing this module imports no torch (it is loaded by pytest in every session); the checks
import it when they run.
"""
from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

__all__ = ["CHECKS", "TINY_SIZE", "TINY_TRAIN", "TINY_MODEL", "tiny_overrides", "plugin_registered",
           "check_model_plugin"]

#: The contract checks, in the order they run (see `translate.testing.contract`).
CHECKS = ("declaration", "training_step", "mixed_precision", "visuals", "checkpoint", "resume", "onnx", "builtin_data", "cli")

TINY_SIZE = 32  # training crop of the tiny runs
#: `translate.fit` keyword overrides for a tiny CPU run: engine and data settings.
TINY_TRAIN = {"image_size": TINY_SIZE, "max_items": 4, "steps": 2, "batch_size": 1, "log_every": 1,
              "sample_every": 0, "checkpoint_every": 0, "sample_count": 2, "device": "cpu",
              "num_workers": 0, "export": False}
#: Model settings that make common GAN families tiny; applied only where a model's Config has the field.
TINY_MODEL = {"ngf": 8, "ndf": 8, "n_blocks": 1, "n_layers_d": 2, "pool_size": 2}

TESTING_ORIGIN = "registered by translate.testing"


def tiny_overrides(model_cls, **extra) -> dict:
    """TINY_TRAIN plus the TINY_MODEL fields that `model_cls.Config` has, the model's own
    `tiny_config`, plus `extra` (later ones win)."""
    fields = {f.name for f in dataclasses.fields(model_cls.Config)}
    return {**TINY_TRAIN, **{k: v for k, v in TINY_MODEL.items() if k in fields},
            **model_cls.tiny_config, **extra}


@contextlib.contextmanager
def plugin_registered(plugin, name: str | None = None, *, origin: str = TESTING_ORIGIN):
    """Register `plugin` (a module or an object with `@translate.hookimpl` methods) for the
    duration of the block, on top of the current plugin set; the previous set comes back after.
    Yields the new `translate.registry.Plugins`. A plugin that fails to register (unknown hook,
    a name that exists, ...) raises `PluginError` with the reason."""
    from translate import registry
    from translate.errors import PluginError

    name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
    saved = registry._plugins
    current = registry.get_plugins()
    plugins = registry.Plugins(autoload=current.autoload,
                               extra_plugins=(*current.extra_plugins, (plugin, name, origin)))
    error = plugins.info[name].error
    if error:
        raise PluginError(f"plugin {name!r} could not be registered: {error}")
    registry.reset_plugins(plugins)
    try:
        yield plugins
    finally:
        registry.reset_plugins(saved)


def check_model_plugin(name: str, *, data=None, workdir=None, overrides: dict | None = None,
                       checks=None) -> dict[str, str]:
    """Run the contract checks (all of CHECKS, or those named in `checks`) for the registered
    model `name` on a tiny configuration: TINY_TRAIN + TINY_MODEL + the model's `tiny_config` +
    `overrides`. `data` is a dataset folder or built-in name (default: the model's built-in
    `default_data`, limited to a few images). `workdir` holds the runs (default: a temp dir).

    Returns {check: "passed" or a note}. Raises AssertionError naming each failed check."""
    import tempfile

    from translate.testing.contract import Contract

    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix=f"translate-contract-{name}-"))
        contract = Contract(name, data=data, workdir=Path(workdir), overrides=overrides)
        return contract.run_all(checks)
