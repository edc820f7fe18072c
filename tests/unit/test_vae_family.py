"""VAE family: ELBO terms against independent references, the EMA quantiser's update / restarts / straight-through,
the caption tokenizer, DALL-E-style KV-cache sampling against a naive loop, causality of both priors, and a few real
training steps of each recipe (runs, writes a card, resumes)."""
import json
import math

import numpy as np
import pytest
import torch

from genmodels.data import shapes
from genmodels.families.vae.priors import (PAD, SYNONYMS, TEXT_LEN, WORDS, build_dalle, caption_of, caption_tokens,
                                           code_prior, dalle_inputs, dalle_iter, dalle_loss, dalle_sample, tokenize,
                                           vocab_size)
from genmodels.families.vae.vae import ConvVAE
from genmodels.families.vae.vqvae import VQVAE, EMAQuantizer, codebook_stats


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """A long training job shares this machine: one torch thread for this file, restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _levels(n=2, seed=0, size=32):
    """Random images as levels, with the edge bins (0 and 255) present in every channel."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, size, size), generator=g)
    x[:, :, 0, 0], x[:, :, 0, 1] = 0, 255
    return x


# ================================================================================================ ConvVAE / CVAE
def _vae(**kw):
    torch.manual_seed(0)
    return ConvVAE(latent=8, width=16, **kw).eval()


def _ref_log_prob(params: torch.Tensor, x_levels: torch.Tensor) -> torch.Tensor:
    """Independent discretized logistic (one component), float64: (N, 10, H, W) -> log p(x) per image (N,).
    Layout: channel 0 the (single) mixture logit, then for R, G, B: mean, log-scale (floored at -7), raw coefficient
    (tanh). G's mean is shifted by c0 * x_R, B's by c1 * x_R + c2 * x_G. Bins of width 2/255 on [-1, 1], edge bins
    open to +-infinity."""
    p = params.double()
    n, _, h, w = p.shape
    rest = p[:, 1:].reshape(n, 3, 3, h, w)
    mean, log_s, coef = rest[:, :, 0], rest[:, :, 1].clamp(min=-7), torch.tanh(rest[:, :, 2])
    x = x_levels.double() / 127.5 - 1
    mu = torch.stack([mean[:, 0], mean[:, 1] + coef[:, 0] * x[:, 0],
                      mean[:, 2] + coef[:, 1] * x[:, 0] + coef[:, 2] * x[:, 1]], 1)
    s = log_s.exp()
    upper = torch.where(x_levels == 255, torch.ones_like(x), torch.sigmoid((x + 1 / 255 - mu) / s))
    lower = torch.where(x_levels == 0, torch.zeros_like(x), torch.sigmoid((x - 1 / 255 - mu) / s))
    return (upper - lower).log().flatten(1).sum(1)


def test_vae_kl_nll_and_bits_per_dim_match_independent_references():
    m = _vae()
    x = _levels(3)
    nll, kl = m.elbo_terms(x, generator=torch.Generator().manual_seed(7))
    params, mu, logvar = m(x, generator=torch.Generator().manual_seed(7))
    assert params.shape == (3, 10, 32, 32) and mu.shape == logvar.shape == (3, 8)
    q = torch.distributions.Normal(mu.double(), (0.5 * logvar.double()).exp())
    p = torch.distributions.Normal(torch.zeros_like(q.loc), torch.ones_like(q.scale))
    kl_ref = torch.distributions.kl_divergence(q, p).sum(1)
    assert torch.allclose(kl.double(), kl_ref, rtol=1e-5, atol=1e-5)
    nll_ref = -_ref_log_prob(params, x)
    assert torch.allclose(nll.double(), nll_ref, rtol=1e-4)
    bpd = m.elbo_bits_per_dim(x, generator=torch.Generator().manual_seed(7))
    assert torch.allclose(bpd.double(), (nll_ref + kl_ref) / (3072 * math.log(2)), rtol=1e-4)


def test_vae_nll_with_large_colour_coefficients():
    """Push the decoder's coefficient channels hard (tanh near +-1) so a wrong R -> G -> B wiring shows."""
    m = _vae()
    with torch.no_grad():
        last = m.dec[-1]
        for ch in (3, 6, 9):  # the raw coefficients of R, G, B in the (N, 10, H, W) layout
            last.bias[ch] += 2.0 if ch != 6 else -2.0
    x = _levels(2, seed=3)
    nll, _ = m.elbo_terms(x, generator=torch.Generator().manual_seed(1))
    params, _, _ = m(x, generator=torch.Generator().manual_seed(1))
    assert torch.tanh(params[:, [3, 6, 9]]).abs().mean() > 0.7
    assert torch.allclose(nll.double(), -_ref_log_prob(params, x), rtol=1e-4)


def test_vae_elbo_is_deterministic_with_a_generator_and_not_without():
    m = _vae()
    x = _levels(2, seed=1)
    a = m.elbo_bits_per_dim(x, generator=torch.Generator().manual_seed(3))
    b = m.elbo_bits_per_dim(x, generator=torch.Generator().manual_seed(3))
    c = m.elbo_bits_per_dim(x, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == (2,) and (a > 0).all()


def test_mode_is_the_coefficient_shifted_mean_in_levels():
    params = torch.zeros(1, 10, 1, 2)
    rest = params[:, 1:].view(1, 3, 3, 1, 2)
    rest[0, :, 0, 0, 0] = torch.tensor([0.2, -0.1, 0.3])  # means
    rest[0, :, 2, 0, 0] = torch.tensor([0.5, -0.4, 0.8])  # raw coefficients
    rest[0, :, 0, 0, 1] = torch.tensor([5.0, -5.0, 0.0])  # out of range: clamped to the edge levels
    out = ConvVAE.mode(params)
    assert out.dtype == torch.long and out.shape == (1, 3, 1, 2)
    c = np.tanh([0.5, -0.4, 0.8])
    r = 0.2
    g = -0.1 + c[0] * r
    b = 0.3 + c[1] * r + c[2] * g
    assert out[0, :, 0, 0].tolist() == [round((v + 1) * 127.5) for v in (r, g, b)]
    assert out[0, :, 0, 1].tolist() == [255, 0, 128]
    rnd = ConvVAE.mode(torch.randn(4, 10, 8, 8) * 5)
    assert rnd.min() >= 0 and rnd.max() <= 255


def test_vae_sampling_is_seeded_and_reconstruct_is_images():
    m = _vae()
    a = m.sample(3, generator=torch.Generator().manual_seed(5))
    b = m.sample(3, generator=torch.Generator().manual_seed(5))
    c = m.sample(3, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == (3, 3, 32, 32) and a.min() >= 0 and a.max() <= 255
    rec = m.reconstruct(_levels(2))
    assert rec.shape == (2, 3, 32, 32) and rec.dtype == torch.long


def test_cvae_needs_labels_and_follows_the_shape_label():
    m = _vae(n_shapes=6, n_colours=6)
    x = _levels(2)
    s, c = torch.tensor([0, 3]), torch.tensor([1, 2])
    with pytest.raises(ValueError):
        m.elbo_bits_per_dim(x)
    with pytest.raises(ValueError):
        m.elbo_bits_per_dim(x, s)  # colour missing too
    with pytest.raises(ValueError):
        m.sample(2, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(m.elbo_bits_per_dim(x, s, c, generator=torch.Generator().manual_seed(0))).all()
    a = m.sample(2, s, c, torch.Generator().manual_seed(9))
    assert torch.equal(a, m.sample(2, s, c, torch.Generator().manual_seed(9)))
    z = torch.randn(2, 8, generator=torch.Generator().manual_seed(2))
    p0 = m.decode_params(z, s, c)
    p1 = m.decode_params(z, (s + 1) % 6, c)
    assert (p0 - p1).abs().max() > 1e-3
    assert not torch.equal(m.sample(2, (s + 1) % 6, c, torch.Generator().manual_seed(9)), a)


def test_cvae_gan_decoder_is_a_conditional_generator_under_the_shared_logistic():
    """ConvVAE(decoder="gan") (the CVAE-GAN): the likelihood is an independent discretized logistic around the
    generator's image with the per-channel shared scale, the mode is that image, and the shape label moves it."""
    with pytest.raises(ValueError, match="class-conditional"):
        ConvVAE(latent=8, width=16, decoder="gan")
    with pytest.raises(ValueError, match="decoder"):
        ConvVAE(latent=8, width=16, decoder="mlp")
    m = _vae(n_shapes=6, n_colours=6, decoder="gan", g_width=16)
    assert m.dec is None and m.shared_scale
    x = _levels(3)
    s, c = torch.tensor([0, 3, 5]), torch.tensor([1, 2, 0])
    with pytest.raises(ValueError):
        m.decode_params(torch.zeros(3, 8), s, None)
    nll, _ = m.elbo_terms(x, s, c, generator=torch.Generator().manual_seed(3))
    params, _, _ = m(x, s, c, torch.Generator().manual_seed(3))
    z = torch.randn(3, 8, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        mean = m.generator(z, torch.stack([s, c], 1))
        ref = m.decode_params(z, s, c)
    n = len(x)
    rest = ref[:, 1:].view(n, 3, 3, 32, 32)
    assert torch.equal(rest[:, :, 0], mean) and torch.equal(rest[:, :, 2], torch.zeros_like(mean))
    assert torch.equal(rest[:, :, 1], m.log_scale.view(1, 3, 1, 1).expand(n, 3, 32, 32))
    assert torch.allclose(nll.double(), -_ref_log_prob(params, x), rtol=1e-4)
    assert torch.equal(m.mode(ref), mean.clamp(-1, 1).add(1).mul(127.5).round().long())
    assert (m.decode_params(z, (s + 1) % 6, c) - ref).abs().max() > 1e-4
    a = m.sample(3, s, c, torch.Generator().manual_seed(9))
    assert torch.equal(a, m.sample(3, s, c, torch.Generator().manual_seed(9)))


def test_shared_scale_is_the_moment_matched_logistic_of_the_batch_error():
    """sigma-VAE calibration: a logistic with scale s has variance s^2 pi^2 / 3; the buffer moves towards the s whose
    variance is the batch's squared error per channel (computed here by hand with the coefficient-shifted means)."""
    m = _vae(n_shapes=6, n_colours=6, shared_scale=True).train()
    x = _levels(4)
    s, c = torch.tensor([0, 1, 2, 3]), torch.tensor([1, 2, 3, 4])
    before = m.log_scale.clone()
    params, _, _ = m(x, s, c, torch.Generator().manual_seed(0))
    m._calibrate(params, x, momentum=0.0)
    xf = x.float() * (2 / 255) - 1
    rest = params[:, 1:].view(4, 3, 3, 32, 32)
    mean, coef = rest[:, :, 0], torch.tanh(rest[:, :, 2])
    pred = torch.stack([mean[:, 0], mean[:, 1] + coef[:, 0] * xf[:, 0],
                        mean[:, 2] + coef[:, 1] * xf[:, 0] + coef[:, 2] * xf[:, 1]], 1)
    mse = (xf - pred).pow(2).mean((0, 2, 3))
    assert torch.allclose((2 * m.log_scale).exp() * math.pi ** 2 / 3, mse, rtol=1e-4)
    assert not torch.equal(before, m.log_scale)
    out = m._with_shared_scale(params)  # every pixel gets its channel's scale; means and coefficients untouched
    o = out[:, 1:].view(4, 3, 3, 32, 32)
    assert torch.equal(o[:, :, 1], m.log_scale.view(1, 3, 1, 1).expand(4, 3, 32, 32))
    assert torch.equal(o[:, :, 0], rest[:, :, 0]) and torch.equal(o[:, :, 2], rest[:, :, 2])
    m.eval()  # eval: the ELBO uses the stored scale and never moves it
    saved = m.log_scale.clone()
    m.elbo_bits_per_dim(x, s, c, generator=torch.Generator().manual_seed(0))
    assert torch.equal(saved, m.log_scale)


@pytest.mark.parametrize("kw", [dict(film=True), dict(broadcast=True), dict(broadcast=True, shared_scale=True)])
def test_decoder_variants_follow_the_label_and_keep_the_interface(kw):
    m = _vae(n_shapes=6, n_colours=6, **kw).eval()
    s, c = torch.tensor([0, 3]), torch.tensor([1, 2])
    z = torch.randn(2, 8, generator=torch.Generator().manual_seed(2))
    p0 = m.decode_params(z, s, c)
    assert p0.shape == (2, 10, 32, 32)
    if kw.get("film"):  # zero-initialised FiLM: the decoder starts as the one without it
        plain = _vae(n_shapes=6, n_colours=6).eval()
        plain.load_state_dict({k: v for k, v in m.state_dict().items() if not k.startswith("film")})
        assert torch.allclose(plain.decode_params(z, s, c), p0, atol=1e-6)
    assert (p0 - m.decode_params(z, (s + 1) % 6, c)).abs().max() > 1e-4
    assert m.sample(2, s, c, torch.Generator().manual_seed(9)).shape == (2, 3, 32, 32)
    assert torch.isfinite(m.elbo_bits_per_dim(_levels(2), s, c, generator=torch.Generator().manual_seed(0))).all()


def test_training_loss_is_the_elbo_plus_the_reversed_latent_critic():
    m = _vae(n_shapes=6, n_colours=6, adversary=True).train()
    x, s, c = _levels(4), torch.tensor([0, 1, 2, 3]), torch.tensor([1, 2, 3, 4])
    torch.manual_seed(0)
    loss, bpd, ce = m.training_loss(x, s, c)
    torch.manual_seed(0)
    assert torch.allclose(loss, m.elbo_bits_per_dim(x, s, c).mean()) and torch.allclose(loss, bpd)
    torch.manual_seed(0)
    _, mu, logvar = m(x, s, c)
    torch.manual_seed(0)
    loss, bpd, ce = m.training_loss(x, s, c, beta=0.5, adversary=2.0)
    assert torch.allclose(ce, torch.nn.functional.cross_entropy(m.critic(mu), s))
    # the critic learns to read the shape from mu; the encoder receives the opposite gradient
    m.zero_grad()
    ce.backward()
    assert m.critic[0].weight.grad.abs().sum() > 0 and m.enc[0][0].weight.grad.abs().sum() > 0
    from genmodels.families.vae.vae import _ReverseGrad

    a = torch.randn(3, 4, requires_grad=True)
    w = torch.randn(3, 4)
    (w * _ReverseGrad.apply(a)).sum().backward()
    assert torch.equal(a.grad, -w)


# ================================================================================================ EMA quantiser
def _z(n=2, dim=8, hw=4, seed=0):
    return torch.randn(n, dim, hw, hw, generator=torch.Generator().manual_seed(seed)) * 0.2


def _flat(z):
    return z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])


def test_quantizer_eval_mode_leaves_the_buffers_alone():
    torch.manual_seed(0)
    q = EMAQuantizer(16, 8).eval()
    before = {k: v.clone() for k, v in q.named_buffers()}
    out, idx, _ = q(_z())
    for k, v in q.named_buffers():
        assert torch.equal(v, before[k]), k
    assert torch.allclose(out, q.lookup(idx), atol=1e-6)  # flat + (q - flat): equal up to rounding


def test_quantizer_train_step_is_the_ema_formula():
    torch.manual_seed(0)
    q = EMAQuantizer(16, 8, decay=0.9, eps=1e-3).train()
    cs0, es0, e0 = q.cluster_size.clone(), q.embed_sum.clone(), q.embed.clone()
    z = _z()
    flat = _flat(z).double()
    _, idx, _ = q(z)
    assign = torch.cdist(flat, e0.double()).argmin(1)
    assert torch.equal(idx.flatten(), assign)
    counts = torch.zeros(16, dtype=torch.float64).index_add_(0, assign, torch.ones(len(assign), dtype=torch.float64))
    sums = torch.zeros(16, 8, dtype=torch.float64).index_add_(0, assign, flat)
    cs = 0.9 * cs0.double() + 0.1 * counts
    es = 0.9 * es0.double() + 0.1 * sums
    total = cs.sum()
    smoothed = (cs + 1e-3) / (total + 16 * 1e-3) * total
    assert (cs > q.restart_below).all()  # no restart in this step
    assert torch.allclose(q.cluster_size.double(), cs, atol=1e-6)
    assert torch.allclose(q.embed_sum.double(), es, atol=1e-6)
    assert torch.allclose(q.embed.double(), es / smoothed[:, None], atol=1e-6)


def test_a_code_unused_long_enough_restarts_on_a_batch_encoder_output():
    torch.manual_seed(0)
    q = EMAQuantizer(16, 8, decay=0.5, restart_below=0.03).train()
    dead = 3
    with torch.no_grad():
        q.embed[dead] = 100.0  # far from every encoder output: never assigned
        q.embed_sum[dead] = 100.0
    restarted_at = None
    for step in range(12):
        z = _z(seed=step)
        size_before = float(q.cluster_size[dead])
        _, idx, _ = q(z)
        if restarted_at is None:
            assert not (idx == dead).any()
        expected = 0.5 * size_before  # EMA of zero use
        if expected < 0.03:
            restarted_at = step
            flat = _flat(z)
            assert (flat == q.embed[dead]).all(1).any(), "restarted code is not an encoder output of the batch"
            assert torch.equal(q.embed_sum[dead], q.embed[dead]) and float(q.cluster_size[dead]) == 1.0
            break
        assert float(q.cluster_size[dead]) == pytest.approx(expected)
        assert q.embed[dead].min() > 50  # not restarted while its usage is above the threshold
    assert restarted_at == 5  # 0.5 ** 6 = 0.016 < 0.03 <= 0.5 ** 5


def test_straight_through_and_commitment_gradients():
    torch.manual_seed(0)
    q = EMAQuantizer(16, 8).eval()
    z = _z().requires_grad_(True)
    out, idx, commit = q(z)
    assert torch.allclose(out.detach(), q.lookup(idx), atol=1e-6)
    w = torch.randn_like(out)
    (out * w).sum().backward()
    assert torch.allclose(z.grad, w)
    z.grad = None
    out, _, commit = q(z)
    commit.backward()
    assert torch.allclose(z.grad, 2 * (z - q.lookup(idx)).detach() / z.numel(), atol=1e-7)


def test_nearest_agrees_with_cdist_argmin():
    torch.manual_seed(0)
    q = EMAQuantizer(16, 8)
    flat = torch.randn(300, 8) * 0.2
    assert torch.equal(q.nearest(flat), torch.cdist(flat, q.embed).argmin(1))


def test_codebook_stats_usage_and_perplexity():
    idx = torch.tensor([[0, 0, 1], [2, 2, 2]])
    st = codebook_stats(idx, 5)
    p = np.array([2, 1, 3]) / 6
    assert st["usage"] == pytest.approx(3 / 5)
    assert st["perplexity"] == pytest.approx(math.exp(-(p * np.log(p)).sum()), rel=1e-6)
    assert st["histogram"].tolist() == [2, 1, 3, 0, 0]
    uniform = codebook_stats(torch.arange(8).repeat(3), 8)
    assert uniform["usage"] == 1.0 and uniform["perplexity"] == pytest.approx(8.0, rel=1e-6)


# ================================================================================================ VQ-VAE
def test_vqvae_shapes_and_loss_backward():
    torch.manual_seed(0)
    m = VQVAE(codes=16, dim=8, width=16, downs=2, res_blocks=1)
    x = _levels(2).float() / 127.5 - 1
    assert m.grid == 8
    m.eval()
    idx = m.encode(x)
    assert idx.shape == (2, 8, 8) and idx.dtype == torch.long and 0 <= idx.min() and idx.max() < 16
    assert m.decode(idx).shape == (2, 3, 32, 32)
    rec, idx2, commit = m(x)
    assert rec.shape == (2, 3, 32, 32) and torch.equal(idx, idx2) and commit.ndim == 0
    assert torch.allclose(rec, m.decode(idx), atol=1e-5)
    m.train()
    loss, logs = m.loss(x)
    assert torch.isfinite(loss) and set(logs) == {"mse", "commit"}
    loss.backward()
    assert m.encoder[0].weight.grad.abs().sum() > 0  # through the straight-through estimator
    assert m.decoder[-1].weight.grad.abs().sum() > 0
    assert not any(b.requires_grad for b in m.quantizer.buffers())
    small = VQVAE(codes=16, dim=8, width=16, downs=3, res_blocks=1).eval()
    assert small.grid == 4 and small.encode(x).shape == (2, 4, 4)


# ================================================================================================ tokenizer
def _words(ids):
    return " ".join(WORDS[i - 1] for i in ids)


def test_tokenizer_round_trips_known_captions():
    for cap in ("a large blue striped heart on a dark background", "a red star", "a small cyan solid cross"):
        ids, unknown, truncated = tokenize(cap)
        assert _words(ids) == cap and unknown == [] and not truncated
        assert all(1 <= i < vocab_size() for i in ids)
    assert tokenize("A  RED, star!")[0] == tokenize("a red star")[0]


def test_tokenizer_reports_and_ignores_unknown_words_and_maps_synonyms():
    ids, unknown, _ = tokenize("a fluffy red star, please")
    assert ids == tokenize("a red star")[0] and unknown == ["fluffy", "please"]
    assert tokenize("An stripy green hearts on a light backdrop")[0] == \
        tokenize("a striped green heart on a light background")[0]
    assert tokenize("a plain square")[0] == tokenize("a solid square")[0]
    assert tokenize("a big gray circle") == (tokenize("a large circle")[0], ["gray"], False)
    assert all(v in WORDS for v in SYNONYMS.values())  # a synonym of an unknown word would be reported oddly


@pytest.mark.parametrize("caption", ["", "   ", None, "hello world", "a on background", "!!!"])
def test_tokenizer_rejects_empty_and_unknown_only_captions(caption):
    with pytest.raises(ValueError):
        tokenize(caption)


def test_tokenizer_truncates_long_captions():
    ids, _, truncated = tokenize("a large blue striped heart on a dark background and a small red star")
    assert truncated and len(ids) == TEXT_LEN
    assert _words(ids) == "a large blue striped heart on a dark background a"
    ids, _, truncated = tokenize("a red star " + "x" * 300)
    assert truncated and _words(ids) == "a red star"
    assert not tokenize("a large blue striped heart on a dark background")[2]


def test_caption_of_matches_the_scene_captions():
    from genmodels.data.dataset import shapes_arrays

    labels = shapes_arrays("test", 12)["labels"]
    for i in range(12):
        assert caption_of(labels[i]) == shapes.scene_params("test", i).caption()
    toks = caption_tokens(torch.from_numpy(labels[:, :5].astype(np.int64)))
    assert toks.shape == (12, TEXT_LEN)
    for i in range(12):
        ids = [t for t in toks[i].tolist() if t != PAD]
        assert _words(ids) == shapes.scene_params("test", i).caption()
    short = caption_of(labels[0], {"size": False, "fill": False, "background": False})
    p = shapes.scene_params("test", 0)
    assert short == f"a {shapes.COLOUR_NAMES[p.colour]} {shapes.SHAPES[p.shape]}"


# ================================================================================================ DALL-E-style
K, GRID = 16, 4


@pytest.fixture(scope="module")
def dalle():
    torch.manual_seed(0)
    m = build_dalle(K, GRID, n_embd=32, n_layer=1, n_head=2).eval()
    with torch.no_grad():  # GPT-2's init is small: sharpen the logits so sampling differences show
        m.lm_head.weight.mul_(3)  # (tied to the input embedding; much more and one code repeats)
    return m


def _text():
    return caption_tokens(torch.tensor([[0, 1, 0, 2, 1], [3, 2, 1, 0, 0], [5, 5, 1, 1, 2]]),
                          drop=0.5, generator=torch.Generator().manual_seed(1))


def _naive(model, text, seed=None, temperature=1.0, top_k=0, greedy=False):
    """Re-run the whole [text ; BOS ; codes so far] sequence for every token (no cache)."""
    g = torch.Generator().manual_seed(seed) if seed is not None else None
    off = vocab_size() + 1
    n = len(text)
    codes = torch.zeros(n, 0, dtype=torch.long)
    for _ in range(GRID * GRID):
        ids = torch.cat([text, torch.full((n, 1), vocab_size()), codes + off], 1)
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=(ids != PAD).long()).logits[:, -1, off:off + K]
        if greedy:
            nxt = logits.argmax(1)
        else:
            logits = logits / temperature
            if top_k:
                kth = logits.topk(top_k, 1).values[:, -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            u = torch.rand(n, K, generator=g)
            nxt = (logits - torch.log(-torch.log(u.clamp(1e-20, 1.0)))).argmax(1)
        codes = torch.cat([codes, nxt[:, None]], 1)
    return codes


@pytest.mark.parametrize("temperature,top_k", [(1.0, 0), (0.7, 5)])
def test_kv_cache_sampling_equals_a_naive_loop(dalle, temperature, top_k):
    text = _text()
    assert (text == PAD).any()  # dropped attributes: padded captions are exercised
    ref = _naive(dalle, text, 11, temperature, top_k)
    got = dalle_sample(dalle, text, torch.Generator().manual_seed(11), temperature, top_k)
    assert got.shape == (3, GRID, GRID)
    assert torch.equal(got.flatten(1), ref)
    steps = [(t, c.clone()) for t, c in dalle_iter(dalle, text, torch.Generator().manual_seed(11), temperature,
                                                       top_k)]
    assert [t for t, _ in steps] == list(range(1, GRID * GRID + 1))
    assert torch.equal(steps[4][1][:, :5], ref[:, :5])
    assert len(set(ref.flatten().tolist())) > 2  # not a degenerate sampler


def test_top_k_one_is_greedy(dalle):
    text = _text()
    greedy = _naive(dalle, text, greedy=True)
    assert torch.equal(dalle_sample(dalle, text, torch.Generator().manual_seed(0), 1.0, 1).flatten(1), greedy)
    assert torch.equal(dalle_sample(dalle, text, torch.Generator().manual_seed(5), 3.0, 1).flatten(1), greedy)


@pytest.mark.parametrize("temperature,top_k", [(0.0, 0), (-1.0, 0), (float("nan"), 0), (1.0, -1), (1.0, K + 1)])
def test_dalle_rejects_bad_sampling_settings(dalle, temperature, top_k):
    with pytest.raises(ValueError):
        dalle_sample(dalle, _text(), torch.Generator().manual_seed(0), temperature, top_k)


def test_dalle_loss_scores_exactly_the_image_codes(dalle):
    text = _text()
    codes = torch.randint(0, K, (3, GRID, GRID), generator=torch.Generator().manual_seed(2))
    loss = dalle_loss(dalle, text, codes)
    assert loss.ndim == 0
    off = vocab_size() + 1
    ids = dalle_inputs(text, codes, dalle)
    assert ids.shape == (3, TEXT_LEN + 1 + GRID * GRID)
    with torch.no_grad():
        logits = dalle(input_ids=ids, attention_mask=(ids != PAD).long()).logits
    terms = []
    for j in range(GRID * GRID):  # code j is predicted at the position before it: BOS (j = 0) or code j - 1
        lp = logits[:, TEXT_LEN + j, off:off + K].log_softmax(1)
        terms.append(-lp.gather(1, codes.flatten(1)[:, j:j + 1])[:, 0])
    assert loss.item() == pytest.approx(torch.stack(terms).mean().item(), rel=1e-5)
    last = codes.clone()
    last[:, -1, -1] = (last[:, -1, -1] + 1) % K
    assert abs(dalle_loss(dalle, text, last).item() - loss.item()) > 1e-6


def test_dalle_logits_are_causal(dalle):
    text = _text()
    codes = torch.randint(0, K, (3, GRID, GRID), generator=torch.Generator().manual_seed(3))
    ids = dalle_inputs(text, codes, dalle)
    mask = (ids != PAD).long()
    with torch.no_grad():
        base = dalle(input_ids=ids, attention_mask=mask).logits
        for p in (0, 5, GRID * GRID - 1):
            c2 = codes.clone().flatten(1)
            c2[:, p] = (c2[:, p] + 3) % K
            out = dalle(input_ids=dalle_inputs(text, c2.view_as(codes), dalle), attention_mask=mask).logits
            pos = TEXT_LEN + 1 + p  # where code p sits; logits there and after may move, before must not
            assert torch.allclose(out[:, :pos], base[:, :pos], atol=1e-5)
            assert (out[:, pos] - base[:, pos]).abs().max() > 1e-4


# ================================================================================================ code prior
def test_code_prior_is_causal():
    torch.manual_seed(0)
    m = code_prior(codes=16, hidden=12, layers=2, kernel=3, out_hidden=12).eval()
    with torch.no_grad():
        g = torch.Generator().manual_seed(0)
        x = torch.randint(0, 16, (2, 1, 8, 8), generator=g)
        y = torch.tensor([1, 4])
        base = m(x, y)
        assert base.shape == (2, 16, 1, 8, 8)
        moved_later = False
        for p in (0, 9, 30, 63):
            x2 = x.clone()
            x2.view(2, -1)[:, p] = (x2.view(2, -1)[:, p] + 5) % 16
            diff = (m(x2, y) - base).abs().amax(dim=(0, 1, 2)).flatten()  # (64,) per position
            assert diff[:p + 1].max() < 1e-6, f"a logit at or before {p} saw code {p}"
            moved_later |= p < 63 and bool(diff[p + 1:].max() > 1e-6)
        assert moved_later
        assert (m(x, torch.tensor([2, 4])) - base).abs().max() > 1e-6  # the class is used


# ================================================================================================ training
TINY = {"vqvae": dict(codes=16, dim=8, width=16, downs=2, res_blocks=1),
        "vq-prior": dict(hidden=12, layers=2, kernel=3, out_hidden=12),
        "vq-dalle": dict(n_embd=32, n_layer=1, n_head=2),
        "cvae": dict(latent=8, width=16, g_width=16)}


@pytest.mark.slow
def test_train_each_recipe_writes_a_card_and_resumes(tmp_path):
    from genmodels.data.dataset import shapes_arrays
    from genmodels.families.vae.train import train_vae_family

    shapes_arrays("test", 256, workers=1)  # the trainer's monitor split, rendered without a process pool
    vq_dir = tmp_path / "vqvae"
    for name in ("vqvae", "vq-prior", "vq-dalle", "cvae"):
        out = vq_dir if name == "vqvae" else tmp_path / name
        run = tmp_path / f"run-{name}"
        kw = dict(out=str(out), run_dir=str(run), eval_n=24, vqvae=str(vq_dir), n_train=64, batch=8,
                  monitor_every=2, config=TINY[name])
        if name == "cvae":  # the CVAE-GAN's own loop; a tiny decoder cannot start from the embedded CGAN
            kw = {k: v for k, v in kw.items() if k != "vqvae"} | {"init_from": None}
        metrics = train_vae_family(name, steps=2, **kw)
        for f in ("config.json", "model.safetensors", "README.md", "metrics.json", "monitor.jsonl"):
            assert (out / f).exists(), (name, f)
        assert json.loads((out / "metrics.json").read_text()).keys() == metrics.keys()
        assert f"python -m genmodels train {name}" in (out / "README.md").read_text()
        mon = [json.loads(line) for line in (out / "monitor.jsonl").read_text().splitlines()]
        assert [r["step"] for r in mon] == [2]
        train_vae_family(name, steps=4, **kw)  # resumes at step 2
        mon = [json.loads(line) for line in (out / "monitor.jsonl").read_text().splitlines()]
        assert [r["step"] for r in mon] == [2, 4], name
        assert int(torch.load(run / "ckpt.pt", weights_only=True)["step"]) == 4
        if name == "vqvae":
            assert 0 < metrics["codebook_usage"] <= 1 and metrics["psnr"] > 0
            assert json.loads((out / "config.json").read_text())["codes"] == 16
            assert 0 <= metrics["recon_shape_acc"] <= 1  # the ceiling of the priors, read on the card
        if name == "cvae":
            assert metrics["test ELBO bits/dim (upper bound on NLL)"] > 0
            assert 0 <= metrics["label swap: a reconstruction's new shape recognised (N = 24)"] <= 1
            assert "CVAE_GAN" in (out / "README.md").read_text()
            assert {"recon_psnr_256", "label_swap_shape_256", "shape_by_outline_300"} <= mon[-1].keys()
        if name == "vq-dalle":  # a further stage on top of those weights continues their monitor
            before = (out / "model.safetensors").read_bytes()
            train_vae_family(name, steps=2, init=str(out), **{**kw, "run_dir": str(tmp_path / "run-stage")})
            mon = [json.loads(line) for line in (out / "monitor.jsonl").read_text().splitlines()]
            assert [r["step"] for r in mon] == [2, 4, 6] and mon[-1]["wall_min"] >= mon[1]["wall_min"]
            assert (out / "model.safetensors").read_bytes() != before
            assert "continued from the weights in" in (out / "README.md").read_text()


@pytest.mark.slow
def test_the_cvae_gan_with_a_layered_decoder_trains_the_mask_discriminator(tmp_path):
    """mask_d > 0 (``train cvae-layered``): the GAN family's mask discriminator beside the CVAE-GAN's, checkpointed;
    refused for a one-pass decoder, which has no mask."""
    from genmodels.data.dataset import shapes_arrays
    from genmodels.families.vae.train import train_vae_family

    shapes_arrays("test", 256, workers=1)
    kw = dict(out=str(tmp_path / "w"), run_dir=str(tmp_path / "run"), eval_n=24, n_train=64, batch=8,
              monitor_every=2, init_from=None, mask_d=1.0,
              config=dict(TINY["cvae"], decoder="layered-albedo-gan"))
    train_vae_family("cvae", steps=2, **kw)
    st = torch.load(tmp_path / "run" / "ckpt.pt", weights_only=True)
    assert int(st["step"]) == 2 and "D_mask" in st and "opt_dm" in st
    with pytest.raises(ValueError, match="mask_d needs a layered decoder"):
        train_vae_family("cvae", steps=1, **{**kw, "run_dir": str(tmp_path / "r2"), "config": TINY["cvae"]})


# ------------------------------------------------------------------------------------------------ guidance
def _naive_guided(model, text, seed, scale):
    """Classifier-free guidance by hand: the conditional and the NULL_CAPTION sequences re-run in full every token."""
    from genmodels.families.vae.priors import NULL_CAPTION

    g = torch.Generator().manual_seed(seed)
    off = vocab_size() + 1
    n = len(text)
    null = torch.tensor([NULL_CAPTION] * n)
    codes = torch.zeros(n, 0, dtype=torch.long)
    for _ in range(GRID * GRID):
        outs = []
        for t in (text, null):
            ids = torch.cat([t, torch.full((n, 1), vocab_size()), codes + off], 1)
            with torch.no_grad():
                outs.append(model(input_ids=ids, attention_mask=(ids != PAD).long()).logits[:, -1, off:off + K])
        logits = outs[1] + scale * (outs[0] - outs[1])
        u = torch.rand(n, K, generator=g)
        codes = torch.cat([codes, (logits - torch.log(-torch.log(u.clamp(1e-20, 1.0)))).argmax(1)[:, None]], 1)
    return codes


@pytest.mark.parametrize("scale", [0.0, 2.5])
def test_dalle_guidance_equals_the_formula_by_hand(dalle, scale):
    text = _text()
    got = dalle_sample(dalle, text, torch.Generator().manual_seed(5), guidance=scale)
    assert torch.equal(got.flatten(1), _naive_guided(dalle, text, 5, scale))


def test_dalle_guidance_one_is_plain_sampling(dalle):
    text = _text()
    a = dalle_sample(dalle, text, torch.Generator().manual_seed(2), guidance=1.0)
    assert torch.equal(a.flatten(1), _naive(dalle, text, 2))


def test_code_prior_guidance():
    from genmodels.families.autoregressive.pixelcnn import iter_sample
    from genmodels.families.vae.priors import NULL_CLASS, code_prior, iter_prior

    torch.manual_seed(0)
    prior = code_prior(16, hidden=12, layers=2, kernel=3, out_hidden=12).eval()
    y = torch.tensor([0, 3, 5])
    last = lambda it: [c.clone() for _, c in it][-1]  # noqa: E731
    plain = last(iter_sample(prior, 3, 4, y, torch.Generator().manual_seed(1)))
    assert torch.equal(last(iter_prior(prior, 3, 4, y, torch.Generator().manual_seed(1))), plain)
    # scale 0: the null class alone, whatever class was asked
    uncond = last(iter_sample(prior, 3, 4, torch.full((3,), NULL_CLASS), torch.Generator().manual_seed(1)))
    assert torch.equal(last(iter_prior(prior, 3, 4, y, torch.Generator().manual_seed(1), guidance=0.0)), uncond)
    # a scale != 1 changes the draw; a prior without the null class refuses guidance
    guided = last(iter_prior(prior, 3, 4, y, torch.Generator().manual_seed(1), guidance=4.0))
    assert guided.shape == plain.shape and not torch.equal(guided, plain)
    with pytest.raises(ValueError, match="null class"):
        next(iter_prior(code_prior(16, n_classes=6, hidden=12, layers=2, kernel=3, out_hidden=12), 1, 4,
                        torch.tensor([0]), guidance=2.0))


def test_null_caption_dropout():
    from genmodels.families.vae.priors import NULL_CAPTION

    lab = torch.tensor([[0, 1, 0, 2, 1]] * 200)
    t = caption_tokens(lab, generator=torch.Generator().manual_seed(0), null=0.25)
    share = (t == torch.tensor(NULL_CAPTION)).all(1).float().mean()
    assert 0.15 < share < 0.35
