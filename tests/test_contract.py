"""The model contract, checked for EVERY registered model (built-in or installed third-party):
declaration, one training step (in fp32, bf16 and fp16), visuals, checkpoint round trip, exact resume, ONNX parity,
built-in data and the CLI end to end. The checks are `translate.testing`'s, the same suite a
plugin author runs with `check_model_plugin(name)`; here each check is its own test.

A new plugin gets these tests for free; if its dataset kind is new, add a tiny data builder
to DATA_BUILDERS in tests/conftest.py (the tests fail with that message until it does).
"""
from __future__ import annotations

import pytest

from conftest import DATA_BUILDERS
from translate.registry import get_plugins
from translate.restore import model_class
from translate.testing.contract import Contract

MODELS = get_plugins().models.names()
# Module scope: the checks of one model share its training runs (one Contract per model).
pytestmark = pytest.mark.parametrize("model_name", MODELS, scope="module")


@pytest.fixture(scope="module")
def contract(model_name, tmp_path_factory):
    kind = model_class(model_name).dataset_kind
    if kind not in DATA_BUILDERS:
        pytest.fail(f"no tiny dataset builder for dataset kind {kind!r}: add one to DATA_BUILDERS "
                    f"in tests/conftest.py so the contract tests can run models of this kind")
    base = tmp_path_factory.mktemp(f"contract-{model_name}")
    # The CLI check runs the commands in this process (tests/test_cli_end_to_end.py and
    # tests/test_new_plugin.py run them in fresh interpreters): torch is imported once.
    return Contract(model_name, data=DATA_BUILDERS[kind](base / f"data-{kind}"), workdir=base / "work",
                    cli_subprocess=False)


def test_model_declares_the_contract(contract):
    contract.run("declaration")


def test_one_training_step_has_finite_losses_and_trains_every_network(contract):
    contract.run("training_step")


def test_training_step_under_bf16_and_fp16(contract):
    contract.run("mixed_precision")


def test_visuals_are_image_batches_in_unit_range(contract):
    contract.run("visuals")


def test_checkpoint_round_trip(contract):
    contract.run("checkpoint")


def test_resume_is_exact(contract):
    contract.run("resume")


def test_onnx_parity_of_the_restored_model(contract):
    contract.run("onnx")


def test_trains_on_its_builtin_dataset_without_data(contract):
    contract.run("builtin_data")


def test_cli_end_to_end(contract):
    contract.run("cli")
