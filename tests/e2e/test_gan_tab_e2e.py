"""The GAN tab driven in headless Chromium (every sub-tab) and through gradio_client (every api_name), on the
embedded weights."""
import pytest

from e2e_helpers import click_points, open_tab

pytestmark = pytest.mark.e2e


def _open(page, app_url, sub: str | None = None):
    open_tab(page, app_url, "gan", "GAN", sub)


def test_gan_sample_in_chromium(app_url, page, artifacts):
    _open(page, app_url)
    page.locator("#gan-model").get_by_text("StyleGAN", exact=True).click()  # the first view shows CGAN
    page.locator("#gan-sample-btn").click()
    imgs = page.locator("#gan-gallery img")
    imgs.first.wait_for(timeout=60_000)
    page.locator("#gan-sample-note").get_by_text("16 sample(s) from StyleGAN").wait_for(timeout=60_000)
    page.wait_for_function("document.querySelectorAll('#gan-gallery img').length === 16")
    page.screenshot(path=str(artifacts / "gan_sample.png"), full_page=True)


def test_gan_mix_in_chromium(app_url, page, artifacts):
    _open(page, app_url, "Style mixing")
    page.locator("#gan-mix-btn").click()
    page.locator("#gan-mix-grid img").wait_for(timeout=60_000)
    page.screenshot(path=str(artifacts / "gan_mix.png"), full_page=True)


def test_gan_interpolate_in_chromium(app_url, page, artifacts):
    _open(page, app_url, "Interpolation")
    page.locator("#gan-interp-btn").click()
    page.locator("#gan-z-strip img").wait_for(timeout=60_000)
    page.locator("#gan-w-strip img").wait_for(timeout=60_000)
    page.locator("#gan-interp-table table").wait_for(timeout=60_000)
    text = page.locator("#gan-interp-table").inner_text()
    assert "slerp in Z" in text and "lerp in W" in text
    page.screenshot(path=str(artifacts / "gan_interpolate.png"), full_page=True)


def test_gan_truncation_in_chromium(app_url, page, artifacts):
    _open(page, app_url, "Truncation trade-off")
    page.locator("#gan-trunc-n input[type=number]").fill("50")
    page.locator("#gan-trunc-n input[type=number]").press("Enter")
    page.locator("#gan-trunc-btn").click()
    page.get_by_text("N = 50 samples per ψ").wait_for(timeout=240_000)
    page.locator("#gan-trunc-fid canvas, #gan-trunc-fid svg").first.wait_for(timeout=30_000)
    page.screenshot(path=str(artifacts / "gan_truncation.png"), full_page=True)


def test_gan_readouts_in_chromium(app_url, page, artifacts):
    _open(page, app_url)
    page.get_by_text("Readouts: DCGAN vs CGAN vs StyleGAN").click()
    page.locator("#gan-readout-n input[type=number]").fill("100")
    page.locator("#gan-readout-n input[type=number]").press("Enter")
    page.locator("#gan-readout-btn").click()
    page.locator("#gan-readouts table").wait_for(timeout=240_000)
    text = page.locator("#gan-readouts").inner_text()
    for col in ("DCGAN", "CGAN", "StyleGAN", "BigGAN"):
        assert col in text
    assert "FID" in text and "PPL" in text
    page.screenshot(path=str(artifacts / "gan_readouts.png"), full_page=True)


def test_gan_drag_click_two_points_in_chromium(app_url, page, artifacts):
    _open(page, app_url, "Drag")
    page.locator("#gan-drag-readouts table").wait_for(timeout=300_000)  # the default drag, shown on open
    (hx, hy), (tx, ty) = click_points(page, "gan-drag", (15, 15), (20, 15))  # the handle, then its target
    assert abs(hx - 15) <= 1 and abs(hy - 15) <= 1 and (tx - hx, ty - hy) == (5, 0)
    page.locator("#gan-drag-iterations input[type=number]").fill("10")
    page.locator("#gan-drag-btn").click()
    page.locator("#gan-drag-note").get_by_text("of 10 iterations").wait_for(timeout=120_000)
    assert "tracked handle → target distance" in page.locator("#gan-drag-readouts").inner_text()
    page.screenshot(path=str(artifacts / "gan_drag.png"), full_page=True)


def test_gan_drag_api(client):
    from PIL import Image

    img, note, panel = client.predict(1, "triangle", "blue", 1.0, "15,15 -> 19,15", 8, True, True,
                                      api_name="/gan_drag")
    again = client.predict(1, "triangle", "blue", 1.0, "15,15 -> 19,15", 8, True, True, api_name="/gan_drag")
    assert Image.open(img).size == (256, 256) and "of 8 iterations" in note and "tracked handle" in panel
    assert Image.open(img).tobytes() == Image.open(again[0]).tobytes()  # same request, same drag
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="needs a target"):
        client.predict(1, "triangle", "blue", 1.0, "15,15 -> 19,15; 3,3", 8, True, True, api_name="/gan_drag")


def test_gan_sample_biggan_api(client):
    imgs, note = client.predict("BigGAN", "embedded", "heart", "red", 0.5, 4, 3, api_name="/gan_sample")
    assert len(imgs) == 4 and "z components beyond ±1.50 redrawn" in note


def test_gan_sample_api_is_deterministic(client):
    a, note = client.predict("StyleGAN", "embedded", "star", "red", 0.7, 4, 11, api_name="/gan_sample")
    b, _ = client.predict("StyleGAN", "embedded", "star", "red", 0.7, 4, 11, api_name="/gan_sample")
    assert len(a) == 4 and [g["caption"] for g in a] == [f"seed {11 + i}: red star" for i in range(4)]
    from PIL import Image

    assert [Image.open(g["image"]).tobytes() for g in a] == [Image.open(g["image"]).tobytes() for g in b]


def test_gan_readouts_api(client):
    panel = client.predict("embedded", 100, api_name="/gan_readouts")
    assert "<table" in panel and "FID" in panel and "N=100" in panel


def test_gan_mix_api(client):
    from PIL import Image

    grid, note = client.predict("embedded", "1,2", "3,4,5", "coarse (4–8 px)", "heart", "green", 1.0,
                                api_name="/gan_mix")
    assert Image.open(grid).size == (4 * 96, 3 * 96) and "coarse" in note


def test_gan_interpolate_api(client):
    z, w, gif, table = client.predict("StyleGAN", "embedded", 3, 4, 5, "square", "yellow", api_name="/gan_interpolate")
    assert z and w and gif.endswith(".gif") and "lerp in W" in table


def test_gan_truncation_api(client):
    fid, pr, note = client.predict("embedded", 50, api_name="/gan_truncation")
    assert "N = 50" in note
    psis = sorted({row[0] for row in fid["data"]})
    assert psis[0] == 0.0 and 1.0 in psis


@pytest.mark.parametrize("args, msg", [
    (("StyleGAN", "embedded", "star", "red", 3.0, 4, 1), "ψ must be in|greater than maximum value 2"),
    (("StyleGAN", "embedded", "star", "red", 1.0, 4, -5), "Seed must be between"),
    (("CGAN", "/no/such/folder", "star", "red", 1.0, 4, 1), "outside the models root"),
    (("CGAN", "nobody/no-such-gan", "star", "red", 1.0, 4, 1), "Could not load cgan"),
])
def test_gan_bad_input_api(client, args, msg):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=msg):
        client.predict(*args, api_name="/gan_sample")
    # the server keeps serving
    assert client.predict("DCGAN", "embedded", "any", "any", 1.0, 1, 0, api_name="/gan_sample")[0]
