"""PixelCNN tab handlers on tiny saved models: streaming, completion, likelihood, refusals as sentences."""
import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image

from genmodels.families.autoregressive import service, tab
from genmodels.families.autoregressive.pixelcnn import GatedPixelCNN, PixelCNN
from genmodels.families.autoregressive.pixelcnnpp import PixelCNNpp

NO_PROGRESS = lambda *a, **k: None  # noqa: E731


@pytest.fixture(scope="module", autouse=True)
def tiny_weights(tmp_path_factory):
    root = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    PixelCNN(hidden=6, blocks=1, out_hidden=12, n_classes=6).save_pretrained(root / "pixelcnn")
    GatedPixelCNN(hidden=6, layers=2, kernel=3, out_hidden=12, n_classes=6).save_pretrained(root / "gated-pixelcnn")
    PixelCNNpp(filters=4, resnets=1, mix=2, n_classes=6, null_class=True).save_pretrained(root / "pixelcnnpp")
    old = service.WEIGHTS
    service.WEIGHTS = root
    service.load.cache_clear()
    service.cached_sampler.cache_clear()
    yield root
    service.WEIGHTS = old
    service.load.cache_clear()
    service.cached_sampler.cache_clear()


def test_sample_streams_then_reports():
    steps = list(tab.ar_sample("PixelCNN++", "star", 2, "cached", 3, 128, 0.0, progress=NO_PROGRESS))
    assert len(steps) == 8  # 7 partial pictures (every 128 pixels) + the final one with readouts
    partial = [s[0] for s in steps[:-1]]
    assert all(len(g) == 2 for g in partial) and not np.array_equal(partial[0][0], partial[-1][0])
    final_gallery, note, table = steps[-1]
    assert "cached sampler" in note and "requested shape recognised" in table
    again = tab.sample_final("PixelCNN++", "star", 2, "naive", 3, 1024, 0.0)
    assert np.array_equal(np.stack(again[0]), np.stack(final_gallery))  # naive draws what cached drew
    for label in ("Gated PixelCNN", "PixelCNN"):  # every model streams through its cached sampler now
        gen = tab.ar_sample(label, "any", 1, "cached", 0, 1, progress=NO_PROGRESS)
        first = next(gen)  # the first streamed picture already says which sampler runs
        gen.close()
        assert "cached sampler" in first[1] and "no cached" not in first[1] and "Pixel 1 / 1024" in first[1]


def test_guidance_is_the_default_for_pixelcnnpp_says_so_and_changes_the_draw():
    guided = tab.sample_final("PixelCNN++", "star", 2, "cached", 3, 1024)
    assert f"guidance w = {service.DEFAULT_GUIDANCE:g}" in guided[1]  # the default (naive = cached guided: below)
    plain = tab.sample_final("PixelCNN++", "star", 2, "cached", 3, 1024, 0)
    assert "No guidance" in plain[1] and not np.array_equal(np.stack(plain[0]), np.stack(guided[0]))
    other = tab.sample_final("PixelCNN", "star", 1, "cached", 3, 1024, 4.0)  # no null class: said, not refused
    assert "applies to PixelCNN++ only" in other[1]
    done = list(tab.ar_complete("PixelCNN++", 3, None, 28, 1, 1, 2.0, progress=NO_PROGRESS))[-1]
    assert "guidance w = 2" in done[3]


def test_complete_keeps_the_top_and_streams_rows():
    steps = list(tab.ar_complete("PixelCNN++", 3, None, 20, 2, 1, progress=NO_PROGRESS))
    orig, occ, gallery, note = steps[-1]
    assert len(steps) >= 3 and len(gallery) == 2 and "bottom 12 rows" in note
    assert np.array_equal(gallery[0][:20], orig[::6, ::6][:20])
    up = Image.fromarray(np.full((64, 48, 4), 200, np.uint8), "RGBA")
    note = list(tab.ar_complete("PixelCNN", 0, up, 30, 1, 0, progress=NO_PROGRESS))[-1][3]
    assert "converted from RGBA" in note and "resized from 48×64" in note


def test_likelihood_of_a_test_item_a_photo_and_an_upload():
    img, heat, table, _ = tab.ar_likelihood("PixelCNN++", "Test item", 0, None, "astronaut", "any")
    assert img.shape == (256, 256, 3) and heat.shape == (256, 256, 3) and "PNG bits/dim" in table
    _, _, table, note = tab.ar_likelihood("Gated PixelCNN", "Photo (scikit-image)", 0, None, "chelsea", "cat" if
                                          False else "circle")
    assert "resized" in note and "class used" in table


@pytest.mark.parametrize("call, match", [
    (lambda: list(tab.ar_sample("PixelRNN", "any", 1, "cached", 0, 32, progress=NO_PROGRESS)), "Unknown model"),
    (lambda: list(tab.ar_sample("PixelCNN++", "hexagon", 1, "cached", 0, 32, progress=NO_PROGRESS)), "Unknown shape"),
    (lambda: list(tab.ar_sample("PixelCNN++", "any", 1, "fast", 0, 32, progress=NO_PROGRESS)), "Sampler"),
    (lambda: list(tab.ar_sample("PixelCNN++", "any", 1, "cached", "abc", 32, progress=NO_PROGRESS)), "eed"),
    (lambda: list(tab.ar_sample("PixelCNN++", "any", 1, "cached", 0, 32, -1, progress=NO_PROGRESS)), "between 0"),
    (lambda: list(tab.ar_sample("PixelCNN++", "any", 1, "cached", 0, 32, "nan", progress=NO_PROGRESS)), "between 0"),
    (lambda: list(tab.ar_sample("PixelCNN++", "any", 1, "cached", 0, 32, "lots", progress=NO_PROGRESS)), "number"),
    (lambda: list(tab.ar_complete("PixelCNN++", 3, None, 16, 1, 0, 11, progress=NO_PROGRESS)), "between 0"),
    (lambda: list(tab.ar_complete("PixelCNN++", 3, None, 0, 1, 0, progress=NO_PROGRESS)), "rows"),
    (lambda: list(tab.ar_complete("PixelCNN++", 3, None, 32, 1, 0, progress=NO_PROGRESS)), "rows"),
    (lambda: list(tab.ar_complete("PixelCNN++", 5000, None, 16, 1, 0, progress=NO_PROGRESS)), "Test item"),
    (lambda: tab.ar_likelihood("PixelCNN++", "Upload", 0, None, "astronaut", "any"), "Upload an image"),
    (lambda: tab.ar_likelihood("PixelCNN++", "Photo (scikit-image)", 0, None, "moon", "any"), "Unknown photo"),
])
def test_bad_inputs_are_sentences(call, match):
    with pytest.raises(gr.Error, match=match):
        call()
