"""Reference tests for genmodels.scoring.pixel against scikit-image."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from genmodels.scoring.pixel import gaussian_window_1d, psnr, ssim

RTOL = 1e-6


def _sk_ssim(a: np.ndarray, b: np.ndarray, data_range: float) -> float:
    return float(
        structural_similarity(
            a,
            b,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=data_range,
            channel_axis=-1 if a.ndim == 3 else None,
        )
    )


def _uint8_pair(shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, size=shape, dtype=np.uint8)
    noise = rng.integers(-40, 41, size=shape)
    b = np.clip(a.astype(int) + noise, 0, 255).astype(np.uint8)
    return a, b


@pytest.mark.parametrize("shape", [(48, 64), (40, 56, 3), (23, 31, 1)])
def test_uint8_matches_skimage(shape: tuple[int, ...]) -> None:
    a, b = _uint8_pair(shape, seed=len(shape))
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), rel=RTOL)
    assert ssim(a, b) == pytest.approx(_sk_ssim(a, b, 255), rel=RTOL)


def test_float_unit_range_matches_skimage() -> None:
    rng = np.random.default_rng(1)
    a = rng.random((37, 45, 3))
    b = np.clip(a + 0.1 * rng.normal(size=a.shape), 0.0, 1.0)
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=1.0), rel=RTOL)
    assert ssim(a, b) == pytest.approx(_sk_ssim(a, b, 1.0), rel=RTOL)


def test_float_explicit_range_matches_skimage() -> None:
    rng = np.random.default_rng(2)
    a = rng.uniform(-1.0, 1.0, size=(32, 32, 3))
    b = np.clip(a + 0.2 * rng.normal(size=a.shape), -1.0, 1.0)
    assert psnr(a, b, data_range=2.0) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=2.0), rel=RTOL)
    assert ssim(a, b, data_range=2.0) == pytest.approx(_sk_ssim(a, b, 2.0), rel=RTOL)
    with pytest.raises(ValueError, match="data_range"):
        psnr(a, b)


def test_batch_is_mean_of_images() -> None:
    a, b = _uint8_pair((3, 24, 20, 3), seed=3)
    exp_psnr = np.mean([peak_signal_noise_ratio(a[i], b[i], data_range=255) for i in range(3)])
    exp_ssim = np.mean([_sk_ssim(a[i], b[i], 255) for i in range(3)])
    assert psnr(a, b) == pytest.approx(exp_psnr, rel=RTOL)
    assert ssim(a, b) == pytest.approx(exp_ssim, rel=RTOL)


def test_identical_images() -> None:
    a, _ = _uint8_pair((16, 16, 3), seed=4)
    assert psnr(a, a) == np.inf
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)


def test_gaussian_window_is_11_taps() -> None:
    taps = gaussian_window_1d()
    assert taps.shape == (11,)
    assert taps.sum() == pytest.approx(1.0)


def test_validation() -> None:
    a, b = _uint8_pair((8, 8), seed=5)
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(a, b)
    with pytest.raises(ValueError, match="same shape"):
        psnr(a, b[:4])
    with pytest.raises(ValueError, match="cannot infer data_range"):
        psnr(a.astype(np.int32), b.astype(np.int32))
