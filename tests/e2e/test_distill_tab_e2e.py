"""The Distilled sampler tab driven in headless Chromium (teacher vs student, the curves) and through gradio_client
(every api_name, bad input), on the embedded teacher and students."""
import pytest
from gradio_client.exceptions import AppError

from e2e_helpers import open_tab

pytestmark = pytest.mark.e2e


def test_compare_in_chromium(app_url, page, artifacts):
    open_tab(page, app_url, "distill", "Distilled sampler")
    page.locator("#distill-student-gallery img").first.wait_for(timeout=240_000)  # the first-open default
    assert "faster" in page.locator("#distill-note").inner_text()
    first = page.locator("#distill-student-gallery img").first.get_attribute("src")
    page.locator("#distill-student").get_by_text("1", exact=True).click()
    page.locator("#distill-seed input").fill("7")
    page.locator("#distill-compare-btn").click()
    page.wait_for_function("s => document.querySelector('#distill-student-gallery img')?.getAttribute('src') !== s",
                           arg=first, timeout=120_000)
    page.locator("#distill-note").get_by_text("student 1 step").wait_for(timeout=60_000)
    text = page.locator("#distill-readouts").inner_text()
    assert "student, 1 steps" in text and "plain DDIM, 1 steps" in text and "SSIM" in text and "CLIP score" in text
    assert page.locator("#distill-teacher img").count() == 4 and page.locator("#distill-ddim img").count() == 4
    page.screenshot(path=str(artifacts / "distill_compare.png"), full_page=True)

    page.get_by_role("tab", name="Quality vs steps").click()
    page.locator("#distill-curve-0 g.mark-line path").first.wait_for(timeout=60_000)
    assert "N = " in page.locator("#distill-curve-note").inner_text()
    page.screenshot(path=str(artifacts / "distill_curve.png"), full_page=True)


def test_distill_apis(client):
    teacher, student, ddim, note, panel = client.predict("a small blue striped heart on a dark background", 3, 16,
                                                         "2", 3.0, 2, api_name="/distill_compare")
    assert len(teacher) == len(student) == len(ddim) == 2 and "faster" in note and "SSIM" in panel
    again = client.predict("a small blue striped heart on a dark background", 3, 16, "2", 3.0, 2,
                           api_name="/distill_compare")
    assert [open(g["image"], "rb").read() for g in again[1]] == [open(g["image"], "rb").read() for g in student]
    *plots, note = client.predict(16, 3.0, api_name="/distill_curve")
    assert "measured now" in note and len(plots) == 4
    rows = plots[0]["value"]["data"] if isinstance(plots[0], dict) and "value" in plots[0] else plots[0]["data"]
    assert {r[2] for r in rows} >= {"distilled student", "teacher, DDIM (CFG)"} or len(rows) >= 3


@pytest.mark.parametrize("args, words", [
    (("a red star", 0, 64, "3", 3.0, 1), "not in the list of choices"),
    (("a red star", 0, 64, "4", 12.0, 1), "guidance weight w|greater than maximum value 8"),
    (("", 0, 64, "4", 3.0, 1), "prompt is empty"),
    (("a red star", 0, 0, "4", 3.0, 1), "Teacher steps|less than minimum value 1"),
])
def test_bad_input_is_a_clear_error(client, args, words):
    with pytest.raises(AppError, match=words):
        client.predict(*args, api_name="/distill_compare")


def test_hub_few_step_offline_is_a_clear_error(client):
    with pytest.raises(AppError, match="(?i)cache|offline|reached"):
        client.predict("runwayml/stable-diffusion-v1-5", "latent-consistency/lcm-lora-sdv1-5", "LCM-LoRA",
                       "a red star", 4, 1.0, 0, api_name="/distill_hub")
    with pytest.raises(AppError, match="Steps must be|greater than maximum value 8"):
        client.predict("embedded", "", "Turbo", "a red star", 20, 0.0, 0, api_name="/distill_hub")
