"""Autoregressive family: causality of the masked / gated convolutions, shapes, likelihood, seeded sampling."""
import math

import pytest
import torch

from genmodels.families.autoregressive.pixelcnn import GatedPixelCNN, PixelCNN, nll_bits_per_dim, sample

SIZE = 6


def _models():
    torch.manual_seed(0)
    return [PixelCNN(hidden=6, blocks=2, out_hidden=12, n_classes=3),
            GatedPixelCNN(hidden=6, layers=3, kernel=3, out_hidden=12, n_classes=3),
            GatedPixelCNN(channels=1, levels=5, hidden=4, layers=3, kernel=3, out_hidden=8),
            PixelCNN(channels=1, levels=5, hidden=4, blocks=2, out_hidden=8)]


@pytest.mark.parametrize("model", _models(), ids=["pixelcnn", "gated", "gated-codes", "pixelcnn-codes"])
def test_each_output_depends_only_on_earlier_subpixels(model):
    """Change one sub-pixel (channel c at raster position q): no logit of an earlier position, and no logit of
    channels <= c at q itself, may move; some later logit must (the model is not trivially blind)."""
    model.eval()
    g = torch.Generator().manual_seed(1)
    c, k = model.channels, model.levels
    x = torch.randint(0, k, (2, c, SIZE, SIZE), generator=g)
    y = torch.tensor([0, 2]) if model.n_classes else None
    base = model(x, y)
    assert base.shape == (2, k, c, SIZE, SIZE)
    moved_later = False
    for q in (0, 7, SIZE * SIZE // 2 + 1, SIZE * SIZE - 1):
        qi, qj = divmod(q, SIZE)
        for ch in range(c):
            x2 = x.clone()
            x2[:, ch, qi, qj] = (x2[:, ch, qi, qj] + 1 + torch.randint(0, k - 1, (1,), generator=g)) % k
            diff = (model(x2, y) - base).abs().amax(dim=(0, 1))  # (C, H, W)
            flat = diff.permute(1, 2, 0).reshape(SIZE * SIZE, c)
            assert q == 0 or flat[:q].max() < 1e-6, f"position before {q} changed"
            assert flat[q, :ch + 1].max() < 1e-6, f"channel <= {ch} at {q} changed"
            moved_later |= bool(flat[q + 1:].max() > 1e-6) if q + 1 < SIZE * SIZE else False
    assert moved_later


def test_bits_per_dim_of_a_uniform_model_is_log2_levels():
    logits = torch.zeros(2, 256, 3, 4, 4)
    x = torch.randint(0, 256, (2, 3, 4, 4))
    assert torch.allclose(nll_bits_per_dim(logits, x), torch.full((2,), math.log2(256)))


def test_sampling_is_seeded_and_completion_keeps_the_given_pixels():
    model = _models()[1].eval()
    y = torch.tensor([1, 2])
    a = sample(model, 2, SIZE, y, torch.Generator().manual_seed(5))
    b = sample(model, 2, SIZE, y, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and a.shape == (2, 3, SIZE, SIZE) and a.max() < 256
    half = SIZE * SIZE // 2
    done = sample(model, 2, SIZE, y, torch.Generator().manual_seed(6), x=a, start=half)
    assert torch.equal(done.flatten(2)[:, :, :half], a.flatten(2)[:, :, :half])
    seen = []
    sample(model, 1, SIZE, y[:1], torch.Generator().manual_seed(5), on_pixel=lambda p, x: seen.append(p) or p >= 3)
    assert seen == [0, 1, 2, 3]


# ---- PixelCNN++ ------------------------------------------------------------------------------------------------
from genmodels.families.autoregressive.cached import CachedSampler  # noqa: E402
from genmodels.families.autoregressive.pixelcnnpp import (PixelCNNpp, bits_per_dim, mixture_log_prob,  # noqa: E402
                                                          sample_naive)


def _pp(n_classes=3, anchored=False):
    torch.manual_seed(0)
    m = PixelCNNpp(filters=8, resnets=1, mix=6 if anchored else 2, n_classes=n_classes, anchored=anchored).eval()
    if anchored:  # the zero-initialised head would hide any mistake in the offsets: give it random weights
        with torch.no_grad():
            m.out.weight.normal_(0, 0.05)
            m.out.bias.normal_(0, 0.5)
    return m


def test_pixelcnnpp_is_causal_by_perturbation():
    """Independent of the cached sampler's dependency analysis: changing pixel q moves no output at positions <= q."""
    m, s = _pp(), 8
    g = torch.Generator().manual_seed(2)
    x = torch.randint(0, 256, (1, 3, s, s), generator=g)
    y = torch.tensor([1])
    base = m(x, y)
    for q in (0, 9, 30, 63):
        x2 = x.clone()
        x2[:, :, q // s, q % s] = 255 - x2[:, :, q // s, q % s]
        diff = (m(x2, y) - base).abs().amax(dim=(0, 1)).flatten()
        assert diff[:q + 1].max() < 1e-6
        assert q == 63 or diff[q + 1:].max() > 1e-6


@pytest.mark.parametrize("anchored", [False, True])
def test_cached_sampler_matches_the_full_pass_teacher_forced_and_draw_for_draw(anchored):
    m, s = _pp(anchored=anchored), 8
    x = torch.randint(0, 256, (2, 3, s, s), generator=torch.Generator().manual_seed(4))
    y = torch.tensor([0, 2])
    full = m(x, y)
    cs = CachedSampler(m, s)
    cs.sample(2, y, x=x, start=s * s, keep_outputs=True)
    cached = torch.stack(cs.params, -1).view(2, -1, s, s)
    assert (cached - full).abs().max() < 1e-5
    a = sample_naive(m, 2, s, y, torch.Generator().manual_seed(3))
    b = cs.sample(2, y, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    half = s * s // 2  # completion keeps the given half
    c = cs.sample(2, y, torch.Generator().manual_seed(9), x=a, start=half)
    assert torch.equal(c.flatten(2)[:, :, :half], a.flatten(2)[:, :, :half])


def test_anchored_likelihood_is_causal_and_the_sampler_uses_the_same_anchors():
    from genmodels.families.autoregressive.pixelcnnpp import neighbour_anchors, pixel_anchors

    m, s = _pp(anchored=True), 8
    x = torch.randint(0, 256, (2, 3, s, s), generator=torch.Generator().manual_seed(8))
    y = torch.tensor([0, 1])
    full = neighbour_anchors(x, m.mix)
    assert full.shape == (2, 3, 6, s, s) and (full[:, :, 5] == 0).all()
    assert torch.allclose(full[:, :, 4], full[:, :, 0] + full[:, :, 1] - full[:, :, 2])  # planar predictor
    for i in range(s):
        for j in range(s):
            assert torch.equal(pixel_anchors(x, i, j, m.mix), full[..., i, j])
    assert torch.allclose(full[..., 2, 3][:, :, 0], x[:, :, 2, 2].float() * 2 / 255 - 1)  # left neighbour
    assert torch.allclose(full[..., 2, 3][:, :, 3], x[:, :, 1, 4].float() * 2 / 255 - 1)  # upper-right
    base = m.log_prob(x, y)
    for q in (0, 7, 20, 63):
        x2 = x.clone()
        x2[:, :, q // s, q % s] = 255 - x2[:, :, q // s, q % s]
        diff = (m.log_prob(x2, y) - base).abs().amax(0).flatten()
        assert q == 0 or diff[:q].max() < 1e-6  # the pixel itself and later ones may change, earlier ones not
        assert q == s * s - 1 or diff[q + 1:].max() > 1e-6
    # anchors move the means only: each channel's 256 bins still sum to one
    px = torch.zeros(256, 3, 1, 1, dtype=torch.long)
    px[:, 0, 0, 0] = torch.arange(256)
    params = m(x, y)[:1, :, 3:4, 3:4].expand(256, -1, -1, -1)
    anchor = full[:1, ..., 3:4, 3:4].expand(256, -1, -1, -1, -1)
    from genmodels.families.autoregressive.pixelcnnpp import mixture_log_prob

    lp = mixture_log_prob(params, px, m.mix, anchor)  # G = B = 0 fixed: sum over R = p(G=0, B=0)
    assert float(lp.exp().sum()) <= 1.0 + 1e-5


def _scipy_pixel_prob(params, x, mix):
    """The paper's discretized logistic mixture for one pixel, written with scipy.stats.logistic (independent)."""
    import numpy as np
    from scipy.stats import logistic

    p = params.double().numpy()
    w = np.exp(p[:mix] - p[:mix].max())
    w /= w.sum()
    rest = p[mix:].reshape(3, 3 * mix)
    means, log_s, coef = rest[:, :mix], np.maximum(rest[:, mix:2 * mix], -7.0), np.tanh(rest[:, 2 * mix:])
    v = x.double().numpy() * 2 / 255 - 1
    total = 0.0
    for k in range(mix):
        mu = [means[0, k], means[1, k] + coef[0, k] * v[0], means[2, k] + coef[1, k] * v[0] + coef[2, k] * v[1]]
        prob = w[k]
        for c in range(3):
            s = np.exp(log_s[c, k])
            hi = 1.0 if v[c] > 0.999 else logistic.cdf(v[c] + 1 / 255, mu[c], s)
            lo = 0.0 if v[c] < -0.999 else logistic.cdf(v[c] - 1 / 255, mu[c], s)
            prob *= hi - lo
        total += prob
    return total


def test_discretized_mixture_matches_the_formula_and_normalises():
    import numpy as np

    torch.manual_seed(1)
    mix = 3
    for trial in range(6):
        params = torch.randn(10 * mix) * 0.7
        x = torch.randint(0, 256, (3,))
        if trial == 0:
            x = torch.tensor([0, 255, 128])  # both open edge bins
        ours = float(mixture_log_prob(params.view(1, -1, 1, 1), x.view(1, 3, 1, 1), mix).exp())
        assert np.isclose(ours, _scipy_pixel_prob(params, x, mix), rtol=1e-4, atol=1e-12)
    # the last channel's conditional sums to one: sum_b p(r, g, b) = p(r, g) for a one-component mixture
    params = torch.randn(10) * 0.5
    xs = torch.stack([torch.full((256,), 40), torch.full((256,), 200), torch.arange(256)], 1).view(256, 3, 1, 1)
    total = float(mixture_log_prob(params.view(1, -1, 1, 1).expand(256, -1, -1, -1), xs, 1).exp().sum())
    from scipy.stats import logistic

    p = params.double().numpy()
    rest = p[1:].reshape(3, 3)
    v0, v1 = 40 * 2 / 255 - 1, 200 * 2 / 255 - 1
    pr = logistic.cdf(v0 + 1 / 255, rest[0, 0], np.exp(max(rest[0, 1], -7))) - \
        logistic.cdf(v0 - 1 / 255, rest[0, 0], np.exp(max(rest[0, 1], -7)))
    mg = rest[1, 0] + np.tanh(rest[0, 2]) * v0
    pg = logistic.cdf(v1 + 1 / 255, mg, np.exp(max(rest[1, 1], -7))) - \
        logistic.cdf(v1 - 1 / 255, mg, np.exp(max(rest[1, 1], -7)))
    assert np.isclose(total, pr * pg, rtol=1e-4)
    assert torch.isfinite(bits_per_dim(torch.randn(1, 30, 2, 2), torch.full((1, 3, 2, 2), 7), mix)).all()


@pytest.mark.parametrize("name", ["pixelcnn", "gated-pixelcnn", "pixelcnnpp"])
def test_train_command_runs_resumes_and_writes_a_card(tmp_path, monkeypatch, name):
    import dataclasses
    import json

    from genmodels.families.autoregressive import train as at

    tiny = {"pixelcnn": dict(hidden=6, blocks=1, out_hidden=12), "gated-pixelcnn": dict(hidden=6, layers=2,
            kernel=3, out_hidden=12), "pixelcnnpp": dict(filters=4, resnets=1, mix=2, dropout=0.1, null_class=True)}[name]
    monkeypatch.setitem(at.RECIPES, name, dataclasses.replace(at.RECIPES[name], config=tiny, n_train=64, batch=4,
                                                              monitor_every=2))
    monkeypatch.setattr(at, "class_accuracy", lambda model, n, seed=0, guidance=0.0: 0.5)  # sampled above
    out, run = tmp_path / "w", tmp_path / "run"
    m = at.train_ar(name, steps=2, out=str(out), run_dir=str(run), eval_n=8)
    assert m["test bits/dim"] > 0 and m["PNG bits/dim of the same images"] > 0
    if name == "pixelcnnpp":  # trained with a null class (10 % of labels dropped; config differs from the
        # committed weights', so from scratch): the card reads the guided draw beside the plain one
        from genmodels.families.autoregressive.service import DEFAULT_GUIDANCE

        assert 0 <= m[f"requested shape recognised, guidance w = {DEFAULT_GUIDANCE:g} (N = 8)"] <= 1
        assert 0 <= m["requested shape recognised, no guidance (N = 8)"] <= 1
        assert json.loads((out / "config.json").read_text())["null_class"] is True
    else:
        assert 0 <= m["requested shape recognised (N = 8)"] <= 1
    assert m["FID_domain"] > 0 and m["s per image, naive"] > 0
    mon = [json.loads(line) for line in (run / "monitor.jsonl").read_text().splitlines()]
    assert mon[-1]["step"] == 2 and mon[-1]["test_bpd_256"] > 0
    at.train_ar(name, steps=3, out=str(out), run_dir=str(run), eval_n=8)  # resumes at step 2, not from 0
    steps = [json.loads(line)["step"] for line in (run / "monitor.jsonl").read_text().splitlines()]
    assert steps == [2]
    assert int(torch.load(run / "ckpt.pt", weights_only=True)["step"]) == 3
    assert (out / "config.json").exists() and (out / "model.safetensors").exists()


def test_a_pixelcnnpp_stage_continues_the_committed_weights_with_a_null_class_and_their_curve(tmp_path, monkeypatch):
    """``init_from_embedded``: the committed weights (trained without a null class) load into the null-class model
    (their six class rows kept, a zero seventh), their monitor history is kept and the new lines continue its step
    count; weights of another size are refused (training from scratch instead)."""
    import dataclasses
    import json

    from safetensors.torch import load_file

    from genmodels.families.autoregressive import train as at

    tiny = dict(filters=4, resnets=1, mix=6, dropout=0.0, anchored=True)
    weights = tmp_path / "weights"
    torch.manual_seed(3)
    PixelCNNpp(n_classes=6, **tiny).save_pretrained(weights / "pixelcnnpp")
    (weights / "pixelcnnpp" / "monitor.jsonl").write_text('{"step": 10, "wall_min": 1.5, "test_bpd_256": 5.0}\n')
    monkeypatch.setattr(at, "WEIGHTS", weights)
    monkeypatch.setitem(at.RECIPES, "pixelcnnpp", dataclasses.replace(
        at.RECIPES["pixelcnnpp"], config={**tiny, "null_class": True}, n_train=64, batch=4, monitor_every=2,
        init_from_embedded=True, null_p=0.5))
    monkeypatch.setattr(at, "class_accuracy", lambda model, n, seed=0, guidance=0.0: 0.5)
    out, run = tmp_path / "out", tmp_path / "run"
    m = at.train_ar("pixelcnnpp", steps=2, out=str(out), run_dir=str(run), eval_n=8)
    assert m["test bits/dim"] > 0
    steps = [json.loads(line)["step"] for line in (out / "monitor.jsonl").read_text().splitlines()]
    assert steps == [10, 12]
    old, new = load_file(str(weights / "pixelcnnpp" / "model.safetensors")), load_file(str(out / "model.safetensors"))
    k = "up_u.0.embed.weight"
    assert old[k].shape == (6, 8) and new[k].shape == (7, 8)
    card = (out / "README.md").read_text()
    assert "continued from the weights in" in card and "(step 10 of their monitor, 1.5 min)" in card
    model = at.build("pixelcnnpp", filters=8)  # another size: not loaded
    assert not at.init_from_embedded(model, weights / "pixelcnnpp")
