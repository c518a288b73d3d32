"""translate.testing, the plugin author's kit: check_model_plugin names each failed check,
plugin_registered is undone afterwards, and the pytest plugin's fixtures work in a fresh pytest."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import translate
from translate.errors import PluginError
from translate.registry import get_plugins
from translate.run import RunContext
from translate.testing import CHECKS, check_model_plugin, plugin_registered

MODELS_MODULE = "translate_kit_models"
# Real CycleGAN subclasses: one keeps the contract, one breaks two of its checks.
MODELS_SOURCE = """
    import torch
    from translate.plugins.cyclegan.model import CycleGAN


    class KitGood(CycleGAN):
        name = "kit_good"


    class KitBad(CycleGAN):
        name = "kit_bad"

        def training_step(self, batch, engine):
            return {**super().training_step(batch, engine), "G_AB": float("nan")}

        @torch.no_grad()
        def visuals(self, batch):
            return {"too_bright": batch["A"] * 3}


    class KitHalfSum(CycleGAN):
        name = "kit_half_sum"

        def training_step(self, batch, engine):
            out = super().training_step(batch, engine)
            # A summed squared error kept in the autocast dtype: fine in fp32 and bf16, inf in fp16.
            x = batch["A"].to(engine.dtype or torch.float32) * 255
            return {**out, "energy": x.pow(2).sum().item()}
"""


class KitModels:
    @translate.hookimpl
    def register_models(self, register):
        register.model("kit_good", f"{MODELS_MODULE}:KitGood", summary="CycleGAN under another name")
        register.model("kit_bad", f"{MODELS_MODULE}:KitBad", summary="NaN losses, visuals out of range")
        register.model("kit_half_sum", f"{MODELS_MODULE}:KitHalfSum", summary="a loss that overflows in fp16")


class RegistersCyclegan:
    @translate.hookimpl
    def register_models(self, register):
        register.model("cyclegan", "translate.plugins.cyclegan.model:CycleGAN")


@pytest.fixture
def kit_models(tmp_path, monkeypatch, fresh_plugins):
    (tmp_path / f"{MODELS_MODULE}.py").write_text(textwrap.dedent(MODELS_SOURCE))
    monkeypatch.syspath_prepend(str(tmp_path))
    with plugin_registered(KitModels(), "kit-models") as plugins:
        yield plugins
    sys.modules.pop(MODELS_MODULE, None)


def test_check_model_plugin_names_each_failed_check(kit_models, shared_unpaired, tmp_path):
    with pytest.raises(AssertionError) as info:
        check_model_plugin("kit_bad", data=shared_unpaired, workdir=tmp_path / "bad",
                           checks=["declaration", "training_step", "visuals"])
    message = str(info.value)
    assert "model 'kit_bad' failed 2 contract check(s)" in message
    assert "training_step: AssertionError: losses must be finite python numbers: {'G_AB': nan}" in message
    assert "visuals: AssertionError: too_bright: not in [-1, 1]" in message
    assert "declaration:" not in message


def test_the_mixed_precision_check_finds_a_loss_that_overflows_in_fp16(kit_models, shared_unpaired, tmp_path):
    assert check_model_plugin("kit_good", data=shared_unpaired, workdir=tmp_path / "good",
                              checks=["mixed_precision"]) == {"mixed_precision": "passed"}
    with pytest.raises(AssertionError) as info:
        check_model_plugin("kit_half_sum", data=shared_unpaired, workdir=tmp_path / "half",
                           checks=["training_step", "mixed_precision"])
    message = str(info.value)
    assert "failed 1 contract check(s)" in message          # fp32 is fine ...
    assert "mixed_precision: AssertionError: fp16: losses must be finite: {'energy': inf}" in message  # ... fp16 is not


def test_a_plugin_registered_in_process_passes_with_the_cli_run_in_process(kit_models, shared_unpaired, tmp_path):
    results = check_model_plugin("kit_good", data=shared_unpaired, workdir=tmp_path / "good",
                                 checks=["declaration", "training_step", "cli"])
    assert results == {"declaration": "passed", "training_step": "passed", "cli": "passed"}
    assert (tmp_path / "good" / "cli" / "runs" / "cli" / "exports" / "A2B.onnx").is_file()
    assert (tmp_path / "good" / "cli" / "predicted" / "A2B" / "photo.png").is_file()


def test_an_unknown_check_is_an_error_with_a_suggestion():
    with pytest.raises(ValueError, match=r"unknown contract check 'resum'\. Did you mean: resume\?"):
        check_model_plugin("cyclegan", checks=["resum"])
    assert CHECKS[-1] == "cli" and len(set(CHECKS)) == len(CHECKS)


def test_plugin_registered_adds_a_plugin_for_the_block_only(kit_models):
    class Recorder:
        calls = []

        @translate.hookimpl
        def fit_end(self, run, status):
            self.calls.append(status)

    outer = get_plugins()
    assert "kit_good" in outer.models
    with plugin_registered(Recorder(), "recorder") as inner:
        assert get_plugins() is inner
        assert inner.info["recorder"].hooks == ["fit_end"]
        assert "kit_good" in inner.models            # the plugins registered before are kept
        inner.hook.fit_end(run=RunContext(None, None, None, None), status="completed")
    assert Recorder.calls == ["completed"]
    assert get_plugins() is outer and "recorder" not in outer.info


def test_plugin_registered_refuses_a_plugin_that_fails_and_keeps_the_set(fresh_plugins):
    before = get_plugins()
    with pytest.raises(PluginError, match=r"plugin 'dup' could not be registered: model 'cyclegan' is "
                                          r"registered twice: by translate\.plugins\.cyclegan"):
        with plugin_registered(RegistersCyclegan(), "dup"):
            pytest.fail("the block must not run")
    assert get_plugins() is before


def test_the_pytest_plugin_provides_the_fixtures(tmp_path, subprocess_env):
    """A fresh pytest finds translate.testing through its pytest11 entry point (no conftest)."""
    (tmp_path / "test_author.py").write_text(textwrap.dedent("""
        import translate
        from translate.registry import get_plugins

        class Probe:
            @translate.hookimpl
            def register_models(self, register):
                register.model("probe_gan", "translate.plugins.cyclegan.model:CycleGAN")

        def test_fixtures(translate_plugin_registered, translate_tiny, translate_contract):
            assert callable(translate_contract)
            plugins = translate_plugin_registered(Probe(), "probe")
            assert get_plugins() is plugins and "probe_gan" in plugins.models
            tiny = translate_tiny(plugins.models.get("cyclegan").load(), steps=3)
            assert tiny["steps"] == 3 and tiny["ngf"] == 8 and tiny["device"] == "cpu"

        def test_undone_after_the_test():
            assert "probe_gan" not in get_plugins().models
    """))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_author.py"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, env=subprocess_env())
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "2 passed" in proc.stdout
