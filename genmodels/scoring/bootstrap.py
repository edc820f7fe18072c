"""Percentile bootstrap confidence intervals for metric values.

Reference
---------
Efron (1979), "Bootstrap Methods: Another Look at the Jackknife", Annals of
Statistics 7(1); Efron & Tibshirani (1993), "An Introduction to the
Bootstrap", ch. 13 (percentile interval). No arXiv id.

Given arrays x_1, ..., x_k (e.g. real and generated features) and a statistic
s(x_1, ..., x_k), each bootstrap replicate resamples the rows of every array
independently and with replacement (same size as the original) and evaluates
s. The interval is the [(1-level)/2, (1+level)/2] percentiles of the
replicates (numpy's default linear interpolation).

Differences from the textbook method
------------------------------------
* Deterministic: resampling uses ``numpy.random.default_rng(seed)``, and
  replicates draw indices for the arrays in argument order.
* Only the plain percentile interval (no BCa / studentised correction). For
  set-level metrics such as FID, resampling with replacement duplicates rows,
  which biases the statistic; the interval then reflects sampling variability
  around a biased centre and may not contain the point estimate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["bootstrap_interval", "mean_interval"]


def _as_array(x: Any, index: int) -> np.ndarray:
    if hasattr(x, "detach"):  # torch.Tensor
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.ndim == 0 or arr.shape[0] == 0:
        raise ValueError(f"array {index} must have at least one row, got shape {arr.shape}")
    return arr


def bootstrap_interval(
    statistic: Callable[..., float],
    *arrays: Any,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval (lo, hi) of ``statistic(*arrays)``.

    Args:
        statistic: function of the resampled arrays returning a float.
        *arrays: one or more arrays; the rows (axis 0) of each are resampled
            independently with replacement.
        n_boot: number of bootstrap replicates.
        level: coverage of the interval, in (0, 1).
        seed: seed of the numpy Generator.
    """
    if not arrays:
        raise ValueError("at least one array is required")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    data = [_as_array(a, i) for i, a in enumerate(arrays)]
    rng = np.random.default_rng(seed)
    replicates = np.empty(n_boot, dtype=np.float64)
    for b in range(n_boot):
        resampled = [arr[rng.integers(0, arr.shape[0], size=arr.shape[0])] for arr in data]
        replicates[b] = float(statistic(*resampled))
    alpha = (1.0 - level) / 2.0
    lo, hi = np.percentile(replicates, [100.0 * alpha, 100.0 * (1.0 - alpha)])
    return float(lo), float(hi)


def mean_interval(
    values: Any, level: float = 0.95, n_boot: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-sample values (1-D)."""
    arr = np.asarray(_as_array(values, 0), dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("values contain NaN or Inf")
    return bootstrap_interval(
        lambda v: float(np.mean(v)), arr, n_boot=n_boot, level=level, seed=seed
    )
