"""Every hook in translate/hookspecs.py is exercised: a recording plugin sees the registration
hooks when plugins load and each lifecycle hook, with its documented arguments, during a real
tiny fit (and a failed one). A new hookspec fails test_every_hookspec_is_exercised until a
test here calls it."""
from __future__ import annotations

import inspect

import pytest

import translate
from translate import hookspecs
from translate.errors import TrainingError
from translate.registry import get_plugins
from translate.restore import model_class
from translate.run import RunContext
from translate.testing import plugin_registered, tiny_overrides


class Recorder:
    """Records (hook, arguments) of every hook, in call order."""

    def __init__(self):
        self.calls: list[tuple[str, dict]] = []

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def of(self, hook: str) -> list[dict]:
        return [args for name, args in self.calls if name == hook]

    @translate.hookimpl
    def register_models(self, register):
        self.calls.append(("register_models", {"register": register}))
        register.model("recorded_cyclegan", "translate.plugins.cyclegan.model:CycleGAN", summary="recorded")

    @translate.hookimpl
    def register_datasets(self, register):
        self.calls.append(("register_datasets", {"register": register}))
        register.kind("recorded_unpaired", "translate.datasets.unpaired:UnpairedDataset", summary="recorded")

    @translate.hookimpl
    def fit_start(self, run):
        self.calls.append(("fit_start", {"run": run, "step": run.step}))

    @translate.hookimpl
    def metrics_logged(self, run, step, metrics):
        self.calls.append(("metrics_logged", {"run": run, "step": step, "metrics": dict(metrics)}))

    @translate.hookimpl
    def samples_saved(self, run, step, path, images):
        self.calls.append(("samples_saved", {"run": run, "step": step, "path": path, "images": images}))

    @translate.hookimpl
    def checkpoint_saved(self, run, step, path):
        self.calls.append(("checkpoint_saved", {"run": run, "step": step, "path": path}))

    @translate.hookimpl
    def fit_end(self, run, status):
        self.calls.append(("fit_end", {"run": run, "status": status}))


def hookspec_names() -> set[str]:
    return {name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
            if hasattr(fn, "translate_spec")}


@pytest.fixture(scope="module")
def recorded_fit(tmp_path_factory, shared_unpaired):
    recorder = Recorder()
    with plugin_registered(recorder, "recorder") as plugins:
        assert "recorded_cyclegan" in plugins.models and "recorded_unpaired" in plugins.dataset_kinds
        result = translate.fit("cyclegan", quiet=True, **tiny_overrides(
            model_class("cyclegan"), data=str(shared_unpaired), out=str(tmp_path_factory.mktemp("hooks")),
            steps=2, sample_every=1, checkpoint_every=1))
    return recorder, result


def test_registration_hooks_receive_the_registrar(recorded_fit):
    recorder, _ = recorded_fit
    assert recorder.names()[:2] == ["register_models", "register_datasets"]
    assert type(recorder.of("register_models")[0]["register"]).__name__ == "Registrar"


def test_lifecycle_hooks_in_order_with_their_arguments(recorded_fit):
    recorder, result = recorded_fit
    lifecycle = recorder.names()[2:]
    assert lifecycle == ["fit_start", "metrics_logged", "samples_saved", "checkpoint_saved",
                         "metrics_logged", "samples_saved", "checkpoint_saved", "fit_end"]
    runs = {id(args["run"]) for _, args in recorder.calls[2:]}
    assert len(runs) == 1                                     # one RunContext for the whole run
    run = recorder.of("fit_start")[0]["run"]
    assert isinstance(run, RunContext) and run.dir == result.run_dir and run.is_main
    assert recorder.of("fit_start")[0]["step"] == 0 and run.model.name == "cyclegan"
    assert [a["step"] for a in recorder.of("metrics_logged")] == [1, 2]
    assert {"step", "G_AB", "D_A", "lr_G", "it_s"} <= set(recorder.of("metrics_logged")[0]["metrics"])
    for args in recorder.of("samples_saved"):
        assert args["path"].is_file() and args["path"].parent == result.run_dir / "samples"
        assert set(args["images"]) == {"real_A", "fake_B", "rec_A", "real_B", "fake_A", "rec_B"}
    assert [(a["step"], a["path"].name) for a in recorder.of("checkpoint_saved")] == [
        (1, "step_000001.pt"), (2, "step_000002.pt")]
    assert recorder.of("fit_end") == [{"run": run, "status": "completed"}]


def test_fit_end_reports_a_failed_run(test_models, shared_unpaired, tmp_path):
    recorder = Recorder()
    with plugin_registered(recorder, "recorder"):
        with pytest.raises(TrainingError):
            translate.fit("nan_at_step3", quiet=True, **tiny_overrides(
                model_class("nan_at_step3"), data=str(shared_unpaired), out=str(tmp_path), steps=4))
    assert recorder.names()[-1] == "fit_end" and recorder.of("fit_end")[0]["status"] == "failed"
    assert [a["step"] for a in recorder.of("metrics_logged")] == [1, 2]   # step 3 never logged


def test_every_hookspec_is_exercised(recorded_fit):
    recorder, _ = recorded_fit
    specs = hookspec_names()
    assert specs == set(get_plugins().hook_names())
    assert set(recorder.names()) == specs, f"hooks no test calls: {sorted(specs - set(recorder.names()))}"
    # ... and the recorder implements each spec with the spec's exact argument list.
    for name in specs:
        spec_args = list(inspect.signature(getattr(hookspecs, name)).parameters)
        impl_args = list(inspect.signature(getattr(Recorder, name)).parameters)[1:]
        assert impl_args == spec_args, name
