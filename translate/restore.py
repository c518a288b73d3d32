"""Rebuilding a model from a checkpoint (for resume, export and evaluate)."""
from __future__ import annotations

from pathlib import Path

from translate.checkpoint import load_checkpoint, resolve_checkpoint
from translate.config import RunConfig
from translate.errors import CheckpointError, PluginError
from translate.model import DataInfo, TranslationModel
from translate.registry import get_plugins


def model_class(name: str):
    cls = get_plugins().models.get(name).load()
    if not (isinstance(cls, type) and issubclass(cls, TranslationModel)):
        raise PluginError(f"model {name!r}: {cls!r} is not a translate.model.TranslationModel subclass")
    return cls


def load_run(run_or_checkpoint, expect_plugin: str | None = None):
    """(checkpoint path, checkpoint dict, model class, RunConfig)."""
    path = resolve_checkpoint(run_or_checkpoint)
    ckpt = load_checkpoint(path)
    if expect_plugin and ckpt["plugin"] != expect_plugin:
        raise CheckpointError(f"{path} is a checkpoint of plugin {ckpt['plugin']!r}, not {expect_plugin!r}")
    cls = model_class(ckpt["plugin"])
    config = RunConfig.from_dict(ckpt["config"], cls, where=f"checkpoint {path}", saved=True)
    return path, ckpt, cls, config


def build_model(cls, config: RunConfig, ckpt: dict, device="cpu", where=Path("<checkpoint>")) -> TranslationModel:
    """The model with the checkpoint's network weights, in eval mode; `where`: the checkpoint's
    path, for error messages."""
    model = cls(config.model, DataInfo.from_dict(ckpt["data_info"]), config.train.steps)
    load_networks(model, ckpt, where)
    return model.to(device).eval()


def load_networks(model: TranslationModel, ckpt: dict, where) -> None:
    nets = model.networks()
    missing = set(nets) - set(ckpt["networks"])
    if missing:
        raise CheckpointError(f"{where}: checkpoint lacks networks {sorted(missing)}")
    for name, net in nets.items():
        try:
            net.load_state_dict(ckpt["networks"][name])
        except RuntimeError as exc:
            raise CheckpointError(f"{where}: network {name} does not match this model's config: "
                                  f"{str(exc).splitlines()[0]}") from exc
