"""pytest plugin (entry point `pytest11`: loaded in every pytest session where translate-i2i is
installed). It adds fixtures only, and imports no torch:

- `translate_contract(name, **kw)`: `check_model_plugin` with its runs in the test's tmp_path;
- `translate_plugin_registered(plugin, name=None)`: `plugin_registered`, undone after the test;
- `translate_tiny(model_cls, **extra)`: the tiny `translate.fit` overrides.
"""
from __future__ import annotations

import contextlib

import pytest

from translate import testing


@pytest.fixture
def translate_contract(tmp_path):
    def run(name: str, **kwargs):
        kwargs.setdefault("workdir", tmp_path / f"contract-{name}")
        return testing.check_model_plugin(name, **kwargs)

    return run


@pytest.fixture
def translate_plugin_registered():
    with contextlib.ExitStack() as stack:
        yield lambda plugin, name=None: stack.enter_context(testing.plugin_registered(plugin, name))


@pytest.fixture(scope="session")
def translate_tiny():
    return testing.tiny_overrides
