"""translate: a plugin-based image-to-image translation toolkit.

`import translate` imports no torch: the runtime (`translate.export.runtime`) needs only numpy,
pillow and onnxruntime, and the training side imports torch inside what needs it.
"""
from __future__ import annotations

import pluggy

__version__ = "0.1.0"

#: The marker plugins use on their hook implementations (pluggy project "translate").
hookimpl = pluggy.HookimplMarker("translate")


def fit(*args, **kwargs):
    """Train a model; see `translate.fit_loop.fit` (imported lazily: it needs torch)."""
    from translate.fit_loop import fit as _fit

    return _fit(*args, **kwargs)


__all__ = ["__version__", "hookimpl", "fit"]
