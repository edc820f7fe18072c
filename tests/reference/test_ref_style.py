"""Reference tests for genmodels.scoring.style (Gram matrices)."""

from __future__ import annotations

import pytest
import torch

from genmodels.scoring.style import gram_matrix, style_distance_from_features


def _feats(seed: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [
        torch.randn((3, 4, 6, 5), generator=gen, dtype=torch.float64),
        torch.randn((3, 7, 3, 3), generator=gen, dtype=torch.float64),
    ]


def test_gram_matches_einsum_and_loop() -> None:
    x = _feats(0)[0]
    n, c, h, w = x.shape
    ours = gram_matrix(x)
    ref = torch.einsum("nchw,ndhw->ncd", x, x) / (c * h * w)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=0.0)
    loop = torch.empty(n, c, c, dtype=torch.float64)
    for s in range(n):
        for i in range(c):
            for j in range(c):
                loop[s, i, j] = (x[s, i] * x[s, j]).sum() / (c * h * w)
    torch.testing.assert_close(ours, loop, rtol=1e-12, atol=0.0)


def test_style_distance_matches_explicit_formula() -> None:
    fa, fb = _feats(1), _feats(2)
    ours = style_distance_from_features(fa, fb)
    ref = torch.zeros(3, dtype=torch.float64)
    for a, b in zip(fa, fb):
        c, h, w = a.shape[1:]
        ga = torch.einsum("nchw,ndhw->ncd", a, a) / (c * h * w)
        gb = torch.einsum("nchw,ndhw->ncd", b, b) / (c * h * w)
        ref += ((ga - gb) ** 2).sum(dim=(1, 2)) / c**2
    ref /= len(fa)
    assert ours.shape == (3,)
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=0.0)


def test_identical_inputs_give_zero() -> None:
    fa = _feats(3)
    assert torch.equal(style_distance_from_features(fa, [f.clone() for f in fa]), torch.zeros(3, dtype=torch.float64))


def test_validation() -> None:
    fa, fb = _feats(4), _feats(5)
    with pytest.raises(ValueError, match="layers"):
        style_distance_from_features(fa, fb[:1])
    with pytest.raises(ValueError, match="equal N and C"):
        style_distance_from_features(fa[:1], fb[1:])
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        gram_matrix(torch.zeros(2, 3))
