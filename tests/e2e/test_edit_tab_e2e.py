"""The Edit tab driven in headless Chromium (clicking DragDiffusion's handle and target on the image, painting a
mask for Blended) and through gradio_client (every api_name, same seed → same bytes, bad input), on the embedded
tiny Stable Diffusion."""
import numpy as np
import pytest
from gradio_client.exceptions import AppError

from e2e_helpers import click_points, open_tab

pytestmark = pytest.mark.e2e

TARGET = "a small red solid cross on a dark background"  # test item 0 is "a small blue solid cross ..."


def test_click_handle_and_target_then_drag_in_chromium(app_url, page, artifacts):
    open_tab(page, app_url, "edit", "Edit", "DragDiffusion")
    page.locator("#edit-drag-readouts table").wait_for(timeout=300_000)  # the default example, shown on open
    points = page.locator("#edit-drag-points textarea")
    (hx, hy), (tx, ty) = click_points(page, "edit-drag", (11, 9), (16, 9))  # the handle, then its target
    assert abs(hx - 11) <= 1 and abs(hy - 9) <= 1 and (tx - hx, ty - hy) == (5, 0)  # pixels of the 32x32 image
    page.locator("#edit-drag-iterations input[type=number]").fill("10")
    page.locator("#edit-drag-btn").click()
    page.locator("#edit-drag-note").get_by_text("of 10 iterations").wait_for(timeout=180_000)
    assert points.input_value() == f"{hx},{hy} -> {tx},{ty}"
    assert "tracked handle → target distance" in page.locator("#edit-drag-readouts").inner_text()
    page.screenshot(path=str(artifacts / "edit_drag.png"), full_page=True)


def test_paint_a_mask_then_blend_in_chromium(app_url, page, artifacts):
    open_tab(page, app_url, "edit", "Edit", "Blended")
    page.locator("#edit-blended-mask-from").get_by_text("drawn", exact=True).click()
    brush = page.locator("#edit-blended-editor").get_by_role("button", name="Brush", exact=True)
    if brush.count():
        brush.click()
    canvas = page.locator("#edit-blended-editor canvas").first
    canvas.wait_for(timeout=60_000)
    box = canvas.bounding_box()
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x0 + 0.2 * w, y0 + 0.3 * h)
    page.mouse.down()
    for fx in (0.3, 0.4, 0.5):  # a stroke across the cross (item 0's object sits in the upper left)
        page.mouse.move(x0 + fx * w, y0 + 0.3 * h, steps=8)
    page.mouse.up()
    page.locator("#edit-blended-btn").click()
    page.locator("#edit-blended-note").get_by_text("drawn mask").wait_for(timeout=180_000)
    text = page.locator("#edit-blended-readouts").inner_text()
    assert "PSNR outside the mask" in text and "CLIP score to the target prompt" in text
    page.screenshot(path=str(artifacts / "edit_blended.png"), full_page=True)


def _path(value):
    """An image output as gradio_client returns it: a file path, or a dict holding one."""
    return value if isinstance(value, str) else (value.get("path") or value.get("image"))


def _bytes(path):
    from PIL import Image

    return Image.open(path).tobytes()


def _png(tmp_path, name: str, a: np.ndarray) -> str:
    from PIL import Image

    path = tmp_path / name
    Image.fromarray(a).save(path)
    return str(path)


def _editor(tmp_path, mask: np.ndarray | None):
    from gradio_client import handle_file

    bg = np.zeros((256, 256, 4), np.uint8)
    bg[..., 3] = 255
    layers = []
    if mask is not None:
        layer = np.zeros((256, 256, 4), np.uint8)
        layer[np.kron(mask, np.ones((8, 8), bool))] = (255, 0, 255, 255)
        layers = [handle_file(_png(tmp_path, "layer.png", layer))]
    b = handle_file(_png(tmp_path, "bg.png", bg))
    return {"background": b, "layers": layers, "composite": b}


def test_edit_apis(client, tmp_path):
    slider, gallery, note, panel = client.predict("test item", 3, None, "", 10, 1.0, 0, api_name="/edit_invert")
    again = client.predict("test item", 3, None, "", 10, 1.0, 0, api_name="/edit_invert")
    assert len(slider) == 2 and len(gallery) == 3 and "PSNR" in panel and "VAE round trip" in panel
    assert [_bytes(g["image"]) for g in again[1]] == [_bytes(g["image"]) for g in gallery]

    mask = np.zeros((32, 32), bool)
    mask[2:14, 4:16] = True
    slider, gallery, note, panel = client.predict("test item", 0, _editor(tmp_path, mask), "drawn", TARGET, 10, 3.0,
                                                  1.0, 5, api_name="/edit_blended")
    assert "drawn mask" in note and "PSNR outside the mask" in panel and len(gallery) == 3
    again = client.predict("test item", 0, _editor(tmp_path, mask), "drawn", TARGET, 10, 3.0, 1.0, 5,
                           api_name="/edit_blended")
    assert _bytes(again[1][2]["image"]) == _bytes(gallery[2]["image"])

    slider, plain, maps_src, maps_tgt, note, panel = client.predict(
        "test item", 0, None, 0, "", TARGET, "word swap", "", 2.0, True, "", 10, 3.0, 0.8, 0.4, 0.5,
        api_name="/edit_p2p")
    assert len(maps_src) == len(maps_tgt) == 9 and "'blue' → 'red'" in note
    assert "object mask IoU with the source" in panel and "no attention control" in panel

    slider, rec, note, panel = client.predict("test item", 0, None, "colour", "red", 1.0, 0.75, 10, api_name="/edit_diffae")
    again = client.predict("test item", 0, None, "colour", "red", 1.0, 0.75, 10, api_name="/edit_diffae")
    assert len(slider) == 2 and "the semantic code reads" in note
    assert "asked colour &#x27;red&#x27; recognised" in panel  # the panel is HTML: quotes escaped
    assert _bytes(_path(again[0][1])) == _bytes(_path(slider[1]))  # deterministic: no noise is drawn

    slider, rec, note, panel = client.predict("test item", 0, None, 0, "10,9 -> 15,9", "", 10, 0.8, 5, True,
                                              api_name="/edit_drag_diffusion")
    assert len(slider) == 2 and "tracked handle → target distance" in panel and "of 5 iterations" in note


@pytest.mark.parametrize("api, args, words", [
    ("/edit_blended", ("test item", 0, "EMPTY", "drawn", TARGET, 10, 3.0, 1.0, 0), "mask is empty"),
    ("/edit_blended", ("test item", 0, "FULL", "drawn", TARGET, 10, 3.0, 1.0, 0), "covers the whole image"),
    ("/edit_p2p", ("test item", 0, None, 0, "", "a small blue solid cross on a dark background", "word swap", "", 2.0,
                   True, "", 10, 3.0, 0.8, 0.4, 0.5), "identical"),
    ("/edit_p2p", ("test item", 0, None, 0, "", "a small dark red solid cross on a dark background", "word swap", "",
                   2.0, True, "", 10, 3.0, 0.8, 0.4, 0.5), "cannot align"),
    ("/edit_drag_diffusion", ("test item", 0, None, 0, "10,9 -> 40,9", "", 10, 0.8, 5, True), "outside the 32×32"),
    ("/edit_drag_diffusion", ("test item", 0, None, 0, "10,9 -> 15,9", "", 10, 0.8, 500, True),
     "Iterations|greater than maximum value 100"),
    ("/edit_invert", ("test item", 0, None, "", 0, 1.0, 0), "Steps must be|less than minimum value 2"),
    ("/edit_diffae", ("test item", 0, None, "colour", "blue", 1.0, 0.75, 10), "already reads colour 'blue'"),
    ("/edit_diffae", ("test item", 0, None, "colour", "heart", 1.0, 0.75, 10), "not a colour"),
    ("/edit_diffae", ("test item", 0, None, "colour", "red", 9.0, 0.75, 10), "Edit strength|greater than maximum value 3"),
])
def test_bad_input_is_a_clear_error(client, tmp_path, api, args, words):
    args = list(args)
    if api == "/edit_blended":
        args[2] = _editor(tmp_path, None if args[2] == "EMPTY" else np.ones((32, 32), bool))
    with pytest.raises(AppError, match=words):
        client.predict(*args, api_name=api)
