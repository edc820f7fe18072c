"""Loading and running the VAE family's models — no Gradio here.

Reconstruct (VAE vs VQ-VAE, the code map, ELBO of the image), sample (VAE prior, CVAE with shape / colour, VQ-VAE
with its class-conditional code prior), text to image (the DALL-E-style transformer, streamed token by token) and a
latent walk between two images in the VAE's latent space.
"""
from __future__ import annotations

import colorsys
import math
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ...data import shapes
from ...loading import serial_load

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
MODELS = {"VAE": "vae", "CVAE": "cvae", "VQ-VAE": "vqvae", "VQ-VAE + PixelCNN prior": "vq-prior",
          "DALL-E-style": "vq-dalle"}
SAMPLERS = ("VAE", "CVAE", "VQ-VAE + PixelCNN prior")
ANY = "any"


@lru_cache(maxsize=8)
@serial_load
def load(key: str):
    """An embedded model (``genmodels/weights/<key>``) in eval mode, loaded once."""
    from transformers import GPT2LMHeadModel

    from ..autoregressive.pixelcnn import GatedPixelCNN
    from .vae import ConvVAE
    from .vqvae import VQVAE

    path = WEIGHTS / key
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"The {key} weights are missing ({path}); train them with "
                                f"`python -m genmodels train {key}`.")
    cls = {"vae": ConvVAE, "cvae": ConvVAE, "vqvae": VQVAE, "vq-prior": GatedPixelCNN,
           "vq-dalle": GPT2LMHeadModel}[key]
    return cls.from_pretrained(str(path)).eval().requires_grad_(False)


def _levels(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)[None].long()


def _images(x_levels: torch.Tensor) -> np.ndarray:
    return x_levels.clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()


def _vq_images(vq, codes: torch.Tensor) -> np.ndarray:
    from .recipes import decode_codes

    return decode_codes(vq, codes)


# ------------------------------------------------------------------------------------------------ reconstruct
def code_colours(codes: int) -> np.ndarray:
    """A fixed, distinct colour per codebook entry (golden-ratio hues, alternating lightness): (codes, 3) uint8."""
    out = []
    for i in range(codes):
        h = (i * 0.61803398875) % 1.0
        light, sat = (0.45, 0.85) if i % 2 else (0.62, 0.65)
        out.append([round(255 * v) for v in colorsys.hls_to_rgb(h, light, sat)])
    return np.array(out, dtype=np.uint8)


def code_map_image(idx: np.ndarray, codes: int, scale: int = 24) -> np.ndarray:
    """(h, w) code indices -> an RGB picture of the grid, one colour per entry, with thin cell borders."""
    img = code_colours(codes)[idx]
    big = np.repeat(np.repeat(img, scale, 0), scale, 1)
    big[::scale, :] = big[::scale, :] // 2
    big[:, ::scale] = big[:, ::scale] // 2
    return big


@lru_cache(maxsize=1)
def test_code_histogram() -> np.ndarray:
    """Usage count of every codebook entry over the 2,000 test images (the reference histogram)."""
    from ...data.dataset import shapes_arrays
    from .recipes import encode_codes

    vq = load("vqvae")
    idx = encode_codes(vq, shapes_arrays("test", shapes.TEST_SPLIT_SIZE)["images"])
    return torch.bincount(idx.flatten(), minlength=vq.codes).numpy()


@torch.no_grad()
def reconstruct(image: np.ndarray, shape: int | None = None, colour: int | None = None) -> dict:
    """A 32x32 RGB uint8 image -> VAE / CVAE (when labels are known) / VQ-VAE reconstructions, the VQ code map and
    the VAE's ELBO of the image. Times each model's encode + decode."""
    from .vqvae import codebook_stats

    x = _levels(image)
    out: dict = {"recon": {}, "seconds": {}}
    t0 = time.perf_counter()
    vae = load("vae")
    out["recon"]["VAE"] = _images(vae.reconstruct(x))[0]
    out["seconds"]["VAE"] = time.perf_counter() - t0
    out["elbo_bpd"] = {"VAE": float(vae.elbo_bits_per_dim(x, generator=torch.Generator().manual_seed(0)))}
    if shape is not None and colour is not None:
        cvae = load("cvae")
        s, c = torch.tensor([shape]), torch.tensor([colour])
        t0 = time.perf_counter()
        out["recon"]["CVAE"] = _images(cvae.reconstruct(x, s, c))[0]
        out["seconds"]["CVAE"] = time.perf_counter() - t0
        out["elbo_bpd"]["CVAE"] = float(cvae.elbo_bits_per_dim(x, s, c, generator=torch.Generator().manual_seed(0)))
    vq = load("vqvae")
    t0 = time.perf_counter()
    idx = vq.encode(x.float() * (2 / 255) - 1)
    out["recon"]["VQ-VAE"] = _vq_images(vq, idx)[0]
    out["seconds"]["VQ-VAE"] = time.perf_counter() - t0
    out["codes"] = idx[0].numpy()
    st = codebook_stats(idx, vq.codes)
    out["code_stats"] = {"entries used by this image": int((st["histogram"] > 0).sum()),
                         "code perplexity (this image)": st["perplexity"], "codebook size": vq.codes}
    return out


def histogram_frame(codes_here: np.ndarray):
    """The test split's codebook usage, entries sorted by frequency, with this image's entries marked (a DataFrame
    for ``gr.BarPlot``)."""
    import pandas as pd

    hist = test_code_histogram()
    order = np.argsort(-hist, kind="stable")
    here = set(int(c) for c in np.unique(codes_here))
    return pd.DataFrame({"rank": np.arange(len(hist)), "count": hist[order],
                         "entry": [f"#{int(i)}" for i in order],
                         "in this image": ["yes" if int(i) in here else "no" for i in order]})


# ------------------------------------------------------------------------------------------------ sample
def _guidance(value) -> float:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and 0 <= value <= 10):
        raise ValueError(f"Guidance scale must be between 0 and 10, got {value!r}.")
    return float(value)


def label_index(value: str | None, names: tuple[str, ...], what: str) -> int | None:
    if value in (None, "", ANY):
        return None
    if value not in names:
        raise ValueError(f"Unknown {what} {value!r}; choose one of {', '.join(names)} or '{ANY}'.")
    return names.index(value)


@torch.no_grad()
def sample(model: str, n: int, seed: int, shape: str | None = ANY, colour: str | None = ANY,
           temperature: float = 1.0, on_step=None, guidance: float | None = None,
           best_of: int | None = None) -> tuple[np.ndarray, list[int] | None, list[int] | None, float]:
    """n samples of ``model`` (a label of SAMPLERS); same seed, same images. Returns (images, shapes asked, colours
    asked, seconds). 'any' draws the classes in turn (shapes) or at random (colours, seeded). ``guidance``: the code
    prior's classifier-free guidance scale (default: ``priors.DEFAULT_GUIDANCE``). ``best_of``: k candidates a label,
    the first the rejection network reads as the requested label (p ≥ ``reject.ACCEPT``) kept (``reject.py``, VQ-VAE-2 §3.3; default
    ``reject.DEFAULT_BEST_OF``, 1 = off; conditional samplers only)."""
    from .reject import DEFAULT_BEST_OF, check_best_of

    if model not in SAMPLERS:
        raise ValueError(f"Model must be one of {', '.join(SAMPLERS)}, got {model!r}.")
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and 0 < temperature <= 2):
        raise ValueError(f"Temperature must be in (0, 2], got {temperature!r}.")
    k = DEFAULT_BEST_OF[model] if best_of is None else check_best_of(best_of)
    key = MODELS[model]
    if key == "vae":
        k = 1  # unconditional: no label to ask the rejection network about
    g = torch.Generator().manual_seed(int(seed))
    s_idx = label_index(shape, shapes.SHAPES, "shape")
    c_idx = label_index(colour, shapes.COLOUR_NAMES, "colour")
    s = torch.full((n,), s_idx) if s_idx is not None else torch.arange(n) % len(shapes.SHAPES)
    c = torch.full((n,), c_idx) if c_idx is not None else \
        torch.randint(0, len(shapes.COLOUR_NAMES), (n,), generator=torch.Generator().manual_seed(int(seed) + 1))
    t0 = time.perf_counter()
    if key == "vae":
        x = _images(load("vae").sample(n, generator=g, temperature=temperature))
        return x, None, None, time.perf_counter() - t0
    sk, ck = s.repeat_interleave(k), c.repeat_interleave(k)  # label i's candidates: rows i·k … i·k + k − 1
    if key == "cvae":
        x = _images(load("cvae").sample(n * k, sk, ck, generator=g, temperature=temperature))
        asked_colour = c.tolist()
    else:
        from .priors import DEFAULT_GUIDANCE, iter_prior

        prior, vq = load("vq-prior"), load("vqvae")
        scale = DEFAULT_GUIDANCE["vq-prior"] if guidance is None else _guidance(guidance)
        codes = None
        for t, codes in iter_prior(prior, n * k, vq.grid, sk, g, temperature, scale):
            if on_step is not None:
                on_step(t + 1, vq.grid ** 2)
        x = _vq_images(vq, codes[:, 0])
        asked_colour = None
    if k > 1:
        from .reject import ACCEPT, best_of as keep_best

        x = keep_best(x, s.numpy(), None if asked_colour is None else c.numpy(), k, threshold=ACCEPT)[0]
    return x, s.tolist(), asked_colour, time.perf_counter() - t0


# ------------------------------------------------------------------------------------------------ text -> image
def text2image_stream(caption: str, n: int, seed: int, temperature: float = 1.0, top_k: int = 0, every: int = 16,
                      guidance: float | None = None, rerank: int | None = None):
    """Yields (tokens done, total, images (n, 32, 32, 3), info) every ``every`` tokens and at the end. Positions not
    generated yet are drawn grey. ``info``: ignored words, truncation, the tokens used, the reranking. ``guidance``:
    classifier-free guidance scale (default: ``priors.DEFAULT_GUIDANCE``). ``rerank``: k candidates a caption, the
    generators' CLIP keeps the best (``rerank.py``; default ``DEFAULT_RERANK``, 1 = off); while the codes are drawn the
    first candidate of each is shown."""
    from .priors import DEFAULT_GUIDANCE, WORDS, dalle_iter, pad_tokens, tokenize
    from .rerank import DEFAULT_RERANK, best_of, check_rerank

    scale = DEFAULT_GUIDANCE["vq-dalle"] if guidance is None else _guidance(guidance)
    k = DEFAULT_RERANK if rerank is None else check_rerank(rerank)

    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"Temperature must be a number > 0, got {temperature!r}.")
    ids, unknown, truncated = tokenize(caption)
    model, vq = load("vq-dalle"), load("vqvae")
    if not 0 <= int(top_k) <= vq.codes:
        raise ValueError(f"top-k must be between 0 (off) and {vq.codes}, got {top_k}.")
    text = torch.tensor([pad_tokens(ids)] * (n * k))
    words = " ".join(WORDS[i - 1] for i in ids)
    info = {"words used": words, "ignored": unknown, "truncated": truncated, "rerank": k}
    g = torch.Generator().manual_seed(int(seed))
    total = vq.grid ** 2
    grey = vq.quantizer.embed.mean(0)
    for t, codes in dalle_iter(model, text, g, float(temperature), int(top_k), scale):
        if t % every and t < total:
            continue
        with torch.no_grad():
            shown = codes if t == total else codes.view(n, k, -1)[:, 0]  # the first candidate while drawing
            z = vq.quantizer.lookup(shown.reshape(-1, vq.grid, vq.grid))
            if t < total:  # not yet generated: the codebook's mean vector
                pending = torch.arange(total).view(vq.grid, vq.grid) >= t
                z[:, :, pending] = grey[None, :, None]
            x = vq.decoder(z).clamp(-1, 1).add(1).mul(127.5).round().byte().permute(0, 2, 3, 1).numpy()
        if t == total and k > 1:
            x, pick, scores = best_of(x, [words] * n, k)
            info["rerank_scores"] = scores[np.arange(n), pick].round(3).tolist()
        yield t, total, x, info


# ------------------------------------------------------------------------------------------------ latent walk
@torch.no_grad()
def walk(image_a: np.ndarray, image_b: np.ndarray, frames: int, spherical: bool = True) -> np.ndarray:
    """Decode ``frames`` points between the VAE posterior means of two images (slerp or lerp): (frames, 32, 32, 3)."""
    from .vae import slerp

    vae = load("vae")
    za = vae.encode(_levels(image_a))[0]
    zb = vae.encode(_levels(image_b))[0]
    ts = torch.linspace(0, 1, frames)
    z = torch.cat([slerp(za, zb, float(t)) if spherical else torch.lerp(za, zb, float(t)) for t in ts])
    return _images(vae.decode_latents(z))
