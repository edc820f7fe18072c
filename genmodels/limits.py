"""Server limits that model and data code check themselves (no Gradio here): image size before decoding, zip
archives, and the time budget of one request.

Images: more than ``MAX_IMAGE_PIXELS`` (4096², or ``GENMODELS_MAX_IMAGE_PIXELS``) is refused from the header,
before any pixel is decoded; Pillow's decompression-bomb guard is set to the same number. Zips: refused when they
would expand beyond ``MAX_ZIP_BYTES`` or an entry is compressed more than ``MAX_ZIP_RATIO``:1.

Time:

A handler opens a :class:`Deadline` (the hub's ``user_errors`` wrapper does it for every handler); sampling loops call
:func:`check_deadline`, which raises :class:`BudgetExceeded` (a ``ValueError``, shown to the user as a sentence)
once ``GENMODELS_TIME_BUDGET`` seconds have passed. Outside a request the check does nothing.
"""
from __future__ import annotations

import math
import os
import re
import threading
import time
import warnings
from pathlib import Path

from PIL import Image, ImageFile


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, "") or default)
    except ValueError:
        return default


MAX_IMAGE_PIXELS = _env_int("GENMODELS_MAX_IMAGE_PIXELS", 4096 * 4096)
MAX_ZIP_BYTES = 512 * 2**20  # uncompressed bytes a zip of images may expand to
MAX_ZIP_RATIO = 200  # uncompressed / compressed size of one big entry (a zip bomb's is in the thousands)

# Pillow raises DecompressionBombError above twice this; check_image_header refuses above it.
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
ImageFile.LOAD_TRUNCATED_IMAGES = False


class LimitError(ValueError):
    """An input beyond a server limit, or unreadable; the message is the sentence a person reads."""


def check_image_header(path: str | Path, what: str = "image") -> tuple[int, int]:
    """Read only the header of an image file: its size, refused above ``MAX_IMAGE_PIXELS`` before decoding."""
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError:
        raise LimitError(f"The {what} could not be read (the upload is missing).") from None
    if size == 0:
        raise LimitError(f"The {what} is an empty file (0 bytes).")
    try:
        with warnings.catch_warnings():  # above the limit it is refused below, not decoded: no warning needed
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                w, h = im.size
    except Image.DecompressionBombError:
        raise LimitError(f"The {what} is too large to decode (its header declares more than "
                         f"{2 * MAX_IMAGE_PIXELS:,} pixels); the limit is {_limit_text()}.") from None
    except Exception:
        raise LimitError(f"The {what} is not an image this server can read (PNG, JPEG, WebP, GIF, BMP, TIFF).") \
            from None
    check_pixels(w, h, what)
    return w, h


def check_pixels(w: int, h: int, what: str = "image") -> None:
    """Refuse an image of more than ``MAX_IMAGE_PIXELS`` (its size known from a header or an array's shape)."""
    if w * h > MAX_IMAGE_PIXELS:
        raise LimitError(f"The {what} is {w}×{h} pixels; the limit is {_limit_text()}.")


def _limit_text() -> str:
    side = int(math.isqrt(MAX_IMAGE_PIXELS))
    return f"{side}×{side}" if side * side == MAX_IMAGE_PIXELS else f"{MAX_IMAGE_PIXELS:,} pixels"


def check_zip(zf) -> None:
    """Refuse a zip that would expand beyond ``MAX_ZIP_BYTES`` or has an entry compressed more than
    ``MAX_ZIP_RATIO``:1 (a zip bomb), before anything is decompressed."""
    total = 0
    for info in zf.infolist():
        total += info.file_size
        if info.file_size > 2**20 and info.file_size > MAX_ZIP_RATIO * max(1, info.compress_size):
            raise LimitError(f"The zip's entry {info.filename[:60]!r} expands {info.file_size // max(1, info.compress_size):,}"
                             f"-fold; that looks like a zip bomb and was not opened.")
    if total > MAX_ZIP_BYTES:
        raise LimitError(f"The zip would expand to {total / 2**20:,.0f} MB; the limit is {MAX_ZIP_BYTES // 2**20} MB.")


def unsafe_member(name: str) -> bool:
    """A zip entry whose name would escape a folder it were extracted to (absolute, ``..``, drive letters)."""
    n = name.replace("\\", "/")
    return n.startswith("/") or bool(re.match(r"^[A-Za-z]:", n)) or ".." in n.split("/")


def time_budget_s() -> float:
    """Seconds of sampling one request may use: GENMODELS_TIME_BUDGET, default 300 (120 on a Space)."""
    default = 120 if os.environ.get("SPACE_ID") else 300
    try:
        v = float(os.environ.get("GENMODELS_TIME_BUDGET", "") or default)
    except ValueError:
        v = default
    return v if math.isfinite(v) and v > 0 else default


class BudgetExceeded(ValueError):
    """A request ran past the server's time budget."""


class Cancelled(Exception):
    """The visitor cancelled the request (closed the page, pressed Stop): its sampler stops at the next step."""


_local = threading.local()


class Deadline:
    """The time budget of one request. Handlers start one (``user_errors`` does it for every handler); loops call
    :func:`check_deadline`, which raises :class:`BudgetExceeded` once it has passed."""

    def __init__(self, seconds: float | None = None):
        self.seconds = time_budget_s() if seconds is None else seconds
        self.start = time.monotonic()
        self.cancelled = False

    def cancel(self) -> None:
        """Stop the request's sampling at its next check (also on another thread that entered this deadline)."""
        self.cancelled = True

    @property
    def left(self) -> float:
        return self.seconds - (time.monotonic() - self.start)

    def expired(self) -> bool:
        return self.left <= 0

    def check(self, what: str = "sampling") -> None:
        if self.cancelled:
            raise Cancelled(what)
        if self.expired():
            raise BudgetExceeded(f"Stopped {what} after {time.monotonic() - self.start:.0f} s: one request may use "
                                 f"at most {self.seconds:.0f} s on this server (GENMODELS_TIME_BUDGET). Ask for fewer "
                                 "images or steps.")

    def __enter__(self):
        self._prev = getattr(_local, "deadline", None)
        _local.deadline = self
        return self

    def __exit__(self, *exc):
        _local.deadline = self._prev
        return False


def current_deadline() -> Deadline | None:
    return getattr(_local, "deadline", None)


def check_deadline(what: str = "sampling") -> None:
    """Raise :class:`BudgetExceeded` when the current request's budget has passed (no-op outside a request)."""
    d = current_deadline()
    if d is not None:
        d.check(what)
