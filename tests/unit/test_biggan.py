"""BigGAN-style generator / discriminator (issue 30): hierarchical z, shared embedding, projection D, orthogonal
regularisation against its formula, the truncated normal, mode seeking, and a few real training steps of the
recipe (projected heads + pixel D + guide term + ortho + mode seeking) writing weights, card and monitor."""
import json

import numpy as np
import pytest
import torch

from genmodels.families.gan import service
from genmodels.families.gan import train as gan_train
from genmodels.families.gan.biggan import (BigGANDiscriminator, BigGANGenerator, orthogonal_penalty,
                                           truncated_normal)


def tiny_g():
    torch.manual_seed(0)
    return BigGANGenerator(z_dim=32, channels=(32, 16, 16, 8), shared_dim=8).eval()


def test_shapes_and_label_checks():
    G, D = tiny_g(), BigGANDiscriminator(channels=(8, 16, 16, 16))
    z, y = torch.randn(5, 32), torch.tensor([[0, 1], [2, 3], [4, 5], [5, 0], [1, 1]])
    x = G(z, y)
    assert x.shape == (5, 3, 32, 32) and x.abs().max() <= 1
    assert D(x, y).shape == (5,)
    with pytest.raises(ValueError, match="labels of shape"):
        G(z)
    with pytest.raises(ValueError, match="equal chunks"):
        BigGANGenerator(z_dim=30, channels=(32, 16, 16, 8))
    with pytest.raises(ValueError, match="px"):
        BigGANGenerator(channels=(32, 16, 8))


def test_every_z_chunk_and_each_label_reach_the_image():
    """Hierarchical z: each chunk (first map, then one per block) changes the output; so do shape and colour."""
    G = tiny_g()
    gan_train.standing_stats("biggan", G, n_batches=2, batch=16)
    z, y = torch.randn(1, 32), torch.tensor([[1, 2]])
    base = G(z, y)
    for k in range(4):
        z2 = z.clone()
        z2[:, 8 * k:8 * (k + 1)] += 1.0
        assert (G(z2, y) - base).abs().max() > 1e-4, f"chunk {k} has no effect"
    assert (G(z, torch.tensor([[3, 2]])) - base).abs().max() > 1e-4
    assert (G(z, torch.tensor([[1, 4]])) - base).abs().max() > 1e-4


def test_projection_term_is_the_embedding_dot_features():
    D = BigGANDiscriminator(channels=(8, 16, 16, 16)).eval()
    x, y = torch.randn(3, 3, 32, 32), torch.tensor([[0, 0], [1, 2], [5, 5]])
    h = torch.relu(D.blocks(x)).sum(dim=(2, 3))
    want = D.out(h).squeeze(1) + (D.proj[0](y[:, 0]) * h).sum(1) + (D.proj[1](y[:, 1]) * h).sum(1)
    torch.testing.assert_close(D(x, y), want)


def test_orthogonal_penalty_matches_the_formula():
    """β Σ ‖WᵀW ⊙ (1 − I)‖²_F, computed here in numpy on the weights the layers use (rows = output units)."""
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Conv2d(3, 6, 3))
    want = 0.0
    for w in (net[0].weight, net[1].weight):
        m = w.detach().reshape(w.shape[0], -1).double().numpy()
        g = m @ m.T
        want += ((g * (1 - np.eye(len(g)))) ** 2).sum()
    assert float(orthogonal_penalty(net, 1e-4)) == pytest.approx(1e-4 * want, rel=1e-5)
    q, _ = torch.linalg.qr(torch.randn(6, 6))
    lin = torch.nn.Linear(6, 6)
    with torch.no_grad():
        lin.weight.copy_(3 * q)  # orthogonal rows of any norm: no penalty
    assert float(orthogonal_penalty(lin)) == pytest.approx(0.0, abs=1e-8)
    assert float(orthogonal_penalty(torch.nn.ReLU())) == 0.0


def test_truncated_normal_bounds_and_seeds():
    g = torch.Generator()
    z = truncated_normal((2000, 16), 0.5, g.manual_seed(3))
    assert z.abs().max() <= 0.5 and z.std() < 0.35
    torch.testing.assert_close(z, truncated_normal((2000, 16), 0.5, g.manual_seed(3)))
    torch.testing.assert_close(truncated_normal((4, 16), None, g.manual_seed(3)),
                               torch.randn(4, 16, generator=g.manual_seed(3)))
    with pytest.raises(ValueError, match="> 0"):
        truncated_normal((2, 2), 0.0)


def test_service_sampling_is_seeded_and_truncation_tightens(monkeypatch):
    G = tiny_g()
    imgs, labels = service.sample("biggan", G, seed=11, n=4, shape=2)
    again, _ = service.sample("biggan", G, seed=11, n=4, shape=2)
    assert imgs.shape == (4, 32, 32, 3) and np.array_equal(imgs, again)
    assert labels[:, 0].tolist() == [2] * 4 and labels.shape == (4, 2)
    assert service.biggan_threshold(1.0) is None and service.biggan_threshold(0.5) == pytest.approx(1.5)
    z = service.latents(G, 11, 50, service.biggan_threshold(0.2))
    assert z.abs().max() <= 0.6 + 1e-6


def test_mode_seeking_loss_is_the_reciprocal_ratio():
    a, b = torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 0.5)
    za, zb = torch.zeros(2, 8), torch.full((2, 8), 2.0)
    assert float(gan_train.mode_seeking_loss(a, b, za, zb)) == pytest.approx(1 / (0.25 + 1e-5))


@pytest.mark.slow
def test_biggan_recipe_trains_resumes_and_writes_card(tmp_path, monkeypatch):
    from dataclasses import replace

    from genmodels.families.gan import recipes

    def build(kind, conditional=None, generator="dcgan"):
        return (BigGANGenerator(z_dim=32, channels=(32, 16, 16, 8), shared_dim=8),
                BigGANDiscriminator(channels=(8, 16, 16, 16)))
    monkeypatch.setattr(gan_train, "build", build)
    monkeypatch.setitem(recipes.RECIPES, "biggan", replace(recipes.RECIPES["biggan"], batch=8, monitor_every=3,
                                                             reward_from=1))
    monkeypatch.setitem(gan_train.RECIPES, "biggan", recipes.RECIPES["biggan"])
    out, run = tmp_path / "w", tmp_path / "run"
    gan_train.train_gan("biggan", steps=2, n_train=64, out=str(out), run_dir=str(run), eval_n=40)
    metrics = gan_train.train_gan("biggan", steps=3, n_train=64, out=str(out), run_dir=str(run), eval_n=40)
    assert int(torch.load(run / "ckpt.pt", weights_only=True)["step"]) == 3
    assert 0 <= metrics["requested shape recognised"] <= 1 and "FID" in metrics
    mon = [json.loads(line) for line in (out / "monitor.jsonl").read_text().splitlines()]
    assert {"shape", "colour", "shape_outline", "pieces", "precision_300", "recall_300"} <= set(mon[0])
    card = (out / "README.md").read_text()
    assert "BigGAN-style (Brock et al. 2018" in card and "python -m genmodels train biggan" in card
    G = BigGANGenerator.from_pretrained(str(out))
    assert G.z_dim == 32 and G.n_classes == (6, 6)
