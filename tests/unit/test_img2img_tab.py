"""The image-to-image tab's handlers on the embedded models: every input path yields an image, every bad input a
sentence (gr.Error), never a traceback."""
import math

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from genmodels.families.img2img import tab

pytestmark = pytest.mark.slow


def test_pix2pix_from_a_test_item_has_truth_and_readouts():
    args = ("embedded", "Test item", 2, None, None, "any", "any", "any", 3, 0)
    edges, gallery, slider, note = tab.img2img_pix2pix(*args)
    assert edges.shape == (192, 192, 3) and len(gallery) == 3 and slider is not None
    table = tab.img2img_pix2pix_readouts(*args)
    for metric in ("shape recognised", "edge F1", "SSIM vs ground truth", "PSNR vs ground truth"):
        assert metric in table
    again = tab.img2img_pix2pix(*args)[1]
    assert [a[0].tobytes() for a in gallery] == [a[0].tobytes() for a in again]
    assert len(tab.pix2pix_with_readouts(*args)) == 5


def test_pix2pix_from_a_drawing_and_from_an_upload():
    sketch = {"background": None, "layers": [], "composite": tab.default_sketch()}
    args = ("embedded", "Sketch", 0, sketch, None, "red", "solid", "light", 2, 5)
    edges, gallery, slider, note = tab.img2img_pix2pix(*args)
    assert len(gallery) == 2 and slider is None and "edge F1" in tab.img2img_pix2pix_readouts(*args)
    assert edges.min() == 0  # the drawing became edges
    rgba = np.zeros((200, 300, 4), np.uint8)
    rgba[50:150, 100:200] = (200, 30, 30, 255)
    out = tab.img2img_pix2pix("embedded", "Upload", 0, None, Image.fromarray(rgba, "RGBA"), "any", "any", "any", 1, 0)
    assert len(out[1]) == 1
    gray = Image.fromarray((np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8), "L")
    assert len(tab.img2img_pix2pix("embedded", "Upload", 0, None, gray, "any", "any", "any", 1, 0)[1]) == 1


def test_cyclegan_both_directions_with_the_twin():
    x, y, rec, twin, note = tab.img2img_cyclegan("embedded", "Test item", 2, None, "A→B")
    table = tab.img2img_cyclegan_readouts("embedded", "Test item", 2, None, "A→B")
    assert twin is not None and "cycle PSNR" in table and "SSIM vs twin" in table
    out = tab.img2img_cyclegan("embedded", "Test item", 6, None, "B→A")
    assert out[3] is not None
    from skimage import data

    out = tab.img2img_cyclegan("embedded", "Upload", 0, Image.fromarray(data.chelsea()), "A→B")
    assert out[3] is None and out[1] is not None


def test_style_transfer_streams_then_reports():
    steps = list(tab.img2img_style(None, "astronaut", None, "brick", 64, 20, 6, 1, "auto",
                                   progress=lambda *a, **k: None))
    assert len(steps) == 3 and steps[-1][1] and "fall (start / result)" in steps[-1][1]


BAD_PIX2PIX = [
    dict(mode="Sketch", sketch={"background": None, "layers": [], "composite": np.full((64, 64, 4), 255, np.uint8)}),
    dict(mode="Sketch", sketch=None),
    dict(mode="Upload", upload=None),
    dict(mode="Upload", upload=Image.new("RGB", (2, 2))),
    dict(mode="Upload", upload=Image.new("L", (5000, 10))),
    dict(mode="Test item", index=math.nan),
    dict(mode="Test item", index=-1),
    dict(mode="Test item", index=2000),
    dict(mode="Test item", colour="ultraviolet"),
    dict(mode="Nope"),
    dict(mode="Test item", seed=-5),
    dict(mode="Test item", seed="abc"),
    dict(mode="Test item", source="/etc"),
    dict(mode="Test item", source="/etc/passwd.pth"),
]


@pytest.mark.parametrize("bad", BAD_PIX2PIX)
def test_bad_pix2pix_inputs_say_why(bad):
    args = dict(source="embedded", mode="Test item", index=2, sketch=None, upload=None, colour="any", fill="any",
                background="any", count=2, seed=0)
    args.update(bad)
    with pytest.raises(gr.Error) as e:
        tab.img2img_pix2pix(*args.values())
    assert str(e.value) and "Traceback" not in str(e.value)


@pytest.mark.parametrize("args", [("embedded", "Test item", 2, None, "sideways"),
                                  ("embedded", "Upload", 2, None, "A→B"),
                                  ("/nonexistent/latest_net_G_A.pth", "Test item", 2, None, "A→B")])
def test_bad_cyclegan_inputs_say_why(args):
    with pytest.raises(gr.Error):
        tab.img2img_cyclegan(*args)


@pytest.mark.parametrize("change", [dict(log_sw=math.nan), dict(cw=-1), dict(size=1e9), dict(iters=math.inf),
                                    dict(net="resnet"), dict(style_name="mona lisa")])
def test_bad_style_inputs_say_why(change):
    a = dict(content=None, content_name="astronaut", style=None, style_name="brick", size=64, iters=10, log_sw=6,
             cw=1, net="auto")
    a.update(change)
    with pytest.raises(gr.Error):
        list(tab.img2img_style(*a.values(), progress=lambda *x, **k: None))


def test_a_checkpoint_with_wrong_keys_is_named(tmp_path):
    import torch

    torch.save({"model.1.weight": torch.zeros(8, 3, 7, 7), "model.10.conv_block.1.weight": torch.zeros(32, 32, 3, 3)},
               tmp_path / "latest_net_G_A.pth")
    with pytest.raises(gr.Error, match="missing keys"):
        tab.img2img_cyclegan(str(tmp_path / "latest_net_G_A.pth"), "Test item", 2, None, "A→B")
