"""Perceptual Path Length (PPL) of a generator's latent space.

Reference
---------
Karras, Laine, Aila (2019), "A Style-Based Generator Architecture for
Generative Adversarial Networks", arXiv:1812.04948, Section 4 and the
NVlabs/stylegan ``metrics/perceptual_path_length.py`` reference code.

For latent pairs (z0, z1) and t ~ U(0, 1):

* space "z": x_t = slerp(z0, z1, t) and x_{t+ε} = slerp(z0, z1, t + ε), where
  slerp interpolates the *normalised* vectors along the great circle and
  returns a unit vector (exactly as the NVlabs code);
* space "w": w0, w1 = mapping(z0), mapping(z1), x_t = lerp(w0, w1, t) and
  x_{t+ε} = lerp(w0, w1, t + ε);

and d = distance_fn(G(x_t), G(x_{t+ε})) / ε². Values outside the
[1st, 99th] percentiles (``np.percentile`` with method 'lower' for the lower
and 'higher' for the upper bound; kept if lo <= d <= hi) are discarded and
PPL is the mean of the rest.

Differences from the reference
------------------------------
* ``distance_fn`` is any callable returning per-sample distances (the paper
  uses LPIPS on VGG-16 features); no network is loaded here, and images are
  not downsampled to 256×256 (do that inside ``distance_fn`` if wanted).
* Cropping is an optional callable; ``stylegan_face_crop`` reproduces the
  reference's FFHQ face crop.
* Only t ~ U(0, 1) ("full" sampling), no "end" sampling.
* Sampling is deterministic: a CPU ``torch.Generator`` seeded with ``seed``
  draws, per batch of size b, ``z = randn(2, b, latent_dim)`` (z0 = z[0],
  z1 = z[1]) and then ``t = rand(b)``, in ``dtype``; tensors are then moved to
  ``device``. The generator is called once per batch on
  ``torch.cat([x_t, x_{t+ε}])`` and ``mapping`` once on ``torch.cat([z0, z1])``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

__all__ = ["lerp", "slerp", "stylegan_face_crop", "perceptual_path_length"]


def _expand_t(t: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    if t.ndim == 1:
        t = t.reshape(-1, *([1] * (like.ndim - 1)))
    return t


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Linear interpolation a + (b - a)·t; a 1-D ``t`` holds one value per row."""
    return a + (b - a) * _expand_t(t, a)


def _normalize(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True)


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Spherical interpolation of the normalised a and b (last dim), as in NVlabs.

    Returns a unit vector at angle t·θ from a/|a| towards b/|b|, where θ is the
    angle between them; t may exceed 1 (the path continues on the circle).
    """
    a, b = _normalize(a), _normalize(b)
    d = (a * b).sum(dim=-1, keepdim=True)
    p = _expand_t(t, a) * torch.acos(d.clamp(-1.0, 1.0))
    c = _normalize(b - d * a)
    return _normalize(a * torch.cos(p) + c * torch.sin(p))


def stylegan_face_crop(images: torch.Tensor) -> torch.Tensor:
    """The FFHQ face crop of the reference code: rows 3c:7c, cols 2c:6c, c = H // 8."""
    c = images.shape[2] // 8
    return images[:, :, c * 3 : c * 7, c * 2 : c * 6]


@torch.no_grad()
def perceptual_path_length(
    generator: Callable[[torch.Tensor], torch.Tensor],
    distance_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    latent_dim: int,
    n_samples: int = 10_000,
    space: str = "z",
    mapping: Callable[[torch.Tensor], torch.Tensor] | None = None,
    epsilon: float = 1e-4,
    batch_size: int = 64,
    seed: int = 0,
    crop: Callable[[torch.Tensor], torch.Tensor] | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """Perceptual path length; returns {"mean", "samples" (filtered), "n" (kept)}.

    Args:
        generator: maps a latent batch (z for space "z", w for "w") to images
            (N, 3, H, W) in [-1, 1].
        distance_fn: (img_a, img_b) -> per-sample distances (N,).
        latent_dim: dimension of z.
        space: "z" (slerp in Z) or "w" (lerp in W; needs ``mapping``).
        mapping: z -> w network, required for space "w".
        crop: optional callable applied to both image batches before distance.
    """
    if space not in ("z", "w"):
        raise ValueError(f"space must be 'z' or 'w', got {space!r}")
    if space == "w" and mapping is None:
        raise ValueError("space='w' requires a mapping network")
    if n_samples < 1 or batch_size < 1 or latent_dim < 1:
        raise ValueError("n_samples, batch_size and latent_dim must be positive")
    if not epsilon > 0:
        raise ValueError(f"epsilon must be positive, got {epsilon}")

    gen = torch.Generator(device="cpu").manual_seed(seed)
    chunks: list[np.ndarray] = []
    for start in range(0, n_samples, batch_size):
        b = min(batch_size, n_samples - start)
        z = torch.randn((2, b, latent_dim), generator=gen, dtype=dtype).to(device)
        t = torch.rand((b,), generator=gen, dtype=dtype).to(device)
        if space == "z":
            x0 = slerp(z[0], z[1], t)
            x1 = slerp(z[0], z[1], t + epsilon)
        else:
            assert mapping is not None
            w = mapping(torch.cat([z[0], z[1]]))
            x0 = lerp(w[:b], w[b:], t)
            x1 = lerp(w[:b], w[b:], t + epsilon)
        images = generator(torch.cat([x0, x1]))
        img0, img1 = images[:b], images[b:]
        if crop is not None:
            img0, img1 = crop(img0), crop(img1)
        dist = distance_fn(img0, img1).reshape(-1).to(torch.float64) / (epsilon**2)
        chunks.append(dist.cpu().numpy())

    all_d = np.concatenate(chunks)
    lo = np.percentile(all_d, 1, method="lower")
    hi = np.percentile(all_d, 99, method="higher")
    kept = all_d[(lo <= all_d) & (all_d <= hi)]
    return {"mean": float(kept.mean()), "samples": kept, "n": int(kept.size)}
