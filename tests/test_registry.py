"""The plugin system: built-ins, duplicate and unknown names, broken plugins, and third-party
plugins found through real entry points of real (tiny) installed distributions."""
from __future__ import annotations

import json
import textwrap

import pytest

import translate
from translate.errors import PluginError
from translate.registry import BUILTIN_ORIGIN, Plugins, get_plugins

CYCLEGAN_TARGET = "translate.plugins.cyclegan.model:CycleGAN"


class RegistersModel:
    """A plugin object registering one model name (reusing the CycleGAN class)."""

    def __init__(self, name):
        self.name = name

    @translate.hookimpl
    def register_models(self, register):
        register.model(self.name, CYCLEGAN_TARGET, summary=f"test model {self.name}")


class UnknownHook:
    @translate.hookimpl
    def register_modelz(self, register):  # a typo of register_models
        register.model("never", CYCLEGAN_TARGET)


def install_distribution(site, dist_name, version, module, source, entry_name):
    """A real installed distribution under `site`: NAME-VERSION.dist-info with METADATA and
    entry_points.txt (group "translate"), plus its top-level module."""
    info = site / f"{dist_name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[translate]\n{entry_name} = {module}\n")
    (site / f"{module}.py").write_text(textwrap.dedent(source))


DEMO_SOURCE = f"""
    from translate import hookimpl

    @hookimpl
    def register_models(register):
        register.model("demo_cyclegan", "{CYCLEGAN_TARGET}", summary="a third-party demo model")
"""
BROKEN_SOURCE = """
    raise ImportError("thirdparty_broken needs a library that is not installed")
"""


@pytest.fixture
def site(tmp_path, monkeypatch, fresh_plugins):
    """A folder on sys.path with two installed distributions: thirdparty-demo 0.1 (entry point
    `demo`, registers model demo_cyclegan) and thirdparty-broken 0.2 (its module raises ImportError)."""
    site = tmp_path / "site"
    install_distribution(site, "thirdparty-demo", "0.1", "thirdparty_demo", DEMO_SOURCE, "demo")
    install_distribution(site, "thirdparty-broken", "0.2", "thirdparty_broken", BROKEN_SOURCE, "broken")
    monkeypatch.syspath_prepend(str(site))
    yield site
    for module in ("thirdparty_demo", "thirdparty_broken"):
        __import__("sys").modules.pop(module, None)


# -- built-ins -------------------------------------------------------------------------------------

def test_builtins_are_registered_as_plugins_with_builtin_origin():
    ps = get_plugins()
    assert BUILTIN_ORIGIN.startswith("built-in (translate-i2i ")
    assert ps.info["translate.plugins.cyclegan"].origin == BUILTIN_ORIGIN
    assert ps.info["translate.plugins.cyclegan"].hooks == ["register_models"]
    assert ps.info["translate.datasets"].hooks == ["register_datasets"]
    assert ps.models.get("cyclegan").origin == BUILTIN_ORIGIN
    assert ps.dataset_kinds.get("unpaired").origin == BUILTIN_ORIGIN
    assert ps.builtin_datasets.get("noto2twemoji").extra["kind"] == "unpaired"
    assert not ps.failures()


def test_get_plugins_loads_once():
    assert get_plugins() is get_plugins()


# -- names -------------------------------------------------------------------------------------------

def test_duplicate_model_name_is_an_error_naming_both_origins():
    ps = Plugins(autoload=False, extra_plugins=((RegistersModel("cyclegan"), "dup-plugin", "dup-dist 1.0"),))
    error = ps.info["dup-plugin"].error
    assert error and "'cyclegan' is registered twice" in error
    assert BUILTIN_ORIGIN in error and "dup-dist 1.0" in error
    assert ps.models.get("cyclegan").origin == BUILTIN_ORIGIN  # the first registration stays


def test_duplicate_between_two_third_party_plugins():
    ps = Plugins(autoload=False, extra_plugins=((RegistersModel("twin"), "first", "first-dist 1.0"),
                                                (RegistersModel("twin"), "second", "second-dist 2.0")))
    assert ps.info["first"].error is None and ps.info["first"].registered == {"model": ["twin"]}
    assert "first-dist 1.0" in ps.info["second"].error and "second-dist 2.0" in ps.info["second"].error


def test_unknown_model_name_suggests_close_matches():
    with pytest.raises(PluginError, match=r"unknown model 'cyclgan'\. Did you mean: cyclegan[,?]"):
        get_plugins().models.get("cyclgan")


def test_unknown_model_through_the_cli(run_cli):
    code, _, err = run_cli("fit", "--plugin", "cyclgan")
    assert code == 2 and "Did you mean: cyclegan" in err


def test_a_plugin_with_an_unknown_hook_is_reported_and_the_rest_works():
    ps = Plugins(autoload=False, extra_plugins=((UnknownHook(), "typo-plugin", "typo-dist 0.1"),))
    error = ps.info["typo-plugin"].error
    assert "unknown hook(s) register_modelz" in error and "Did you mean: register_models" in error
    assert "never" not in ps.models
    assert "cyclegan" in ps.models.names()
    assert [i.name for i in ps.failures()] == ["typo-plugin"]


def test_registration_target_must_be_module_colon_attr():
    class BadTarget:
        @translate.hookimpl
        def register_models(self, register):
            register.model("bad", "no_colon_here")

    ps = Plugins(autoload=False, extra_plugins=((BadTarget(), "bad-target", "x 1"),))
    assert "target must be 'module:attr'" in ps.info["bad-target"].error


# -- entry points ---------------------------------------------------------------------------------------

def test_third_party_plugin_through_a_real_entry_point(site, run_cli):
    ps = get_plugins()
    assert ps.info["demo"].origin == "thirdparty-demo 0.1"
    assert ps.info["demo"].hooks == ["register_models"]
    entry = ps.models.get("demo_cyclegan")
    assert entry.origin == "thirdparty-demo 0.1" and entry.plugin == "demo"
    assert entry.load().__name__ == "CycleGAN"  # the lazy target resolves

    code, out, _ = run_cli("plugins")
    assert code == 0
    assert "demo  [thirdparty-demo 0.1]" in out
    assert "demo_cyclegan" in out and "a third-party demo model" in out


def test_a_broken_distribution_is_named_and_the_cli_still_works(site, run_cli):
    ps = get_plugins()
    broken = ps.info["broken"]
    assert broken.origin == "thirdparty-broken 0.2"
    assert "failed to import thirdparty_broken" in broken.error and "ImportError" in broken.error
    assert "cyclegan" in ps.models and "demo_cyclegan" in ps.models  # everything else loaded

    code, out, _ = run_cli("plugins")
    assert code == 0
    assert "broken  [thirdparty-broken 0.2]" in out and "FAILED: failed to import thirdparty_broken" in out
    assert "translate.plugins.cyclegan  [built-in" in out and "unpaired" in out and "noto2twemoji" in out
    # A broken plugin does not break commands that do not need it.
    code, out, _ = run_cli("fit", "--plugin", "cyclegan", "--help")
    assert code == 0 and "--lambda-cycle" in out
    # --strict turns a failed plugin into a failing exit code (for CI).
    assert run_cli("plugins", "--strict")[0] == 1


def test_disable_autoload_skips_entry_points(site, monkeypatch, fresh_plugins, run_cli):
    monkeypatch.setenv("TRANSLATE_DISABLE_PLUGIN_AUTOLOAD", "1")
    ps = get_plugins()
    assert "demo" not in ps.info and "broken" not in ps.info and "demo_cyclegan" not in ps.models
    assert "cyclegan" in ps.models
    code, out, _ = run_cli("plugins", "--strict")
    assert code == 0 and "thirdparty" not in out
    # ... and "0" means autoload on, like unset.
    monkeypatch.setenv("TRANSLATE_DISABLE_PLUGIN_AUTOLOAD", "0")
    assert "demo" in Plugins().info


def test_plugins_json_is_valid(site, run_cli):
    code, out, _ = run_cli("plugins", "--json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["translate.plugins.cyclegan"]["models"] == ["cyclegan"]
    assert rows["translate.plugins.cyclegan"]["origin"] == BUILTIN_ORIGIN
    assert "unpaired" in rows["translate.datasets"]["dataset_kinds"]
    assert rows["demo"] == {"name": "demo", "origin": "thirdparty-demo 0.1", "hooks": ["register_models"],
                            "models": ["demo_cyclegan"], "dataset_kinds": [], "builtin_datasets": [], "error": None,
                            "inactive": None}
    assert rows["broken"]["error"].startswith("failed to import")


def test_trace_prints_hook_calls(monkeypatch, fresh_plugins, run_cli, capsys):
    monkeypatch.setenv("TRANSLATE_TRACE_PLUGINS", "1")
    code, out, err = run_cli("plugins", "--json")
    assert code == 0
    json.loads(out)  # tracing goes to stderr and leaves machine-readable stdout intact
    assert "[translate plugins] register_models -> translate.plugins.cyclegan" in err
    assert "[translate plugins] register_datasets -> translate.datasets" in err
    # a lifecycle hook call, traced with its arguments (checkpoint_saved: no built-in implements it)
    get_plugins().hook.checkpoint_saved(run=None, step=7, path="RUN")
    err = capsys.readouterr().err
    assert "checkpoint_saved [hook]" in err and "path: RUN" in err and "finish checkpoint_saved" in err


def test_no_trace_output_by_default(fresh_plugins, run_cli):
    code, _, err = run_cli("plugins")
    assert code == 0 and "[translate plugins]" not in err
