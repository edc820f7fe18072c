"""Pixel-level image similarity: PSNR and SSIM.

Reference
---------
SSIM: Wang, Bovik, Sheikh, Simoncelli (2004), "Image Quality Assessment: From
Error Visibility to Structural Similarity", IEEE TIP 13(4) (no arXiv id).
PSNR is the textbook 10·log10(R² / MSE).

Conventions (shared by both functions)
--------------------------------------
* Inputs are numpy arrays (torch tensors are converted), **channels-last**:
  (H, W) grayscale, (H, W, C) one image, or (N, H, W, C) a batch. A 3-D array
  is always read as (H, W, C); a batch of grayscale images must be
  (N, H, W, 1). Both inputs must have the same shape.
* ``data_range`` R defaults to 255 when both inputs are uint8 and to 1.0 when
  both are floating point with all values in [0, 1]; otherwise it must be
  given (``ValueError``).
* All arithmetic is float64. For a batch, the per-image values are averaged.

PSNR: 10·log10(R² / MSE) with the MSE over the whole image (all pixels and
channels); identical images give ``inf`` (and so does a batch containing one).
This equals ``skimage.metrics.peak_signal_noise_ratio`` per image.

SSIM (matches ``skimage.metrics.structural_similarity(gaussian_weights=True,
sigma=1.5, use_sample_covariance=False, channel_axis=-1)``):
* local statistics are weighted by a Gaussian window with σ = 1.5 truncated
  at 3.5σ, i.e. radius int(3.5·1.5 + 0.5) = 5 and an 11×11 window, applied
  separably with ``scipy.ndimage.correlate1d`` and mode='reflect';
* K1 = 0.01, K2 = 0.03, C1 = (K1·R)², C2 = (K2·R)²;
* population (weighted) covariances, no N/(N-1) correction (as in the paper);
* the SSIM map is cropped by (11-1)//2 = 5 pixels on every border before the
  mean, as scikit-image does, so images must be at least 11×11;
* each channel is computed independently and the channel means are averaged.
This implementation does not call scikit-image (it is only used in tests).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

__all__ = ["psnr", "ssim", "gaussian_window_1d"]

SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # torch.Tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _prepare(a: Any, b: Any, data_range: float | None) -> tuple[np.ndarray, np.ndarray, float]:
    """Validate inputs, return float64 (N, H, W, C) batches and the data range."""
    x, y = _to_numpy(a), _to_numpy(b)
    if x.shape != y.shape:
        raise ValueError(f"images must have the same shape, got {x.shape} and {y.shape}")
    if x.ndim not in (2, 3, 4):
        raise ValueError(f"expected (H, W), (H, W, C) or (N, H, W, C) arrays, got shape {x.shape}")
    if x.size == 0:
        raise ValueError("images are empty")
    if data_range is None:
        if x.dtype == np.uint8 and y.dtype == np.uint8:
            data_range = 255.0
        elif np.issubdtype(x.dtype, np.floating) and np.issubdtype(y.dtype, np.floating):
            lo = min(float(np.min(x)), float(np.min(y)))
            hi = max(float(np.max(x)), float(np.max(y)))
            if lo < 0.0 or hi > 1.0:
                raise ValueError(
                    f"float images with values outside [0, 1] (found [{lo:.4g}, {hi:.4g}]) "
                    "need an explicit data_range"
                )
            data_range = 1.0
        else:
            raise ValueError(
                f"cannot infer data_range for dtypes {x.dtype} and {y.dtype}; pass data_range"
            )
    if not data_range > 0:
        raise ValueError(f"data_range must be positive, got {data_range}")
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    if not (np.all(np.isfinite(x64)) and np.all(np.isfinite(y64))):
        raise ValueError("images contain NaN or Inf")
    if x.ndim == 2:
        x64, y64 = x64[None, :, :, None], y64[None, :, :, None]
    elif x.ndim == 3:
        x64, y64 = x64[None], y64[None]
    return x64, y64, float(data_range)


def psnr(a: Any, b: Any, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB (mean of per-image values for a batch)."""
    x, y, r = _prepare(a, b, data_range)
    mse = np.mean((x - y) ** 2, axis=(1, 2, 3))
    with np.errstate(divide="ignore"):
        values = 10.0 * np.log10(r * r / mse)
    return float(np.mean(values))


def gaussian_window_1d(sigma: float = SSIM_SIGMA, truncate: float = SSIM_TRUNCATE) -> np.ndarray:
    """Normalised 1-D Gaussian taps, radius int(truncate·sigma + 0.5) (11 taps by default)."""
    radius = int(truncate * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 * (offsets / sigma) ** 2)
    return w / w.sum()


def _blur(img: np.ndarray, taps: np.ndarray) -> np.ndarray:
    out = ndimage.correlate1d(img, taps, axis=0, mode="reflect")
    return ndimage.correlate1d(out, taps, axis=1, mode="reflect")


def _ssim_channel(x: np.ndarray, y: np.ndarray, r: float, taps: np.ndarray) -> float:
    c1 = (SSIM_K1 * r) ** 2
    c2 = (SSIM_K2 * r) ** 2
    ux, uy = _blur(x, taps), _blur(y, taps)
    vx = _blur(x * x, taps) - ux * ux
    vy = _blur(y * y, taps) - uy * uy
    vxy = _blur(x * y, taps) - ux * uy
    s_map = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    pad = (taps.size - 1) // 2
    return float(s_map[pad:-pad, pad:-pad].mean()) if pad else float(s_map.mean())


def ssim(a: Any, b: Any, data_range: float | None = None) -> float:
    """Mean structural similarity (see the module docstring for the exact recipe)."""
    x, y, r = _prepare(a, b, data_range)
    taps = gaussian_window_1d()
    h, w = x.shape[1:3]
    if min(h, w) < taps.size:
        raise ValueError(f"images must be at least {taps.size}x{taps.size} for SSIM, got {h}x{w}")
    per_image = [
        np.mean([_ssim_channel(x[n, :, :, c], y[n, :, :, c], r, taps) for c in range(x.shape[3])])
        for n in range(x.shape[0])
    ]
    return float(np.mean(per_image))
