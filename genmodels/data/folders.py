"""User images -> the tensor format of the shapes domain (uint8, N x S x S x 3).

A folder (searched recursively), a zip archive, or a list of files. Every image is converted to RGB (grayscale,
palette, RGBA composited on white, 16-bit scaled to 8-bit), its shorter side resized to ``size`` (bicubic,
antialiased) and centre-cropped to a square. Unreadable files are skipped with a warning that names them, so a
training or scoring run over a real folder never dies on one bad file.
"""
from __future__ import annotations

import io
import os
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..limits import check_pixels, check_zip, unsafe_member

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
MAX_FILES = 100_000


@dataclass
class ImageSet:
    images: np.ndarray  # (N, S, S, 3) uint8
    names: list[str]
    skipped: list[str] = field(default_factory=list)  # "name: reason"

    def __len__(self) -> int:
        return len(self.images)


def to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode -> 8-bit RGB (16-bit and float images are rescaled by their own range)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        if img.mode.startswith("I;16") and hi <= 65535:
            a = a / 257.0
        elif hi > lo:
            a = (a - lo) / (hi - lo) * 255.0
        img = Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, img)
    return img.convert("RGB")


def fit_square(img: Image.Image, size: int) -> np.ndarray:
    """Resize the shorter side to ``size`` and centre-crop -> (size, size, 3) uint8."""
    img = to_rgb(img)
    w, h = img.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    if (nw, nh) != (w, h):
        img = img.resize((nw, nh), Image.Resampling.BICUBIC, reducing_gap=None)
    left, top = (nw - size) // 2, (nh - size) // 2
    return np.asarray(img.crop((left, top, left + size, top + size)), dtype=np.uint8)


def _decode(data: bytes | str | Path, size: int) -> np.ndarray:
    src = io.BytesIO(data) if isinstance(data, bytes) else data
    with Image.open(src) as img:
        check_pixels(*img.size)  # from the header, before decoding
        img.load()
        return fit_square(img, size)


def _is_image_name(name: str) -> bool:
    base = os.path.basename(name)
    return Path(name).suffix.lower() in IMAGE_EXTENSIONS and not base.startswith(".") and "__MACOSX" not in name


def _entries(path: Path) -> Iterable[tuple[str, bytes | Path]]:
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            check_zip(zf)  # a zip bomb is refused before anything is decompressed
            # entries are read into memory, never extracted; a name that would escape a folder is still not trusted
            names = sorted(n for n in zf.namelist() if not n.endswith("/") and _is_image_name(n)
                           and not unsafe_member(n))
            for n in names[:MAX_FILES]:
                yield n, zf.read(n)
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and _is_image_name(str(p)))
        for p in files[:MAX_FILES]:
            yield str(p.relative_to(path)), p
    elif path.is_file():
        yield path.name, path
    else:
        raise FileNotFoundError(f"no such folder, zip or image: {path}")


def load_images(sources: str | Path | Iterable[str | Path], size: int = 32, warn: bool = True) -> ImageSet:
    """Load a folder, a zip, an image file, or a list of any of these."""
    if size < 8 or size > 1024:
        raise ValueError(f"image size must be between 8 and 1024, got {size}")
    paths = [Path(sources)] if isinstance(sources, (str, Path)) else [Path(s) for s in sources]
    images, names, skipped = [], [], []
    for path in paths:
        for name, data in _entries(path):
            try:
                images.append(_decode(data, size))
                names.append(name)
            except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError,
                    zipfile.BadZipFile) as e:
                reason = str(e).replace(f"'{data}'", "").replace(str(data), "").strip() if not isinstance(data, bytes) \
                    else str(e)
                skipped.append(f"{name}: {type(e).__name__}" + (f" ({reason[:80]})" if reason else ""))
    if skipped and warn:
        warnings.warn(f"skipped {len(skipped)} unreadable file(s): " + "; ".join(skipped[:10]), stacklevel=2)
    arr = np.stack(images) if images else np.zeros((0, size, size, 3), np.uint8)
    return ImageSet(arr, names, skipped)
