"""Classifier rejection sampling (reject.py, VQ-VAE-2 §3.3): the score is the judge's log-probability of the asked
label (reference: torch's cross-entropy), the pick its arg-max, the shipped judge reads real items' shapes, it is
not the scoring classifier, refusals; the service and the tab keep one of each label's own candidates."""
import gradio as gr
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from genmodels.data import shapes
from genmodels.data.dataset import shapes_arrays
from genmodels.families.gan.projected import GuideNet
from genmodels.families.vae import reject, service, tab
from genmodels.families.vae.priors import code_prior
from genmodels.families.vae.vae import ConvVAE
from genmodels.families.vae.vqvae import VQVAE


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return GuideNet(widths=(8, 8, 8, 8)).eval()


@pytest.mark.parametrize("k", [1, 4, "8", 32.0])
def test_check_best_of_accepts_whole_numbers_in_range(k):
    assert reject.check_best_of(k) == int(float(k))


@pytest.mark.parametrize("k", [0, 33, 2.5, "x", None, float("nan"), -1])
def test_check_best_of_refuses_with_a_sentence(k):
    with pytest.raises(ValueError, match="best of k\\) must be a whole number"):
        reject.check_best_of(k)


def test_scores_are_minus_the_cross_entropy_of_the_asked_labels(net):
    arr = shapes_arrays("test", 12)
    images, s, c = arr["images"], arr["labels"][:, 0], arr["labels"][:, 1]
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1
    with torch.no_grad():
        out = net(x)
    ref_s = -F.cross_entropy(out["shape"], torch.from_numpy(s).long(), reduction="none").numpy()
    ref_c = -F.cross_entropy(out["colour"], torch.from_numpy(c).long(), reduction="none").numpy()
    np.testing.assert_allclose(reject.label_log_probs(images, s, None, net, batch=5), ref_s, atol=1e-5)
    np.testing.assert_allclose(reject.label_log_probs(images, s, c, net), ref_s + ref_c, atol=1e-5)


def test_best_of_keeps_each_labels_highest_scoring_candidate(net):
    images = shapes_arrays("test", 12)["images"]
    shape, colour = np.array([0, 3, 5]), np.array([1, 1, 2])
    kept, pick, scores = reject.best_of(images, shape, colour, 4, net)
    assert kept.shape == (3, 32, 32, 3) and scores.shape == (3, 4)
    ref = reject.label_log_probs(images, np.repeat(shape, 4), np.repeat(colour, 4), net).reshape(3, 4)
    np.testing.assert_allclose(scores, ref, atol=1e-6)
    for i in range(3):
        assert pick[i] == int(np.argmax(ref[i])) and np.array_equal(kept[i], images[4 * i + pick[i]])
    with pytest.raises(ValueError, match="candidates"):
        reject.best_of(images[:5], shape, colour, 2, net)


def test_threshold_accepts_the_first_candidate_likely_enough_else_the_likeliest(net, monkeypatch):
    """Rejection proper: candidates in order, the first with p ≥ threshold; where none reaches it, the most probable."""
    p = np.array([[0.2, 0.96, 0.99, 0.5], [0.3, 0.1, 0.6, 0.4], [0.97, 0.2, 0.99, 0.1]])
    monkeypatch.setattr(reject, "label_log_probs", lambda images, s, c, net: np.log(p).ravel())
    images = np.arange(12)[:, None, None, None] * np.ones((1, 2, 2, 3), np.uint8)
    kept, pick, _ = reject.best_of(images, np.zeros(3, int), None, 4, net, threshold=0.95)
    assert pick.tolist() == [1, 2, 0] and [int(k[0, 0, 0]) for k in kept] == [1, 6, 8]
    assert reject.best_of(images, np.zeros(3, int), None, 4, net)[1].tolist() == [2, 2, 2]  # no threshold: argmax


def test_the_shipped_judge_reads_real_shapes_and_is_not_the_scoring_classifier():
    """On 300 real test items the asked (true) shape outscores every other shape for ≥ 95 % of them."""
    assert reject.REJECT_NET.name == "gan-guide-robust"
    arr = shapes_arrays("test", 300)
    true = arr["labels"][:, 0]
    scores = np.stack([reject.label_log_probs(arr["images"], np.full(300, s)) for s in range(6)], 1)
    assert (scores.argmax(1) == true).mean() >= 0.95
    weights = (reject.REJECT_NET / "model.safetensors").read_bytes()
    assert weights != (reject.WEIGHTS / "shapes-classifier" / "model.safetensors").read_bytes()


@pytest.fixture
def tiny(tmp_path):
    torch.manual_seed(0)
    ConvVAE(latent=8, width=16).save_pretrained(tmp_path / "vae")
    ConvVAE(latent=8, width=16, n_shapes=6, n_colours=6).save_pretrained(tmp_path / "cvae")
    VQVAE(codes=16, dim=8, width=16, downs=2, res_blocks=1).save_pretrained(tmp_path / "vqvae")
    code_prior(16, hidden=12, layers=2, kernel=3, out_hidden=12).save_pretrained(tmp_path / "vq-prior")
    old = service.WEIGHTS
    service.WEIGHTS = tmp_path
    service.load.cache_clear()
    yield
    service.WEIGHTS = old
    service.load.cache_clear()


@pytest.mark.parametrize("model", ["CVAE", "VQ-VAE + PixelCNN prior"])
def test_service_keeps_the_best_of_its_own_candidates(tiny, model):
    """With one shape and colour asked, the k·n candidates are exactly the plain draw of k·n samples (same seed)."""
    k, n = 4, 3
    plain, _, _, _ = service.sample(model, n * k, 9, "star", "red", best_of=1)
    kept, s, c, _ = service.sample(model, n, 9, "star", "red", best_of=k)
    star, red = shapes.SHAPES.index("star"), shapes.COLOUR_NAMES.index("red")
    ref, _, _ = reject.best_of(plain, np.full(n, star), None if model.startswith("VQ") else np.full(n, red), k,
                               threshold=reject.ACCEPT)
    assert np.array_equal(kept, ref) and s == [star] * n
    assert c == (None if model.startswith("VQ") else [red] * n)
    again = service.sample(model, n, 9, "star", "red", best_of=k)[0]
    assert np.array_equal(kept, again)


def test_tab_notes_the_rejection_and_refuses_bad_counts(tiny):
    _, _, note = tab.sample_final("CVAE", "star", "red", 2, 1.0, 3.0, 0, 4)
    assert "first of 4 candidates" in note and "gan-guide-robust" in note
    _, _, note = tab.sample_final("CVAE", "star", "red", 2, 1.0, 3.0, 0, 1)
    assert "first of" not in note
    _, _, note = tab.sample_final("VAE", "any", "any", 2, 1.0, 3.0, 0, 4)
    assert "not the unconditional VAE" in note
    for k in (0, 33, 2.5, "many"):
        with pytest.raises(gr.Error, match="best of k"):
            tab.sample_final("CVAE", "star", "red", 1, 1.0, 3.0, 0, k)


def test_card_rows_keep_the_best_of_each_requests_candidates(tiny, monkeypatch, tmp_path):
    """rejection_readings: request i's k candidates are the pool rows j·n + i (one label each); the kept images are
    what reject.best_of picks from them; add_to_card adds the rows to a card's table and metrics.json."""
    import json

    from genmodels.families.vae import evaluate, rejection_sweep

    seen = {}
    real = reject.best_of

    def spy(images, shape, colour, k, net=None, threshold=None):
        seen.update(images=images, shape=shape, k=k, threshold=threshold)
        return real(images, shape, colour, k, net, threshold)

    monkeypatch.setattr(reject, "best_of", spy)
    monkeypatch.setattr(evaluate, "_fid_with_floor", lambda images: {"FID_domain": float(len(images))})
    prior, vq = service.load("vq-prior"), service.load("vqvae")
    rows = evaluate.rejection_readings(prior, vq, 14, 3, 2.0)  # 14 -> 12 requests
    assert seen["k"] == 3 and seen["threshold"] == reject.ACCEPT and len(seen["images"]) == 36 and list(seen["shape"]) == [i % 6 for i in range(12)]
    pool, y, _ = evaluate.prior_samples(prior, vq, 36, seed=12345, guidance=2.0)
    assert all(np.array_equal(seen["images"][3 * i + j], pool[12 * j + i]) for i in range(12) for j in range(3))
    assert (y[:12] == y[12:24]).all()
    tag = f"guidance 2, first of 3 with p ≥ {reject.ACCEPT:g} by gan-guide-robust (N = 12)"
    assert f"requested shape recognised, {tag}" in rows and rows[f"FID_domain, {tag}"] == 12.0
    (tmp_path / "README.md").write_text("| metric | value |\n|---|---|\n| a | 1 |\n| eval seconds | 3 |\n")
    (tmp_path / "metrics.json").write_text(json.dumps({"a": 1}))
    rejection_sweep.add_to_card({"b": 2}, tmp_path)
    assert "| a | 1 |\n| b | 2 |\n| eval seconds | 3 |" in (tmp_path / "README.md").read_text()
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"a": 1, "b": 2}
