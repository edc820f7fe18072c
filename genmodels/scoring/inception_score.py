"""Inception Score from class probabilities.

Reference
---------
Salimans, Goodfellow, Zaremba, Cheung, Radford, Chen (2016), "Improved
Techniques for Training GANs", arXiv:1606.03498.

For predictions p(y|x) of N samples over K classes, split into ``splits``
contiguous parts, each part gives

    IS = exp( E_x KL( p(y|x) || p(y) ) ),   p(y) = mean_x p(y|x) over the part,

and the result is the (mean, std) over parts, as in the original code.

Differences from the paper / common implementations
---------------------------------------------------
* Only the math on already-computed probabilities (no Inception network).
* Float64 throughout; terms with p(y|x) = 0 contribute 0 (0·log 0 = 0)
  instead of relying on an additive epsilon inside the logarithm.
* Parts are the contiguous slices ``[i*N//splits : (i+1)*N//splits]`` as in
  the original TensorFlow code; std is the population std (ddof=0).
* If ``splits > N``, it is reduced to N with a ``UserWarning``.
* Rows must be probability vectors (non-negative, summing to 1 within 1e-3),
  otherwise ``ValueError`` is raised (logits are not accepted).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

__all__ = ["inception_score_from_probs"]

_SUM_TOL = 1e-3


def _validate_probs(p: Any) -> np.ndarray:
    if hasattr(p, "detach"):  # torch.Tensor
        p = p.detach().cpu().numpy()
    arr = np.asarray(p, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"probabilities must be a 2-D (N, K) array, got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"probabilities must be non-empty, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("probabilities contain NaN or Inf")
    if np.any(arr < 0.0):
        raise ValueError("probabilities contain negative values (pass softmax outputs, not logits)")
    sums = arr.sum(axis=1)
    if np.any(np.abs(sums - 1.0) > _SUM_TOL):
        worst = float(sums[np.argmax(np.abs(sums - 1.0))])
        raise ValueError(
            f"each row of probabilities must sum to 1 (within {_SUM_TOL}); found a row summing to {worst:.6g}"
        )
    return arr


def _kl_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Row-wise KL(p_i || q) with 0·log 0 = 0 (q > 0 wherever p > 0 by construction)."""
    positive = p > 0.0
    safe_p = np.where(positive, p, 1.0)
    safe_q = np.where(positive, np.broadcast_to(q, p.shape), 1.0)
    terms = np.where(positive, p * (np.log(safe_p) - np.log(safe_q)), 0.0)
    return terms.sum(axis=1)


def inception_score_from_probs(p: Any, splits: int = 1) -> tuple[float, float]:
    """Inception Score (mean, std over splits) of an (N, K) probability array.

    Args:
        p: class probabilities p(y|x), numpy or torch, rows summing to 1.
        splits: number of contiguous parts; reduced to N with a warning if larger.
    """
    probs = _validate_probs(p)
    n = probs.shape[0]
    if splits < 1:
        raise ValueError(f"splits must be >= 1, got {splits}")
    if splits > n:
        warnings.warn(
            f"splits={splits} is larger than the number of samples N={n}; using splits={n}",
            UserWarning,
            stacklevel=2,
        )
        splits = n

    scores = np.empty(splits, dtype=np.float64)
    for i in range(splits):
        part = probs[i * n // splits : (i + 1) * n // splits]
        p_y = part.mean(axis=0)
        scores[i] = np.exp(_kl_rows(part, p_y).mean())
    return float(scores.mean()), float(scores.std(ddof=0))
