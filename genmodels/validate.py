"""Input validators every tab and service uses: one place for the limits, the coercions and the sentences a person
reads. Below the hub and the families (the hub's ``guard.py`` applies the same checks to Gradio's preprocessing).

What is checked here (SECURITY.md lists the same):

- **Images** — the header is read before any pixel is decoded; more than ``MAX_IMAGE_PIXELS`` (4096², or
  ``GENMODELS_MAX_IMAGE_PIXELS``) is refused, and Pillow's decompression-bomb guard is set to the same limit.
  Truncated, zero-byte and non-image files are refused with a sentence. Modes are converted to 8-bit RGB and the
  conversion is stated: RGBA / LA / PA composited on white, palette, CMYK and grayscale converted, 16-bit and float
  rescaled, an animated image reduced to its first frame.
- **Numbers** — NaN and ±inf are refused for every numeric input; whole numbers (seeds, items, counts) must be
  whole and in range; counts beyond a server cap are clamped with a visible note (:func:`clamp_count`).
- **Text** — every text box is capped at ``MAX_TEXT_CHARS`` (2,000) characters (prompts are then cut to the text
  encoder's tokens by the tabs, with a note).
- **Model sources** (:func:`model_source`) — ``embedded``, a Hub id of the form ``owner/name``, or a local path
  *under the models root* (``GENMODELS_MODELS_DIR``; default: the embedded weights and the Hugging Face cache).
  On a public Space local paths are off. Refusals never echo a resolved server path.

Everything raises :class:`InputError`, a ``ValueError`` (the CLI and library callers catch it as one) that is also a
``gr.Error`` (Gradio shows its sentence); gradio is the one UI import here, for that base class.
"""
from __future__ import annotations

import html
import math
import os
import re
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from .checkpoints import ACCEPTED_SUFFIXES
from .limits import LimitError, check_image_header, check_pixels

MAX_SEED = 2**32 - 1
MAX_TEXT_CHARS = 2_000


class InputError(gr.Error, ValueError):
    """A value a person can fix; the message is the sentence they read. A ``gr.Error`` (Gradio shows it, also when
    raised outside a handler wrapper) and a ``ValueError`` (the CLI and library callers catch it as one)."""

    def __init__(self, message: str):
        gr.Error.__init__(self, html.escape(message, quote=False), print_exception=False)

    def __str__(self) -> str:
        return html.unescape(self.message)


# --------------------------------------------------------------------------------------------------- numbers
def _finite(value, what: str, kind: str) -> float:
    """``value`` as a finite float, else an ``InputError`` ("<what> must be <kind>" / "a finite number")."""
    try:
        f = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{what} must be {kind}, got {str(value)[:40]!r}.") from None
    if not math.isfinite(f):
        raise InputError(f"{what} must be a finite number, got {f}.")
    return f


def parse_whole(value, lo: int, hi: int, what: str) -> int:
    """A whole number in [lo, hi] from a UI / API value, else an ``InputError`` that says what was wrong."""
    try:
        f = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{what} must be a whole number, got {str(value)[:40]!r}.") from None
    if not math.isfinite(f) or f != int(f):
        raise InputError(f"{what} must be a whole number, got {str(value)[:40]!r}.")
    if not lo <= f <= hi:
        raise InputError(f"{what} must be between {lo} and {hi}, got {int(f)}.")
    return int(f)


def parse_seed(value) -> int:
    """A seed from a UI / API value: an integer in [0, 2**32 - 1], else an ``InputError`` that says so."""
    return parse_whole(value, 0, MAX_SEED, "Seed")


def parse_test_index(value) -> int:
    """An index into the shapes test split."""
    from .data import shapes

    return parse_whole(value, 0, shapes.TEST_SPLIT_SIZE - 1, "Test item")


def parse_number(value, lo: float, hi: float, what: str) -> float:
    """A finite number in [lo, hi]; NaN / ±inf / out of range refused with a sentence."""
    f = _finite(value, what, "a number")
    if not lo <= f <= hi:
        raise InputError(f"{what} must be between {lo:g} and {hi:g}, got {f:g}.")
    return f


def clamp_count(value, lo: int, hi: int, what: str = "batch size") -> tuple[int, str]:
    """Clamp a count into [lo, hi]; returns the count and a visible note when it was clamped."""
    n = int(_finite(value, f"The {what}", "a whole number"))
    if n < lo:
        return lo, f"The {what} was raised to {lo}."
    if n > hi:
        return hi, f"The {what} was capped at {hi} on this server."
    return n, ""


# ---------------------------------------------------------------------------------------------------- images
def to_rgb(img: Image.Image) -> tuple[Image.Image, str]:
    """Any PIL image -> 8-bit RGB, and a note saying what was converted ("" when it already was)."""
    from .data.folders import to_rgb as convert

    notes = []
    if getattr(img, "n_frames", 1) > 1:
        img.seek(0)
        notes.append(f"the first of its {img.n_frames} frames was used")
    if img.mode != "RGB":
        detail = {"RGBA": "transparency composited on white", "LA": "transparency composited on white",
                  "PA": "transparency composited on white", "P": "palette", "L": "grayscale",
                  "1": "black and white"}.get(img.mode, "")
        if img.mode.startswith("I") or img.mode == "F":
            detail = f"{'16-bit' if '16' in img.mode else 'high-bit-depth'} values rescaled to 8 bits"
        notes.append(f"converted from {img.mode} to RGB" + (f" ({detail})" if detail else ""))
        img = convert(img)
    return img, "; ".join(notes)


def open_image(src: Any, what: str = "image", min_side: int = 1) -> tuple[Image.Image, str]:
    """An upload (a file path, a PIL image or an array) -> (8-bit RGB PIL image, note on what was converted).

    Files are checked from their header before decoding; every failure is an ``InputError`` with a sentence."""
    if src is None:
        raise InputError(f"No {what} given.")
    if isinstance(src, dict) and "path" in src:  # a FileData-like dict from an API client
        src = src["path"]
    try:
        if isinstance(src, (str, Path)):
            check_image_header(src, what)
        elif isinstance(src, Image.Image):
            check_pixels(*src.size, what)
    except LimitError as e:
        raise InputError(str(e)) from None
    if isinstance(src, (str, Path)):
        try:
            with Image.open(src) as im:
                im.load()
                img, note = to_rgb(im)
                img = img.copy()
        except Exception:
            raise InputError(f"The {what} could not be decoded (the file is truncated or damaged).") from None
    elif isinstance(src, Image.Image):
        img, note = to_rgb(src)
    else:
        a = np.asarray(src)
        if a.dtype == object or a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3, 4)):
            raise InputError(f"The {what} must be an RGB / RGBA / grayscale image, got an array of shape {a.shape}.")
        try:
            check_pixels(a.shape[1], a.shape[0], what)
        except LimitError as e:
            raise InputError(str(e)) from None
        if a.dtype != np.uint8:
            if not np.isfinite(a).all():
                raise InputError(f"The {what} contains NaN or infinite values.")
            a = np.clip(a, 0, 255).astype(np.uint8)
        if a.ndim == 3 and a.shape[2] == 1:
            a = a[..., 0]
        img, note = to_rgb(Image.fromarray(a))
    if min(img.size) < min_side:
        raise InputError(f"The {what} must be at least {min_side}×{min_side} pixels, got {img.size[0]}×{img.size[1]}.")
    return img, note


def image_32(upload, index, what: str = "image") -> tuple[np.ndarray, str]:
    """An upload (any size / mode) or a test item -> 32x32 RGB uint8, with a note when it was converted."""
    if upload is None:
        from .data.dataset import test_split

        return test_split()["images"][parse_test_index(index)], ""
    img, conv = open_image(upload, what)
    note = [conv] if conv else []
    w, h = img.size
    if img.size != (32, 32):
        side = min(w, h)
        img = img.crop(((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side))
        img = img.resize((32, 32), Image.LANCZOS)
        note.append(f"centre-cropped and resized from {w}×{h} to 32×32 (the models' size)")
    return np.asarray(img), ("The " + what + " was " + "; ".join(note) + ".") if note else ""


# ------------------------------------------------------------------------------------------------ model paths
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


def models_roots() -> list[Path]:
    """Where local model folders / files may be read from: ``GENMODELS_MODELS_DIR`` (os.pathsep-separated), by
    default the embedded weights and the Hugging Face cache. Empty on a public Space unless set explicitly."""
    raw = os.environ.get("GENMODELS_MODELS_DIR", "").strip()
    if raw:
        return [Path(p).expanduser().resolve() for p in raw.split(os.pathsep) if p.strip()]
    if os.environ.get("SPACE_ID"):
        return []
    from huggingface_hub import constants

    return [(Path(__file__).resolve().parent / "weights"), Path(constants.HF_HUB_CACHE).expanduser().resolve()]


def _looks_like_path(s: str) -> bool:
    return (s.startswith(("/", "./", "../", "~", "\\")) or bool(re.match(r"^[A-Za-z]:[\\/]", s)) or "\\" in s
            or s.count("/") != 1 or Path(s).suffix.lower() in ACCEPTED_SUFFIXES
            or ".." in s.split("/"))


def model_source(value, what: str = "weights") -> str:
    """'embedded', a validated Hub id, or a local path resolved under the models root; else an ``InputError``.

    Returns the string to load from: ``"embedded"``, the Hub id as given, or the resolved local path."""
    s = "" if value is None else str(value)
    if len(s) > 300:
        raise InputError(f"The {what} box takes 'embedded', a Hub id (owner/name) or a local path; this value is "
                         f"{len(s):,} characters long.")
    s = s.strip()
    if s in ("", "embedded"):
        return "embedded"
    if "\x00" in s:
        raise InputError(f"The {what} value contains a NUL character.")
    if not _looks_like_path(s) and HUB_ID.match(s) and "--" not in s and ".." not in s and not Path(s).exists():
        return s
    roots = models_roots()
    shown = Path(s).name[:60] or s[:60]
    if not roots:
        raise InputError(f"Local paths are off on this server (a public Space): use 'embedded' or a Hub id "
                         f"(owner/name), not '{shown}'.")
    try:
        p = Path(s).expanduser()
        p = (p if p.is_absolute() else Path.cwd() / p).resolve()
    except (OSError, RuntimeError, ValueError):
        raise InputError(f"'{shown}' is not a usable path.") from None
    if not any(p == r or r in p.parents for r in roots):
        raise InputError(f"'{shown}' is outside the models root: local weights load only from under "
                         "GENMODELS_MODELS_DIR (by default the embedded weights and the Hugging Face cache). "
                         "Use 'embedded', a Hub id (owner/name), or ask the server's owner to add the folder.")
    if not p.exists():
        raise InputError(f"There is no '{shown}' under the models root.")
    return str(p)
