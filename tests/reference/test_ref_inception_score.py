"""Reference tests for genmodels.scoring.inception_score."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import entropy

from genmodels.scoring.inception_score import inception_score_from_probs


def _reference_is(p: np.ndarray, splits: int) -> tuple[float, float]:
    """Salimans et al.: exp(mean_x KL(p(y|x) || p(y))) per contiguous split."""
    n = len(p)
    scores = []
    for i in range(splits):
        part = p[i * n // splits : (i + 1) * n // splits]
        p_y = part.mean(axis=0)
        scores.append(np.exp(np.mean([entropy(row, p_y) for row in part])))
    return float(np.mean(scores)), float(np.std(scores))


def test_uniform_predictions_give_one() -> None:
    mean, std = inception_score_from_probs(np.full((50, 10), 0.1), splits=5)
    assert mean == pytest.approx(1.0, abs=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("k", [2, 7, 10])
def test_balanced_one_hot_gives_k(k: int) -> None:
    p = np.eye(k)[np.arange(12 * k) % k]
    mean, _ = inception_score_from_probs(p)
    assert mean == pytest.approx(float(k), rel=1e-6)


@pytest.mark.parametrize("splits", [1, 4])
def test_dirichlet_matches_paper_formula(splits: int) -> None:
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.full(20, 0.3), size=200)
    p[0, :5] = 0.0  # exact zeros exercise 0·log 0 = 0
    p[0] /= p[0].sum()
    ours = inception_score_from_probs(torch.from_numpy(p), splits=splits)
    ref = _reference_is(p, splits)
    assert ours[0] == pytest.approx(ref[0], rel=1e-6)
    assert ours[1] == pytest.approx(ref[1], rel=1e-6, abs=1e-12)


def test_warns_when_splits_exceed_samples() -> None:
    p = np.random.default_rng(1).dirichlet(np.ones(5), size=3)
    with pytest.warns(UserWarning, match="splits"):
        mean, _ = inception_score_from_probs(p, splits=10)
    assert mean == pytest.approx(1.0, abs=1e-12)  # one sample per split: p(y|x) = p(y)


def test_rejects_non_probabilities() -> None:
    with pytest.raises(ValueError, match="negative"):
        inception_score_from_probs(np.array([[1.5, -0.5], [0.5, 0.5]]))
    with pytest.raises(ValueError, match="sum to 1"):
        inception_score_from_probs(np.array([[0.6, 0.6], [0.5, 0.5]]))
    with pytest.raises(ValueError, match="2-D"):
        inception_score_from_probs(np.array([0.5, 0.5]))
