import zipfile

import pytest
from PIL import Image

from genmodels.data import shapes

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def image_sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("sets")
    out = {}
    for name, split in (("a", "train"), ("b", "val")):
        folder = root / name
        folder.mkdir()
        for i in range(8):
            Image.fromarray(shapes.item(split, i).image).save(folder / f"{i}.png")
        out[name] = sorted(str(p) for p in folder.glob("*.png"))
    (root / "broken.png").write_bytes(b"not an image")
    out["broken"] = str(root / "broken.png")
    z = root / "a.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in out["a"]:
            zf.write(p, f"imgs/{p.split('/')[-1]}")
    out["zip"] = str(z)
    empty = root / "empty.zip"
    zipfile.ZipFile(empty, "w").close()
    out["empty_zip"] = str(empty)
    return out


def test_metrics_sets_in_chromium(app_url, page, image_sets, artifacts):
    page.goto(app_url + "?tab=metrics")
    tab = page.get_by_role("tab", name="Metrics", exact=True)
    tab.wait_for()
    page.wait_for_function("document.querySelector('[role=tab][aria-selected=true]')?.innerText.trim() === 'Metrics'")
    assert "Inception" in page.locator("#metrics-backbone-status").inner_text()  # what this server can use
    # an upload switches that set's source to "upload" (the tab opens on the shapes-train vs shapes-test example)
    page.locator("#metrics-files-a input[type=file]").set_input_files(image_sets["a"] + [image_sets["broken"]])
    page.locator("#metrics-files-b input[type=file]").set_input_files(image_sets["b"])
    page.wait_for_timeout(1500)
    for src in ("#metrics-src-a", "#metrics-src-b"):
        assert page.locator(src).get_by_label("upload").is_checked()
    page.locator("#metrics-sets-btn").click()
    page.locator("#metrics-sets-out").get_by_text("N=8 vs 8").first.wait_for(timeout=120_000)
    text = page.locator("#metrics-sets-out").inner_text()
    for metric in ("FID", "KID", "IS", "precision", "recall"):
        assert metric in text
    assert "shapes-classifier@" in text and "N=8 vs 8" in text and "skipped 1 unreadable" in text
    page.screenshot(path=str(artifacts / "metrics_sets.png"), full_page=True)


def test_metrics_sets_api(client, image_sets):
    from gradio_client import handle_file

    html, raw = client.predict("upload", [handle_file(image_sets["zip"])], "shapes-test", None, ["fid", "kid"],
                               "shapes", api_name="/metrics_sets")
    assert [r["metric"] for r in raw] == ["FID", "KID"] and raw[0]["n"] == 8 and raw[0]["n_ref"] == 2000
    assert raw[0]["value"] > 0 and raw[0]["interval"] and "small N" in raw[0]["warning"]


@pytest.mark.parametrize("files, msg", [
    ([], "upload images or a zip"),
    (["broken"], "no readable images"),
    (["empty_zip"], "no readable images"),
])
def test_metrics_sets_bad_input(client, image_sets, files, msg):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=f"(?i){msg}"):
        client.predict("upload", [handle_file(image_sets[f]) for f in files] or None, "shapes-test", None, ["fid"],
                       "shapes", api_name="/metrics_sets")


def test_metrics_sets_one_image_is_a_clear_error(client, image_sets):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="at least 2"):
        client.predict("upload", [handle_file(image_sets["a"][0])], "shapes-test", None, ["fid"], "shapes",
                       api_name="/metrics_sets")


def test_metrics_pair_api(client, image_sets, tmp_path):
    from gradio_client import handle_file

    big = tmp_path / "big.png"
    Image.open(image_sets["b"][0]).resize((48, 48)).convert("RGBA").save(big)
    slider, html, raw = client.predict(handle_file(image_sets["a"][0]), handle_file(str(big)),
                                       api_name="/metrics_pair")
    names = [r["metric"] for r in raw]
    assert names[:2] == ["SSIM", "PSNR (dB)"] and "PD" in names and "style distance" in names
    assert "resized" in html and len(slider) == 2


def test_metrics_clip_api(client, image_sets):
    from gradio_client import handle_file

    cap = shapes.scene_params("train", 0).caption()
    _, right = client.predict(handle_file(image_sets["a"][0]), cap, "shapes", api_name="/metrics_clip")
    _, wrong = client.predict(handle_file(image_sets["a"][0]), "a small cyan solid heart on a light background",
                              "shapes", api_name="/metrics_clip")
    assert right["backbone"].startswith("shapes-clip@") and right["value"] >= wrong["value"]
    _, fallback = client.predict(handle_file(image_sets["a"][0]), cap, "standard", api_name="/metrics_clip")
    assert "used the shapes CLIP instead" in fallback["warning"]
