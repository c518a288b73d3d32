"""ONNX export, the torch-free runtime and `translate predict`, with real files.

A tiny stand-in generator (same layer kinds as the ResNet generator) is exported once per module;
each further export costs a few seconds, so only the mismatch test does another.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from PIL import Image
from torch import nn

from translate.errors import ConfigError, DataError, ExportError
from translate.export import predict, runtime
from translate.export.onnx_export import export_model, verification_size
from translate.model import ExportSpec

AXES = {0: "batch", 2: "height", 3: "width"}
BASE = {"toolkit_version": "0.1.0", "plugin": "standin", "plugin_version": "0.0.1", "model": "standin",
        "channels": 3, "normalization": {"range": [-1, 1], "mean": [0.5] * 3, "std": [0.5] * 3},
        "image_size": 32}


class StandIn(nn.Module):
    """reflect pad + conv + InstanceNorm + ReLU, stride-2 conv down, transposed conv up, tanh."""

    def __init__(self, channels=3, ngf=4):
        super().__init__()
        self.net = nn.Sequential(
            nn.ReflectionPad2d(3), nn.Conv2d(channels, ngf, 7), nn.InstanceNorm2d(ngf), nn.ReLU(True),
            nn.Conv2d(ngf, ngf * 2, 3, stride=2, padding=1), nn.InstanceNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 3, stride=2, padding=1, output_padding=1),
            nn.InstanceNorm2d(ngf), nn.ReLU(True),
            nn.ReflectionPad2d(3), nn.Conv2d(ngf, channels, 7), nn.Tanh())

    def forward(self, x):
        return self.net(x)


class TracingDiffers(nn.Module):
    """Gives a different answer while being exported than in eager mode: verification must see it."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x):
        y = self.conv(x)
        if torch.compiler.is_exporting() or torch.jit.is_tracing():
            return y * 2
        return y


class DataDependent(nn.Module):
    """A branch on tensor data: torch.export cannot capture it, the TorchScript tracer can."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x):
        if x.abs().max() >= 0:  # always true
            return self.conv(x)
        return x


class Exportable:
    """The minimum of a TranslationModel that export_model uses: exports()."""

    def __init__(self, module, size_multiple=2, name="A2B", tolerance=1e-3, metadata=None):
        self.module, self.size_multiple, self.name, self.tolerance = module, size_multiple, name, tolerance
        self.metadata = metadata

    def exports(self):
        meta = self.metadata if self.metadata is not None else {
            "task": "image-to-image", "direction": "A2B", "source_domain": "horse",
            "target_domain": "zebra", "size_multiple": self.size_multiple}
        return [ExportSpec(
            name=self.name, module=self.module, example_inputs=(torch.rand(1, 3, 32, 32) * 2 - 1,),
            input_names=["image"], output_names=["output"], dynamic_axes={"image": AXES, "output": AXES},
            metadata=meta, make_inputs=lambda h, w, b: (torch.rand(b, 3, h, w) * 2 - 1,),
            tolerance=self.tolerance)]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    module = StandIn()
    logs: list[str] = []
    folder = tmp_path_factory.mktemp("exports")
    paths = export_model(Exportable(module), folder, base_metadata=BASE, log=logs.append)
    return module.eval(), paths[0], logs


def _write_model(path: Path, metadata: dict | None) -> Path:
    """A tiny valid ONNX model (Identity), with arbitrary translate metadata or none."""
    x = onnx.helper.make_tensor_value_info("image", onnx.TensorProto.FLOAT, ["batch", 3, "height", "width"])
    y = onnx.helper.make_tensor_value_info("output", onnx.TensorProto.FLOAT, ["batch", 3, "height", "width"])
    graph = onnx.helper.make_graph([onnx.helper.make_node("Identity", ["image"], ["output"])], "g", [x], [y])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 18)])
    if metadata is not None:
        model.metadata_props.add(key="translate", value=json.dumps(metadata))
    onnx.save(model, path)
    return path


# -- export ---------------------------------------------------------------------------------

def test_export_writes_a_checked_file_with_metadata(exported):
    _, path, logs = exported
    assert path.name == "A2B.onnx" and sorted(p.name for p in path.parent.iterdir()) == ["A2B.onnx"]
    onnx.checker.check_model(str(path), full_check=True)
    proto = onnx.load(str(path))
    meta = json.loads({p.key: p.value for p in proto.metadata_props}["translate"])
    assert meta == runtime.read_metadata(path)
    assert meta["task"] == "image-to-image" and meta["direction"] == "A2B"
    assert meta["source_domain"] == "horse" and meta["size_multiple"] == 2
    assert meta["toolkit_version"] == "0.1.0" and meta["plugin"] == "standin" and meta["channels"] == 3
    assert meta["normalization"]["range"] == [-1, 1] and meta["opset"] == 18
    assert meta["inputs"] == [{"name": "image", "shape": ["batch", 3, "height", "width"], "dtype": "float32"}]
    assert meta["outputs"][0]["shape"] == ["batch", 3, "height", "width"]
    h, w = verification_size(2)
    assert h != w and any("max abs error" in line and f"2x3x{h}x{w}" in line for line in logs), logs


def test_layers_export_as_single_onnx_ops(exported):
    _, path, _ = exported
    nodes = onnx.load(str(path)).graph.node
    ops = {n.op_type for n in nodes}
    assert "InstanceNormalization" in ops and "ReduceMean" not in ops  # not decomposed
    pads = [n for n in nodes if n.op_type == "Pad"]
    assert pads and all(onnx.helper.get_attribute_value(a) == b"reflect"
                        for n in pads for a in n.attribute if a.name == "mode")


def test_batch_height_and_width_are_dynamic(exported):
    module, path, _ = exported
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for shape in [(3, 3, 40, 24), (1, 3, 16, 64)]:
        x = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
        [y] = session.run(None, {"image": x})
        assert y.shape == shape
        with torch.no_grad():
            np.testing.assert_allclose(y, module(torch.from_numpy(x)).numpy(), atol=1e-4)


def test_verification_catches_a_mismatch_and_writes_nothing(tmp_path):
    old = tmp_path / "A2B.onnx"
    old.write_bytes(b"previous export")
    with pytest.raises(ExportError, match=r"A2B\.onnx.*differs from PyTorch"):
        export_model(Exportable(TracingDiffers()), tmp_path, base_metadata=BASE, log=lambda _: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["A2B.onnx"]  # no temp file left
    assert old.read_bytes() == b"previous export"                       # and the old one kept


def test_export_falls_back_to_torchscript_when_torch_export_fails(tmp_path, capfd):
    logs: list[str] = []
    [path] = export_model(Exportable(DataDependent()), tmp_path, base_metadata=BASE, log=logs.append)
    assert "using the TorchScript exporter" in logs[0] and "max abs error" in logs[1]
    assert runtime.read_metadata(path)["direction"] == "A2B"
    assert "def forward" not in capfd.readouterr().err  # torch's partial-graph dump is kept quiet


@pytest.mark.parametrize("opset", [13, 17, 21])
def test_export_writes_the_opset_asked_for(tmp_path, opset):
    """torch's default exporter keeps opset 18 for anything lower (an app on an older onnxruntime
    asks for 13 or 17): those go through the TorchScript exporter instead."""
    logs: list[str] = []
    [path] = export_model(Exportable(StandIn()), tmp_path, base_metadata=BASE, opset=opset, log=logs.append)
    proto = onnx.load(str(path))
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [opset]
    assert runtime.read_metadata(path)["opset"] == opset and any("max abs error" in line for line in logs)


def test_an_opset_no_exporter_can_write_is_an_error_that_writes_nothing(tmp_path):
    with pytest.raises(ExportError, match=r"A2B\.onnx: torch\.onnx could not export the module at opset 99"):
        export_model(Exportable(StandIn()), tmp_path, base_metadata=BASE, opset=99, log=lambda _: None)
    assert list(tmp_path.iterdir()) == []


def test_export_gives_every_submodule_its_own_mode_back(tmp_path):
    """A spec's module is often a fresh wrapper (training mode) around a model's networks (eval
    mode): after the export those networks must still be in eval mode, their dropout off."""
    net = nn.Sequential(nn.Conv2d(3, 3, 1), nn.Dropout(0.5)).eval()
    wrapper = nn.Sequential(net)
    assert wrapper.training and not net.training
    export_model(Exportable(wrapper), tmp_path, base_metadata=BASE, log=lambda _: None)
    assert wrapper.training and not any(m.training for m in net.modules())
    x = torch.rand(1, 3, 8, 8)
    assert torch.equal(wrapper(x), wrapper(x))   # deterministic: no dropout


def test_metadata_without_a_task_fails_before_exporting(tmp_path):
    with pytest.raises(ExportError, match="no 'task'"):
        export_model(Exportable(StandIn(), metadata={"direction": "A2B"}), tmp_path, base_metadata=BASE)
    assert not list(tmp_path.iterdir())


# -- runtime --------------------------------------------------------------------------------

def test_runtime_pads_odd_sizes_and_crops_back(exported):
    module, path, _ = exported
    model = runtime.load(path)
    assert model.task == "image-to-image" and model.metadata["direction"] == "A2B"
    img = np.random.default_rng(1).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    out = model(img)
    assert isinstance(out, Image.Image) and out.size == (53, 37) and out.mode == "RGB"
    # Same as PyTorch on the reflect-padded image (38x54, size multiple 2), cropped.
    x = np.pad(img.astype(np.float32) / 127.5 - 1, ((0, 1), (0, 1), (0, 0)), mode="reflect")
    with torch.no_grad():
        y = module(torch.from_numpy(x.transpose(2, 0, 1)[None].copy()))[0].numpy().transpose(1, 2, 0)
    expected = np.clip((y[:37, :53] + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    assert np.abs(np.asarray(out).astype(int) - expected).max() <= 1


def test_runtime_resize_scales_the_shorter_side_first(exported):
    _, path, _ = exported
    model = runtime.load(path)
    img = np.random.default_rng(2).integers(0, 256, (120, 200, 3), dtype=np.uint8)
    outs = model([img, img[:, :90]], resize=30)
    assert [o.size for o in outs] == [(50, 30), (30, 40)]
    small = np.asarray(Image.fromarray(img).resize((50, 30), Image.BICUBIC))
    assert np.array_equal(np.asarray(outs[0]), np.asarray(model(small)))   # = resizing it yourself
    with pytest.raises(ConfigError, match="resize: expected a positive number of pixels, got 0"):
        model(img, resize=0)


def test_runtime_converts_grayscale_rgba_paths_and_lists(exported, tmp_path):
    _, path, _ = exported
    model = runtime.load(path, providers=["CPUExecutionProvider"])
    gray = Image.fromarray(np.full((20, 30), 200, np.uint8), "L")
    rgba = np.zeros((20, 30, 4), np.uint8)            # fully transparent: composited over white
    white = np.full((20, 30, 3), 255, np.uint8)
    file = tmp_path / "in.png"
    gray.save(file)
    outs = model([gray, rgba, white, np.full((20, 30), 200, np.uint8), str(file), file])
    assert [o.size for o in outs] == [(30, 20)] * 6 and all(o.mode == "RGB" for o in outs)
    assert np.array_equal(np.asarray(outs[1]), np.asarray(outs[2]))      # RGBA == its white composite
    assert np.array_equal(np.asarray(outs[0]), np.asarray(outs[3]))      # PIL L == HxW array
    assert np.array_equal(np.asarray(outs[0]), np.asarray(outs[4]))      # == the same image from a file
    out = model.translate_array(np.zeros((2, 3, 9, 11), np.float32))
    assert out.shape == (2, 3, 9, 11) and out.dtype == np.float32
    with pytest.raises(DataError, match=r"\(N, 3, H, W\)"):
        model.translate_array(np.zeros((1, 1, 9, 11), np.float32))
    with pytest.raises(DataError, match="image #0"):
        model(np.zeros((4, 4, 3), np.float64))


def test_runtime_turns_an_exif_rotated_photo_upright_from_a_path_or_an_open_image(exported, tmp_path):
    _, path, _ = exported
    model = runtime.load(path)
    stored = np.random.default_rng(3).integers(0, 256, (20, 30, 3), dtype=np.uint8)   # 30 wide, 20 high
    exif = Image.Exif()
    exif[0x0112] = 6                                   # Orientation: rotate 90 degrees clockwise to display
    file = tmp_path / "phone.png"
    Image.fromarray(stored).save(file, exif=exif)
    upright = np.ascontiguousarray(np.rot90(stored, -1))    # what a viewer shows: 20 wide, 30 high
    by_path, by_image, by_array = model([file, Image.open(file), upright])
    assert by_path.size == by_image.size == (20, 30)
    assert np.array_equal(np.asarray(by_path), np.asarray(by_array))
    assert np.array_equal(np.asarray(by_image), np.asarray(by_array))


def test_runtime_rejects_files_that_are_not_translate_exports(tmp_path):
    with pytest.raises(ExportError, match="does not exist"):
        runtime.load(tmp_path / "missing.onnx")
    png = tmp_path / "picture.onnx"
    Image.new("RGB", (8, 8)).save(png, format="PNG")
    with pytest.raises(ExportError, match=r"picture\.onnx: not a readable ONNX model"):
        runtime.load(png)
    with pytest.raises(ExportError, match=r"plain\.onnx: an ONNX model, but not a translate export"):
        runtime.load(_write_model(tmp_path / "plain.onnx", None))
    with pytest.raises(ExportError, match="task 'paint' is unknown"):
        runtime.load(_write_model(tmp_path / "paint.onnx", {"task": "paint"}))
    # Well-formed metadata is read fine; running the model needs the inputs its task expects.
    assert runtime.read_metadata(_write_model(tmp_path / "cgan.onnx", {"task": "generate"})) == {"task": "generate"}
    with pytest.raises(ExportError, match="a generate model needs inputs 'z' and 'label'"):
        runtime.load(tmp_path / "cgan.onnx")


def test_runtime_and_predict_never_import_torch(exported, tmp_path):
    _, path, _ = exported
    Image.new("RGB", (21, 13), (10, 200, 30)).save(tmp_path / "a.png")
    code = textwrap.dedent(f"""
        import sys, numpy as np
        from translate.export import runtime, predict
        model = runtime.load({str(path)!r})
        assert model(np.zeros((13, 21, 3), np.uint8)).size == (21, 13)
        parser = __import__("argparse").ArgumentParser()
        predict.add_arguments(parser)
        assert predict.run(parser.parse_args([{str(path)!r}, {str(tmp_path / "a.png")!r},
                                              "-o", {str(tmp_path / "out")!r}])) == 0
        heavy = sorted(m for m in ("torch", "translate.model", "onnx") if m in sys.modules)
        print("HEAVY", heavy)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout
    assert (tmp_path / "out" / "a.png").is_file()


# -- translate predict ----------------------------------------------------------------------

def _predict(*argv) -> int:
    parser = argparse.ArgumentParser()
    predict.add_arguments(parser)
    return predict.run(parser.parse_args([str(a) for a in argv]))


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.new("RGB", (23, 17), (255, 0, 0)).save(folder / "red.png")
    Image.new("L", (12, 12), 90).save(folder / "gray.jpg")
    (folder / "notes.txt").write_text("not an image")
    single = tmp_path / "blue.bmp"
    Image.new("RGBA", (9, 31), (0, 0, 255, 128)).save(tmp_path / "blue.png")
    Image.open(tmp_path / "blue.png").convert("RGB").save(single)
    return folder, single


def test_predict_writes_one_png_per_input_and_refuses_to_overwrite(exported, images, tmp_path, capsys):
    _, path, _ = exported
    folder, single = images
    out = tmp_path / "out"
    assert _predict(path, folder, single, "-o", out) == 0
    assert sorted(p.name for p in out.iterdir()) == ["blue.png", "gray.png", "red.png"]
    assert Image.open(out / "red.png").size == (23, 17) and Image.open(out / "blue.png").size == (9, 31)
    printed = capsys.readouterr().out
    assert str(out / "red.png") in printed and "translated 3 images" in printed

    before = (out / "red.png").read_bytes()
    (out / "red.png").write_bytes(b"mine")
    with pytest.raises(DataError, match=r"gray\.png already exists \(and 2 more\); pass --overwrite"):
        _predict(path, folder, single, "-o", out)
    assert (out / "red.png").read_bytes() == b"mine"
    assert _predict(path, folder, "--overwrite", "-o", out) == 0
    assert (out / "red.png").read_bytes() == before


def test_predict_resize(exported, images, tmp_path):
    _, path, _ = exported
    folder, single = images
    assert _predict(path, single, "--resize", "18", "-o", tmp_path / "out") == 0
    assert Image.open(tmp_path / "out" / "blue.png").size == (18, 62)      # 9x31 -> shorter side 18
    with pytest.raises(ConfigError, match="--resize 0: expected a positive number of pixels"):
        _predict(path, single, "--resize", "0", "-o", tmp_path / "out0")
    assert not (tmp_path / "out0").exists()


def test_predict_validates_every_input_before_writing(exported, images, tmp_path):
    _, path, _ = exported
    folder, single = images
    out = tmp_path / "out"
    with pytest.raises(DataError, match=r"missing\.png: input does not exist"):
        _predict(path, folder, tmp_path / "missing.png", "-o", out)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="empty: folder has no images"):
        _predict(path, folder, empty, "-o", out)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(DataError, match=r"broken\.png: cannot read image"):
        _predict(path, folder, broken, "-o", out)
    other = tmp_path / "other"
    other.mkdir()
    Image.new("RGB", (8, 8)).save(other / "red.webp")
    with pytest.raises(DataError, match=r"red\.png.*red\.webp.*both be written"):
        _predict(path, folder, other, "-o", out)
    assert not out.exists()  # nothing was written by any of the failures


def test_predict_rejects_a_model_that_is_not_a_translate_export(images, tmp_path):
    folder, _ = images
    with pytest.raises(ExportError, match=r"nope\.onnx: model file does not exist"):
        _predict(tmp_path / "nope.onnx", folder, "-o", tmp_path / "out")
    with pytest.raises(ExportError, match="not a translate export"):
        _predict(_write_model(tmp_path / "plain.onnx", None), folder, "-o", tmp_path / "out")
    assert not (tmp_path / "out").exists()
