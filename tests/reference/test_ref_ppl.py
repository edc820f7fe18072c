"""Reference tests for genmodels.scoring.ppl (perceptual path length)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genmodels.scoring.ppl import lerp, perceptual_path_length, slerp, stylegan_face_crop

LATENT = 6
EPS = 1e-4
RNG = np.random.default_rng(0)
A = RNG.normal(size=(12, LATENT))  # linear generator: image = reshape(A @ x)
M = RNG.normal(size=(LATENT, LATENT))  # affine mapping: w = M z + c
C = RNG.normal(size=LATENT)


def generator(x: torch.Tensor) -> torch.Tensor:
    return (x @ torch.from_numpy(A).T).reshape(-1, 3, 2, 2)


def mapping(z: torch.Tensor) -> torch.Tensor:
    return z @ torch.from_numpy(M).T + torch.from_numpy(C)


def sq_l2(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return ((a - b) ** 2).sum(dim=(1, 2, 3))


def _draws(n: int, batch: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Replays the documented sampling protocol: per batch randn(2, b, D) then rand(b)."""
    gen = torch.Generator().manual_seed(seed)
    z0, z1, t = [], [], []
    for start in range(0, n, batch):
        b = min(batch, n - start)
        z = torch.randn((2, b, LATENT), generator=gen, dtype=torch.float64)
        t.append(torch.rand((b,), generator=gen, dtype=torch.float64).numpy())
        z0.append(z[0].numpy())
        z1.append(z[1].numpy())
    return np.concatenate(z0), np.concatenate(z1), np.concatenate(t)


def _filtered_mean(d: np.ndarray) -> tuple[float, np.ndarray]:
    lo = np.percentile(d, 1, method="lower")
    hi = np.percentile(d, 99, method="higher")
    kept = d[(d >= lo) & (d <= hi)]
    return float(kept.mean()), kept


def _np_slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Textbook slerp of unit vectors: (sin((1-t)θ) a + sin(tθ) b) / sin θ."""
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    theta = np.arccos(np.clip(np.sum(a * b, axis=1), -1, 1))[:, None]
    t = t[:, None]
    return (np.sin((1 - t) * theta) * a + np.sin(t * theta) * b) / np.sin(theta)


def _run(space: str, seed: int = 0, n: int = 200, batch: int = 64) -> dict:
    return perceptual_path_length(
        generator, sq_l2, LATENT, n_samples=n, space=space, mapping=mapping,
        epsilon=EPS, batch_size=batch, seed=seed, dtype=torch.float64,
    )


def test_w_space_closed_form() -> None:
    """Lerp is linear, so d = ||A M (z1 - z0)||² exactly, independent of t."""
    z0, z1, _ = _draws(200, 64, seed=0)
    d = np.sum(((z1 - z0) @ M.T @ A.T) ** 2, axis=1)
    expected_mean, expected_kept = _filtered_mean(d)
    result = _run("w")
    assert result["n"] == 198  # 1st pct ('lower') and 99th ('higher') drop min and max of 200
    assert result["mean"] == pytest.approx(expected_mean, rel=1e-6)
    np.testing.assert_allclose(result["samples"], expected_kept, rtol=1e-6)


def test_z_space_brute_force() -> None:
    z0, z1, t = _draws(150, 32, seed=5)
    img_t = _np_slerp(z0, z1, t) @ A.T
    img_e = _np_slerp(z0, z1, t + EPS) @ A.T
    d = np.sum((img_e - img_t) ** 2, axis=1) / EPS**2
    expected_mean, _ = _filtered_mean(d)
    result = _run("z", seed=5, n=150, batch=32)
    assert result["mean"] == pytest.approx(expected_mean, rel=1e-6)


def test_deterministic_with_seed() -> None:
    first, second, other = _run("z", seed=3), _run("z", seed=3), _run("z", seed=4)
    np.testing.assert_array_equal(first["samples"], second["samples"])
    assert first["mean"] == second["mean"]
    assert first["mean"] != other["mean"]


def test_slerp_and_lerp_properties() -> None:
    gen = torch.Generator().manual_seed(1)
    a = torch.randn((5, LATENT), generator=gen, dtype=torch.float64)
    b = torch.randn((5, LATENT), generator=gen, dtype=torch.float64)
    an, bn = a / a.norm(dim=1, keepdim=True), b / b.norm(dim=1, keepdim=True)
    torch.testing.assert_close(slerp(a, b, 0.0), an)
    torch.testing.assert_close(slerp(a, b, 1.0), bn)
    t = torch.rand(5, generator=gen, dtype=torch.float64)
    mid = slerp(a, b, t)
    torch.testing.assert_close(mid.norm(dim=1), torch.ones(5, dtype=torch.float64))
    theta = torch.acos((an * bn).sum(dim=1))
    torch.testing.assert_close(torch.acos((mid * an).sum(dim=1).clamp(-1, 1)), t * theta)
    torch.testing.assert_close(lerp(a, b, t), a + (b - a) * t[:, None])


def test_crop_and_validation() -> None:
    images = torch.arange(2 * 3 * 16 * 16, dtype=torch.float32).reshape(2, 3, 16, 16)
    torch.testing.assert_close(stylegan_face_crop(images), images[:, :, 6:14, 4:12])
    with pytest.raises(ValueError, match="mapping"):
        perceptual_path_length(generator, sq_l2, LATENT, n_samples=4, space="w")
    with pytest.raises(ValueError, match="space"):
        perceptual_path_length(generator, sq_l2, LATENT, n_samples=4, space="x")
