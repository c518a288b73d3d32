"""Export a model's inference modules to ONNX: metadata, onnx.checker, atomic write, and a
verification against PyTorch with onnxruntime (see DESIGN.md, "Export").

Needs torch, onnx and onnxscript (the 'train' extra); only `translate export` imports it.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import os
import re
import tempfile
import uuid
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import torch

from translate.errors import ExportError
from translate.export.runtime import FORMAT_VERSION, METADATA_KEY, create_session
from translate.export.winograd import rewrite_conv3x3
from translate.model import ExportSpec
from translate.run import make_folder

__all__ = ["export_model", "build_metadata", "verification_size"]


def export_model(model, output_dir, *, base_metadata: dict, opset: int = 18, verify: bool = True,
                 winograd: bool = True, log: Callable[[str], None] = print) -> list[Path]:
    """Write `output_dir/<spec.name>.onnx` for every ExportSpec in `model.exports()`.

    `winograd` rewrites the 3x3 convolutions of 128+ channels for onnxruntime's CPU (export/winograd.py);
    the verification against PyTorch covers the rewritten graph like any other.

    All-or-nothing: every file is exported, checked and verified under a temporary name first and
    only then renamed into place, so a failure leaves no new file behind (and keeps older ones).
    Raises ExportError naming the file on any failure.
    """
    specs = list(model.exports())
    if not specs:
        raise ExportError(f"{type(model).__name__}.exports() returned nothing to export")
    names = [spec.name for spec in specs]
    for name in names:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
            raise ExportError(f"export name {name!r} is not a plain file name (letters, digits, _ . -)")
    if len(set(names)) != len(names):
        raise ExportError(f"{type(model).__name__}.exports() has duplicate names: {names}")
    for spec in specs:  # metadata problems fail fast, before any slow export
        build_metadata(spec, base_metadata)
    output_dir = make_folder(output_dir, "--output")
    staged: list[tuple[Path, Path]] = []
    try:
        for spec in specs:
            final = output_dir / f"{spec.name}.onnx"
            staged.append((_export_spec(spec, output_dir, final.name, base_metadata, opset, verify, winograd, log),
                           final))
        for tmp, final in staged:
            os.replace(tmp, final)
        _fsync_dir(output_dir)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)  # no-op after a successful rename
    return [final for _, final in staged]  # the caller reports them (the CLI prints each path)


def _export_spec(spec: ExportSpec, folder: Path, filename: str, base_metadata: dict, opset: int,
                 verify: bool, winograd: bool, log) -> Path:
    """Export one spec to a temporary file in `folder`, verified; returns the temporary path."""
    module = spec.module
    # Each submodule's own mode comes back afterwards: a spec's module is often a fresh wrapper
    # (in training mode) around the model's networks (in eval mode), and `wrapper.train(True)`
    # would switch those networks' dropout on behind the caller's back.
    modes, device = [(m, m.training) for m in module.modules()], _device_of(module)
    module.eval().cpu()
    try:
        inputs = tuple(_cpu(x) for x in spec.example_inputs)
        proto = _to_onnx(spec, module, inputs, opset, filename, log)
        _check_graph_io(proto, spec, filename)
        meta = build_metadata(spec, base_metadata, _opset_of(proto), module, inputs)
        meta["winograd_convs"] = rewrite_conv3x3(proto) if winograd else 0
        if meta["winograd_convs"]:
            log(f"{filename}: {meta['winograd_convs']} 3x3 convolutions rewritten as Winograd F(4x4, 3x3)")
        _set_metadata(proto, meta, filename)
        try:
            onnx.checker.check_model(proto, full_check=True)
        except onnx.checker.ValidationError as exc:
            raise ExportError(f"{filename}: onnx.checker rejected the exported model: {exc}") from exc
        try:
            data = proto.SerializeToString()
        except ValueError as exc:  # protobuf's 2 GiB limit; generators are far below it
            raise ExportError(f"{filename}: the model is too large for a single ONNX file ({exc})") from exc
        tmp = _write_temp(data, folder, filename)
        try:
            if verify:
                _verify(spec, module, tmp, filename, meta, log)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp
    finally:
        for m, training in modes:
            m.training = training
        if device is not None:
            module.to(device)


# -- export ---------------------------------------------------------------------------------

@contextlib.contextmanager
def _quiet():
    # torch.onnx's deprecation/tracer warnings and torch.export's graph dumps on a failed capture
    # are about torch's internals; what matters reaches the user as one log line or an ExportError.
    torch_logger = logging.getLogger("torch")
    level = torch_logger.level
    torch_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        torch_logger.setLevel(level)


def _reason(exc: BaseException) -> str:
    """The innermost cause's first line, without terminal colours: torch.onnx wraps the real
    reason in a generic "Failed to export the model" error."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {(lines or [''])[0][:200]}"


def _to_onnx(spec: ExportSpec, module, inputs: tuple, opset: int, filename: str, log) -> onnx.ModelProto:
    """The torch.export-based exporter (torch's default since 2.9): it gives one ONNX op per
    layer (InstanceNormalization, Pad(reflect), Conv, ...) after onnxscript's optimizer (constant
    folding, dead-code removal). Modules torch.export cannot capture fall back to the TorchScript
    exporter, which the verification step then checks like any other export."""
    # Axis names as strings: torch turns them into Dim.DYNAMIC (so it infers constraints such as
    # "a multiple of 4" instead of failing) and names the ONNX dims after them.
    dynamic_shapes = tuple(dict(spec.dynamic_axes[name]) if name in spec.dynamic_axes else None
                           for name in spec.input_names)
    try:
        # A failed capture also prints the partial FX graph to stderr; the log line below says why.
        with _quiet(), torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):
            program = torch.onnx.export(
                module, inputs, dynamo=True, opset_version=opset, input_names=list(spec.input_names),
                output_names=list(spec.output_names), dynamic_shapes=dynamic_shapes,
                optimize=True, external_data=False, verbose=False)
        proto = program.model_proto
        # Below its native opset 18 (and for opsets it cannot convert to) it keeps 18, silently.
        if _opset_of(proto) == opset:
            return proto
        log(f"{filename}: the torch.export-based exporter wrote opset {_opset_of(proto)}, not {opset}; "
            f"using the TorchScript exporter")
    except Exception as exc:  # torch.export raises many types (UserError, Unsupported, ...)
        log(f"{filename}: the torch.export-based exporter failed ({_reason(exc)}); "
            f"using the TorchScript exporter")
    with _quiet(), tempfile.TemporaryDirectory() as tmpdir, torch.no_grad():
        path = Path(tmpdir) / filename
        try:
            torch.onnx.export(module, inputs, str(path), dynamo=False, opset_version=opset,
                              input_names=list(spec.input_names), output_names=list(spec.output_names),
                              dynamic_axes={k: dict(v) for k, v in spec.dynamic_axes.items()},
                              do_constant_folding=True)
        except Exception as exc:
            raise ExportError(f"{filename}: torch.onnx could not export the module at opset {opset} "
                              f"({type(exc).__name__}: {exc})") from exc
        proto = onnx.load(str(path))
    if _opset_of(proto) != opset:
        raise ExportError(f"{filename}: asked for opset {opset}, torch.onnx wrote opset {_opset_of(proto)}")
    return proto


def _check_graph_io(proto: onnx.ModelProto, spec: ExportSpec, filename: str) -> None:
    """The runtime feeds inputs by name at any size: the names must match the spec and the
    dynamic axes must really be dynamic (a module can make torch specialize a size)."""
    names = [i.name for i in proto.graph.input]
    if names != list(spec.input_names):
        raise ExportError(f"{filename}: exported inputs {names} differ from the spec's {list(spec.input_names)} "
                          f"(an input the module does not use is dropped by the exporter)")
    for value in proto.graph.input:
        dims = value.type.tensor_type.shape.dim
        for axis, axis_name in spec.dynamic_axes.get(value.name, {}).items():
            if axis < len(dims) and dims[axis].HasField("dim_value"):
                raise ExportError(f"{filename}: axis {axis} ({axis_name}) of input '{value.name}' was "
                                  f"exported as the fixed size {dims[axis].dim_value}; the module must "
                                  f"work at any {axis_name}")


def _opset_of(proto: onnx.ModelProto) -> int:
    return next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))


# -- metadata -------------------------------------------------------------------------------

def _describe(names, tensors, dynamic_axes) -> list[dict]:
    return [{"name": name,
             "shape": [dynamic_axes.get(name, {}).get(i, int(n)) for i, n in enumerate(t.shape)],
             "dtype": str(t.dtype).removeprefix("torch.")}
            for name, t in zip(names, tensors)]


def build_metadata(spec: ExportSpec, base_metadata: dict, opset: int | None = None, module=None,
                   inputs=None) -> dict:
    """base_metadata (versions, plugin, model, channels, normalization, image_size) + the spec's
    (task, direction, domains, size_multiple, ...) + opset and the input/output signature.
    Without `module` the outputs are left out (a cheap check before the slow export)."""
    meta = {"format_version": FORMAT_VERSION, **base_metadata, **spec.metadata, "name": spec.name}
    if not isinstance(meta.get("task"), str):
        raise ExportError(f"{spec.name}.onnx: the export's metadata has no 'task' "
                          f"(e.g. \"image-to-image\"); set it in ExportSpec.metadata")
    if opset is not None:
        meta["opset"] = int(opset)
    inputs = tuple(spec.example_inputs) if inputs is None else inputs
    meta["inputs"] = _describe(spec.input_names, inputs, spec.dynamic_axes)
    if module is not None:
        with torch.no_grad():
            outputs = _flatten(module(*inputs))
        meta["outputs"] = _describe(spec.output_names, outputs, spec.dynamic_axes)
    _to_json(meta, f"{spec.name}.onnx")
    return meta


def _to_json(meta: dict, filename: str) -> str:
    try:
        return json.dumps(meta, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ExportError(f"{filename}: metadata is not JSON-serializable ({exc})") from exc


def _set_metadata(proto: onnx.ModelProto, meta: dict, filename: str) -> None:
    text = _to_json(meta, filename)
    for prop in list(proto.metadata_props):
        if prop.key == METADATA_KEY:
            proto.metadata_props.remove(prop)
    proto.metadata_props.add(key=METADATA_KEY, value=text)


# -- verification ---------------------------------------------------------------------------

def verification_size(size_multiple: int) -> tuple[int, int]:
    """A small non-square size, both sides multiples of size_multiple: a square size would hide
    a swapped height/width, and a size unlike the example's shows the axes are truly dynamic."""
    m = max(1, int(size_multiple))
    h, w = m * math.ceil(72 / m), m * math.ceil(88 / m)
    return (h, w + m) if h == w else (h, w)


def _verify(spec: ExportSpec, module, path: Path, filename: str, meta: dict, log) -> None:
    h, w = verification_size(meta.get("size_multiple", 1) or 1)
    if spec.make_inputs is not None:
        inputs = tuple(_cpu(x) for x in spec.make_inputs(h, w, 2))
    else:
        log(f"{filename}: the spec has no make_inputs; verifying at the example size only")
        inputs = tuple(_cpu(x) for x in spec.example_inputs)
    where = "x".join(str(n) for n in inputs[0].shape)
    with torch.no_grad():
        expected = [t.numpy() for t in _flatten(module(*inputs))]
    session = create_session(path, ["CPUExecutionProvider"])
    try:
        got = session.run(None, {name: t.numpy() for name, t in zip(spec.input_names, inputs)})
    except Exception as exc:
        raise ExportError(f"{filename}: onnxruntime failed to run the export at {where} "
                          f"({type(exc).__name__}: {exc})") from exc
    if len(got) != len(expected) or any(g.shape != e.shape for g, e in zip(got, expected)):
        raise ExportError(f"{filename}: ONNX output shapes {[g.shape for g in got]} differ from "
                          f"PyTorch's {[e.shape for e in expected]} at {where}")
    err = max((float(np.max(np.abs(g.astype(np.float64) - e))) if e.size else 0.0
               for g, e in zip(got, expected)), default=0.0)
    log(f"{filename}: max abs error {err:.1e} vs PyTorch at {where} (tolerance {spec.tolerance:.0e})")
    if not err <= spec.tolerance:  # also catches NaN
        raise ExportError(f"{filename}: the ONNX model differs from PyTorch by {err:.3g} at {where} "
                          f"(tolerance {spec.tolerance:g}); nothing was written")


# -- helpers --------------------------------------------------------------------------------

def _flatten(out) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        out = list(out.values())
    return [t for item in out for t in _flatten(item)]


def _cpu(x):
    return x.detach().cpu() if isinstance(x, torch.Tensor) else x


def _device_of(module) -> torch.device | None:
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return None


def _write_temp(data: bytes, folder: Path, filename: str) -> Path:
    """Write to a hidden temporary file next to the target (same filesystem, so the later
    os.replace is atomic) and fsync it. open('xb') keeps the umask's permissions, unlike mkstemp."""
    tmp = folder / f".{filename}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _fsync_dir(folder: Path) -> None:
    """Make the renames durable; directories cannot be opened on Windows, where this is skipped."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
