"""Reference tests for genmodels.scoring.kid (unbiased MMD², KID)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torchmetrics.image.kid import KernelInceptionDistance

from genmodels.scoring.kid import kid_from_features, mmd2_unbiased


def _reference_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD², cubic kernel (x·y/D + 1)³, off-diagonals via boolean masks."""
    d = x.shape[1]
    k = lambda p, q: (np.einsum("id,jd->ij", p, q) / d + 1.0) ** 3  # noqa: E731
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    off_x = ~np.eye(len(x), dtype=bool)
    off_y = ~np.eye(len(y), dtype=bool)
    return float(kxx[off_x].mean() + kyy[off_y].mean() - 2.0 * kxy.mean())


def _shifted_sets(n: int = 120, d: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(n, d)) * 1.3 + 0.4


def test_mmd2_unbiased_matches_reference() -> None:
    x, y = _shifted_sets()
    assert mmd2_unbiased(x, y) == pytest.approx(_reference_mmd2(x, y), rel=1e-9)
    assert mmd2_unbiased(x, y[:90]) == pytest.approx(_reference_mmd2(x, y[:90]), rel=1e-9)


def test_single_full_subset_equals_full_estimate() -> None:
    x, y = _shifted_sets(seed=1)
    mean, std = kid_from_features(x, y, subset_size=len(x), n_subsets=1)
    assert mean == pytest.approx(_reference_mmd2(x, y), rel=1e-6)
    assert std == 0.0


@pytest.mark.filterwarnings("ignore:Metric `Kernel Inception Distance` will save")
def test_matches_torchmetrics_on_full_subset() -> None:
    """With subset_size = N and one subset, the random permutation torchmetrics
    draws does not change the (permutation-invariant) estimate."""
    class Identity(nn.Module):
        num_features = 16

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    x, y = _shifted_sets(seed=2)
    metric = KernelInceptionDistance(feature=Identity(), subsets=1, subset_size=len(x), normalize=True)
    metric.update(torch.from_numpy(x), real=True)
    metric.update(torch.from_numpy(y), real=False)
    tm_mean, _ = metric.compute()
    assert kid_from_features(x, y, subset_size=len(x), n_subsets=1)[0] == pytest.approx(float(tm_mean), rel=1e-6)


def test_unbiased_estimate_can_be_negative() -> None:
    # Seed 0 gives a negative value: a biased (V-statistic) estimator could not.
    rng = np.random.default_rng(0)
    data = rng.normal(size=(200, 8))
    mean, _ = kid_from_features(data[:100], data[100:], subset_size=100, n_subsets=1)
    assert mean < 0.0
    assert mean == pytest.approx(_reference_mmd2(data[:100], data[100:]), rel=1e-6)
    assert abs(mean) < 0.1


def test_same_distribution_mean_near_zero_and_deterministic() -> None:
    rng = np.random.default_rng(11)
    data = rng.normal(size=(400, 8))
    first = kid_from_features(data[:200], data[200:], subset_size=50, n_subsets=20, seed=3)
    second = kid_from_features(data[:200], data[200:], subset_size=50, n_subsets=20, seed=3)
    assert first == second
    assert abs(first[0]) < 3 * first[1] / np.sqrt(20) + 1e-3


def test_subset_mean_matches_manual_subsets() -> None:
    x, y = _shifted_sets(seed=4)
    rng = np.random.default_rng(5)
    manual = []
    for _ in range(4):
        ix = rng.choice(len(x), size=30, replace=False)
        iy = rng.choice(len(y), size=30, replace=False)
        manual.append(_reference_mmd2(x[ix], y[iy]))
    mean, std = kid_from_features(x, y, subset_size=30, n_subsets=4, seed=5)
    assert mean == pytest.approx(np.mean(manual), rel=1e-6)
    assert std == pytest.approx(np.std(manual), rel=1e-6)


def test_warns_and_adapts_large_subset_size() -> None:
    x, y = _shifted_sets(n=40, seed=6)
    with pytest.warns(UserWarning, match="subset_size"):
        adapted = kid_from_features(x, y[:30], subset_size=1000, n_subsets=2, seed=0)
    assert adapted == kid_from_features(x, y[:30], subset_size=30, n_subsets=2, seed=0)


def test_validation() -> None:
    with pytest.raises(ValueError, match="dimensions differ"):
        mmd2_unbiased(np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="NaN or Inf"):
        kid_from_features(np.full((4, 2), np.nan), np.zeros((4, 2)))
