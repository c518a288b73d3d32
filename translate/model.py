"""The model contract every model plugin implements (see DESIGN.md, "The model contract").

A plugin subclasses `TranslationModel`, declares its `Config` dataclass (defaults = the paper's),
the networks it trains (`network_names`), its optimizers by name, and `training_step`, which
calls the engine for backward/step so precision, gradient scaling and DDP stay in the engine.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import torch
from torch import nn


@dataclass
class DataInfo:
    """What a model needs to know about its data to build itself."""

    kind: str
    channels: int = 3
    image_size: int = 64
    domains: tuple[str, ...] = ("A", "B")   # unpaired/paired: (source, target); multi-domain: all
    classes: tuple[str, ...] = ()            # labelled / adaptation kinds
    multi_label: bool = False                # multi-domain: attributes (any subset on) vs one domain each

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["domains"], d["classes"] = list(self.domains), list(self.classes)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "DataInfo":
        d = dict(d)
        d["domains"], d["classes"] = tuple(d.get("domains", ())), tuple(d.get("classes", ()))
        return cls(**d)


@dataclass
class ExportSpec:
    """One inference module to export as `<name>.onnx`.

    `metadata` is task-specific and is merged into the file's JSON metadata, e.g.
    {"task": "image-to-image", "direction": "A2B", "source_domain": ..., "target_domain": ...,
     "size_multiple": 4}. The exporter adds versions, normalization, channels and opset.
    `make_inputs(height, width, batch)` returns random inputs for verification at any size.
    """

    name: str
    module: nn.Module
    example_inputs: tuple
    input_names: list[str]
    output_names: list[str]
    dynamic_axes: dict[str, dict[int, str]]
    metadata: dict[str, Any]
    make_inputs: Callable[[int, int, int], tuple] | None = None
    tolerance: float = 1e-3


class TranslationModel(nn.Module):
    # -- declared by each plugin ------------------------------------------------------------
    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    dataset_kind: ClassVar[str] = ""          # a registered dataset kind, e.g. "unpaired"
    default_data: ClassVar[str] = ""          # a registered built-in dataset
    Config: ClassVar[type] = object            # a dataclass; its defaults are the paper's
    network_names: ClassVar[tuple[str, ...]] = ()
    version: ClassVar[str] = "0"               # the plugin's version, saved in checkpoints/exports
    # Config overrides that make the model tiny for CPU tests (small widths, few layers); the
    # contract tests and `translate.testing` apply them on top of their tiny training settings.
    tiny_config: ClassVar[dict] = {}

    def __init__(self, config, data: DataInfo, total_steps: int):
        super().__init__()
        self.config = config
        self.data = data
        self.total_steps = int(total_steps)

    # -- training ---------------------------------------------------------------------------
    def networks(self) -> dict[str, nn.Module]:
        """The trained networks by name, unwrapped from DDP/compile (what checkpoints and exports use)."""
        from translate.engine import unwrap

        return {n: unwrap(getattr(self, n)) for n in self.network_names}

    def configure_optimizers(self) -> tuple[dict[str, torch.optim.Optimizer], dict[str, Any]]:
        """({name: optimizer}, {name: lr scheduler stepped once per training step})."""
        raise NotImplementedError

    def training_step(self, batch: dict, engine) -> dict[str, float]:
        raise NotImplementedError

    def extra_state(self) -> dict:
        """State outside networks/optimizers that a resume needs (image pools, ...). Tensors,
        numbers, strings, lists and dicts only: checkpoints are loaded with weights_only=True."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass

    # -- inspection -------------------------------------------------------------------------
    @torch.no_grad()
    def visuals(self, batch: dict) -> dict[str, torch.Tensor]:
        """Named image batches in [-1, 1] (N, C, H, W) for the sample grid, in column order."""
        raise NotImplementedError

    def exports(self) -> list[ExportSpec]:
        raise NotImplementedError

    @torch.no_grad()
    def evaluate(self, dataset, device: torch.device) -> dict[str, float]:
        """Held-out quality numbers on `dataset` (the kind's test split)."""
        return {}

    def loss_watch(self) -> dict[str, str]:
        """{metric name: role} for the failure watch; role "discriminator" metrics collapsing
        to ~0 are warned about."""
        return {}
