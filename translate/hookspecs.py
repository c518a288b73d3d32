"""The hooks a plugin may implement (pluggy project and entry-point group "translate").

Compatibility rule: adding an argument to a hook spec is compatible (pluggy passes an
implementation only the arguments it names); renaming or removing one is a breaking change.
Per-step work is not a hook: hooks are coarse lifecycle events.
"""
from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("translate")


@hookspec
def register_models(register):
    """Register model families: `register.model(name, "pkg.module:ModelClass", summary=...)`.
    Called once when the registries are first used."""


@hookspec
def register_datasets(register):
    """Register dataset kinds (`register.kind(name, "pkg.module:DatasetClass", summary=...)`)
    and built-in datasets (`register.builtin(name, "pkg.module:function", kind=..., summary=...)`,
    the function returning the dataset's root folder)."""


@hookspec
def fit_start(run):
    """A training run starts (after its run directory exists, before the first step).
    `run` is the `translate.run.RunContext` (run.dir, run.config, run.model, run.is_main)."""


@hookspec
def metrics_logged(run, step, metrics):
    """Averaged metrics for the last logging interval were written to metrics.jsonl."""


@hookspec
def samples_saved(run, step, path, images):
    """A sample grid was saved: `path` is the PNG, `images` the named batches in [-1, 1]."""


@hookspec
def checkpoint_saved(run, step, path):
    """A checkpoint was written (atomically) to `path`."""


@hookspec
def fit_end(run, status):
    """The run ended; status is "completed", "interrupted" or "failed"."""
