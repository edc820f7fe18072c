"""Cached sampling of PixelCNN, Gated PixelCNN and PixelCNN++ (Ramachandran et al. 2017): the cached logits / mixture
parameters equal the full pass (teacher forced), and the cached sampler draws exactly what the naive one draws — tiny
configs (RGB in 256 levels, codes in K levels, conditional and not, the VQ-VAE code prior's shape; PixelCNN++ with 1-3
resolutions, 1-2 resnets, anchored means) and a few pixels of the embedded models; the PixelCNN++ mixture draw equals
its plain torch formulation bit for bit."""
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


@pytest.mark.parametrize("key", ["pixelcnn", "gated-pixelcnn", "pixelcnnpp", "vq-prior"])
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
    naive = sample_naive if isinstance(model, PixelCNNpp) else sample
    a = naive(model, 2, 32, y, torch.Generator().manual_seed(1), x=x, start=start, on_pixel=stop)
    b = for_model(model, 32).sample(2, y, torch.Generator().manual_seed(1), x=x, start=start, on_pixel=stop)
    assert torch.equal(a.flatten(2)[:, :, :start + k], b.flatten(2)[:, :, :start + k])


# ---- PixelCNN++ (cached.py: u rows once per image row, ul per position with split kernels) --------------------------
from genmodels.families.autoregressive.cached import CachedSampler  # noqa: E402
from genmodels.families.autoregressive.pixelcnnpp import (PixelCNNpp, _unpack, iter_naive,  # noqa: E402
                                                          neighbour_anchors, sample_naive, sample_pixel)

PP_CONFIGS = {  # (resnets, resolutions, classes, anchored, image size)
    "r1-d3-cond": (1, 3, 3, False, 8), "r2-d3-uncond-anchored": (2, 3, 0, True, 8),
    "r1-d1-anchored": (1, 1, 2, True, 6), "r2-d2-cond-anchored": (2, 2, 3, True, 8),
    "r1-d3-anchored-16": (1, 3, 6, True, 16)}


def _pp(key):
    resnets, depth, classes, anchored, size = PP_CONFIGS[key]
    torch.manual_seed(0)
    m = PixelCNNpp(filters=8, resnets=resnets, mix=6 if anchored else 2, levels_down=depth, n_classes=classes,
                   anchored=anchored).eval()
    with torch.no_grad():  # the zero-initialised head of an anchored model would hide mistakes: random weights
        m.out.weight.normal_(0, 0.05)
        m.out.bias.normal_(0, 0.5)
    return m, size


@pytest.mark.parametrize("key", list(PP_CONFIGS))
def test_pixelcnnpp_cache_equals_the_full_pass_and_draws_what_the_naive_sampler_draws(key):
    m, s = _pp(key)
    y = torch.tensor([0, 1]) if m.n_classes else None
    x = torch.randint(0, 256, (2, 3, s, s), generator=torch.Generator().manual_seed(4))
    cs = CachedSampler(m, s)
    assert torch.equal(cs.sample(2, y, x=x, start=s * s, keep_outputs=True), x)
    cached = torch.stack(cs.params, -1).view(2, -1, s, s)
    assert (cached - m(x, y)).abs().max() < 1e-5
    for seed, temperature in ((3, 1.0), (8, 0.8)):
        a = sample_naive(m, 2, s, y, torch.Generator().manual_seed(seed), temperature=temperature)
        b = cs.sample(2, y, torch.Generator().manual_seed(seed), temperature=temperature)
        assert torch.equal(a, b), (key, seed)
    assert len(a.unique()) > 10
    half = s * s // 2 + 3  # completion: the given pixels kept, the rest drawn as the naive sampler draws them
    c = cs.sample(2, y, torch.Generator().manual_seed(9), x=a, start=half)
    assert torch.equal(c, sample_naive(m, 2, s, y, torch.Generator().manual_seed(9), x=a, start=half))
    assert torch.equal(c.flatten(2)[:, :, :half], a.flatten(2)[:, :, :half])


def test_pixelcnnpp_cache_streams_like_the_naive_sampler_and_stops_when_closed():
    m, s = _pp("r1-d3-cond")
    y = torch.tensor([2])
    naive = [(t, x.clone()) for t, x in iter_naive(m, 1, s, y, torch.Generator().manual_seed(2), start=5)]
    cs = CachedSampler(m, s)
    cached = [(t, x.clone()) for t, x in cs.iterate(1, y, torch.Generator().manual_seed(2), start=5)]
    assert [t for t, _ in cached] == [t for t, _ in naive] == list(range(5, s * s))
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(naive, cached))
    g = torch.Generator().manual_seed(2)
    it = cs.iterate(1, y, g)
    next(it)
    state = g.get_state()  # one pixel drawn, as the naive sampler draws it: a cancelled request draws no more
    it.close()
    with pytest.raises(StopIteration):
        next(it)
    assert torch.equal(g.get_state(), state)
    seen, threads = [], torch.get_num_threads()
    try:  # a step runs on one intra-op thread; the caller's setting is back at every pixel it sees
        torch.set_num_threads(2)
        cs.sample(1, y, torch.Generator().manual_seed(2),
                  on_pixel=lambda p, x: seen.append((p, torch.get_num_threads())) or p >= 3)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    assert seen == [(0, 2), (1, 2), (2, 2), (3, 2)]


def test_pixelcnnpp_cache_refuses_bad_input_with_a_sentence():
    m, s = _pp("r1-d3-cond")
    with pytest.raises(ValueError, match="multiple of 4"):
        CachedSampler(m, 6)
    cs = CachedSampler(m, s)
    with pytest.raises(ValueError, match="start"):
        next(cs.iterate(1, None, start=s * s + 1))
    with pytest.raises(ValueError, match="Temperature"):
        next(cs.iterate(1, None, temperature=0))
    with pytest.raises(ValueError, match="levels"):
        next(cs.iterate(2, None, x=torch.zeros(1, 3, s, s, dtype=torch.long)))
    with pytest.raises(TypeError, match="needs a PixelCNNpp"):
        CachedSampler(MODELS["gated"])


def _sample_pixel_reference(params, mix, generator=None, temperature=1.0, anchor=None):
    """``pixelcnnpp.sample_pixel`` as it was first written (plain torch ops), kept as the reference of the draw."""
    p = params[:, :, None, None]
    logit_probs, means, log_scales, coeffs = (t[..., 0, 0] for t in _unpack(p, mix))
    if anchor is not None:
        means = means + anchor.to(means.dtype)
    n = params.shape[0]
    u = torch.rand(n, mix, generator=generator).to(params.device).clamp(1e-5, 1 - 1e-5)
    k = (logit_probs / temperature - torch.log(-torch.log(u))).argmax(1)
    pick = lambda t: t.gather(2, k.view(n, 1, 1).expand(n, 3, 1))[:, :, 0]  # noqa: E731
    m, ls, cf = pick(means), pick(log_scales), pick(coeffs)
    v = torch.rand(n, 3, generator=generator).to(params.device).clamp(1e-5, 1 - 1e-5)
    noise = torch.exp(ls) * temperature * (torch.log(v) - torch.log(1 - v))
    x0 = (m[:, 0] + noise[:, 0]).clamp(-1, 1)
    x1 = (m[:, 1] + cf[:, 0] * x0 + noise[:, 1]).clamp(-1, 1)
    x2 = (m[:, 2] + cf[:, 1] * x0 + cf[:, 2] * x1 + noise[:, 2]).clamp(-1, 1)
    return torch.round((torch.stack([x0, x1, x2], 1) + 1) * 127.5).long().clamp(0, 255)


def test_the_mixture_draw_is_the_plain_torch_formulation_bit_for_bit():
    """sample_pixel selects the component and runs the channel recursion in NumPy (exact float32 arithmetic) and the
    logs / tanh / exp in torch: the same levels and the same generator calls as the plain torch version — for one
    pixel and batches (up to 5: beyond that a few torch ops take their vectorised path in one version and not in the
    other on some CPUs), free and anchored means, sharp and broad scales, temperatures, strided parameters."""
    g = torch.Generator().manual_seed(0)
    for trial in range(600):
        n, mix = (1, 2, 3, 5)[trial % 4], (1, 2, 5, 6, 10)[trial % 5]
        params = torch.randn(n, 10 * mix, generator=g) * (0.3, 1.0, 3.0)[trial % 3]
        params[:, mix:].view(n, 3, 3, mix)[:, :, 1] -= (0.0, 3.0, 6.0)[trial % 3]  # scales down to the -7 clamp
        if trial % 7 == 0:  # the naive sampler passes a strided slice of the full output
            params = torch.randn(n, 10 * mix, 3, 3, generator=g)[:, :, 1, 2]
        anchor = None if trial % 2 else \
            neighbour_anchors(torch.randint(0, 256, (n, 3, 2, 2), generator=g), mix)[..., 1, 1]
        temperature = (1.0, 0.7, 1.3)[trial % 3]
        g1, g2 = torch.Generator().manual_seed(trial), torch.Generator().manual_seed(trial)
        a = _sample_pixel_reference(params, mix, g1, temperature, anchor)
        b = sample_pixel(params, mix, g2, temperature, anchor)
        assert b.dtype == torch.long and b.shape == (n, 3)
        assert torch.equal(a, b), trial
        assert torch.equal(g1.get_state(), g2.get_state())


def test_pixelcnnpp_batches_of_the_cache_draw_each_image_as_alone():
    """A batch draws what the same rows of the naive sampler's batch draw, with any mix of classes."""
    m, s = _pp("r1-d3-anchored-16")
    y = torch.tensor([0, 5, 2])
    a = sample_naive(m, 3, s, y, torch.Generator().manual_seed(1), temperature=0.9)
    assert torch.equal(CachedSampler(m, s).sample(3, y, torch.Generator().manual_seed(1), temperature=0.9), a)


# ------------------------------------------------------------------------ classifier-free guidance (issue 32)
def _pp_null(anchored=True):
    torch.manual_seed(1)
    m = PixelCNNpp(filters=8, resnets=1, mix=6 if anchored else 2, levels_down=2, n_classes=3, anchored=anchored,
                   null_class=True).eval()
    with torch.no_grad():
        m.out.weight.normal_(0, 0.05)
        m.out.bias.normal_(0, 0.5)
        for b in m.modules():  # a "no class" row unlike the classes', so guidance moves the draws
            if getattr(b, "embed", None) is not None:
                b.embed.weight.normal_(0, 1.0)
    return m


def test_the_guided_draw_scores_what_the_mixture_scores_and_follows_it_at_weight_zero():
    """Each model's per-channel conditionals multiply to the mixture's joint probability of the drawn pixel
    (mixture_log_prob on a 1x1 image), and at w = 0 the draws follow the mixture (mean and spread of 20,000 draws
    against the plain mixture draw's)."""
    from genmodels.families.autoregressive.pixelcnnpp import guided_pixel, mixture_log_prob

    g = torch.Generator().manual_seed(0)
    mix, n = 6, 64
    p, pn = torch.randn(n, 10 * mix, generator=g) * 1.5, torch.randn(n, 10 * mix, generator=g)
    anchor = torch.rand(n, 3, mix, generator=g) * 2 - 1
    for w in (0.0, 2.0):
        lv, lp = guided_pixel(p, pn, mix, w, torch.Generator().manual_seed(1), anchor=anchor, return_log_prob=True)
        for k, q in enumerate((p, pn)):
            ref = mixture_log_prob(q[:, :, None, None], lv[:, :, None, None], mix, anchor[..., None, None])[:, 0, 0]
            assert (lp[k] - ref).abs().max() < 1e-3
    one, a1 = p[:1].repeat(20000, 1), anchor[:1].repeat(20000, 1, 1)
    a = guided_pixel(one, one, mix, 0.0, torch.Generator().manual_seed(2), anchor=a1).float()
    b = sample_pixel(one.contiguous(), mix, torch.Generator().manual_seed(3), anchor=a1.numpy()).float()
    assert (a.mean(0) - b.mean(0)).abs().max() < 4.0 and (a.std(0) - b.std(0)).abs().max() < 4.0


def test_guidance_moves_the_draw_towards_the_class():
    """With w > 0 the drawn pixels are likelier under the class model relative to the null model than at w = 0."""
    from genmodels.families.autoregressive.pixelcnnpp import guided_pixel

    g = torch.Generator().manual_seed(5)
    mix, n = 6, 4000
    p, pn = torch.randn(n, 10 * mix, generator=g), torch.randn(n, 10 * mix, generator=g)
    ratio = []
    for w in (0.0, 3.0):
        _, lp = guided_pixel(p, pn, mix, w, torch.Generator().manual_seed(6), return_log_prob=True)
        ratio.append(float((lp[0] - lp[1]).mean()))
    assert ratio[1] > ratio[0] + 0.5


@pytest.mark.parametrize("anchored", [True, False])
def test_guided_cache_draws_what_the_guided_naive_sampler_draws(anchored):
    m, s = _pp_null(anchored), 8
    y = torch.tensor([0, 2])
    for seed, w, temperature in ((3, 1.5, 1.0), (4, 4.0, 0.8)):
        a = sample_naive(m, 2, s, y, torch.Generator().manual_seed(seed), temperature=temperature, guidance=w)
        b = CachedSampler(m, s).sample(2, y, torch.Generator().manual_seed(seed), temperature=temperature,
                                       guidance=w)
        assert b.shape == (2, 3, s, s) and torch.equal(a, b), (seed, w)
    plain = sample_naive(m, 2, s, y, torch.Generator().manual_seed(3))
    assert not torch.equal(plain, sample_naive(m, 2, s, y, torch.Generator().manual_seed(3), guidance=1.5))
    x, half = a, s * s // 2  # a guided completion keeps the given pixels
    c = CachedSampler(m, s).sample(2, y, torch.Generator().manual_seed(9), x=x, start=half, guidance=2.0)
    assert torch.equal(c, sample_naive(m, 2, s, y, torch.Generator().manual_seed(9), x=x, start=half, guidance=2.0))
    assert torch.equal(c.flatten(2)[:, :, :half], x.flatten(2)[:, :, :half])


def test_guidance_is_refused_with_a_sentence_where_it_cannot_apply():
    m, s = _pp("r1-d3-cond")  # no null class
    with pytest.raises(ValueError, match="null class"):
        next(CachedSampler(m, s).iterate(1, torch.tensor([0]), guidance=2.0))
    with pytest.raises(ValueError, match="between 0 and"):
        next(iter_naive(_pp_null(), 1, 8, torch.tensor([0]), guidance=-1.0))
    with pytest.raises(ValueError, match="between 0 and"):
        next(CachedSampler(_pp_null(), 8).iterate(1, torch.tensor([0]), guidance=float("nan")))
    with pytest.raises(ValueError, match="class to guide"):
        next(CachedSampler(_pp_null(), 8).iterate(1, None, guidance=1.0))
