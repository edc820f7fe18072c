"""The GAN tab's handlers on tiny untrained weights loaded from a folder (the 'Weights' source a user can give)."""
import gradio as gr
import numpy as np
import pytest
import torch

from genmodels.families.gan import tab
from genmodels.families.gan.dcgan import DCGANGenerator
from genmodels.families.gan.layered import LayeredGenerator
from genmodels.families.gan.stylegan import Generator
from genmodels.hub.context import HubContext


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("gan-weights")
    torch.manual_seed(0)
    DCGANGenerator(width=32, n_classes=(6, 6)).save_pretrained(root / "cgan")
    LayeredGenerator(width=32, bg_width=16, pose_hidden=16).save_pretrained(root / "layered")
    Generator(size=32, style_dim=32, n_mlp=2, channels=[16, 16, 16, 16], n_classes=36).save_pretrained(root / "sg")
    return {"cgan": str(root / "cgan"), "sg": str(root / "sg"), "layered": str(root / "layered")}


def test_sample_clamps_and_captions(folders):
    gallery, note = tab.gan_sample("CGAN", folders["cgan"], "star", "red", 1.0, 500, 3, ctx_max=8)
    assert len(gallery) == 8 and "capped at 8" in note
    assert gallery[0][1] == "seed 3: red star" and gallery[0][0].shape == (32, 32, 3)  # native resolution
    again, _ = tab.gan_sample("CGAN", folders["cgan"], "star", "red", 1.0, 1, 3)
    first = np.asarray(gallery[0][0], dtype=int)
    assert np.abs(np.asarray(again[0][0], dtype=int) - first).max() <= 1  # batching's last bits only
    same, _ = tab.gan_sample("CGAN", folders["cgan"], "star", "red", 1.0, 500, 3, ctx_max=8)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(same, gallery))


def test_layers_are_the_samples_composition(folders):
    """Same seeds and labels as the Sample gallery: the last layer of each sample is its image; the mask's layer is
    grey-level; the placed object is black where the mask is 0; one pose row per sample."""
    gallery, _ = tab.gan_sample("CGAN", folders["layered"], "star", "red", 1.0, 3, 5)
    items, note = tab.gan_layers("CGAN", folders["layered"], "star", "red", 3, 5)
    assert len(items) == 12 and items[0][1] == "seed 5: background" and items[3][1] == "seed 5: image"
    for i in range(3):
        assert np.abs(items[4 * i + 3][0].astype(int) - gallery[i][0].astype(int)).max() <= 1
        mask = items[4 * i + 1][0].astype(int)
        assert (mask[..., 0] == mask[..., 1]).all() and (mask[..., 1] == mask[..., 2]).all()
        assert (items[4 * i + 2][0][mask[..., 0] == 0] == 0).all()
    assert note.count("\n| 5") + note.count("\n| 6") + note.count("\n| 7") == 3 and "rotation" in note
    _, capped = tab.gan_layers("CGAN", folders["layered"], "any", "any", 50, 0)
    assert "capped at 8" in capped
    with pytest.raises(gr.Error, match="draws in one pass"):
        tab.gan_layers("CGAN", folders["cgan"], "star", "red", 2, 0)


def test_mix_and_interpolate(folders):
    grid, note = tab.gan_mix(folders["sg"], "1,2", "3 4 5", "middle (16 px)", "star", "red", 0.7)
    assert grid.size == (4 * 96, 3 * 96) and "middle" in note
    z, w, gif, table = tab.gan_interpolate("StyleGAN", folders["sg"], 1, 2, 5, "star", "blue")
    assert z.size == w.size == (5 * 96, 96) and gif.endswith(".gif") and "lerp in W" in table
    z, w, _, table = tab.gan_interpolate("CGAN", folders["cgan"], 1, 2, 4, "any", "any")
    assert w is None and "slerp in Z" in table


@pytest.mark.parametrize("args, msg", [
    (("CGAN", "cgan", "star", "red", 2.5, 4, 3), "ψ must be in \\[0, 2\\]"),
    (("CGAN", "cgan", "star", "pink", 1, 4, 3), "Unknown colour 'pink'"),
    (("CGAN", "cgan", "star", "red", 1, 4, -1), "Seed must be between"),
    (("CGAN", "cgan", "star", "red", 1, 4, 1.5), "whole number"),
    (("CGAN", "/nonexistent/weights", "star", "red", 1, 4, 1), "outside the models root"),
        (("CGAN", "/etc", "star", "red", 1, 4, 1), "outside the models root"),
        (("CGAN", "nobody/no-such-gan", "star", "red", 1, 4, 1), "Could not load cgan"),
    (("GANX", "cgan", "star", "red", 1, 4, 1), "Unknown model"),
])
def test_bad_input_is_a_clear_error(folders, args, msg):
    args = tuple(folders.get(a, a) if isinstance(a, str) else a for a in args)
    with pytest.raises(gr.Error, match=msg):
        tab.gan_sample(*args)


def test_mix_bad_seeds(folders):
    with pytest.raises(gr.Error, match="At most 16"):
        tab.gan_mix(folders["sg"], ",".join(map(str, range(20))), "1", "fine (32 px)", "any", "any", 1)
    with pytest.raises(gr.Error, match="Unknown layer range"):
        tab.gan_mix(folders["sg"], "1", "2", "everything", "any", "any", 1)


def test_tab_builds():
    with gr.Blocks():
        tab.build_tab(HubContext())


def test_card_table_reads_model_cards(tmp_path, monkeypatch):
    import json

    monkeypatch.setattr(tab.service, "WEIGHTS", tmp_path)
    assert "No embedded GAN is trained yet" in tab.card_table()
    (tmp_path / "cgan").mkdir()
    (tmp_path / "cgan" / "metrics.json").write_text(json.dumps({"FID": 12.5, "requested shape recognised": 0.97}))
    html = tab.card_table()
    assert "CGAN" in html and "12.5" in html and "0.97" in html and "FID ↓" in html and "DCGAN" not in html
