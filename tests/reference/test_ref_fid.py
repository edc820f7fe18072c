"""Reference tests for genmodels.scoring.fid (Fréchet distance)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance

from genmodels.scoring.fid import feature_stats, fid_from_features, fid_from_stats

RTOL = 1e-6


def _scipy_fid(a: np.ndarray, b: np.ndarray) -> float:
    """The textbook formula with scipy.linalg.sqrtm, all float64."""
    mu1, mu2 = a.mean(axis=0), b.mean(axis=0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))


def _two_sets(seed: int = 0, n: int = 300, d: int = 8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
    b = rng.normal(size=(n + 50, d)) @ rng.normal(size=(d, d)) + rng.normal(size=d)
    return a, b


def test_matches_scipy_sqrtm_formula() -> None:
    a, b = _two_sets()
    assert fid_from_features(a, b) == pytest.approx(_scipy_fid(a, b), rel=RTOL)


def test_accepts_torch_and_float32() -> None:
    a, b = _two_sets(seed=1)
    expected = fid_from_features(a, b)
    assert fid_from_features(torch.from_numpy(a), torch.from_numpy(b)) == pytest.approx(expected, rel=RTOL)
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    assert fid_from_features(a32, b32) == pytest.approx(
        _scipy_fid(a32.astype(np.float64), b32.astype(np.float64)), rel=RTOL
    )


def test_identical_sets_give_zero() -> None:
    a, _ = _two_sets(seed=2)
    assert abs(fid_from_features(a, a)) < 1e-6


def test_mean_term_is_squared_norm() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(size=(500, 6))
    v = np.array([0.5, -1.0, 2.0, 0.0, 0.25, -3.0])
    b = a + v  # same covariance, mean shifted by v
    value = fid_from_features(a, b)
    assert value == pytest.approx(float(v @ v), rel=RTOL)
    # The buggy snippet's first term would be sum((mu1 - mu2) * 2.0) = -2 * sum(v).
    buggy = float(np.sum((a.mean(0) - b.mean(0)) * 2.0))
    assert not np.isclose(value, buggy, rtol=1e-2)


def test_fid_from_stats_matches_features() -> None:
    a, b = _two_sets(seed=4)
    mu1, s1 = feature_stats(a)
    mu2, s2 = feature_stats(b)
    np.testing.assert_allclose(s1, np.cov(a, rowvar=False, ddof=1), rtol=1e-12)
    assert fid_from_stats(mu1, s1, mu2, s2) == pytest.approx(fid_from_features(a, b), rel=1e-12)


class _TinyFeatures(nn.Module):
    """A fixed feature extractor: global average pool + fixed linear map."""

    num_features = 10

    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.proj = nn.Linear(3 * 4 * 4, self.num_features)
        with torch.no_grad():
            self.proj.weight.copy_(torch.randn(self.proj.weight.shape, generator=gen))
            self.proj.bias.copy_(torch.randn(self.proj.bias.shape, generator=gen))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.adaptive_avg_pool2d(x.float(), 4)
        return torch.tanh(self.proj(x.flatten(1)))


def test_matches_torchmetrics_custom_feature_module() -> None:
    """torchmetrics 1.9 accumulates sums in float64 and uses eigvals(S1 S2),
    but casts the result back to the features' dtype (float32 here), so the
    agreement is limited by float32 rounding (~6e-8 relative); 1e-6 is used."""
    gen = torch.Generator().manual_seed(0)
    real = torch.rand((64, 3, 16, 16), generator=gen)
    fake = 0.8 * torch.rand((72, 3, 16, 16), generator=gen) + 0.1
    module = _TinyFeatures().eval()
    metric = FrechetInceptionDistance(feature=module, normalize=True)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    tm_value = float(metric.compute())
    with torch.no_grad():
        ours = fid_from_features(module(real), module(fake))
    assert ours == pytest.approx(tm_value, rel=1e-6)


@pytest.mark.parametrize(
    ("a", "b", "match"),
    [
        (np.zeros((5, 3)), np.zeros((5, 4)), "dimensions differ"),
        (np.zeros(5), np.zeros((5, 1)), "2-D"),
        (np.zeros((1, 3)), np.zeros((5, 3)), "at least 2"),
        (np.full((5, 3), np.nan), np.zeros((5, 3)), "NaN or Inf"),
        (np.zeros((5, 3)), np.full((5, 3), np.inf), "NaN or Inf"),
    ],
)
def test_validation(a: np.ndarray, b: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        fid_from_features(a, b)
