"""Model loading and inference for the image-to-image tab (no Gradio here).

Sources: ``embedded`` (our weights), a local folder saved with ``save_pretrained`` (a CycleGAN folder holds ``G_A/``
and ``G_B/``), or a reference ``latest_net_G*.pth`` / ``.safetensors`` file whose architecture is read from its keys
(ResNet or U-Net generator, ngf, blocks / downsamplings, batch or instance norm). Files are read with
``torch.load(weights_only=True)`` or safetensors only.
"""
from __future__ import annotations

import random
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ...data import shapes
from ...data.dataset import to_tensor, to_uint8
from ...loading import serial_load
from .data import pix2pix_input
from .networks import (CheckpointError, ResnetGenerator, UnetGenerator, load_reference_state_dict,
                       read_state_dict)
from .models import CycleGAN

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
WEIGHT_SUFFIXES = (".pth", ".pt", ".safetensors")
MAX_SIDE = 4096


def infer_reference_generator(sd: dict[str, torch.Tensor]) -> torch.nn.Module:
    """Build the generator a reference-layout state_dict was saved from (before loading it strictly)."""
    sd = {k.removeprefix("module."): v for k, v in sd.items()}
    if "model.1.weight" in sd and any(".conv_block." in k for k in sd):
        w = sd["model.1.weight"]
        ngf, input_nc = int(w.shape[0]), int(w.shape[1])
        blocks = {int(m.group(1)) for k in sd if (m := re.match(r"model\.(\d+)\.conv_block\.", k))}
        norm = "instance" if "model.4.bias" in sd else ("batch" if "model.2.weight" in sd else "none")
        out_key = max((k for k in sd if re.match(r"model\.\d+\.weight$", k)), key=lambda k: int(k.split(".")[1]))
        # the block's second conv sits at index 6 after a dropout layer, else at 5
        first = min(blocks) if blocks else 0
        dropout = getattr(sd.get(f"model.{first}.conv_block.6.weight"), "ndim", 0) == 4
        return ResnetGenerator(input_nc, int(sd[out_key].shape[0]), ngf, norm=norm, n_blocks=len(blocks),
                               use_dropout=dropout)
    if "model.model.0.weight" in sd:
        w = sd["model.model.0.weight"]
        ngf, input_nc = int(w.shape[0]), int(w.shape[1])
        def nesting(k: str) -> int:  # blocks below level 1 sit at index 3 of their parent: ….model.3.model.…
            parts = k.split(".")
            return sum(parts[i:i + 3] == ["model", "3", "model"] for i in range(len(parts) - 2))

        num_downs = max(nesting(k) for k in sd) + 2
        out_nc = int(sd["model.model.3.weight"].shape[1])
        norm = "batch" if any(k.endswith("running_mean") for k in sd) else (
            "instance" if "model.model.1.model.1.bias" in sd else "none")
        return UnetGenerator(input_nc, out_nc, num_downs, ngf, norm=norm)
    raise CheckpointError("not a ResNet or U-Net generator state_dict in the reference layout (expected keys such as "
                          "model.1.weight + model.10.conv_block.1.weight, or model.model.0.weight)")


def load_generator_file(path: str | Path) -> torch.nn.Module:
    sd = read_state_dict(path)
    net = infer_reference_generator(sd)
    return load_reference_state_dict(net, sd).eval()


def _check_source(source: str) -> Path:
    p = Path(source).expanduser()
    if p.suffix.lower() in WEIGHT_SUFFIXES:
        if not p.is_file():
            raise FileNotFoundError(f"no weights file {p.name} here")
        return p
    if p.is_dir() and ((p / "config.json").is_file() or (p / "G_A" / "config.json").is_file()):
        return p
    raise FileNotFoundError(f"the weights source {source!r} is neither 'embedded', a weights folder (config.json) "
                            f"nor a {' / '.join(WEIGHT_SUFFIXES)} file")


@lru_cache(maxsize=8)
@serial_load
def load_pix2pix(source: str = "embedded") -> torch.nn.Module:
    source = (source or "embedded").strip()
    if source == "embedded":
        folder = WEIGHTS / "pix2pix"
        if not (folder / "config.json").exists():
            raise FileNotFoundError("the embedded pix2pix is not trained here (python -m genmodels train pix2pix)")
        return UnetGenerator.from_pretrained(folder).eval()
    p = _check_source(source)
    if p.is_dir():
        return UnetGenerator.from_pretrained(p).eval()
    return load_generator_file(p)


@lru_cache(maxsize=8)
@serial_load
def load_cyclegan(source: str = "embedded") -> CycleGAN:
    """``embedded``, a folder with G_A/ + G_B/, or ``path/to/latest_net_G_A.pth`` (its ``_G_B`` sibling is loaded
    too when present; a single ``latest_net_G.pth`` from the reference's test mode serves one direction)."""
    source = (source or "embedded").strip()
    if source == "embedded":
        folder = WEIGHTS / "cyclegan"
        if not (folder / "G_A" / "config.json").exists():
            raise FileNotFoundError("the embedded CycleGAN is not trained here (python -m genmodels train cyclegan)")
        return CycleGAN.load(folder)
    p = _check_source(source)
    if p.is_dir():
        return CycleGAN.load(p)
    g = load_generator_file(p)
    sibling = None
    for a, b in (("G_A", "G_B"), ("G_B", "G_A")):
        if a in p.name and p.with_name(p.name.replace(a, b)).is_file():
            sibling = load_generator_file(p.with_name(p.name.replace(a, b)))
            if a == "G_B":
                g, sibling = sibling, g
            break
    return CycleGAN(g, sibling if sibling is not None else g)


def working_size(net: torch.nn.Module, embedded: bool) -> int:
    """The resolution a generator runs at: 32 for the embedded models, 2**num_downs for a U-Net, 256 otherwise."""
    if embedded:
        return 32
    if isinstance(net, UnetGenerator):
        return 2 ** net.num_downs
    return 256


# ------------------------------------------------------------------------------------------------ conditions
@lru_cache(maxsize=512)
def test_item(index: int):
    """Test item ``index`` (rendered once, then cached: the 2,000 test scenes are fixed)."""
    if not 0 <= int(index) < shapes.TEST_SPLIT_SIZE:
        raise ValueError(f"test item must be in 0 … {shapes.TEST_SPLIT_SIZE - 1}, got {index}")
    return shapes.item("test", int(index))


def check_image(img: np.ndarray | Image.Image | None, what: str = "image") -> Image.Image:
    """A user image -> RGB PIL image; refuses missing, empty or oversized ones with a sentence."""
    from ...data.folders import to_rgb

    if img is None:
        raise ValueError(f"Give an {what} first.")
    if isinstance(img, np.ndarray):
        if img.size == 0 or img.ndim not in (2, 3):
            raise ValueError(f"The {what} is empty or not an image.")
        if img.dtype != np.uint8:
            img = np.clip(img, 0, 255).astype(np.uint8)
        img = Image.fromarray(img)
    w, h = img.size
    if w < 8 or h < 8:
        raise ValueError(f"The {what} is {w}×{h}; give one at least 8×8 pixels.")
    if max(w, h) > MAX_SIDE:
        raise ValueError(f"The {what} is {w}×{h}; the largest side allowed is {MAX_SIDE} pixels.")
    return to_rgb(img)


def square(img: Image.Image, size: int) -> np.ndarray:
    from ...data.folders import fit_square

    return fit_square(img, size)


def edges_from_image(img: Image.Image, size: int = 32) -> np.ndarray:
    """Edges of an uploaded photo / drawing with the scoring module's detector, at ``size``."""
    from ...scoring.edges import detect_edges

    return detect_edges(square(img, size))


def drawing(edges: np.ndarray) -> np.ndarray:
    """A bool edge map (H, W) -> black lines on white, (H, W, 3) uint8: how edges→image datasets draw their input."""
    return np.where(np.asarray(edges, bool)[..., None], 0, 255).astype(np.uint8).repeat(3, 2)


def item_drawing(index: int, size: int) -> np.ndarray:
    """Test item ``index``'s exact edge map (from its geometry, not a detector) as a drawing at ``size``: rendered at
    that size where the renderer goes (8 … 512 px), else the 32-px map resized (nearest neighbour)."""
    if 8 <= size <= 512:
        return drawing(shapes.item("test", int(index), size, twin=False).edges)
    small = Image.fromarray(drawing(test_item(index).edges))
    return np.asarray(small.resize((size, size), Image.Resampling.NEAREST))


FOREIGN_UPLOAD = ("Canny edges", "As is")  # what an upload becomes in a foreign 3-channel pix2pix


def foreign_input(mode: str, size: int, index=None, upload=None, sketch=None,
                  upload_as: str = "Canny edges") -> tuple[np.ndarray, str]:
    """The (size, size, 3) uint8 input of a foreign image→image pix2pix (e.g. the reference's edges2shoes) and how
    it was made ("fed as ..."): a test item's exact edge drawing, an upload's Canny edges (or the upload itself
    with ``upload_as="As is"``), a sketch as drawn."""
    if mode == "Test item":
        return item_drawing(index, size), f"test item {index}'s exact edge map, black lines on white"
    if mode == "Sketch":
        return square(check_image(sketch, "sketch"), size), "the drawing as it is"
    if upload_as not in FOREIGN_UPLOAD:
        raise ValueError(f"An upload goes into a foreign pix2pix as one of {', '.join(FOREIGN_UPLOAD)}, "
                         f"got {upload_as!r}.")
    img = check_image(upload, "uploaded image")
    if upload_as == "As is":
        return square(img, size), "the uploaded image as it is (centre-cropped and resized)"
    return drawing(edges_from_image(img, size)), "the Canny edges of the upload (scoring module), black on white"


def edges_from_sketch(layers: np.ndarray, size: int = 32) -> np.ndarray:
    """A drawing (dark strokes on a light canvas, or strokes on a transparent layer) -> a 1-px edge map at ``size``:
    strokes are area-downsampled, thresholded and thinned (skeletonised) to the width of the domain's edge maps."""
    from skimage.morphology import skeletonize

    a = np.asarray(layers)
    if a.ndim == 3 and a.shape[2] == 4:  # RGBA: drawn pixels are the opaque ones (or dark ones on an opaque canvas)
        alpha = a[..., 3].astype(np.float32) / 255
        lum = a[..., :3].astype(np.float32).mean(2) / 255
        ink = alpha * (1 - lum) if alpha.min() > 0.99 else alpha
    elif a.ndim == 3:
        ink = 1 - a[..., :3].astype(np.float32).mean(2) / 255
    elif a.ndim == 2:
        ink = 1 - a.astype(np.float32) / 255
    else:
        raise ValueError("the sketch is not an image")
    if ink.max() < 0.2:
        raise ValueError("The sketch is empty: draw the outline of a shape first.")
    h, w = ink.shape
    m = min(h, w)
    ink = ink[(h - m) // 2:(h - m) // 2 + m, (w - m) // 2:(w - m) // 2 + m]
    small = F.interpolate(torch.from_numpy(np.ascontiguousarray(ink))[None, None], size=(size, size),
                          mode="area")[0, 0].numpy()
    mask = small > 0.12
    thin = skeletonize(mask)
    if not thin.any():
        raise ValueError("The sketch is too faint or too small to read at this resolution: draw bigger, bolder lines.")
    return thin


def attrs_from(colour: str, fill: str, background: str, seed: int) -> tuple[int, int, int]:
    """Indices of colour / fill / background; 'any' draws one from the seed."""
    rng = random.Random(seed)  # a third of numpy's default_rng set-up time; called once per sample (bench)
    out = []
    for value, names, what in ((colour, shapes.COLOUR_NAMES, "colour"), (fill, shapes.FILLS, "fill"),
                               (background, shapes.BACKGROUNDS, "background")):
        if value in (None, "", "any"):
            out.append(rng.randrange(len(names)))
        elif value in names:
            out.append(names.index(value))
        else:
            raise ValueError(f"Unknown {what} {value!r}; choose 'any' or one of {', '.join(names)}.")
    return tuple(out)


def _inference(G):
    """G in eval mode; ``eval()`` walks every module (1.3 ms of a 5 ms pix2pix call), so only when needed."""
    return G.eval() if G.training else G


@torch.no_grad()
def pix2pix_run(G, edges: np.ndarray, attrs: list[tuple[int, int, int]]) -> np.ndarray:
    """Edges (H, W) bool + k attribute triples -> k images (k, H, W, 3) uint8 from an embedded-layout pix2pix."""
    x = pix2pix_input(np.repeat(edges[None], len(attrs), 0), np.asarray(attrs))
    if G.model.model[0].in_channels != x.shape[1]:
        raise ValueError(f"this pix2pix takes {G.model.model[0].in_channels} input channels; the edge + attribute "
                         f"input of the shapes task has {x.shape[1]} — use an image upload with a foreign model")
    return to_uint8(_inference(G)(x))


@torch.no_grad()
def translate(G, img: np.ndarray) -> np.ndarray:
    """One (H, W, 3) uint8 image through an image → image generator."""
    return to_uint8(_inference(G)(to_tensor(img[None])))[0]
