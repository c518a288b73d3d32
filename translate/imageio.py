"""Image decoding shared by training data and the torch-free runtime (numpy + pillow only).

Every image becomes uint8 HxWxC with the requested channel count, so grayscale, palette,
RGBA and 16-bit files all work, and photos tagged with an EXIF orientation are turned upright;
what cannot be converted is an error naming the file.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from translate.errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".ppm")
BACKGROUND = (255, 255, 255)  # transparent pixels are composited over white


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and is_image_file(p))


def require_images(folder: Path, what: str) -> list[Path]:
    """list_images(folder), or a DataError naming `what` folder and what it holds instead (a
    nested folder, or files of another type such as an iPhone's .heic)."""
    paths = list_images(folder)
    if paths:
        return paths
    entries = [p for p in Path(folder).iterdir() if not p.name.startswith(".")]
    subdirs = sorted(p.name for p in entries if p.is_dir())
    others = sorted({p.suffix.lower() or p.name for p in entries if p.is_file()})
    holds = []
    if subdirs:
        holds.append(f"subfolders ({', '.join(subdirs[:5])}{', ...' if len(subdirs) > 5 else ''}), which are "
                     f"not searched (put the images directly in it)")
    if others:
        holds.append(f"files of other types ({', '.join(others[:8])})")
    raise DataError(f"{what} {folder} contains no images (looked for {', '.join(IMAGE_EXTENSIONS)})"
                    + (f"; it holds {', and '.join(holds)}" if holds else ""))


def _to_8bit(img: Image.Image, path) -> Image.Image:
    """16-bit and float images are rescaled to 8 bits instead of being clipped."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        return Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        top = 1.0 if arr.max() <= 1.0 else 255.0
        return Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    return img


def convert_image(img: Image.Image, channels: int, path="<image>") -> np.ndarray:
    """Convert a decoded PIL image to uint8 HxWxC with `channels` (1 or 3)."""
    if channels not in (1, 3):
        raise DataError(f"{path}: channels must be 1 or 3, got {channels}")
    img = _to_8bit(img, path)
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode in ("RGB", "L") and "transparency" in img.info):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        img = Image.alpha_composite(canvas, rgba).convert("RGB")
    if img.mode not in ("RGB", "L"):
        try:
            img = img.convert("RGB")
        except (ValueError, OSError) as exc:
            raise DataError(f"{path}: cannot convert image mode {img.mode!r} to RGB ({exc})") from exc
    img = img.convert("RGB" if channels == 3 else "L")
    arr = np.asarray(img, dtype=np.uint8)
    return arr[:, :, None] if arr.ndim == 2 else arr


def load_image(path, channels: int = 3) -> np.ndarray:
    """Decode `path` to uint8 HxWxC. A missing, corrupt or unsupported file is a DataError naming it."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            img.load()
            # Cameras and phones store a photo as shot and tag how to turn it upright.
            return convert_image(ImageOps.exif_transpose(img), channels, path)
    except FileNotFoundError as exc:
        raise DataError(f"{path}: file does not exist") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{path}: cannot read image ({type(exc).__name__}: {exc})") from exc


def to_unit_range(arr_uint8: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [-1, 1], the range every generator sees."""
    return arr_uint8.astype(np.float32) / 127.5 - 1.0


def from_unit_range(arr: np.ndarray) -> np.ndarray:
    """float [-1, 1] -> uint8 [0, 255]."""
    return np.clip((np.asarray(arr, dtype=np.float32) + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)


def save_image(arr_uint8: np.ndarray, path) -> None:
    arr = arr_uint8[:, :, 0] if arr_uint8.ndim == 3 and arr_uint8.shape[2] == 1 else arr_uint8
    Image.fromarray(arr).save(path)
