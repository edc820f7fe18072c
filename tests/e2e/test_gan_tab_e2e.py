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


def test_gan_layers_in_chromium(app_url, page, artifacts):
    """The embedded CGAN is layered: the Layers accordion shows background, mask, placed object and image of each of
    the first samples, with their poses."""
    _open(page, app_url)
    page.get_by_text("Layers (CGAN", exact=False).first.click()
    page.locator("#gan-layers-btn").click()
    page.wait_for_function("document.querySelectorAll('#gan-layers img').length === 32", timeout=60_000)
    page.locator("#gan-layers-note").get_by_text("rotation", exact=False).wait_for(timeout=60_000)
    page.screenshot(path=str(artifacts / "gan_layers.png"), full_page=True)


def test_gan_layers_api(client):
    items, note = client.predict("CGAN", "embedded", "heart", "red", 2, 3, api_name="/gan_layers")
    assert [g["caption"] for g in items] == [f"seed {3 + i}: {n}" for i in range(2)
                                             for n in ("background", "mask", "placed object", "image")]
    assert "| 3 |" in note and "| 4 |" in note
    with pytest.raises(Exception, match="draws in one pass"):
        client.predict("StyleGAN", "embedded", "heart", "red", 2, 3, api_name="/gan_layers")


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
    assert "spatial transformer" in note  # the default generator: the layered CGAN
    img, note, panel = client.predict(1, "triangle", "blue", 1.0, "15,15 -> 19,15", 8, True, True, "stylegan",
                                      api_name="/gan_drag")
    assert "StyleGAN's 16-px features" in note and "tracked handle" in panel
    with pytest.raises(AppError, match="not in the list of choices"):  # Gradio's own check answers first
        client.predict(1, "triangle", "blue", 1.0, "15,15 -> 19,15", 8, True, True, "vae", api_name="/gan_drag")


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


def test_gan_text2image_in_chromium(app_url, page, artifacts):
    _open(page, app_url, "Text → image (StackGAN)")
    page.locator("#gan-text-readouts table").wait_for(timeout=120_000)  # the default caption, shown on open
    page.locator("#gan-text-caption textarea").fill("a small green solid heart on a light background")
    page.locator("#gan-text-btn").click()
    page.locator("#gan-text-note").get_by_text("a small green solid heart on a light background").wait_for(
        timeout=60_000)
    page.wait_for_function("document.querySelectorAll('#gan-text-stage1 img').length === 8 && "
                           "document.querySelectorAll('#gan-text-stage2 img').length === 8")
    assert "stage II" in page.locator("#gan-text-readouts").inner_text()
    page.screenshot(path=str(artifacts / "gan_text2image.png"), full_page=True)


def test_gan_text2image_api(client):
    one, two, note, table = client.predict("a red striped star, big please", 3, 4, api_name="/gan_text2image")
    again = client.predict("a red striped star, big please", 3, 4, api_name="/gan_text2image")
    assert len(one) == len(two) == 4 and [g["caption"] for g in two] == [f"seed {3 + i}" for i in range(4)]
    assert "Ignored words the model does not know: please." in note  # "big" is a synonym of "large"
    assert "drawn at random (seed 3): background" in note and "a large red striped star" in note
    assert "stage I" in table and "stage II" in table
    from PIL import Image

    assert Image.open(one[0]["image"]).size == (16, 16) and Image.open(two[0]["image"]).size == (32, 32)
    assert [Image.open(g["image"]).tobytes() for g in two] == [Image.open(g["image"]).tobytes() for g in again[1]]
    from gradio_client.exceptions import AppError

    for bad, msg in (("", "caption is empty"), ("hello world", "names no shape")):
        with pytest.raises(AppError, match=msg):
            client.predict(bad, 0, 2, api_name="/gan_text2image")


def test_gan_edit_in_chromium(app_url, page, artifacts):
    _open(page, app_url, "Edit an attribute")
    page.locator("#gan-edit-readouts table").wait_for(timeout=180_000)  # the default edit, shown on open
    page.locator("#gan-edit-attribute").get_by_text("shape", exact=True).click()
    page.locator("#gan-edit-iterations input[type=number]").fill("20")
    page.locator("#gan-edit-iterations input[type=number]").press("Enter")
    page.locator("#gan-edit-btn").click()
    page.locator("#gan-edit-note").get_by_text("set to circle").wait_for(timeout=120_000)
    page.wait_for_function("document.querySelectorAll('#gan-edit-gallery img').length === 4")
    assert "mask IoU, edited vs source" in page.locator("#gan-edit-readouts").inner_text()
    page.screenshot(path=str(artifacts / "gan_edit.png"), full_page=True)


def test_gan_edit_api_test_item_and_upload(client, tmp_path):
    pics, note, table = client.predict(7, None, "shape", "heart", 10, api_name="/gan_edit")
    again = client.predict(7, None, "shape", "heart", 10, api_name="/gan_edit")
    assert len(pics) == 4 and "ground truth" in note and "new shape recognised (heart)" in table
    from PIL import Image

    assert [Image.open(g["image"]).tobytes() for g in pics] == [Image.open(g["image"]).tobytes() for g in again[0]]
    # an upload of another size and mode: converted, said, the guide reads its attributes
    from gradio_client import handle_file
    from genmodels.data.dataset import test_split

    up = tmp_path / "item.png"
    Image.fromarray(test_split()["images"][3]).resize((64, 64)).convert("RGBA").save(up)
    pics, note, _ = client.predict(0, handle_file(str(up)), "colour", "cyan", 10, api_name="/gan_edit")
    assert "read by the guide network" in note and "resized from 64×64" in note
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="Unknown colour"):
        client.predict(7, None, "colour", "purple", 10, api_name="/gan_edit")
    with pytest.raises(AppError, match="Test item"):
        client.predict(5000, None, "colour", "red", 10, api_name="/gan_edit")
