"""The GAN family's models and service functions on tiny, untrained configs (shapes, determinism, bookkeeping)."""
import numpy as np
import pytest
import torch

from genmodels.families.gan import service
from genmodels.families.gan.dcgan import DCGANDiscriminator, DCGANGenerator
from genmodels.families.gan.stylegan import Generator


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    sg = Generator(size=32, style_dim=32, n_mlp=2, channels=[16, 16, 16, 16], n_classes=36).eval()
    sg.update_w_avg(sg.mapping(torch.randn(64, 32), torch.zeros(64, dtype=torch.long)))
    from genmodels.families.gan.biggan import BigGANGenerator

    big = BigGANGenerator(z_dim=32, channels=(32, 16, 16, 8), shared_dim=8).eval()
    return {"dcgan": DCGANGenerator(width=32).eval(), "cgan": DCGANGenerator(width=32, n_classes=(6, 6)).eval(),
            "stylegan": sg, "biggan": big}


@pytest.mark.parametrize("kind", service.KINDS)
def test_sample_is_seeded_per_image(tiny, kind):
    G = tiny[kind]
    a, _ = service.sample(kind, G, seed=5, n=4, shape=2, colour=3)
    b, _ = service.sample(kind, G, seed=6, n=1, shape=2, colour=3)
    assert a.shape == (4, 32, 32, 3) and a.dtype == np.uint8
    # image i of seed s is the image of seed s + i, up to the batched kernels' last bits (≤ 1 intensity level)
    diff = np.abs(a[1].astype(int) - b[0].astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01
    again, _ = service.sample(kind, G, seed=5, n=4, shape=2, colour=3)
    assert np.array_equal(a, again), "the same request gives the same bytes"


def test_conditions_cycle_when_unset(tiny):
    c = service.condition("cgan", tiny["cgan"], 12, None, 4)
    assert c[:, 0].tolist() == [0, 1, 2, 3, 4, 5] * 2 and set(c[:, 1].tolist()) == {4}
    s = service.condition("stylegan", tiny["stylegan"], 3, 1, 2)
    assert s.tolist() == [1 * 6 + 2] * 3
    assert service.condition("dcgan", tiny["dcgan"], 3, 1, 2) is None


def test_style_mix_grid(tiny):
    G = tiny["stylegan"]
    grid = service.style_mix(G, [1, 2], [3, 4, 5], service.LAYER_RANGES["coarse (4–8 px)"], label=0)
    assert grid.shape == (3, 4, 32, 32, 3) and not grid[0, 0].any()
    full = service.style_mix(G, [1], [3], (0, G.num_ws), label=0)
    assert np.array_equal(full[1, 1], full[0, 1]), "mixing every layer reproduces the column source"
    none = service.style_mix(G, [1], [3], (0, 0), label=0)
    assert np.array_equal(none[1, 1], none[1, 0]), "mixing no layer reproduces the row source"


@pytest.mark.parametrize("kind", ["cgan", "stylegan"])
def test_interpolation_strips_and_path_lengths(tiny, kind):
    G = tiny[kind]
    c = service.condition(kind, G, 1, 0, 0)
    out = service.interpolate(kind, G, 1, 2, steps=5, c=c, ppl_points=4)
    assert out["z"].shape == (5, 32, 32, 3) and out["ppl_z"] >= 0
    ends, _ = service.sample(kind, G, 1, 1, 0, 0)
    assert np.abs(out["z"][0].astype(int) - ends[0]).max() <= 2, "the path starts at seed 1's image"
    if kind == "stylegan":
        assert out["w"].shape == (5, 32, 32, 3) and out["ppl_w"] >= 0


def test_conditional_batch_norm_generator_is_conditional():
    torch.manual_seed(0)
    G = DCGANGenerator(width=32, n_classes=(6, 6), conditional_bn=True).eval()
    with torch.no_grad():
        for layer in G.net:  # non-zero condition embeddings, so labels change the normalisation
            for e in getattr(layer, "gain", []):
                e.weight.normal_()
        z = torch.randn(2, 128)
        a = G(z, torch.tensor([[0, 0], [0, 0]]))
        b = G(z, torch.tensor([[3, 2], [3, 2]]))
    assert a.shape == (2, 3, 32, 32) and not torch.allclose(a, b)


def test_discriminator_conditioning_shapes():
    D = DCGANDiscriminator(width=8, n_classes=(6, 6))
    x = torch.randn(3, 3, 32, 32)
    y = torch.tensor([[0, 1], [2, 3], [5, 5]])
    assert D(x, y).shape == (3,)
    with pytest.raises(ValueError, match="labels"):
        DCGANGenerator(width=32, n_classes=(6, 6))(torch.randn(2, 128))


def test_missing_embedded_and_bad_sources_are_clear(tmp_path):
    with pytest.raises(ValueError, match="unknown GAN"):
        service.load_generator("vae")
    f = tmp_path / "x.pt"
    f.write_bytes(b"junk")
    with pytest.raises(ValueError, match="only StyleGAN"):
        service.load_generator("cgan", str(f))
    with pytest.raises(FileNotFoundError, match="could not load"):
        service.load_generator("dcgan", str(tmp_path / "nothing-here"))
