"""Reference tests for genmodels.scoring.clip_score."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genmodels.scoring.clip_score import clip_score_from_embeddings, mean_clip_score


def test_matches_manual_cosine() -> None:
    rng = np.random.default_rng(0)
    img = rng.normal(size=(20, 32))
    txt = rng.normal(size=(20, 32)) + 0.1 * img
    cos = np.array([i @ t / (np.linalg.norm(i) * np.linalg.norm(t)) for i, t in zip(img, txt)])
    expected = 100.0 * np.maximum(cos, 0.0)
    assert (cos < 0).any() and (cos > 0).any()
    ours = clip_score_from_embeddings(torch.from_numpy(img).float(), torch.from_numpy(txt).float())
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-6, atol=1e-5)
    ours64 = clip_score_from_embeddings(torch.from_numpy(img), torch.from_numpy(txt))
    np.testing.assert_allclose(ours64.numpy(), expected, rtol=1e-12, atol=1e-12)
    assert mean_clip_score(torch.from_numpy(img), torch.from_numpy(txt)) == pytest.approx(expected.mean(), rel=1e-12)


def test_negative_cosine_clipped_and_scale_invariant() -> None:
    img = torch.tensor([[1.0, 2.0, 3.0], [1.0, 0.0, 0.0]])
    txt = torch.tensor([[-1.0, -2.0, -3.0], [5.0, 0.0, 0.0]])
    torch.testing.assert_close(
        clip_score_from_embeddings(img, txt), torch.tensor([0.0, 100.0], dtype=torch.float64)
    )


def test_validation() -> None:
    with pytest.raises(ValueError, match="same shape"):
        clip_score_from_embeddings(torch.ones(2, 3), torch.ones(3, 3))
    with pytest.raises(ValueError, match="zero vector"):
        clip_score_from_embeddings(torch.zeros(1, 3), torch.ones(1, 3))
