"""Reference tests for genmodels.scoring.precision_recall (Kynkäänniemi et al.)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from genmodels.scoring import precision_recall as pr
from genmodels.scoring.precision_recall import precision_recall_from_features


def _brute_force(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    """Full distance matrices; radius = k-th smallest distance after the self-distance 0."""
    r_real = np.sort(cdist(real, real), axis=1)[:, k]
    r_fake = np.sort(cdist(fake, fake), axis=1)[:, k]
    precision = np.mean(np.any(cdist(fake, real) <= r_real[None, :], axis=1))
    recall = np.mean(np.any(cdist(real, fake) <= r_fake[None, :], axis=1))
    return float(precision), float(recall)


def _sets(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(300, 16))
    fake = rng.normal(size=(250, 16)) * 0.7 + 0.5
    return real, fake


@pytest.mark.parametrize(("seed", "k"), [(0, 3), (1, 1), (2, 5)])
def test_matches_brute_force(seed: int, k: int) -> None:
    real, fake = _sets(seed)
    ours = precision_recall_from_features(real, fake, k=k)
    ref = _brute_force(real, fake, k)
    assert ours == pytest.approx(ref, rel=1e-6)
    assert ours[0] != ours[1]  # the shifted, narrower fake set is asymmetric


def test_chunking_gives_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    real, fake = _sets(3)
    full = precision_recall_from_features(real, fake, k=3)
    monkeypatch.setattr(pr, "_MAX_CHUNK_ELEMENTS", 5000)  # ~16-20 rows per chunk
    assert precision_recall_from_features(real, fake, k=3) == full


def test_identical_sets_give_one_one() -> None:
    real, _ = _sets(4)
    assert precision_recall_from_features(real, real.copy(), k=3) == (1.0, 1.0)


def test_validation() -> None:
    real, fake = _sets(5)
    with pytest.raises(ValueError, match="k must be smaller"):
        precision_recall_from_features(real[:3], fake, k=3)
    with pytest.raises(ValueError, match="k must be >= 1"):
        precision_recall_from_features(real, fake, k=0)
    with pytest.raises(ValueError, match="dimensions differ"):
        precision_recall_from_features(real, fake[:, :4], k=3)
