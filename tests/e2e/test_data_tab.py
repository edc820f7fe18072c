import pytest

pytestmark = pytest.mark.e2e


def test_data_tab_in_chromium(app_url, page, artifacts):
    page.goto(app_url + "?tab=data")
    page.get_by_role("tab", name="Data").wait_for()
    page.locator("#data-sample-btn").click()
    imgs = page.locator("#data-gallery img")
    imgs.first.wait_for(timeout=60_000)
    assert imgs.count() == 16
    assert "16 item(s) of the" in page.locator("#data-message").inner_text()
    page.screenshot(path=str(artifacts / "data_tab.png"), full_page=True)
    # clicking an item shows its twin, edge map and mask
    imgs.first.click()
    page.locator("#tab-data").get_by_text("Other-fill twin").first.wait_for()  # scoped: other tabs say it too
    page.wait_for_timeout(1500)
    page.screenshot(path=str(artifacts / "data_tab_details.png"), full_page=True)


def test_no_placeholder_tabs(app_url, page):
    page.goto(app_url)
    tabs = page.get_by_role("tab")
    tabs.first.wait_for()
    names = [t.inner_text().lower() for t in tabs.all()]
    assert names and not any("coming soon" in n or "placeholder" in n for n in names)
    assert "coming soon" not in page.content().lower()


def test_data_sample_api(client):
    gallery, table, msg = client.predict("test", "heart", "red", "any", "any", 5, 7, "32", api_name="/data_sample")
    assert len(gallery) == 5 and all("red" in g["caption"] and "heart" in g["caption"] for g in gallery)
    assert [r[2] for r in table["data"]] == ["heart"] * 5
    assert gallery == client.predict("test", "heart", "red", "any", "any", 5, 7, "32", api_name="/data_sample")[0] \
        or [g["caption"] for g in gallery] == [g["caption"] for g in client.predict(
            "test", "heart", "red", "any", "any", 5, 7, "32", api_name="/data_sample")[0]]


def test_data_sample_bad_filters_give_message_not_error(client):
    gallery, table, msg = client.predict("test", "any", "pink", "any", "any", 5, 0, "32", api_name="/data_sample")
    assert gallery == [] and "Unknown colour 'pink'" in msg


def test_data_sample_bad_seed_is_a_clear_error(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="Seed must be between"):
        client.predict("test", "any", "any", "any", "any", 5, -4, "32", api_name="/data_sample")
