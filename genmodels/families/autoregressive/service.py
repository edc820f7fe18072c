"""Loading and running the autoregressive models — no Gradio here.

Sampling and completion are generators that yield the image after every pixel (the tab streams them; a cancelled
request closes the generator, which stops the work). Likelihood gives bits/dim, a per-pixel NLL map and the PNG
size of the same image in bits/dim (the lossless-codec baseline).
"""
from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ...data import shapes
from ...loading import serial_load

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
MODELS = {"PixelCNN": "pixelcnn", "Gated PixelCNN": "gated-pixelcnn", "PixelCNN++": "pixelcnnpp"}
SIZE = 32
# Classifier-free guidance weight w of models trained with a null class (PixelCNN++): the tab's default and what the
# Compare tab, arena and leaderboard use (chosen on the monitor's sweep, see the model card).
DEFAULT_GUIDANCE = 3.0


def model_key(label: str) -> str:
    if label in MODELS:
        return MODELS[label]
    if label in MODELS.values():
        return label
    raise ValueError(f"Unknown model {label!r}; choose one of {', '.join(MODELS)}.")


@lru_cache(maxsize=6)
@serial_load
def load(name: str, folder: str | None = None):
    """An embedded model (``genmodels/weights/<name>``) or a ``save_pretrained`` folder, in eval mode."""
    from .pixelcnn import GatedPixelCNN, PixelCNN
    from .pixelcnnpp import PixelCNNpp

    key = model_key(name)
    path = Path(folder) if folder else WEIGHTS / key
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"The {key} weights are missing ({path}); train them with "
                                f"`python -m genmodels train {key}`.")
    cls = {"pixelcnn": PixelCNN, "gated-pixelcnn": GatedPixelCNN, "pixelcnnpp": PixelCNNpp}[key]
    return cls.from_pretrained(str(path)).eval().requires_grad_(False)


@lru_cache(maxsize=6)
def cached_sampler(name: str, folder: str | None = None):
    """The model's cached sampler (Ramachandran et al. 2017; cached.py, cached_pixelcnn.py), built once per model."""
    from .cached import for_model

    return for_model(load(name, folder), SIZE)


def has_cache(model) -> bool:
    """Whether ``model`` has a cached sampler (every model of the family has one now)."""
    from .pixelcnn import GatedPixelCNN, PixelCNN
    from .pixelcnnpp import PixelCNNpp

    return isinstance(model, (PixelCNNpp, PixelCNN, GatedPixelCNN))


def class_tensor(model, shape: str | None, n: int) -> torch.Tensor | None:
    """The class labels for n samples: one shape, 'any' (classes in turn), or None for unconditional models."""
    if not model.n_classes:
        return None
    if shape in (None, "", "any"):
        return torch.arange(n) % model.n_classes
    if shape not in shapes.SHAPES:
        raise ValueError(f"Unknown shape {shape!r}; choose one of {', '.join(shapes.SHAPES)} or 'any'.")
    return torch.full((n,), shapes.SHAPES.index(shape), dtype=torch.long)


def to_images(x: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) levels -> (N, H, W, 3) uint8."""
    return x.permute(0, 2, 3, 1).clamp(0, 255).byte().cpu().numpy()


def guidance_for(model, guidance: float | None = None) -> float:
    """The classifier-free guidance weight a request runs with: ``None`` -> the default for models trained with a
    null class, 0 for the others (which cannot be guided: ``pixelcnnpp.check_guidance`` refuses them)."""
    guided = bool(getattr(model, "null_class", False)) and model.n_classes > 0
    return (DEFAULT_GUIDANCE if guided else 0.0) if guidance is None else float(guidance)


def stream(name: str, n: int, seed: int, shape: str | None = None, sampler: str = "cached",
           x: np.ndarray | None = None, start: int = 0, folder: str | None = None, guidance: float | None = None):
    """Yields (raster index, images (n, H, W, 3) uint8, seconds so far) after every pixel. ``sampler``: "cached"
    (every model: computes only what each new pixel needs) or "naive" (one full pass per pixel / sub-pixel). Same
    seed, same images, either sampler. ``guidance``: classifier-free guidance weight (``guidance_for``: None is the
    model's default). Closing the generator stops the work."""
    from .pixelcnn import iter_sample
    from .pixelcnnpp import PixelCNNpp, iter_naive

    model = load(name, folder)
    y = class_tensor(model, shape, n)
    w = guidance_for(model, guidance)
    g = torch.Generator().manual_seed(int(seed))
    xt = None if x is None else torch.from_numpy(np.require(x, requirements=("C", "W"))).permute(0, 3, 1, 2).long()
    if sampler not in ("cached", "naive"):
        raise ValueError(f"Sampler must be 'cached' or 'naive', got {sampler!r}.")
    if w and not isinstance(model, PixelCNNpp):
        raise ValueError(f"Classifier-free guidance applies to PixelCNN++ (trained with a null class); {name} has "
                         f"none: set the guidance weight to 0.")
    if sampler == "cached" and has_cache(model):
        kw = {"guidance": w} if w else {}  # PixelCNN / Gated PixelCNN: no guidance (refused above)
        it = cached_sampler(name, folder).iterate(n, y, g, xt, start, **kw)
    elif isinstance(model, PixelCNNpp):
        it = iter_naive(model, n, SIZE, y, g, xt, start, guidance=w)
    else:
        it = iter_sample(model, n, SIZE, y, g, xt, start)
    t0 = time.perf_counter()
    for t, out in it:
        yield t, to_images(out), time.perf_counter() - t0


def occlude(image: np.ndarray, rows: int) -> tuple[np.ndarray, int]:
    """Keep the first ``rows`` rows of a 32x32 image (the rest is to be generated); returns (image, start index)."""
    rows = int(rows)
    if not 1 <= rows <= SIZE - 1:
        raise ValueError(f"Keep between 1 and {SIZE - 1} rows (0 keeps nothing, {SIZE} leaves nothing to complete); "
                         f"got {rows}.")
    out = image.copy()
    out[rows:] = 0
    return out, rows * SIZE


@torch.no_grad()
def likelihood(name: str, image: np.ndarray, shape: str | None = None, folder: str | None = None) -> dict:
    """bits/dim of a 32x32 RGB uint8 image, its per-pixel NLL map (bits, summed over the three channels) and the
    PNG baseline. Class-conditional models use the given shape, or the best class (the classifier view: p(x) =
    max_y p(x | y) is reported with the class it picked)."""
    import torch.nn.functional as F

    from .pixelcnn import png_bits_per_dim
    from .pixelcnnpp import PixelCNNpp, mixture_log_prob

    model = load(name, folder)
    x = torch.from_numpy(np.array(image[None])).permute(0, 3, 1, 2).long()
    classes = [None] if not model.n_classes else (
        list(range(model.n_classes)) if shape in (None, "", "any") else [shapes.SHAPES.index(shape)])
    best = None
    for c in classes:
        y = None if c is None else torch.tensor([c])
        out = model(x, y)
        if isinstance(model, PixelCNNpp):  # discretized logistic mixture; the others: softmax over the levels
            nll = -mixture_log_prob(out, x, model.mix, model.anchors(x))[0] / np.log(2)  # (H, W) bits per pixel
        else:
            nll = F.cross_entropy(out, x, reduction="none")[0].sum(0) / np.log(2)
        bpd = float(nll.sum()) / x[0].numel()
        if best is None or bpd < best[0]:
            best = (bpd, nll.numpy(), c)
    png = png_bits_per_dim(image[None])
    return {"bits_per_dim": best[0], "nll_map": best[1], "class": None if best[2] is None else shapes.SHAPES[best[2]],
            "png_bits_per_dim": png}


def heat_map(nll: np.ndarray, scale: int = 8) -> np.ndarray:
    """(H, W) bits -> an RGB heat map (dark = likely, yellow = surprising), enlarged ``scale``x."""
    v = np.clip(nll / max(float(np.percentile(nll, 99)), 1e-6), 0, 1)
    rgb = np.stack([np.clip(1.5 * v, 0, 1), np.clip(1.5 * v - 0.5, 0, 1), np.clip(0.4 - v, 0, 1) * 0.6], -1)
    img = (rgb * 255).astype(np.uint8)
    return np.repeat(np.repeat(img, scale, 0), scale, 1)
