"""Configuration: dataclasses whose fields become CLI flags.

A run's configuration has three sections: `train` (the engine's TrainConfig), `data`
(DataConfig) and `model` (the plugin's Config dataclass). Precedence, lowest first:
dataclass defaults < the plugin's `train_defaults` < `--config file.yaml` < CLI flags.
Unknown keys and wrong types are errors with suggestions. Flag names are unique across the
three sections, so `--steps`, `--image-size` and `--lambda-cycle` need no prefix.
"""
from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from translate.errors import ConfigError, did_you_mean

SECTIONS = ("train", "data", "model")


def opt(default, help: str = "", choices=None, *, before=dataclasses.MISSING, **kw):
    """A dataclass field with CLI help and optional choices. `before`: for a field added after
    checkpoints were written, or whose default changed, the value a saved config without the
    field meant, so that an older checkpoint still rebuilds the model it was trained as.
    `evaluation=True`: the field only changes what `evaluate` computes, or which of the checkpoint's
    networks it scores (--ema 0: the live weights, not their average), never the networks' shapes,
    so `translate evaluate` takes it as a flag too, overriding the run's value."""
    meta = {"help": help, "choices": choices, **kw}
    if before is not dataclasses.MISSING:
        meta["before"] = before
    return field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    steps: int = opt(1000, "total optimization steps (iterations)")
    batch_size: int = opt(1, "images per step per process")
    seed: int = opt(0, "random seed (data order, augmentation, initialization)")
    device: str = opt("auto", "auto (cuda > mps > cpu), cpu, cuda, cuda:N or mps")
    precision: str = opt("fp32", "fp32, bf16 or fp16 (fp16 uses a gradient scaler)", ["fp32", "bf16", "fp16"])
    channels_last: bool = opt(True, "channels_last memory format (CUDA only)")
    compile: bool = opt(False, "torch.compile the networks (CUDA or CPU; pays off on long runs: compiling takes a minute or more)")
    num_workers: int = opt(-1, "data loader workers; -1 = auto (0 on CPU, 4 on CUDA)")
    log_every: int = opt(50, "steps between metrics.jsonl lines / progress lines")
    sample_every: int = opt(500, "steps between sample grids (0 = only at the end)")
    checkpoint_every: int = opt(1000, "steps between checkpoints (0 = only at the end)")
    keep_checkpoints: int = opt(3, "how many step checkpoints to keep (the last one is always kept)")
    sample_count: int = opt(4, "images per sample grid")
    export: bool = opt(True, "export ONNX generators into the run's exports/ when training ends")
    out: str = opt("runs", "folder that holds run directories")
    name: str = opt("", "run directory name (default: <plugin>-<date>-<time>); never overwritten")


@dataclass
class DataConfig:
    data: str = opt("", "dataset folder, or a built-in dataset name (default: the plugin's built-in)")
    image_size: int = opt(0, "training crop size (0 = the dataset's native size, e.g. 64 for the built-in emoji)")
    load_size: int = opt(0, "resize before the random crop (0 = image_size * 286 / 256 as in the paper)")
    channels: int = opt(3, "image channels, 1 or 3", [1, 3])
    max_items: int = opt(0, "use only the first N images of each domain (0 = all)")
    domains: str = opt("", "multi-domain data: comma-separated attributes of an attribute table to train on "
                           "(default: the paper's Black_Hair,Blond_Hair,Brown_Hair,Male,Young)")
    augment_with: str = opt("auto", "where the random crop/flip of training images run: albumentations "
                            "(per image, in the data loader) or kornia (per batch, on the training "
                            "device); auto = kornia on CUDA when the dataset kind supports it",
                            ["auto", "albumentations", "kornia"])


# -- dataclass <-> dict ------------------------------------------------------------------------

def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _base_types(tp) -> tuple:
    """(allowed python types, optional?) for a field annotation."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        allowed = tuple(t for a in args for t in _base_types(a)[0])
        return allowed, type(None) in typing.get_args(tp)
    if origin in (list, tuple):
        return (list, tuple), False
    if origin is typing.Literal:
        return tuple({type(a) for a in typing.get_args(tp)}), False
    return (tp,), False


def coerce(value, tp, where: str):
    """Check a value against a field type (ints are accepted for floats)."""
    allowed, optional = _base_types(tp)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{where}: null is not allowed (expected {_type_name(tp)})")
    if isinstance(value, bool) and bool not in allowed:
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    if float in allowed and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, allowed):
        return list(value) if isinstance(value, tuple) else value
    raise ConfigError(f"{where}: expected {_type_name(tp)}, got {type(value).__name__} {value!r}")


def _type_name(tp) -> str:
    allowed, optional = _base_types(tp)
    names = [getattr(a, "__name__", str(a)) for a in allowed]
    return " or ".join(names + (["null"] if optional else []))


def from_dict(cls, values: dict, where: str, saved: bool = False):
    """Build `cls` from a (partial) dict; unknown keys and wrong types are ConfigErrors. A `saved`
    dict (a checkpoint's) gives fields it lacks their `before` value (see `opt`), not the default."""
    hints = _hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    if saved:
        kwargs = {f.name: f.metadata["before"] for f in dataclasses.fields(cls)
                  if "before" in f.metadata and f.name not in (values or {})}
    for key, value in (values or {}).items():
        if key not in names:
            raise ConfigError(f"{where}: unknown key {key!r}.{did_you_mean(key, names)}")
        kwargs[key] = coerce(value, hints[key], f"{where}.{key}")
        choices = dataclasses.fields(cls)[names.index(key)].metadata.get("choices")
        if choices and kwargs[key] not in choices:
            raise ConfigError(f"{where}.{key}: {kwargs[key]!r} is not one of {', '.join(map(str, choices))}")
    return cls(**kwargs)


def to_dict(obj) -> dict:
    return dataclasses.asdict(obj)


# -- the resolved configuration of a run ---------------------------------------------------------

@dataclass
class RunConfig:
    plugin: str
    train: TrainConfig
    data: DataConfig
    model: Any

    def to_dict(self) -> dict:
        return {"plugin": self.plugin, "train": to_dict(self.train), "data": to_dict(self.data),
                "model": to_dict(self.model)}

    @classmethod
    def from_dict(cls, d: dict, model_cls, where="config", saved: bool = False) -> "RunConfig":
        """`saved`: `d` is a checkpoint's resolved config (fields it lacks take their `before`)."""
        return cls(
            plugin=d["plugin"],
            train=from_dict(TrainConfig, d.get("train", {}), f"{where}.train", saved),
            data=from_dict(DataConfig, d.get("data", {}), f"{where}.data", saved),
            model=from_dict(model_cls.Config, d.get("model", {}), f"{where}.model", saved),
        )


def section_classes(model_cls) -> dict[str, type]:
    return {"train": TrainConfig, "data": DataConfig, "model": model_cls.Config}


def load_yaml(path) -> dict:
    try:
        import yaml
    except ImportError as exc:  # pragma: no cover - yaml comes with the train extra
        from translate.errors import MissingExtraError

        raise MissingExtraError("fit --config", "train", "PyYAML") from exc
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--config {path}: " + ("a folder, not a YAML file" if path.is_dir() else "file does not exist"))
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"--config {path}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path}: expected a mapping with sections {', '.join(SECTIONS)}")
    return data


def split_flat(model_cls, flat: dict, where: str) -> dict[str, dict]:
    """Sort flat keys (flag names with underscores) into their sections."""
    owner = {}
    for section, cls in section_classes(model_cls).items():
        for f in dataclasses.fields(cls):
            owner[f.name] = section
    out: dict[str, dict] = {s: {} for s in SECTIONS}
    for key, value in flat.items():
        key = key.replace("-", "_")
        if key not in owner:
            raise ConfigError(f"{where}: unknown option {key!r}.{did_you_mean(key, owner)}")
        out[owner[key]][key] = value
    return out


def resolve(model_cls, config_file=None, overrides: dict | None = None) -> RunConfig:
    """defaults < plugin train_defaults < config file < overrides (flat dict of flag values)."""
    merged: dict[str, dict] = {s: {} for s in SECTIONS}
    merged["train"].update(getattr(model_cls, "train_defaults", {}) or {})
    merged["data"].update(getattr(model_cls, "data_defaults", {}) or {})
    if config_file:
        file_data = load_yaml(config_file)
        for key, value in file_data.items():
            if key == "plugin":
                if value != model_cls.name:
                    raise ConfigError(f"--config {config_file}: it is for plugin {value!r}, not {model_cls.name!r}")
                continue
            if key not in SECTIONS:
                if isinstance(value, dict):  # a mistyped section name, e.g. "modle:"
                    raise ConfigError(f"--config {config_file}: unknown section {key!r}."
                                      f"{did_you_mean(key, SECTIONS)} Sections: {', '.join(SECTIONS)}")
                # a flat key is accepted too, sorted into its section
                for section, values in split_flat(model_cls, {key: value}, f"--config {config_file}").items():
                    merged[section].update(values)
                continue
            if not isinstance(value, dict):
                raise ConfigError(f"--config {config_file}: section {key!r} must be a mapping")
            merged[key].update(value)
        where = f"--config {config_file}"
    else:
        where = "config"
    for section, values in split_flat(model_cls, overrides or {}, "flags").items():
        merged[section].update(values)
    merged["plugin"] = model_cls.name
    return RunConfig.from_dict(merged, model_cls, where)


# -- CLI flags --------------------------------------------------------------------------------------

def flag_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def evaluation_fields(cls) -> list[str]:
    """The Config fields declared with opt(..., evaluation=True)."""
    return [f.name for f in dataclasses.fields(cls) if f.metadata.get("evaluation")]


def add_flags(parser: argparse.ArgumentParser, cls, title: str, only=None, shown=None) -> None:
    """One flag per field (or per field named in `only`); defaults are SUPPRESSed so only flags
    the user gave override. `shown`: a Config instance whose values the help gives as defaults."""
    group = parser.add_argument_group(title)
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        if only is not None and f.name not in only:
            continue
        tp = hints[f.name]
        allowed, optional = _base_types(tp)
        if shown is not None:
            default = getattr(shown, f.name)
        else:
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        help_text = f.metadata.get("help", "")
        if "(default:" not in help_text and default != "":  # empty defaults say in their help what they mean
            help_text = f"{help_text} (default: {default})".strip()
        kw: dict[str, Any] = {"default": argparse.SUPPRESS, "help": help_text, "dest": f.name}
        if allowed == (bool,):
            group.add_argument(flag_name(f.name), action=argparse.BooleanOptionalAction, **kw)
            continue
        base = allowed[0] if allowed else str
        if base in (list, tuple):
            kw["nargs"] = "+"
            args = typing.get_args(tp)
            base = args[0] if args else str
        kw["type"] = _parser_for(base, optional)
        if f.metadata.get("choices"):
            kw["choices"] = f.metadata["choices"]
        kw["metavar"] = getattr(base, "__name__", "VALUE").upper()
        group.add_argument(flag_name(f.name), **kw)


def _parser_for(base, optional: bool):
    def parse(text: str):
        if optional and text.lower() in ("none", "null"):
            return None
        try:
            return base(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {base.__name__}, got {text!r}") from None

    parse.__name__ = getattr(base, "__name__", "value")
    return parse
