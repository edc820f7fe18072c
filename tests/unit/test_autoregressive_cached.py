"""Cached sampling of PixelCNN and Gated PixelCNN (Ramachandran et al. 2017): the cached logits equal the full pass
(teacher forced), and the cached sampler draws exactly what the naive one draws — tiny configs (RGB in 256 levels,
codes in K levels, conditional and not, the VQ-VAE code prior's shape) and a few pixels of the embedded models."""
import pytest
import torch

from genmodels.families.autoregressive.cached import for_model
from genmodels.families.autoregressive.cached_pixelcnn import GatedPixelCNNCache, PixelCNNCache
from genmodels.families.autoregressive.pixelcnn import GatedPixelCNN, PixelCNN, iter_sample, sample

SIZE = 6


def _models():
    torch.manual_seed(0)
    return {"pixelcnn": PixelCNN(hidden=6, blocks=2, out_hidden=12, n_classes=3),
            "pixelcnn-uncond": PixelCNN(hidden=6, blocks=1, out_hidden=12),
            "pixelcnn-codes": PixelCNN(channels=1, levels=5, hidden=4, blocks=2, out_hidden=8, n_classes=2),
            "gated": GatedPixelCNN(hidden=6, layers=3, kernel=3, out_hidden=12, n_classes=3),
            "gated-uncond-k5": GatedPixelCNN(hidden=6, layers=3, kernel=5, out_hidden=12),
            "gated-codes": GatedPixelCNN(channels=1, levels=5, hidden=4, layers=3, kernel=3, out_hidden=8),
            "gated-codes-cond": GatedPixelCNN(channels=1, levels=7, hidden=4, layers=2, kernel=5, out_hidden=8,
                                              n_classes=4)}


MODELS = _models()


def _y(model, n=2):
    return torch.arange(n) % model.n_classes if model.n_classes else None


@pytest.mark.parametrize("key", list(MODELS))
def test_cached_logits_equal_the_full_pass_teacher_forced(key):
    model = MODELS[key].eval()
    x = torch.randint(0, model.levels, (2, model.channels, SIZE, SIZE), generator=torch.Generator().manual_seed(4))
    y = _y(model)
    cs = for_model(model, SIZE)
    assert isinstance(cs, GatedPixelCNNCache if isinstance(model, GatedPixelCNN) else PixelCNNCache)
    done = cs.sample(2, y, x=x, start=SIZE * SIZE, keep_outputs=True)
    assert torch.equal(done, x)  # nothing left to draw
    cached = torch.stack(cs.logits, -1).view(2, model.levels, model.channels, SIZE, SIZE)
    assert (cached - model(x, y)).abs().max() < 1e-5


@pytest.mark.parametrize("key", list(MODELS))
def test_cached_draws_equal_the_naive_draws(key):
    model = MODELS[key].eval()
    y = _y(model)
    cs = for_model(model, SIZE)
    for seed, temperature in ((3, 1.0), (11, 0.7)):
        a = sample(model, 2, SIZE, y, torch.Generator().manual_seed(seed), temperature=temperature)
        b = cs.sample(2, y, torch.Generator().manual_seed(seed), temperature=temperature)
        assert torch.equal(a, b), (key, seed)
    assert len(a.unique()) > 1  # not a degenerate image
    # completion: the given pixels are kept and the rest drawn as the naive sampler draws them
    half = SIZE * SIZE // 2 + 1
    c = cs.sample(2, y, torch.Generator().manual_seed(9), x=a, start=half)
    assert torch.equal(c, sample(model, 2, SIZE, y, torch.Generator().manual_seed(9), x=a, start=half))
    assert torch.equal(c.flatten(2)[:, :, :half], a.flatten(2)[:, :, :half])


def test_the_generator_streams_like_the_naive_one_and_stops_when_closed():
    model = MODELS["gated"].eval()
    y = _y(model, 1)
    cs = for_model(model, SIZE)
    naive = [(t, x.clone()) for t, x in iter_sample(model, 1, SIZE, y, torch.Generator().manual_seed(2), start=5)]
    cached = [(t, x.clone()) for t, x in cs.iterate(1, y, torch.Generator().manual_seed(2), start=5)]
    assert [t for t, _ in cached] == [t for t, _ in naive] == list(range(5, SIZE * SIZE))
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(naive, cached))
    g = torch.Generator().manual_seed(2)
    it = cs.iterate(1, y, g)
    next(it)
    it.close()  # a cancelled request: no further pixel is drawn, so the generator's state stays put
    state = g.get_state()
    with pytest.raises(StopIteration):
        next(it)
    assert torch.equal(g.get_state(), state)
    seen = []
    cs.sample(1, y, torch.Generator().manual_seed(2), on_pixel=lambda p, x: seen.append(p) or p >= 3)
    assert seen == [0, 1, 2, 3]


def test_bad_input_is_refused_with_a_sentence():
    model = MODELS["pixelcnn"].eval()
    cs = for_model(model, SIZE)
    with pytest.raises(ValueError, match="start"):
        next(cs.iterate(1, None, start=SIZE * SIZE + 1))
    with pytest.raises(ValueError, match="Temperature"):
        next(cs.iterate(1, None, temperature=0))
    with pytest.raises(ValueError, match="levels"):
        next(cs.iterate(2, None, x=torch.zeros(1, 3, SIZE, SIZE, dtype=torch.long)))
    with pytest.raises(TypeError, match="No cached sampler"):
        for_model(torch.nn.Linear(2, 2))
    with pytest.raises(TypeError, match="needs a PixelCNN"):
        PixelCNNCache(MODELS["gated"])


def test_the_vq_code_prior_samples_the_same_codes_cached():
    """The VAE family's class-conditional code prior (a GatedPixelCNN over K codes): at guidance 1 its own sampler,
    the naive one and the cached one draw the same code maps."""
    from genmodels.families.vae.priors import NULL_CLASS, code_prior, iter_prior

    torch.manual_seed(1)
    prior = code_prior(codes=16, hidden=8, layers=3, kernel=5, out_hidden=16).eval()
    y = torch.tensor([0, 3, NULL_CLASS])
    last = None
    for _, last in iter_prior(prior, 3, 5, y, torch.Generator().manual_seed(4)):
        pass
    cached = for_model(prior, 5).sample(3, y, torch.Generator().manual_seed(4))
    assert torch.equal(cached, last)


@pytest.mark.parametrize("key", ["pixelcnn", "gated-pixelcnn", "vq-prior"])
def test_a_few_pixels_of_the_embedded_models_are_drawn_alike(key):
    """Mid-image, after 16.5 rows of a real test image teacher-forced through the caches, the next pixels drawn by
    the embedded model are the naive sampler's (the VQ prior: a whole 8x8 code map)."""
    from genmodels.families.autoregressive import service

    if key == "vq-prior":
        from genmodels.families.vae import service as vae_service

        try:
            model = vae_service.load("vq-prior")
        except FileNotFoundError:
            pytest.skip("the embedded vq-prior is not in this checkout")
        y = torch.tensor([1, 4])
        a = sample(model, 2, 8, y, torch.Generator().manual_seed(0))
        assert torch.equal(for_model(model, 8).sample(2, y, torch.Generator().manual_seed(0)), a)
        return
    try:
        model = service.load(key)
    except FileNotFoundError:
        pytest.skip(f"the embedded {key} is not in this checkout")
    from genmodels.data.dataset import shapes_arrays

    x = torch.from_numpy(shapes_arrays("test", 2, workers=1)["images"]).permute(0, 3, 1, 2).long()
    y = torch.tensor([2, 5])
    start, k = 16 * 32 + 16, 4
    stop = lambda p, _: p + 1 >= start + k  # noqa: E731
    a = sample(model, 2, 32, y, torch.Generator().manual_seed(1), x=x, start=start, on_pixel=stop)
    b = for_model(model, 32).sample(2, y, torch.Generator().manual_seed(1), x=x, start=start, on_pixel=stop)
    assert torch.equal(a.flatten(2)[:, :, :start + k], b.flatten(2)[:, :, :start + k])
