"""Fréchet distance between two sets of feature vectors (the math behind FID).

Reference
---------
Heusel, Ramsauer, Unterthiner, Nessler, Hochreiter (2017), "GANs Trained by a
Two Time-Scale Update Rule Converge to a Local Nash Equilibrium",
arXiv:1706.08500.

Each feature set is summarised by a Gaussian with mean ``mu`` and covariance
``sigma`` and the Fréchet (2-Wasserstein) distance between the two Gaussians is

    d² = ||mu1 - mu2||² + Tr(S1 + S2 - 2 (S1 S2)^{1/2}).

Differences from the paper / common implementations
---------------------------------------------------
* Only the distance is computed here: this module takes already-extracted
  features (no Inception network is loaded).
* The first term is the *squared* Euclidean norm of the mean difference. A
  widely copied snippet computes ``sum((mu1 - mu2) * 2.0)`` instead, which is
  wrong; we do not.
* The trace of the matrix square root is not obtained from ``scipy.linalg.sqrtm``
  of the non-symmetric product ``S1 S2`` (which can return complex values and
  needs an ad-hoc diagonal offset). Instead we use the identity

      Tr (S1 S2)^{1/2} = Tr (S1^{1/2} S2 S1^{1/2})^{1/2},

  valid because ``S1 S2`` is similar to ``S1^{1/2} S2 S1^{1/2}``. The latter
  is symmetric positive semi-definite, so its trace square root is the sum of
  the square roots of its (clipped at 0) eigenvalues. Everything runs in
  float64 with ``numpy.linalg.eigh``, which is exact in exact arithmetic and
  numerically stable.
* Covariances use ``np.cov(rowvar=False, ddof=1)`` (unbiased), like the
  reference TensorFlow/PyTorch implementations.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

__all__ = ["to_float64_2d", "feature_stats", "fid_from_stats", "fid_from_features"]

# Negative results down to -_NEG_TOL * scale are rounding noise and become 0.0.
_NEG_TOL = 1e-8


def to_float64_2d(x: Any, name: str = "features", min_rows: int = 2) -> np.ndarray:
    """Convert a numpy array or torch tensor of shape (N, D) to float64 numpy.

    Raises ``ValueError`` if the array is not 2-D, has fewer than ``min_rows``
    rows, has no columns, or contains NaN/Inf.
    """
    if hasattr(x, "detach"):  # torch.Tensor without importing torch
        x = x.detach().cpu().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (N, D) array, got shape {arr.shape}")
    if arr.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} samples, got N={arr.shape[0]}")
    if arr.shape[1] < 1:
        raise ValueError(f"{name} must have at least one feature dimension, got D=0")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contain NaN or Inf")
    return arr


def feature_stats(x: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of an (N, D) feature array, float64."""
    arr = to_float64_2d(x, "features")
    mu = arr.mean(axis=0)
    sigma = np.atleast_2d(np.cov(arr, rowvar=False, ddof=1))
    return mu, sigma


def _psd_eigenvalues(w: np.ndarray) -> np.ndarray:
    """Eigenvalues of a PSD matrix with round-off removed: values below the numerical-rank tolerance
    (``max|w| * D * eps``, numpy's ``matrix_rank`` rule) are zero. Matters when N <= D (singular covariances):
    there the square roots of thousands of ~1e-16 noise eigenvalues would otherwise add up to a visible error."""
    tol = np.abs(w).max(initial=0.0) * w.shape[0] * np.finfo(np.float64).eps
    return np.where(w > tol, w, 0.0)


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix (round-off eigenvalues set to 0)."""
    s = 0.5 * (s + s.T)
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(_psd_eigenvalues(w))) @ v.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """Tr((S1 S2)^{1/2}) for symmetric PSD S1, S2 via eig(S1^{1/2} S2 S1^{1/2})."""
    r = _sqrt_psd(sigma1)
    m = r @ sigma2 @ r
    eig = np.linalg.eigvalsh(0.5 * (m + m.T))
    return float(np.sum(np.sqrt(_psd_eigenvalues(eig))))


def fid_from_stats(
    mu1: Any, sigma1: Any, mu2: Any, sigma2: Any
) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64."""
    mu1 = np.atleast_1d(np.asarray(mu1, dtype=np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    d = mu1.shape[0]
    if mu1.ndim != 1 or mu2.shape != mu1.shape:
        raise ValueError(f"means must be 1-D of equal length, got {mu1.shape} and {mu2.shape}")
    if sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(
            f"covariances must be ({d}, {d}), got {sigma1.shape} and {sigma2.shape}"
        )
    for name, a in (("mu1", mu1), ("sigma1", sigma1), ("mu2", mu2), ("sigma2", sigma2)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} contains NaN or Inf")

    diff = mu1 - mu2
    mean_term = float(diff @ diff)  # squared norm, NOT sum(diff * 2.0)
    tr1, tr2 = float(np.trace(sigma1)), float(np.trace(sigma2))
    value = mean_term + tr1 + tr2 - 2.0 * trace_sqrt_product(sigma1, sigma2)

    if value < 0.0:
        scale = max(mean_term + abs(tr1) + abs(tr2), np.finfo(np.float64).tiny)
        if value > -_NEG_TOL * scale:
            value = 0.0
        else:
            warnings.warn(
                f"Fréchet distance is negative ({value:.3e}); covariances may not be PSD",
                RuntimeWarning,
                stacklevel=2,
            )
    return float(value)


def fid_from_features(a: Any, b: Any) -> float:
    """Fréchet distance between two (N, D) feature sets (numpy or torch).

    Both sets need the same D and at least 2 samples each; values must be
    finite. Computed in float64; see the module docstring for the method.
    """
    fa = to_float64_2d(a, "features a")
    fb = to_float64_2d(b, "features b")
    if fa.shape[1] != fb.shape[1]:
        raise ValueError(
            f"feature dimensions differ: a has D={fa.shape[1]}, b has D={fb.shape[1]}"
        )
    mu1, s1 = feature_stats(fa)
    mu2, s2 = feature_stats(fb)
    return fid_from_stats(mu1, s1, mu2, s2)
