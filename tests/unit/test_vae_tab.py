"""VAE tab handlers on tiny saved models: reconstruct, sample, text -> image streaming, walk, refusals as sentences."""
import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image

from genmodels.families.vae import service, tab
from genmodels.families.vae.priors import build_dalle, code_prior
from genmodels.families.vae.vae import ConvVAE
from genmodels.families.vae.vqvae import VQVAE

NO_PROGRESS = lambda *a, **k: None  # noqa: E731
CAPTION = "a large blue striped heart on a dark background"


def _clear():
    service.load.cache_clear()
    service.test_code_histogram.cache_clear()


@pytest.fixture(scope="module", autouse=True)
def tiny_weights(tmp_path_factory):
    root = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    ConvVAE(latent=8, width=16).save_pretrained(root / "vae")
    ConvVAE(latent=8, width=16, n_shapes=6, n_colours=6).save_pretrained(root / "cvae")
    VQVAE(codes=16, dim=8, width=16, downs=2, res_blocks=1).save_pretrained(root / "vqvae")
    code_prior(16, hidden=12, layers=2, kernel=3, out_hidden=12).save_pretrained(root / "vq-prior")
    build_dalle(16, 8, n_embd=32, n_layer=1, n_head=2).save_pretrained(root / "vq-dalle")
    old = service.WEIGHTS
    service.WEIGHTS = root
    _clear()
    yield root
    service.WEIGHTS = old
    _clear()


def test_reconstruct_test_item_and_upload():
    first, last = list(tab.vae_reconstruct(3, None))
    assert first[4] == tab.PENDING and all(a is b for a, b in zip(first[:4], last[:4]))  # pictures, then readouts
    orig, gallery, codes, hist, table, note = last
    assert [c for _, c in gallery] == ["VAE", "CVAE", "VQ-VAE"] and orig.shape == (192, 192, 3)
    assert codes.shape == (192, 192, 3) and len(hist) == 16 and set(hist["in this image"]) <= {"yes", "no"}
    assert "PSNR" in table and "ELBO bits/dim" in table and "code perplexity" in table and note == ""
    rgba = Image.fromarray(np.random.default_rng(0).integers(0, 255, (50, 70, 4), dtype=np.uint8), "RGBA")
    _, gallery, _, _, table, note = tab.reconstruct_final(3, rgba)
    assert [c for _, c in gallery] == ["VAE", "VQ-VAE"] and "RGBA" in note and "resized" in note
    assert "CVAE needs" in table


def test_sample_every_model_same_seed_same_images():
    for model in service.SAMPLERS:
        (g0, pending, _), (g1, table, _) = tab.vae_sample(model, "star", "red", 3, 1.0, 3.0, 5, progress=NO_PROGRESS)
        assert g0 is g1 and pending == tab.PENDING  # the samples first, the readouts after
        g2, _, _ = tab.sample_final(model, "star", "red", 3, 1.0, 3.0, 5)
        assert len(g1) == 3 and all(np.array_equal(a[0], b[0]) for a, b in zip(g1, g2))
        assert ("requested shape recognised" in table) == (model != "VAE")
    _, _, note = tab.sample_final("VAE", "star", "any", 2, 1.0, 3.0, 0)
    assert "unconditional" in note


def test_text_to_image_streams_and_notes_unknown_words(monkeypatch):
    monkeypatch.setattr(tab, "STREAM_EVERY_S", 0.0)  # a slow server: every partial frame is shown
    steps = list(tab.vae_text2image("a big blue striped heart, please", 2, 1.0, 0, 3.0, 1, progress=NO_PROGRESS))
    assert len(steps) == 5  # a picture every 16 of the 64 codes, then the same final picture with the readouts
    assert all(len(s[0]) == 2 for s in steps) and not np.array_equal(steps[0][0][0], steps[-1][0][0])
    assert steps[-2][2] == tab.PENDING and all(np.array_equal(a, b) for a, b in zip(steps[-2][0], steps[-1][0]))
    gallery, note, table = steps[-1]
    assert "please" in note and "heart" in table and "shape as asked" in table
    again = tab.text2image_final("a big blue striped heart, please", 2, 1.0, 0, 3.0, 1)
    assert all(np.array_equal(a, b) for a, b in zip(again[0], gallery))


def test_text_to_image_skips_partial_frames_of_a_fast_sample(monkeypatch):
    monkeypatch.setattr(tab, "STREAM_EVERY_S", 3600.0)  # nothing waits that long: only the final picture
    steps = list(tab.vae_text2image("a red star", 1, 1.0, 0, 3.0, 4, progress=NO_PROGRESS))
    assert len(steps) == 2 and steps[0][2] == tab.PENDING
    streamed = tab.text2image_final("a red star", 1, 1.0, 0, 3.0, 4)
    assert np.array_equal(steps[-1][0][0], streamed[0][0])


def test_text_to_image_reranks_by_the_generators_clip(monkeypatch):
    """Best of k (DALL-E §2.5): each final image is one of its caption's k candidates, the one gen-clip scores
    highest; same seed, same images; k = 1 is the plain draw."""
    from genmodels.families.vae import rerank

    seen = {}
    real = rerank.best_of

    def spy(images, captions, k, clip=None):
        out = real(images, captions, k, clip)
        seen.update(images=images, k=k, pick=out[1])
        return out

    monkeypatch.setattr(rerank, "best_of", spy)
    gallery, note, _ = tab.text2image_final("a red star", 2, 1.0, 0, 3.0, 5, 4)
    assert seen["k"] == 4 and len(seen["images"]) == 8 and "best of 4 candidates" in note
    for i in range(2):
        assert np.array_equal(gallery[i], seen["images"][4 * i + seen["pick"][i]])
    again, _, _ = tab.text2image_final("a red star", 2, 1.0, 0, 3.0, 5, 4)
    assert all(np.array_equal(a, b) for a, b in zip(gallery, again))
    seen.clear()
    plain, note1, _ = tab.text2image_final("a red star", 2, 1.0, 0, 3.0, 5, 1)
    assert not seen and "best of" not in note1 and len(plain) == 2
    _, note_default, _ = tab.text2image_final("a red star", 1, 1.0, 0, 3.0, 5)
    assert f"best of {rerank.DEFAULT_RERANK} candidates" in note_default


@pytest.mark.parametrize("k", [0, 33, 2.5, "many"])
def test_text_to_image_refuses_a_bad_reranking_count(k):
    with pytest.raises(gr.Error, match="Reranking"):
        tab.text2image_final(CAPTION, 1, 1.0, 0, 3.0, 0, k)


def test_walk_ends_on_the_two_items():
    gallery, note = tab.vae_walk(0, 5, 4, "linear")
    assert len(gallery) == 6 and gallery[0][1] == "item 0" and gallery[-1][1] == "item 5" and "linear" in note


@pytest.mark.parametrize("call, match", [
    (lambda: tab.text2image_final("", 1, 1.0, 0, 3.0, 0), "empty"),
    (lambda: tab.text2image_final("hello world", 1, 1.0, 0, 3.0, 0), "names no shape"),
    (lambda: tab.text2image_final(CAPTION, 1, float("nan"), 0, 3.0, 0), "Temperature"),
    (lambda: tab.text2image_final(CAPTION, 1, 0, 0, 3.0, 0), "Temperature"),
    (lambda: tab.text2image_final(CAPTION, 1, 1.0, 17, 3.0, 0), "op-k"),
    (lambda: tab.text2image_final(CAPTION, 1, 1.0, -1, 3.0, 0), "op-k"),
    (lambda: tab.text2image_final(CAPTION, 1, 1.0, 0, -2, 0), "Guidance"),
    (lambda: tab.sample_final("VAE-GAN", "any", "any", 1, 1.0, 3.0, 0), "Model must be"),
    (lambda: tab.sample_final("CVAE", "hexagon", "any", 1, 1.0, 3.0, 0), "Unknown shape"),
    (lambda: tab.sample_final("CVAE", "any", "mauve", 1, 1.0, 3.0, 0), "Unknown colour"),
    (lambda: tab.sample_final("CVAE", "any", "any", 1, 1.0, 3.0, "abc"), "Seed"),
    (lambda: tab.vae_walk(0, 2000, 4, "linear"), "Test item"),
    (lambda: tab.vae_walk(0, 1, 40, "linear"), "Frames"),
    (lambda: tab.vae_walk(0, 1, 4, "zigzag"), "Path"),
    (lambda: tab.reconstruct_final(-1, None), "Test item"),
])
def test_bad_inputs_are_sentences(call, match):
    with pytest.raises(gr.Error, match=match):
        call()


def test_over_long_caption_is_truncated_with_a_note():
    _, note, _ = tab.text2image_final(" ".join(["a red solid star on a light background"] * 3), 1, 1.0, 0, 3.0, 0)
    assert "truncated" in note
