"""The PixelCNN tab driven in headless Chromium (streaming sample, completion, likelihood) and through gradio_client
(every api_name, bad input), on the embedded weights."""
import pytest

from e2e_helpers import open_tab

pytestmark = pytest.mark.e2e

# Records every distinct picture the streamed gallery shows (its first image's src), so a test can count updates.
WATCH = """(sel) => {
  window.__srcs = [];
  const seen = () => { const img = document.querySelector(sel + ' img');
                       if (img && img.src && window.__srcs[window.__srcs.length - 1] !== img.src)
                         window.__srcs.push(img.src); };
  new MutationObserver(seen).observe(document.querySelector(sel), {subtree: true, childList: true,
                                                                   attributes: true, attributeFilter: ['src']});
}"""


def _open(page, app_url, sub: str | None = None):
    open_tab(page, app_url, "autoregressive", "PixelCNN", sub)


def test_sample_streams_pixel_by_pixel(app_url, page, artifacts):
    _open(page, app_url)
    page.locator("#ar-gallery img").first.wait_for(timeout=240_000)  # the cached first-open sample
    page.locator("#ar-cards table").wait_for()
    page.evaluate(WATCH, "#ar-gallery")
    page.locator("#ar-seed input").fill("7")
    page.locator("#ar-sample-btn").click()
    note = "document.querySelector('#ar-sample-note').innerText.includes"
    page.wait_for_function(f"{note}('Pixel')", timeout=240_000)  # streaming has begun (the open default is final)
    page.wait_for_function(f"{note}('sample(s) in')", timeout=240_000)
    page.locator("#ar-sample-readouts table").wait_for(timeout=60_000)
    srcs = page.evaluate("window.__srcs")
    assert len(srcs) >= 4, f"the gallery changed {len(srcs)} time(s); streaming should show >= 3 partial images"
    assert "requested shape recognised" in page.locator("#ar-sample-readouts").inner_text()
    page.screenshot(path=str(artifacts / "autoregressive_sample.png"), full_page=True)


def test_complete_and_likelihood_in_chromium(app_url, page, artifacts):
    from genmodels.data import shapes

    _open(page, app_url, "Complete")
    # the first-open defaults of every tab run on one background thread, the completion last: wait for it, so the
    # click below does not share the CPU with them (with the VAE tab's defaults added it did not finish in 240 s)
    page.locator("#ar-c-gallery img").first.wait_for(timeout=420_000)
    page.locator("#ar-c-index input").fill("8")
    page.locator("#ar-complete-btn").click()
    shape = shapes.SHAPES[shapes.item("test", 8).params.shape]
    page.locator("#ar-complete-note").get_by_text(f"class ({shape})").wait_for(timeout=150_000)
    page.wait_for_function("document.querySelectorAll('#ar-c-gallery img').length === 4")
    page.screenshot(path=str(artifacts / "autoregressive_complete.png"), full_page=True)
    page.get_by_role("tab", name="Likelihood").click()
    page.locator("#ar-l-source").get_by_text("Photo (scikit-image)", exact=True).click()
    page.locator("#ar-likelihood-btn").click()
    page.locator("#ar-l-note").get_by_text("photo was").wait_for(timeout=120_000)
    text = page.locator("#ar-likelihood-readouts").inner_text()
    assert "PNG bits/dim" in text and "model / PNG" in text
    page.screenshot(path=str(artifacts / "autoregressive_likelihood.png"), full_page=True)


def test_autoregressive_apis(client):
    gallery, note, table = client.predict("PixelCNN++", "star", 2, "cached", 3, 256, 3.0, api_name="/ar_sample")
    assert len(gallery) == 2 and "cached" in note and "requested shape recognised" in table
    assert "guidance w = 3" in note
    orig, occ, comps, note = client.predict("PixelCNN++", 4, None, 16, 2, 1, 0.0, api_name="/ar_complete")
    assert orig and occ and len(comps) == 2 and "No guidance" in note
    img, heat, table, note = client.predict("PixelCNN++", "Photo (scikit-image)", 0, None, "astronaut", "any",
                                            api_name="/ar_likelihood")
    assert img and heat and "bits/dim" in table
    gallery, note, _ = client.predict("PixelCNN", "circle", 1, "naive", 0, 256, 0.0, api_name="/ar_sample")
    assert len(gallery) == 1


def test_autoregressive_api_refuses_bad_input(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="Test item"):
        client.predict("PixelCNN++", 99999, None, 16, 2, 1, 3.0, api_name="/ar_complete")
    with pytest.raises(AppError, match="Seed"):
        client.predict("PixelCNN++", "star", 1, "cached", -4, 64, 3.0, api_name="/ar_sample")
    with pytest.raises(AppError, match="greater than maximum value 10"):  # the slider's own range message
        client.predict("PixelCNN++", "star", 1, "cached", 0, 64, 25.0, api_name="/ar_sample")

