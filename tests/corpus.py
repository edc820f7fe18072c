"""The bad-input corpus, generated here (nothing downloaded): files a public demo receives, and the numbers and
strings a script sends.

``image_files(root)`` -> {name: path}; ``zip_files(root)`` -> {name: path}; ``NUMBERS`` and ``texts()``.
"""
from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def header_bomb_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid PNG header declaring ``width`` × ``height`` RGB pixels, with almost no data: decoding it would
    allocate ~1.2 GB, so it must be refused from the header."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def image_files(root: Path) -> dict[str, Path]:
    """Every image-shaped bad input, written under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    good = _png(Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)))
    frames = [Image.new("RGB", (40, 40), c) for c in ("red", "green", "blue")]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    cmyk = io.BytesIO()
    Image.new("CMYK", (40, 40), (0, 255, 255, 0)).save(cmyk, "JPEG")
    sixteen = Image.fromarray(np.arange(40 * 40, dtype=np.uint16).reshape(40, 40) * 40)  # mode I;16
    rgba = Image.fromarray(rng.integers(0, 255, (40, 40, 4), dtype=np.uint8), "RGBA")
    items = {
        "truncated.png": good[: len(good) // 2],
        "zero-byte.png": b"",
        "text-named.png": b"this is not an image, only text with a .png name\n" * 20,
        "one-pixel.png": _png(Image.new("RGB", (1, 1), (255, 0, 0))),
        "header-bomb-20000.png": header_bomb_png(),
        "sixteen-bit.png": _png(sixteen),
        "cmyk.jpg": cmyk.getvalue(),
        "animated.gif": gif.getvalue(),
        "rgba.png": _png(rgba),
    }
    out = {}
    for name, data in items.items():
        (root / name).write_bytes(data)
        out[name] = root / name
    return out


def zip_files(root: Path) -> dict[str, Path]:
    """A zip with a path-traversal entry and a zip bomb (one entry of 64 MB of zeros, ~1000:1)."""
    root.mkdir(parents=True, exist_ok=True)
    img = _png(Image.new("RGB", (32, 32), (0, 0, 255)))
    trav = root / "traversal.zip"
    with zipfile.ZipFile(trav, "w") as zf:
        zf.writestr("../x.png", img)
        zf.writestr("../../etc/evil.png", img)
        zf.writestr("ok.png", img)
    bomb = root / "zip-bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bomb.png", b"\x00" * (64 * 2**20))
    return {"traversal.zip": trav, "zip-bomb.zip": bomb}


# Every numeric input gets each of these. NaN / ±inf go as the strings a JSON client can send ("NaN",
# "Infinity"): gradio_client refuses to serialise float NaN itself, which would leave the server untested; the server
# reads either form the same way (float("NaN"), or json.loads of a bare NaN), and the guard refuses both.
NUMBERS = {"nan": "NaN", "+inf": "Infinity", "-inf": "-Infinity", "huge": 1e12, "negative": -7}


def texts() -> dict[str, str]:
    """Strings for every text box: a 100k-character prompt, server paths, control characters."""
    return {"100k-prompt": "a red star " * 9_100,
            "etc-path": "/etc",
            "traversal-path": "../../../../etc/passwd",
            "home-secret": "~/.ssh/id_rsa",
            "nul-and-markup": "a\x00b <script>alert(1)</script>"}
