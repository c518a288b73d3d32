"""The torch-free runtime apps use to run exported models: numpy + pillow + onnxruntime only.

    from translate.export import runtime
    model = runtime.load("exports/A2B.onnx")
    zebra = model("horse.jpg")                  # PIL image in, PIL image out; lists work too

Everything the runtime needs (task, channels, size multiple, normalization) is in the file's
"translate" metadata, so no plugin, config or torch is needed. What a model does with its inputs
depends on metadata["task"]; each task is a small class registered with `register_task`, so other
model families ("generate", "classify", "multi-domain") add theirs without touching `Model`.

This module must never import torch or translate.model (a test checks it).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps

from translate.errors import ConfigError, DataError, ExportError, TranslateError, did_you_mean
from translate.imageio import convert_image, from_unit_range, load_image, to_unit_range

METADATA_KEY = "translate"          # metadata_props key holding the JSON metadata
FORMAT_VERSION = 1                  # bumped when the metadata changes incompatibly
PLANNED_TASKS: tuple[str, ...] = ()  # exported by families not wired here yet

__all__ = ["load", "Model", "read_metadata", "register_task", "default_providers", "create_session",
           "METADATA_KEY", "FORMAT_VERSION"]


# -- metadata -------------------------------------------------------------------------------

def _metadata_props(path: Path) -> dict[str, str]:
    """ModelProto.metadata_props, as onnxruntime reads them (no graph optimization: only the
    metadata is wanted, so this stays cheap)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 4
    session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    return dict(session.get_modelmeta().custom_metadata_map)


def read_metadata(path) -> dict:
    """The parsed "translate" metadata of an exported model; an ExportError naming the file if it
    is missing, not an ONNX model, or an ONNX model that translate did not export."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{path}: model file does not exist" if not path.exists() else f"{path}: not a file")
    try:
        props = _metadata_props(path)
    except Exception as exc:  # onnxruntime raises its own pybind exception types
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ExportError(f"{path}: not a readable ONNX model ({reason})") from exc
    if METADATA_KEY not in props:
        found = f" (its metadata keys: {', '.join(sorted(props))})" if props else ""
        raise ExportError(f"{path}: an ONNX model, but not a translate export: no '{METADATA_KEY}' "
                          f"metadata{found}. Export models with `translate export`.")
    try:
        meta = json.loads(props[METADATA_KEY])
    except json.JSONDecodeError as exc:
        raise ExportError(f"{path}: its '{METADATA_KEY}' metadata is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict) or not isinstance(meta.get("task"), str):
        raise ExportError(f"{path}: its '{METADATA_KEY}' metadata has no 'task'")
    version = meta.get("format_version", 1)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ExportError(f"{path}: metadata format version {version!r} is newer than this runtime "
                          f"supports ({FORMAT_VERSION}); upgrade translate-i2i")
    return meta


# -- sessions -------------------------------------------------------------------------------

def default_providers() -> list[str]:
    """CUDA when this onnxruntime build has it, else CPU (CPU always last, as the fallback)."""
    available = ort.get_available_providers()
    return (["CUDAExecutionProvider"] if "CUDAExecutionProvider" in available else []) + ["CPUExecutionProvider"]


def _check_providers(providers) -> list[str]:
    if isinstance(providers, str):
        providers = [p.strip() for p in providers.split(",") if p.strip()]
    providers = list(providers)
    available = ort.get_available_providers()
    for p in providers:
        if p not in available:
            raise ConfigError(f"--providers: onnxruntime has no provider {p!r} (available: "
                              f"{', '.join(available)}).{did_you_mean(p, available)}")
    if not providers:
        raise ConfigError("--providers: no provider given")
    return providers


def create_session(path, providers=None, threads: int | None = None) -> ort.InferenceSession:
    """An onnxruntime session with all graph optimizations on (ORT's fusions and CPU layout
    transforms are what make the ONNX file faster than eager PyTorch; they run at load time, on the
    machine that runs the model, so the shipped file stays portable)."""
    providers = default_providers() if providers is None else _check_providers(providers)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: apps should not see ORT's informational warnings
    if threads:
        options.intra_op_num_threads = int(threads)  # default: one per physical core
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own pybind exception types
        raise ExportError(f"{path}: onnxruntime cannot load the model ({type(exc).__name__}: {exc})") from exc


# -- tasks ----------------------------------------------------------------------------------

_QUIET_RUN = ort.RunOptions()
_QUIET_RUN.log_severity_level = 4  # a failed run raises (and is reported by us); no duplicate log line

_TASKS: dict[str, type["Task"]] = {}


def register_task(name: str) -> Callable[[type["Task"]], type["Task"]]:
    """Class decorator: the runner for models whose metadata says task == name."""
    def deco(cls):
        _TASKS[name] = cls
        return cls
    return deco


class Task:
    """What `Model.__call__` does for one kind of model. Subclasses read `self.model.metadata`
    and run `self.model.session`."""

    def __init__(self, model: "Model"):
        self.model = model

    def __call__(self, *args, **kwargs):
        raise NotImplementedError


@register_task("image-to-image")
class ImageToImage(Task):
    """One image in, one image out (pix2pix, CycleGAN directions). Any size: inputs are padded
    (reflect) to the model's size multiple and the output is cropped back."""

    n_inputs = 1  # the image comes first; subclasses with more inputs feed them in `_feeds`

    def __init__(self, model: "Model"):
        super().__init__(model)
        meta, session = model.metadata, model.session
        if len(session.get_inputs()) != self.n_inputs:
            raise ExportError(f"{model.path}: a {meta['task']} model must have {self.n_inputs} input(s), "
                              f"found {len(session.get_inputs())}")
        inp = session.get_inputs()[0]
        self.input_name = inp.name
        channels = inp.shape[1] if len(inp.shape) == 4 and isinstance(inp.shape[1], int) else meta.get("channels")
        if channels not in (1, 3):
            raise ExportError(f"{model.path}: unsupported input channels {channels!r} (expected 1 or 3)")
        self.channels = int(channels)
        self.size_multiple = int(meta.get("size_multiple", 1) or 1)
        norm = meta.get("normalization", {})
        if list(norm.get("range", [-1, 1])) != [-1, 1]:
            raise ExportError(f"{model.path}: unsupported normalization {norm!r} (this runtime feeds [-1, 1])")

    def __call__(self, images, *, batch_size: int = 8, resize: int | None = None, **options):
        """A PIL image, a uint8 array or a path -> a PIL image; a list of those -> a list.
        `resize`: scale each image so its shorter side has this many pixels first (a photo much
        larger than the training images is otherwise translated at a scale the model never saw,
        and needs memory in proportion); the output has that size. `options` go to `_feeds` (a
        task's further inputs, e.g. the target domain)."""
        if resize is not None and (not isinstance(resize, int) or resize < 1):
            raise ConfigError(f"resize: expected a positive number of pixels, got {resize!r}")
        single = not isinstance(images, (list, tuple))
        items = [images] if single else list(images)
        arrays = [self._to_uint8(item, i) for i, item in enumerate(items)]
        if resize is not None:
            arrays = [resize_shorter_side(arr, resize) for arr in arrays]
        outputs: list[np.ndarray | None] = [None] * len(arrays)
        # Same-size images share a batch (the graph is batch-dynamic); others run apart.
        by_size: dict[tuple[int, int], list[int]] = {}
        for i, arr in enumerate(arrays):
            by_size.setdefault(arr.shape[:2], []).append(i)
        for indices in by_size.values():
            for start in range(0, len(indices), max(1, batch_size)):
                chunk = indices[start:start + max(1, batch_size)]
                batch = np.stack([to_unit_range(arrays[i]).transpose(2, 0, 1) for i in chunk])
                try:
                    result = self.translate_array(batch, **options)
                except DataError as exc:  # name the image, not just the model
                    first = items[chunk[0]]
                    label = str(first) if isinstance(first, (str, os.PathLike)) else f"image #{chunk[0]}"
                    more = f" (and {len(chunk) - 1} more of that size)" if len(chunk) > 1 else ""
                    raise DataError(f"{label}{more}: {exc}") from exc
                for i, out in zip(chunk, result):
                    outputs[i] = from_unit_range(out.transpose(1, 2, 0))
        pil = [_to_pil(out) for out in outputs]
        return pil[0] if single else pil

    def _feeds(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        return {self.input_name: batch}

    def translate_array(self, batch: np.ndarray, **options) -> np.ndarray:
        """(N, C, H, W) float32 in [-1, 1] -> (N, C_out, H, W) float32 in [-1, 1], any H and W."""
        batch = np.asarray(batch, dtype=np.float32)
        if batch.ndim != 4 or batch.shape[1] != self.channels or 0 in batch.shape:
            raise DataError(f"{self.model.path.name}: expected a (N, {self.channels}, H, W) array, "
                            f"got shape {tuple(batch.shape)}")
        n, _, h, w = batch.shape
        ph, pw = -h % self.size_multiple, -w % self.size_multiple
        top, left = ph // 2, pw // 2
        if ph or pw:
            batch = np.pad(batch, ((0, 0), (0, 0), (top, ph - top), (left, pw - left)), mode="reflect")
        try:
            out = self.model.session.run(None, self._feeds(np.ascontiguousarray(batch), **options), _QUIET_RUN)[0]
        except Exception as exc:  # onnxruntime's pybind errors (e.g. an image too small for the net)
            hint = " Is the image too small for this model?" if min(h, w) < 8 * self.size_multiple else ""
            raise DataError(f"{self.model.path.name}: inference failed on a {n}x{self.channels}x{h}x{w} "
                            f"input ({type(exc).__name__}: {exc}).{hint}") from exc
        if out.ndim != 4 or out.shape[0] != n or out.shape[2:] != batch.shape[2:]:
            raise ExportError(f"{self.model.path.name}: output shape {out.shape} does not match the "
                              f"input {batch.shape}; not an image-to-image model?")
        return out[:, :, top:top + h, left:left + w]

    def _to_uint8(self, item, index: int) -> np.ndarray:
        if isinstance(item, (str, os.PathLike)):
            return load_image(item, self.channels)
        if isinstance(item, Image.Image):
            # Image.open(photo) must give what the photo's path gives: turned upright by its EXIF
            # orientation (an image already turned has no orientation tag left).
            return convert_image(ImageOps.exif_transpose(item), self.channels,
                                 getattr(item, "filename", "") or f"image #{index}")
        if isinstance(item, np.ndarray):
            arr = item[:, :, 0] if item.ndim == 3 and item.shape[2] == 1 else item
            if arr.dtype != np.uint8 or not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))):
                raise DataError(f"image #{index}: expected a uint8 HxW or HxWxC array (C = 1, 3 or 4), "
                                f"got {item.dtype} {item.shape}")
            return convert_image(Image.fromarray(np.ascontiguousarray(arr)), self.channels, f"image #{index}")
        raise DataError(f"image #{index}: expected a PIL image, a uint8 array or a path, got {type(item).__name__}")


@register_task("multi-domain")
class MultiDomain(ImageToImage):
    """An image and a target domain in, the image in that domain out (StarGAN). Domains are
    given by name; metadata["domains"] lists them in the generator's label order.

        model("face.png", to="Blond_Hair")         # single-label: exactly one domain
        model("face.png", to=["Blond_Hair", "Young"])   # attributes: the ones to switch on
    """

    n_inputs = 2

    def __init__(self, model: "Model"):
        super().__init__(model)
        self.domains = [str(d) for d in model.metadata.get("domains") or []]
        self.multi_label = bool(model.metadata.get("multi_label"))
        if len(self.domains) < 2:
            raise ExportError(f"{model.path}: a multi-domain model's metadata must list its domains")
        self.target_name = next(i.name for i in model.session.get_inputs() if i.name != self.input_name)

    def __call__(self, images, to, *, batch_size: int = 8, resize: int | None = None):
        self.target_vector(to)  # an unknown name fails before any image is decoded
        return super().__call__(images, batch_size=batch_size, resize=resize, to=to)

    def target_vector(self, to) -> np.ndarray:
        return domain_vector(self.domains, self.multi_label, to, self.model.path.name)

    def _feeds(self, batch: np.ndarray, to=None) -> dict[str, np.ndarray]:
        if to is None:
            raise ConfigError(f"{self.model.path.name}: say which domain to translate to "
                              f"(to=...; one of {', '.join(self.domains)})")
        target = np.repeat(self.target_vector(to)[None], batch.shape[0], axis=0)
        return {self.input_name: batch, self.target_name: target}


def domain_vector(domains: list[str], multi_label: bool, to, where: str) -> np.ndarray:
    """The generator's target label for domain name(s) `to`: one-hot for single-label models
    (exactly one name); for attribute models the named attributes on, the others off. Names may
    be a list or a comma-separated string; an unknown name is an error listing the valid ones."""
    names = [n.strip() for n in (to.split(",") if isinstance(to, str) else to) if n.strip()]
    unknown = [n for n in names if n not in domains]
    if unknown:
        raise ConfigError(f"{where}: unknown domain {unknown[0]!r}; valid domains: {', '.join(domains)}."
                          + did_you_mean(unknown[0], domains))
    if not names or (not multi_label and len(names) != 1):
        raise ConfigError(f"{where}: give {'one target domain' if not multi_label else 'the attributes to switch on'} "
                          f"(valid domains: {', '.join(domains)})")
    vec = np.zeros(len(domains), np.float32)
    vec[[domains.index(n) for n in names]] = 1.0
    return vec


def resize_shorter_side(arr: np.ndarray, size: int) -> np.ndarray:
    """A uint8 HxW(xC) image scaled (bicubic) so that its shorter side is `size` pixels."""
    h, w = arr.shape[:2]
    scale = size / min(h, w)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    return arr if new == (w, h) else np.asarray(Image.fromarray(arr).resize(new, Image.BICUBIC))


def _to_pil(arr: np.ndarray) -> Image.Image:
    return Image.fromarray(arr[:, :, 0], "L") if arr.shape[2] == 1 else Image.fromarray(arr, "RGB")


@register_task("generate")
class Generate(Task):
    """A class label in, new images of that class out (cGAN): inputs z (N, latent_size) ~ N(0, I)
    and label (N,) int64, output (N, C, H, W) in [-1, 1]. metadata["classes"] names the labels.

        digits = model(label="7", count=16, seed=0)   # a list of 16 PIL images; same seed, same images
    """

    def __init__(self, model: "Model"):
        super().__init__(model)
        meta = model.metadata
        self.classes = [str(c) for c in meta.get("classes") or []]
        self.latent_size = meta.get("latent_size")
        names = sorted(i.name for i in model.session.get_inputs())
        if len(self.classes) < 2 or not isinstance(self.latent_size, int) or names != ["label", "z"]:
            raise ExportError(f"{model.path}: a generate model needs inputs 'z' and 'label' and metadata "
                              f"'classes' and 'latent_size' (found inputs {names})")

    def generate_array(self, z: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """z (N, latent_size) float32, labels (N,) class indices -> (N, C, H, W) float32 in [-1, 1]."""
        feeds = {"z": np.ascontiguousarray(z, dtype=np.float32), "label": np.ascontiguousarray(labels, dtype=np.int64)}
        return self.model.session.run(None, feeds, _QUIET_RUN)[0]

    def __call__(self, label, count: int = 1, seed: int | None = None, *, batch_size: int = 64) -> list:
        index = class_index(self.classes, label, f"{self.model.path.name}: label {label!r}")
        if not isinstance(count, int) or count < 1:
            raise ConfigError(f"count must be a positive integer, got {count!r}")
        z = np.random.default_rng(seed).standard_normal((count, self.latent_size)).astype(np.float32)
        labels = np.full(count, index, dtype=np.int64)
        images = []
        for start in range(0, count, max(1, batch_size)):
            out = self.generate_array(z[start:start + batch_size], labels[start:start + batch_size])
            images += [_to_pil(from_unit_range(x.transpose(1, 2, 0))) for x in out]
        return images


class Prediction(NamedTuple):
    """What a classify model says about one image."""

    label: str                         # the most probable class
    probability: float                 # its probability
    probabilities: dict[str, float]    # every class's probability, in the model's class order


@register_task("classify")
class Classify(ImageToImage):
    """An image in, its class out (DANN's adapted classifier). The network takes images of one
    size (metadata["image_size"]): inputs are resized to it, then normalized like training data.

        model("digit.png")            # Prediction(label='7', probability=0.98, probabilities={...})
        model(["a.png", "b.png"])     # a list of Predictions
    """

    def __init__(self, model: "Model"):
        super().__init__(model)
        meta = model.metadata
        self.classes = [str(c) for c in meta.get("classes") or []]
        self.image_size = meta.get("image_size")
        if len(self.classes) < 2 or not isinstance(self.image_size, int) or self.image_size < 1:
            raise ExportError(f"{model.path}: a classify model's metadata must give its 'classes' (at least 2) "
                              f"and 'image_size'")

    def __call__(self, images, *, batch_size: int = 64):
        """A PIL image, a uint8 array or a path -> a Prediction; a list of those -> a list."""
        single = not isinstance(images, (list, tuple))
        items = [images] if single else list(images)
        preds = []
        step = max(1, batch_size)
        for start in range(0, len(items), step):  # decode one batch at a time: bounded memory
            batch = np.stack([to_unit_range(self._resized(self._to_uint8(item, start + i))).transpose(2, 0, 1)
                              for i, item in enumerate(items[start:start + step])])
            preds += [Prediction(self.classes[int(p.argmax())], float(p.max()),
                                 {c: float(v) for c, v in zip(self.classes, p)}) for p in self.classify_array(batch)]
        return preds[0] if single else preds

    def _resized(self, arr: np.ndarray) -> np.ndarray:
        size = self.image_size
        if arr.shape[:2] == (size, size):
            return arr
        # Box filter when shrinking (area averaging, as the training data loader), bicubic when enlarging.
        method = Image.BOX if max(arr.shape[:2]) > size else Image.BICUBIC
        out = np.asarray(_to_pil(arr).resize((size, size), method))
        return out[:, :, None] if out.ndim == 2 else out

    def classify_array(self, batch: np.ndarray) -> np.ndarray:
        """(N, C, S, S) float32 in [-1, 1] (S = image_size) -> (N, classes) probabilities."""
        batch = np.asarray(batch, dtype=np.float32)
        expected = (self.channels, self.image_size, self.image_size)
        if batch.ndim != 4 or batch.shape[1:] != expected:
            raise DataError(f"{self.model.path.name}: expected a (N, {', '.join(map(str, expected))}) array, "
                            f"got shape {tuple(batch.shape)}")
        out = self.model.session.run(None, self._feeds(np.ascontiguousarray(batch)), _QUIET_RUN)[0]
        if out.shape != (batch.shape[0], len(self.classes)):
            raise ExportError(f"{self.model.path.name}: output shape {out.shape} does not match "
                              f"{len(self.classes)} classes; not a classify model?")
        return out


def class_index(classes: list[str], label, where: str) -> int:
    """The generator's index of class `label` (a class name; an int is read as its name); an
    unknown label is an error listing the valid ones."""
    if str(label) not in classes:
        raise ConfigError(f"{where}: not a class of this model; valid labels: {', '.join(classes)}."
                          + did_you_mean(str(label), classes))
    return classes.index(str(label))


# -- the model ------------------------------------------------------------------------------

class Model:
    """An exported translate model, ready to run. What calling it does depends on its task."""

    def __init__(self, path, providers=None, *, threads: int | None = None):
        self.path = Path(path)
        self.metadata: dict = read_metadata(self.path)  # before the session: cheap, clearer errors
        runner = _TASKS.get(self.task)
        if runner is None:
            if self.task in PLANNED_TASKS:
                reason = "is not supported by this version of the translate runtime"
            else:
                reason = "is unknown"
            raise ExportError(f"{self.path}: task {self.task!r} {reason} (supported: {', '.join(sorted(_TASKS))})."
                              + did_you_mean(self.task, _TASKS))
        self.session = create_session(self.path, providers, threads)
        self._runner = runner(self)

    @property
    def task(self) -> str:
        return self.metadata["task"]

    @property
    def providers(self) -> list[str]:
        return self.session.get_providers()

    def __call__(self, *args, **kwargs):
        """Run the model; the arguments depend on the task (image-to-image: an image or a list of
        images, as PIL images, uint8 HxW/HxWxC arrays or paths)."""
        return self._runner(*args, **kwargs)

    def translate_array(self, batch: np.ndarray, **options) -> np.ndarray:
        if not hasattr(self._runner, "translate_array"):
            raise TranslateError(f"{self.path.name}: translate_array is for image-to-image models; "
                                 f"this one's task is {self.task!r}")
        return self._runner.translate_array(batch, **options)

    def __repr__(self) -> str:
        return f"Model({str(self.path)!r}, task={self.task!r})"


def load(path, providers=None, *, threads: int | None = None) -> Model:
    """The model at `path` (a `translate export` .onnx file), on `providers` (default: CUDA if
    onnxruntime has it, else CPU) with `threads` CPU threads (default: one per core)."""
    return Model(path, providers, threads=threads)
