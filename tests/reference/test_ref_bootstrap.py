"""Reference tests for genmodels.scoring.bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from genmodels.scoring.bootstrap import bootstrap_interval, mean_interval


def _values(seed: int = 0, n: int = 400) -> np.ndarray:
    return np.random.default_rng(seed).normal(loc=2.0, size=n)


def test_deterministic_given_seed() -> None:
    v = _values()
    assert mean_interval(v, seed=1) == mean_interval(v, seed=1)
    assert mean_interval(v, seed=1) != mean_interval(v, seed=2)


def test_matches_manual_percentile_bootstrap() -> None:
    v = _values(1, n=50)
    rng = np.random.default_rng(3)
    reps = [np.median(v[rng.integers(0, len(v), size=len(v))]) for _ in range(100)]
    expected = tuple(np.percentile(reps, [5.0, 95.0]))
    ours = bootstrap_interval(np.median, v, n_boot=100, level=0.9, seed=3)
    assert ours == pytest.approx(expected, rel=1e-12)


def test_mean_interval_contains_mean_with_sensible_width() -> None:
    v = _values(2)
    lo, hi = mean_interval(v)
    assert lo < v.mean() < hi
    normal_width = 2 * 1.96 * v.std(ddof=1) / np.sqrt(len(v))
    assert hi - lo == pytest.approx(normal_width, rel=0.2)


def test_multiple_arrays_resampled_independently() -> None:
    a, b = _values(3, n=300), _values(4, n=200) + 1.0
    stat = lambda x, y: float(np.mean(y) - np.mean(x))  # noqa: E731
    lo, hi = bootstrap_interval(stat, a, b, n_boot=300, seed=0)
    assert lo < stat(a, b) < hi


def test_validation() -> None:
    with pytest.raises(ValueError, match="level"):
        mean_interval(_values(), level=1.5)
    with pytest.raises(ValueError, match="at least one array"):
        bootstrap_interval(np.mean)
    with pytest.raises(ValueError, match="NaN or Inf"):
        mean_interval(np.array([1.0, np.nan]))
