"""Edit family, the service and the tab (genmodels/families/edit/service.py, tab.py) on the embedded pipeline: bad
inputs answer with a sentence before anything runs, the same seed gives the same bytes, a drawn mask is read from
the editor's layers, and the tab registers its four api_names."""
import numpy as np
import pytest

from genmodels.families.edit import service as S
from genmodels.validate import InputError

TARGET = "a small red solid cross on a dark background"


def _editor(mask: np.ndarray | None, side: int = 256):
    bg = np.zeros((side, side, 4), np.uint8)
    bg[..., 3] = 255
    layers = []
    if mask is not None:
        layer = np.zeros((side, side, 4), np.uint8)
        big = np.kron(mask.astype(np.uint8), np.ones((side // 32, side // 32), np.uint8)).astype(bool)
        layer[big] = (255, 0, 255, 255)
        layers = [layer]
    return {"background": bg, "layers": layers, "composite": bg}


def test_a_drawn_mask_is_read_from_the_layers():
    m = np.zeros((32, 32), bool)
    m[4:12, 20:30] = True
    assert np.array_equal(S.mask_from_editor(_editor(m)), m)
    assert not S.mask_from_editor(_editor(None)).any()
    wide = _editor(m, 256)
    wide["layers"] = [np.pad(wide["layers"][0], ((0, 0), (32, 32), (0, 0)))]  # 256 x 320: centre-cropped
    assert np.array_equal(S.mask_from_editor(wide), m)


@pytest.mark.parametrize("call, words", [
    (lambda: S.blended_edit("test item", 0, _editor(None), "drawn", TARGET, 4), "mask is empty"),
    (lambda: S.blended_edit("test item", 0, _editor(np.ones((32, 32), bool)), "drawn", TARGET, 4),
     "covers the whole image"),
    (lambda: S.blended_edit("upload", 0, None, "drawn", TARGET, 4), "Upload an image"),
    (lambda: S.blended_edit("test item", 0, None, "the item's shape", TARGET, 60), "Steps must be between 2 and 50"),
    (lambda: S.blended_edit("test item", 0, None, "the item's shape", TARGET, 4, "NaN"), "finite"),
    (lambda: S.blended_edit("test item", 2000, None, "the item's shape", TARGET, 4), "Test item must be between"),
    (lambda: S.blended_edit("test item", 0, None, "the item's shape", "", 4), "prompt is empty"),
    (lambda: S.blended_edit("test item", 0, None, "the item's shape", "a red " * 20, 4), "at most 14"),
    (lambda: S.p2p_edit("test item", 0, None, 0, "", "a small blue solid cross on a dark background"), "identical"),
    (lambda: S.p2p_edit("test item", 0, None, 0, "", "a small dark red solid cross on a dark background"),
     "cannot align"),
    (lambda: S.p2p_edit("seed", 0, None, 0, "", TARGET), "source prompt is empty"),
    (lambda: S.p2p_edit("test item", 0, None, 0, "", "", "re-weight", "striped"), "not a word of the prompt"),
    (lambda: S.p2p_edit("test item", 0, None, 0, "", "", "re-weight", "solid", 9.0), "between -2 and 5"),
    (lambda: S.p2p_edit("test item", 0, None, 0, "", TARGET, "swap"), "must be one of"),
    (lambda: S.p2p_edit("test item", 0, None, 0, "", TARGET, strength=0.0), "Edit strength must be between 0.1"),
    (lambda: S.drag_edit("test item", 0, None, 0, "10,9 -> 32,9"), "outside the 32×32 image"),
    (lambda: S.drag_edit("test item", 0, None, 0, "10,9 -> 15,9", iterations=0), "between 1 and 100"),
    (lambda: S.drag_edit("test item", 0, None, 0, "10,9 -> 15,9", iterations=101), "between 1 and 100"),
    (lambda: S.drag_edit("test item", 0, None, 0, "10,9 -> 15,9", inversion=1.0), "Inversion strength"),
    (lambda: S.invert_image("upload", 0, None), "Upload an image"),
    (lambda: S.invert_image("test item", 0, None, "", 1), "Steps must be between 2 and 50"),
])
def test_bad_input_is_refused_with_a_sentence(call, words):
    with pytest.raises(InputError, match=words):
        call()


def test_same_seed_same_bytes():
    a = S.blended_edit("test item", 5, None, "the item's shape", TARGET, 3, 3.0, 11)
    b = S.blended_edit("test item", 5, None, "the item's shape", TARGET, 3, 3.0, 11)
    assert np.array_equal(a["result"], b["result"])
    latent_only = a["columns"]["latent blend only (before the pixel blend)"]
    assert "PSNR outside the mask (dB)" in [r.metric for r in latent_only]
    p = S.p2p_edit("seed", 0, None, 4, "a large green striped circle on a light background",
                   "a large green solid circle on a light background", steps=3, baseline=False)
    q = S.p2p_edit("seed", 0, None, 4, "a large green striped circle on a light background",
                   "a large green solid circle on a light background", steps=3, baseline=False)
    assert np.array_equal(p["target"], q["target"]) and len(p["target_maps"]) == 9


def test_the_tab_registers_its_api_names():
    import gradio as gr

    from genmodels.families.edit.tab import build_tab

    with gr.Blocks() as demo:
        build_tab(None)
    names = {fn.api_name for fn in demo.fns.values() if fn.api_name and fn.api_visibility == "public"}
    assert names == {"edit_invert", "edit_blended", "edit_p2p", "edit_diffae", "edit_drag_diffusion"}


def test_diffae_edit_moves_the_asked_attribute_and_refuses_what_it_cannot_do():
    from genmodels.families.edit import service
    from genmodels.validate import InputError

    r = service.diffae_edit("test item", 0, None, "colour", "red", 1.0, 0.75, 6)
    assert r["original"].shape == r["edited"].shape == r["reconstruction"].shape == (32, 32, 3)
    assert "the semantic code reads" in r["note"] and "red" in r["target_caption"]
    again = service.diffae_edit("test item", 0, None, "colour", "red", 1.0, 0.75, 6)
    assert (again["edited"] == r["edited"]).all()  # deterministic
    for args, words in [(("colour", "blue"), "already reads colour 'blue'"), (("colour", "heart"), "not a colour"),
                        (("texture", "red"), "Attribute")]:
        with pytest.raises((InputError, ValueError), match=words):
            service.diffae_edit("test item", 0, None, *args, 1.0, 0.75, 6)
    with pytest.raises(InputError, match="Depth must be > 0"):
        service.diffae_edit("test item", 0, None, "colour", "red", 1.0, 0.0, 6)
