"""The image-to-image tab driven in headless Chromium (drawing on the sketchpad, every sub-tab) and through
gradio_client (every api_name), on the embedded weights."""
import pytest

from e2e_helpers import open_tab

pytestmark = pytest.mark.e2e


def _open(page, app_url, sub: str | None = None):
    open_tab(page, app_url, "img2img", "Image-to-image", sub)


def test_draw_on_the_sketchpad_and_translate(app_url, page, artifacts):
    _open(page, app_url)
    page.locator("#p2p-mode").get_by_text("Sketch", exact=True).click()
    canvas = page.locator("#p2p-sketch canvas").first
    canvas.wait_for(timeout=30_000)
    box = canvas.bounding_box()
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    # a square outline in the middle of the canvas, over the default star
    pts = [(0.3, 0.3), (0.7, 0.3), (0.7, 0.7), (0.3, 0.7), (0.3, 0.3)]
    page.mouse.move(x0 + pts[0][0] * w, y0 + pts[0][1] * h)
    page.mouse.down()
    for px, py in pts[1:]:
        page.mouse.move(x0 + px * w, y0 + py * h, steps=8)
    page.mouse.up()
    page.locator("#p2p-btn").click()
    page.locator("#p2p-note").get_by_text("sample(s)").wait_for(timeout=60_000)
    page.wait_for_function("document.querySelectorAll('#p2p-gallery img').length >= 1")
    page.locator("#p2p-edges img").wait_for(timeout=30_000)
    # the follow-up readouts of the drawing: no ground truth, so no "shape recognised (asked: …)" row
    page.wait_for_function("(() => { const t = document.querySelector('#p2p-readouts')?.innerText || '';"
                           " return t.includes('edge F1') && !t.includes('shape recognised'); })()", timeout=60_000)
    page.screenshot(path=str(artifacts / "img2img_sketch.png"), full_page=True)


def test_pix2pix_test_item_shows_output_and_truth(app_url, page, artifacts):
    _open(page, app_url)
    page.locator("#p2p-btn").click()
    page.locator("#p2p-slider img").first.wait_for(timeout=60_000)
    page.locator("#p2p-readouts table").wait_for(timeout=60_000)
    assert "SSIM vs ground truth" in page.locator("#p2p-readouts").inner_text()


def test_cyclegan_in_chromium(app_url, page, artifacts):
    _open(page, app_url, "CycleGAN")
    page.locator("#cg-direction").get_by_text("B→A", exact=True).click()
    page.locator("#cg-index input").fill("6")
    page.locator("#cg-btn").click()
    page.locator("#cg-note").get_by_text("striped → solid").wait_for(timeout=60_000)
    for el in ("#cg-in", "#cg-out", "#cg-rec", "#cg-twin"):
        page.locator(f"{el} img").wait_for(timeout=30_000)
    assert "cycle PSNR" in page.locator("#cg-readouts").inner_text()
    page.screenshot(path=str(artifacts / "img2img_cyclegan.png"), full_page=True)


def test_style_transfer_in_chromium(app_url, page, artifacts):
    _open(page, app_url, "Style transfer")
    page.locator("#st-btn").click()
    page.locator("#st-note").get_by_text("Done:").wait_for(timeout=120_000)
    page.locator("#st-out img").wait_for(timeout=30_000)
    # the note and the readouts come in the same update, but the browser may paint them in separate ticks
    page.locator("#st-readouts").get_by_text("fall (start / result)").first.wait_for(timeout=30_000)
    page.screenshot(path=str(artifacts / "img2img_style.png"), full_page=True)


def test_img2img_apis(client):
    args = ("embedded", "Test item", 2, None, None, "any", "any", "any", 2, 0)
    edges, gallery, slider, note = client.predict(*args, api_name="/img2img_pix2pix")
    assert len(gallery) == 2 and slider
    assert "edge F1" in client.predict(*args, api_name="/img2img_pix2pix_readouts")
    out = client.predict("embedded", "Test item", 2, None, "A→B", api_name="/img2img_cyclegan")
    assert out[1] and out[3]
    assert "cycle PSNR" in client.predict("embedded", "Test item", 2, None, "A→B",
                                          api_name="/img2img_cyclegan_readouts")
    res = client.predict(None, "astronaut", None, "brick", 32, 10, 6, 1, "auto", api_name="/img2img_style")
    assert res[0] and "Done" in res[2]


def test_img2img_api_refuses_bad_input(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="Test item"):
        client.predict("embedded", "Test item", 99999, None, None, "any", "any", "any", 2, 0,
                       api_name="/img2img_pix2pix")
