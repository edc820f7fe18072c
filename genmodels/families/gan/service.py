"""What the GAN tab and CLI do with a generator, without Gradio: load, sample, mix styles, interpolate, sweep ψ.

Seeds follow NVlabs' convention: image i of a grid drawn with seed s has z = N(0, I) from seed s + i, so seed s
always draws the same image, whatever the grid. The same request gives the same bytes in any process; the grid is
one batched forward, and since CPU kernels pick different algorithms for different batch shapes, a seed drawn in
another grid can differ by one intensity level in a few pixels (measured on the embedded models: at most 13 of
64 × 3,072 values, never more than 1/255) — the price of batching, which made a 16-image grid 4.5–5.6× faster than
one forward per image. Interpolation compares slerp in Z with lerp in W (Karras et
al. 2019, arXiv:1812.04948, §4.2) and reports each path's perceptual path length (PD on the shapes backbone,
ε = 1e-4, d/ε²). The truncation sweep follows Brock et al. 2018 (arXiv:1809.11096): FID / precision / recall vs ψ.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ...data import shapes
from ...data.dataset import to_uint8
from ...scoring.perceptual import perceptual_distance
from ...scoring.ppl import lerp, slerp
from ...loading import LOAD_LOCK

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
KINDS = ("dcgan", "cgan", "stylegan", "biggan")
LOADABLE = KINDS + ("stackgan",)  # StackGAN (text -> image) loads the same way; it samples through stackgan.py
# BigGAN's truncation trick on the tab's ψ scale: ψ = 1 draws plain N(0, I); otherwise z components beyond ±3ψ are
# redrawn (Brock et al. 2018, §3.1), so ψ → 0 approaches z = 0 as StyleGAN's ψ → 0 approaches the mean w.
BIGGAN_TRUNCATION_SCALE = 3.0
LAYER_RANGES = {"coarse (4–8 px)": (0, 3), "middle (16 px)": (3, 5), "fine (32 px)": (5, 8)}


def _classes(kind: str, folder: Path | None = None):
    """The generator class of a kind; a CGAN folder whose config names the layered generator's pose network
    (layered.py, LR-GAN) loads as that."""
    from .biggan import BigGANGenerator
    from .dcgan import DCGANGenerator
    from .stackgan import StackGANGenerator
    from .stylegan import Generator

    if kind == "cgan" and folder is not None and (folder / "config.json").is_file():
        import json

        if "pose_hidden" in json.loads((folder / "config.json").read_text()):
            from .layered import LayeredGenerator

            return LayeredGenerator
    return {"stylegan": Generator, "biggan": BigGANGenerator, "stackgan": StackGANGenerator}.get(kind, DCGANGenerator)


@lru_cache(maxsize=8)
def load_generator(kind: str, source: str = "embedded"):
    """A generator in eval mode: the embedded default, a local folder / Hub id (``from_pretrained``), or for
    StyleGAN a rosinality ``g_ema`` checkpoint file (.pt / .pth / .safetensors, tensors only)."""
    if kind not in LOADABLE:
        raise ValueError(f"unknown GAN {kind!r}; choose one of {', '.join(LOADABLE)}")
    p = WEIGHTS / kind if source == "embedded" else Path(source)
    cls = _classes(kind, p if p.is_dir() else None)
    with LOAD_LOCK:  # every model build in the process holds it (loading.py)
        if source == "embedded":
            if not (p / "model.safetensors").exists():
                raise FileNotFoundError(f"the embedded {kind} is not trained yet (python -m genmodels train {kind})")
            return cls.from_pretrained(str(p)).eval()
        if p.is_file():
            if kind != "stylegan":
                raise ValueError("only StyleGAN loads a checkpoint file (a rosinality g_ema); "
                                 "give DCGAN/CGAN a folder or a Hub id")
            from .rosinality import load_rosinality_g_ema

            return load_rosinality_g_ema(p).eval()
        try:
            return cls.from_pretrained(source).eval()
        except Exception as e:  # offline, missing repo, wrong layout: one clear sentence
            raise FileNotFoundError(f"could not load {kind} from {source!r} ({type(e).__name__}); offline, only "
                                    "cached Hub repos and local folders load") from None


def is_conditional(G) -> bool:
    return bool(getattr(G, "n_classes", 0))


def z_dim(G) -> int:
    return G.z_dim if hasattr(G, "z_dim") else G.style_dim


def latents(G, seed: int, n: int, truncation: float | None = None) -> torch.Tensor:
    """(n, z_dim): row i drawn from seed + i; ``truncation``: components beyond ± it redrawn (BigGAN)."""
    from .biggan import truncated_normal

    gen, d = torch.Generator(), z_dim(G)
    return torch.cat([truncated_normal((1, d), truncation, gen.manual_seed(seed + i)) for i in range(n)])


def biggan_threshold(psi: float) -> float | None:
    """The truncation threshold BigGAN samples at for the tab's ψ (None at ψ = 1: no truncation)."""
    return None if psi == 1.0 else max(float(psi), 1e-3) * BIGGAN_TRUNCATION_SCALE


def condition(kind: str, G, n: int, shape: int | None, colour: int | None) -> torch.Tensor | None:
    """Labels for n images; an unset attribute cycles through its values (so a grid shows all of them)."""
    if not is_conditional(G):
        return None
    s = torch.full((n,), shape) if shape is not None else torch.arange(n) % len(shapes.SHAPES)
    c = torch.full((n,), colour) if colour is not None else (torch.arange(n) // len(shapes.SHAPES)) % len(
        shapes.COLOUR_NAMES)
    return torch.stack([s, c], 1) if kind in ("cgan", "biggan") else s * len(shapes.COLOUR_NAMES) + c


@torch.no_grad()
def generate(kind: str, G, z: torch.Tensor, c, psi: float = 1.0) -> torch.Tensor:
    """One batched forward (see the module docstring on what batching does to the last bits)."""
    if kind == "stylegan":
        return G(z, c, psi=psi, noise_mode="const")
    return G(z, c) if is_conditional(G) else G(z)


def sample(kind: str, G, seed: int, n: int, shape: int | None = None, colour: int | None = None,
           psi: float = 1.0) -> tuple[np.ndarray, torch.Tensor | None]:
    """uint8 (n, 32, 32, 3) images and the labels they were asked for."""
    c = condition(kind, G, n, shape, colour)
    z = latents(G, seed, n, biggan_threshold(psi) if kind == "biggan" else None)
    return to_uint8(generate(kind, G, z, c, psi)), c


LAYER_NAMES = ("background", "mask", "placed object", "image")


def is_layered(G) -> bool:
    return hasattr(G, "layers") and hasattr(G, "pose_params")


@torch.no_grad()
def layers(kind: str, G, seed: int, n: int, shape: int | None = None,
           colour: int | None = None) -> tuple[np.ndarray, list[dict[str, float]]]:
    """A layered generator's composition of the same n samples as ``sample``: uint8 (n, 4, 32, 32, 3) — background,
    mask (white = object), placed foreground over black, image — and each sample's pose (centre in pixels, size as
    the canonical frame's width in pixels, rotation in degrees)."""
    if not is_layered(G):
        raise ValueError(f"this {kind} generator draws in one pass; only a layered generator (the CGAN, LR-GAN) has "
                         "layers to show.")
    c = condition(kind, G, n, shape, colour)
    z = latents(G, seed, n)
    out = G.layers(z, c)
    m = out["mask"]
    stack = torch.stack([out["background"], m.expand(-1, 3, -1, -1) * 2 - 1, m * out["foreground"] + (m - 1),
                         out["image"]], 1)
    px = G.pose_in_pixels(out["pose"])
    poses = [{k: round(float(v[i]), 1) for k, v in px.items()} for i in range(n)]
    return to_uint8(stack.flatten(0, 1)).reshape(n, 4, 32, 32, 3), poses


@torch.no_grad()
def style_mix(G, row_seeds: list[int], col_seeds: list[int], layers: tuple[int, int], label: int | None = None,
              psi: float = 1.0) -> np.ndarray:
    """StyleGAN grid: cell (i, j) takes w of row_seeds[i] except layers [lo, hi), which come from col_seeds[j].
    Returns uint8 (rows+1, cols+1, 32, 32, 3) with the sources in the first row / column (corner blank)."""
    seeds = row_seeds + col_seeds
    z = torch.cat([latents(G, s, 1) for s in seeds])
    c = None if not is_conditional(G) else torch.full((len(seeds),), label or 0)
    w = G.mapping(z, c)
    if psi != 1:
        mean = G.w_avg[None] if c is None else G.mean_w(c)
        w = mean + psi * (w - mean)
    ws = w[:, None].repeat(1, G.num_ws, 1)
    src = to_uint8(G.synthesis(ws))
    rows, cols = ws[:len(row_seeds)], ws[len(row_seeds):]
    lo, hi = layers
    grid = np.zeros((len(row_seeds) + 1, len(col_seeds) + 1, *src.shape[1:]), np.uint8)
    grid[0, 1:], grid[1:, 0] = src[len(row_seeds):], src[:len(row_seeds)]
    for i in range(len(row_seeds)):
        mixed = rows[i:i + 1].repeat(len(col_seeds), 1, 1)
        mixed[:, lo:hi] = cols[:, lo:hi]
        grid[i + 1, 1:] = to_uint8(G.synthesis(mixed))
    return grid


@torch.no_grad()
def interpolate(kind: str, G, seed_a: int, seed_b: int, steps: int = 9, c: torch.Tensor | None = None,
                eps: float = 1e-4, ppl_points: int = 32) -> dict:
    """Z-slerp and (StyleGAN) W-lerp strips between two seeds, each with the path's mean d/ε² (PD distance).
    ``c``: the labels of one image (``condition(kind, G, 1, shape, colour)``) for conditional models."""
    za, zb = latents(G, seed_a, 1), latents(G, seed_b, 1)
    ts = torch.linspace(0, 1, steps)[:, None]

    def run_z(t):  # slerp of the directions, lerp of the norms: the ends are exactly the two seeds' images
        z = slerp(za.expand(len(t), -1), zb.expand(len(t), -1), t) * lerp(za.norm(), zb.norm(), t)
        return generate(kind, G, z, _rep(c, len(t)))

    out = {"z": to_uint8(run_z(ts)), "ppl_z": _path_ppl(run_z, ppl_points, eps)}
    if kind == "stylegan":
        cc = _rep(c, 2)
        wa, wb = G.mapping(torch.cat([za, zb]), cc).chunk(2)

        def run_w(t):
            w = lerp(wa.expand(len(t), -1), wb.expand(len(t), -1), t)
            return torch.cat([G.synthesis(w[i:i + 1]) for i in range(len(w))])

        out["w"], out["ppl_w"] = to_uint8(run_w(ts)), _path_ppl(run_w, ppl_points, eps)
    return out


def _rep(c, n: int):
    if c is None:
        return None
    return c.expand(n, *c.shape[1:]) if c.shape[0] == 1 else c


def _path_ppl(run, points: int, eps: float) -> float:
    """Mean over t in a fixed grid of PD(G(t), G(t + ε)) / ε² along one path (t kept ≤ 1 - ε)."""
    t = torch.linspace(0, 1 - eps, points)[:, None]
    a, b = run(t), run(t + eps)
    return float(np.mean(perceptual_distance(a, b)) / eps ** 2)
