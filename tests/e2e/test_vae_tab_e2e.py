"""The VAE tab driven in headless Chromium (every sub-tab: reconstruct, sample, text -> image streamed token by token,
latent walk) and through gradio_client (every api_name, bad input), on the embedded weights."""
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
    open_tab(page, app_url, "vae", "VAE / VQ-VAE", sub)


def test_reconstruct_and_sample_in_chromium(app_url, page, artifacts):
    _open(page, app_url)
    page.locator("#vae-r-gallery img").first.wait_for(timeout=240_000)  # the first-open default
    page.locator("#vae-r-index input").fill("11")
    page.locator("#vae-reconstruct-btn").click()
    page.wait_for_function("document.querySelectorAll('#vae-r-gallery img').length === 3", timeout=120_000)
    page.locator("#vae-r-codes img").wait_for()
    # streamed after the pictures: a complete readout table (the click's, or for a moment the first-open default's —
    # the same rows), read in the same tick as the check: the click's "Reading the images …" placeholder can replace a
    # table between a wait and a later read (seen once in CI)
    text = page.wait_for_function("(() => { const t = document.querySelector('#vae-r-readouts').innerText; "
                                  "return t.includes('PSNR') && !t.includes('Reading the images') && t; })()",
                                  timeout=60_000).json_value()
    assert "PSNR" in text and "VQ-VAE" in text and "CVAE" in text and "ELBO bits/dim" in text
    assert "code perplexity" in text
    page.screenshot(path=str(artifacts / "vae_reconstruct.png"), full_page=True)

    page.get_by_role("tab", name="Sample", exact=True).click()
    page.locator("#vae-s-gallery img").first.wait_for(timeout=240_000)
    first = page.locator("#vae-s-gallery img").first.get_attribute("src")
    page.locator("#vae-s-seed input").fill("3")
    page.locator("#vae-sample-btn").click()
    page.wait_for_function("s => document.querySelector('#vae-s-gallery img')?.getAttribute('src') !== s", arg=first,
                           timeout=120_000)
    page.locator("#vae-s-readouts").get_by_text("requested shape recognised").wait_for(timeout=60_000)  # VQ prior
    page.screenshot(path=str(artifacts / "vae_sample.png"), full_page=True)


def test_text_to_image_streams_and_walk(app_url, page, artifacts):
    _open(page, app_url, "Text → image")
    page.locator("#vae-t-gallery img").first.wait_for(timeout=240_000)
    page.evaluate(WATCH, "#vae-t-gallery")
    page.locator("#vae-t-caption textarea").fill("a big red solid star on a light backdrop, please")
    page.locator("#vae-t-seed input").fill("5")
    page.locator("#vae-text-btn").click()
    page.locator("#vae-t-note").get_by_text("please").wait_for(timeout=120_000)
    note = page.locator("#vae-t-note").inner_text()
    assert "please" in note and "Ignored" in note
    page.locator("#vae-t-readouts").get_by_text("star").first.wait_for(timeout=60_000)
    assert len(page.evaluate("window.__srcs")) >= 3, "the gallery should update while the codes are generated"
    page.screenshot(path=str(artifacts / "vae_text2image.png"), full_page=True)

    page.get_by_role("tab", name="Latent walk").click()
    page.locator("#vae-w-b input").fill("9")
    page.locator("#vae-walk-btn").click()
    page.locator("#vae-w-note").get_by_text("test items 0 and 9").wait_for(timeout=120_000)
    assert page.locator("#vae-w-gallery img").count() == 10
    page.screenshot(path=str(artifacts / "vae_walk.png"), full_page=True)


def test_vae_apis(client):
    orig, recs, codes, hist, table, note = client.predict(4, None, api_name="/vae_reconstruct")
    assert orig and len(recs) == 3 and codes and "PSNR" in table
    gallery, table, note = client.predict("CVAE", "heart", "blue", 3, 1.0, 3.0, 2, api_name="/vae_sample")
    assert len(gallery) == 3 and "requested colour recognised" in table
    gallery, table, note = client.predict("VAE", "any", "any", 2, 0.8, 3.0, 2, api_name="/vae_sample")
    assert len(gallery) == 2
    gallery, table, note = client.predict("VQ-VAE + PixelCNN prior", "star", "any", 2, 1.0, 3.0, 2,
                                          api_name="/vae_sample")
    assert len(gallery) == 2 and "requested shape recognised" in table
    gallery, table, note = client.predict("VQ-VAE + PixelCNN prior", "heart", "any", 2, 1.0, 3.0, 2, 3,
                                          api_name="/vae_sample")  # rejection sampling: up to 3 candidates
    assert len(gallery) == 2 and "first of 3 candidates" in note and "gan-guide-robust" in note
    gallery, note, table = client.predict("a small green striped triangle on a gradient background", 2, 1.0, 16, 2.0,
                                          1, 4, api_name="/vae_text2image")
    assert len(gallery) == 2 and "triangle" in table and "best of 4 candidates" in note
    gallery, note = client.predict(1, 2, 4, "linear", api_name="/vae_walk")
    assert len(gallery) == 6 and "linear" in note


def test_vae_api_refuses_bad_input(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="empty"):
        client.predict("   ", 1, 1.0, 0, 3.0, 0, api_name="/vae_text2image")
    with pytest.raises(AppError, match="names no shape"):
        client.predict("hello world", 1, 1.0, 0, 3.0, 0, api_name="/vae_text2image")
    with pytest.raises(AppError, match="greater than maximum|Reranking"):  # best of k: the slider's range first
        client.predict("a red star", 1, 1.0, 0, 3.0, 0, 99, api_name="/vae_text2image")
    with pytest.raises(AppError, match="less than minimum"):  # the slider's own range check
        client.predict("a red star", 1, 0, 0, 3.0, 0, api_name="/vae_text2image")
    with pytest.raises(AppError, match="greater than maximum|op-k"):
        client.predict("a red star", 1, 1.0, 100000, 3.0, 0, api_name="/vae_text2image")
    with pytest.raises(AppError, match="Test item"):
        client.predict(1, 99999, 4, "linear", api_name="/vae_walk")
    with pytest.raises(AppError, match="Seed"):
        client.predict("CVAE", "star", "red", 1, 1.0, 3.0, -1, api_name="/vae_sample")
    with pytest.raises(AppError, match="greater than maximum|best of k"):  # the slider's range first
        client.predict("CVAE", "star", "red", 1, 1.0, 3.0, 0, 99, api_name="/vae_sample")
    with pytest.raises(AppError, match="greater than maximum|Guidance"):
        client.predict("a red star", 1, 1.0, 0, 50, 0, api_name="/vae_text2image")
