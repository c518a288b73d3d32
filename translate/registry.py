"""The plugin manager and the registries of models, dataset kinds and built-in datasets.

Built-in plugins are registered exactly like third-party ones (as default plugin modules),
then entry points of group "translate" are loaded one by one, so one broken distribution is
reported by name while everything else keeps working. Loading is lazy and happens once.
Registering is cheap: entries are "module:attr" strings imported only when used.
"""
from __future__ import annotations

import importlib
import importlib.metadata as md
import os
import sys
from dataclasses import dataclass, field
from typing import Any

import pluggy

from translate import __version__, hookspecs
from translate.errors import PluginError, did_you_mean

PROJECT = "translate"
BUILTIN_PLUGINS = ("translate.plugins.cyclegan", "translate.plugins.pix2pix", "translate.plugins.cgan",
                   "translate.plugins.stargan", "translate.plugins.dann", "translate.plugins.tensorboard",
                   "translate.datasets")
BUILTIN_ORIGIN = f"built-in (translate-i2i {__version__})"


@dataclass
class Entry:
    name: str
    target: str            # "module:attr"
    summary: str
    origin: str
    plugin: str            # the plugin (module or entry point) that registered it
    extra: dict = field(default_factory=dict)

    def load(self):
        module, _, attr = self.target.partition(":")
        try:
            obj = importlib.import_module(module)
            for part in attr.split(".") if attr else []:
                obj = getattr(obj, part)
        except ImportError as exc:
            missing = getattr(exc, "name", "") or ""
            if missing.split(".")[0] in ("torch", "torchvision", "kornia", "albumentations", "onnx", "onnxscript", "yaml"):
                from translate.errors import MissingExtraError

                raise MissingExtraError(f"(loading {self.name})", "train", missing) from exc
            raise PluginError(f"{self.name!r} from {self.origin}: cannot import {self.target} ({exc})") from exc
        except AttributeError as exc:
            raise PluginError(f"{self.name!r} from {self.origin}: {self.target} not found ({exc})") from exc
        return obj


@dataclass
class PluginInfo:
    name: str
    origin: str
    hooks: list[str] = field(default_factory=list)
    error: str | None = None
    registered: dict[str, list[str]] = field(default_factory=dict)   # what -> names
    inactive: str | None = None   # why a plugin with a missing optional dependency sits this run out


class Registry:
    """Name -> Entry for one kind of thing; duplicate names are an error naming both origins."""

    def __init__(self, what: str):
        self.what = what
        self.entries: dict[str, Entry] = {}

    def add(self, entry: Entry) -> None:
        if entry.name in self.entries:
            first = self.entries[entry.name]
            raise PluginError(
                f"{self.what} {entry.name!r} is registered twice: by {first.plugin} ({first.origin}) "
                f"and by {entry.plugin} ({entry.origin})"
            )
        self.entries[entry.name] = entry

    def get(self, name: str) -> Entry:
        if name not in self.entries:
            known = ", ".join(sorted(self.entries)) or "none"
            raise PluginError(f"unknown {self.what} {name!r}.{did_you_mean(name, self.entries)} Known: {known}")
        return self.entries[name]

    def __contains__(self, name):
        return name in self.entries

    def names(self) -> list[str]:
        return sorted(self.entries)


class Registrar:
    """The object passed as `register` to the registration hooks of one plugin."""

    def __init__(self, plugins: "Plugins", plugin: PluginInfo):
        self._plugins, self._plugin = plugins, plugin

    def _add(self, registry: Registry, name: str, target: str, summary: str, **extra):
        if not isinstance(target, str) or ":" not in target:
            raise PluginError(f"{self._plugin.name}: {registry.what} {name!r} target must be 'module:attr', got {target!r}")
        registry.add(Entry(name, target, summary, self._plugin.origin, self._plugin.name, extra))
        self._plugin.registered.setdefault(registry.what, []).append(name)

    def model(self, name: str, target: str, summary: str = "") -> None:
        self._add(self._plugins.models, name, target, summary)

    def kind(self, name: str, target: str, summary: str = "") -> None:
        self._add(self._plugins.dataset_kinds, name, target, summary)

    def builtin(self, name: str, target: str, kind: str, summary: str = "") -> None:
        self._add(self._plugins.builtin_datasets, name, target, summary, kind=kind)


class Plugins:
    """Everything the plugin system knows: the pluggy manager, per-plugin info, registries."""

    def __init__(self, autoload: bool | None = None, extra_plugins: tuple = ()):
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.info: dict[str, PluginInfo] = {}
        self.models = Registry("model")
        self.dataset_kinds = Registry("dataset kind")
        self.builtin_datasets = Registry("built-in dataset")
        if autoload is None:
            autoload = os.environ.get("TRANSLATE_DISABLE_PLUGIN_AUTOLOAD", "") in ("", "0")
        # Kept so `translate.testing.plugin_registered` can rebuild this set with one plugin more.
        self.autoload, self.extra_plugins = autoload, tuple(extra_plugins)
        if os.environ.get("TRANSLATE_TRACE_PLUGINS", "") not in ("", "0"):
            # stderr: tracing must not corrupt machine-readable stdout (`plugins --json`, `evaluate --json`)
            self.pm.trace.root.setwriter(lambda msg: print(f"[translate plugins] {msg}", end="", file=sys.stderr, flush=True))
            self.pm.enable_tracing()
        for module in BUILTIN_PLUGINS:
            self._add(importlib.import_module(module), module, BUILTIN_ORIGIN)
        for obj, name, origin in extra_plugins:
            self._add(obj, name, origin)
        if autoload:
            self._load_entry_points()
        self._run_registrations()

    # -- loading ------------------------------------------------------------------------------
    def _add(self, plugin: Any, name: str, origin: str) -> None:
        info = PluginInfo(name, origin)
        self.info[name] = info
        try:
            # A plugin whose optional dependency is missing says why (e.g. the TensorBoard logger
            # without tensorboard): it is listed as inactive and its hooks are never called.
            inactive = getattr(plugin, "translate_inactive", None)
            info.inactive = inactive() if callable(inactive) else None
            if info.inactive:
                return
            self.pm.register(plugin, name=name)
            # check_pending for this plugin alone: an unknown hook fails this plugin, not all.
            unknown = [h for h in self.pm.get_hookcallers(plugin) or [] if not h.has_spec()]
            if unknown:
                self.pm.unregister(plugin)
                raise PluginError(f"implements unknown hook(s) {', '.join(h.name for h in unknown)}."
                                  f"{did_you_mean(unknown[0].name, self.hook_names())}")
        except Exception as exc:  # noqa: BLE001 - a plugin's failure is reported, never fatal
            info.error = str(exc) if isinstance(exc, PluginError) else f"{type(exc).__name__}: {exc}"
            return
        info.hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])

    def _load_entry_points(self) -> None:
        for ep in md.entry_points(group=PROJECT):
            dist = getattr(ep, "dist", None)
            origin = f"{dist.metadata['Name']} {dist.version}" if dist else "unknown distribution"
            if self.pm.is_blocked(ep.name) or self.pm.has_plugin(ep.name):
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # noqa: BLE001
                self.info[ep.name] = PluginInfo(ep.name, origin, error=f"failed to import {ep.value}: {type(exc).__name__}: {exc}")
                continue
            self._add(plugin, ep.name, origin)

    def _run_registrations(self) -> None:
        self.pm.check_pending()
        # Registration hooks are called per plugin (so one failure stays that plugin's), not
        # through pluggy's hook caller: trace them here (printed only under TRANSLATE_TRACE_PLUGINS).
        trace = self.pm.trace.root.get("hook")
        for hook_name in ("register_models", "register_datasets"):
            caller = getattr(self.pm.hook, hook_name)
            for impl in caller.get_hookimpls():
                info = self.info[impl.plugin_name]
                if info.error:
                    continue
                trace(hook_name, "->", impl.plugin_name)
                try:
                    impl.function(register=Registrar(self, info))
                except Exception as exc:  # noqa: BLE001
                    info.error = str(exc) if isinstance(exc, PluginError) else f"{hook_name} failed: {type(exc).__name__}: {exc}"
                    if info.origin == BUILTIN_ORIGIN:
                        raise

    def hook_names(self) -> list[str]:
        return sorted(n for n in dir(hookspecs) if not n.startswith("_") and callable(getattr(hookspecs, n)) and n != "hookspec")

    @property
    def hook(self):
        return self.pm.hook

    def failures(self) -> list[PluginInfo]:
        return [i for i in self.info.values() if i.error]


_plugins: Plugins | None = None


def get_plugins() -> Plugins:
    """The process-wide plugin set, loaded on first use."""
    global _plugins
    if _plugins is None:
        _plugins = Plugins()
    return _plugins


def reset_plugins(plugins: Plugins | None = None) -> None:
    """Forget (or replace) the loaded plugins; used by tests and `translate.testing`."""
    global _plugins
    _plugins = plugins
