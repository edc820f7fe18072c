"""Improved precision and recall of generative models (k-NN manifold estimate).

Reference
---------
Kynkäänniemi, Karras, Laine, Lehtinen, Aila (2019), "Improved Precision and
Recall Metric for Assessing Generative Models", arXiv:1904.06991.

Each feature set defines a manifold as the union of hyperspheres centred at
its samples, with radius the distance to the sample's k-th nearest neighbour
in the same set (the sample itself excluded). Then

    precision = fraction of fake samples inside the real manifold,
    recall    = fraction of real samples inside the fake manifold,

where "inside" means ||x - c|| <= radius(c) for at least one centre c.

Differences from the paper / common implementations
---------------------------------------------------
* Only the math on already-extracted features (no VGG-16 network).
* Float64 throughout. Distances are computed with ``torch.cdist`` on chunks of
  rows (at most about 8M distances, i.e. 64 MB, at a time), so N = 10k works
  in modest memory; the full N×N matrix is never stored.
* The sample itself is excluded by index (its self-distance is set to +inf)
  rather than by taking the (k+1)-th smallest distance, so exact duplicates
  of a sample still count as neighbours at distance 0.
* No "realism score" and no sub-sampling of the reference set.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .fid import to_float64_2d

__all__ = ["knn_radii", "fraction_inside", "precision_recall_from_features"]

_MAX_CHUNK_ELEMENTS = 8_000_000


def _chunk_rows(n_cols: int) -> int:
    return max(1, _MAX_CHUNK_ELEMENTS // max(n_cols, 1))


def _cdist(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.cdist(x, y, p=2.0)


def knn_radii(features: torch.Tensor, k: int) -> torch.Tensor:
    """Distance of each row to its k-th nearest other row (float64, shape (N,))."""
    n = features.shape[0]
    radii = torch.empty(n, dtype=torch.float64)
    step = _chunk_rows(n)
    for start in range(0, n, step):
        stop = min(start + step, n)
        d = _cdist(features[start:stop], features)
        rows = torch.arange(stop - start)
        d[rows, rows + start] = float("inf")  # exclude the sample itself
        radii[start:stop] = torch.kthvalue(d, k, dim=1).values
    return radii


def inside_mask(queries: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """Per query row: is it within radius of at least one centre (<=)? -> bool (N_queries,)."""
    step = _chunk_rows(centres.shape[0])
    out = torch.empty(queries.shape[0], dtype=torch.bool)
    for start in range(0, queries.shape[0], step):
        d = _cdist(queries[start : start + step], centres)
        out[start : start + step] = (d <= radii[None, :]).any(dim=1)
    return out


def fraction_inside(
    queries: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor
) -> float:
    """Fraction of query rows within radius of at least one centre (<=)."""
    return float(inside_mask(queries, centres, radii).double().mean())


def precision_recall_masks(real: Any, fake: Any, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample indicators behind precision and recall: (fake row inside the real manifold (N_fake,),
    real row inside the fake manifold (N_real,)); their means are (precision, recall)."""
    r = to_float64_2d(real, "real features")
    f = to_float64_2d(fake, "fake features")
    if r.shape[1] != f.shape[1]:
        raise ValueError(
            f"feature dimensions differ: real has D={r.shape[1]}, fake has D={f.shape[1]}"
        )
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    n_min = min(r.shape[0], f.shape[0])
    if k >= n_min:
        raise ValueError(f"k must be smaller than the number of samples in each set (k={k}, N={n_min})")

    rt = torch.from_numpy(np.ascontiguousarray(r))
    ft = torch.from_numpy(np.ascontiguousarray(f))
    real_radii = knn_radii(rt, k)
    fake_radii = knn_radii(ft, k)
    return inside_mask(ft, rt, real_radii).numpy(), inside_mask(rt, ft, fake_radii).numpy()


def precision_recall_from_features(real: Any, fake: Any, k: int = 3) -> tuple[float, float]:
    """Improved (precision, recall) of ``fake`` against ``real`` features.

    Args:
        real, fake: (N_real, D) and (N_fake, D) arrays (numpy or torch).
        k: neighbourhood size; must satisfy 1 <= k < min(N_real, N_fake).
    """
    p, r = precision_recall_masks(real, fake, k)
    return float(p.mean()), float(r.mean())
