"""Kernel Inception Distance: unbiased MMD² with a cubic polynomial kernel.

Reference
---------
Bińkowski, Sutherland, Arbel, Gretton (2018), "Demystifying MMD GANs",
arXiv:1801.01401.

For feature sets X (m samples) and Y (n samples) of dimension D, with kernel
k(x, y) = (x·y / D + 1)³, the unbiased estimator of the squared MMD is

    MMD²_u = sum_{i≠j} k(x_i, x_j) / (m(m-1))
           + sum_{i≠j} k(y_i, y_j) / (n(n-1))
           - 2 sum_{i,j} k(x_i, y_j) / (m n).

It is unbiased, so it can be (slightly) negative when both sets come from the
same distribution. KID averages this estimator over ``n_subsets`` random
subsets of ``subset_size`` samples from each set.

Differences from the paper / common implementations
---------------------------------------------------
* Only the math on already-extracted features (no Inception network).
* Everything is computed in float64 with NumPy.
* Each subset is drawn without replacement (independently per subset and per
  set) from a ``numpy.random.Generator(seed)``, so results are deterministic.
* If ``subset_size`` exceeds the smaller set, it is reduced to that size with a
  ``UserWarning`` instead of raising (torchmetrics raises).
* The returned std is the population std (ddof=0) over subsets, as in
  torchmetrics; it is 0.0 for ``n_subsets=1``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .fid import to_float64_2d

__all__ = ["polynomial_kernel", "mmd2_unbiased", "kid_from_features"]


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kernel matrix k(x_i, y_j) = (x_i·y_j / D + 1)³ for (m, D) and (n, D) inputs."""
    d = x.shape[1]
    return (x @ y.T / d + 1.0) ** 3


def _mmd2_unbiased_arrays(x: np.ndarray, y: np.ndarray) -> float:
    m, n = x.shape[0], y.shape[0]
    k_xx = polynomial_kernel(x, x)
    k_yy = polynomial_kernel(y, y)
    k_xy = polynomial_kernel(x, y)
    term_xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    term_yy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    term_xy = k_xy.sum() / (m * n)
    return float(term_xx + term_yy - 2.0 * term_xy)


def _validate_pair(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    x = to_float64_2d(a, "features a")
    y = to_float64_2d(b, "features b")
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"feature dimensions differ: a has D={x.shape[1]}, b has D={y.shape[1]}"
        )
    return x, y


def mmd2_unbiased(a: Any, b: Any) -> float:
    """Unbiased MMD² with the cubic polynomial kernel on all samples (float64).

    ``a`` is (m, D) and ``b`` is (n, D), numpy or torch, with m, n ≥ 2.
    """
    x, y = _validate_pair(a, b)
    return _mmd2_unbiased_arrays(x, y)


def kid_from_features(
    a: Any,
    b: Any,
    subset_size: int = 1000,
    n_subsets: int = 100,
    seed: int = 0,
) -> tuple[float, float]:
    """KID as (mean, std) of unbiased MMD² over random subsets.

    Args:
        a, b: (N_a, D) and (N_b, D) feature arrays (numpy or torch).
        subset_size: samples drawn from each set per subset; reduced to
            min(N_a, N_b) with a UserWarning when larger.
        n_subsets: number of subsets averaged.
        seed: seed of the ``numpy.random.Generator`` used for subset draws.
    """
    x, y = _validate_pair(a, b)
    if n_subsets < 1:
        raise ValueError(f"n_subsets must be >= 1, got {n_subsets}")
    if subset_size < 2:
        raise ValueError(f"subset_size must be >= 2, got {subset_size}")
    n_min = min(x.shape[0], y.shape[0])
    if subset_size > n_min:
        warnings.warn(
            f"subset_size={subset_size} is larger than the smallest feature set "
            f"(N={n_min}); using subset_size={n_min}",
            UserWarning,
            stacklevel=2,
        )
        subset_size = n_min

    rng = np.random.default_rng(seed)
    scores = np.empty(n_subsets, dtype=np.float64)
    for i in range(n_subsets):
        ix = rng.choice(x.shape[0], size=subset_size, replace=False)
        iy = rng.choice(y.shape[0], size=subset_size, replace=False)
        scores[i] = _mmd2_unbiased_arrays(x[ix], y[iy])
    return float(scores.mean()), float(scores.std(ddof=0))
