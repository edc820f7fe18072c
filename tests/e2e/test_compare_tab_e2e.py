"""The Compare tab in headless Chromium and through gradio_client: every family on one condition, the blind arena
(200 concurrent votes stored and kept across a restart), the leaderboard, bad input."""
import threading

import pytest
from e2e_helpers import open_tab
from gradio_client import Client

from genmodels.hub import contenders as C
from genmodels.hub.arena_store import ArenaStore
from genmodels.hub.screenshots import free_port, start_app, stop_app

pytestmark = pytest.mark.e2e
FAST = C.available()  # every model by default (the PixelCNNs through their cached samplers)


def test_one_click_renders_every_family_with_readouts(app_url, page, artifacts):
    open_tab(page, app_url, "compare", "Compare", "Side by side")
    page.locator("#compare-seed input").fill("5")
    page.locator("#compare-go").click()
    page.wait_for_function("() => document.querySelector('#compare-note')?.innerText.includes('seed 5')",
                           timeout=300_000)
    captions = page.locator("#compare-gallery .caption-label, #compare-gallery figcaption").all_inner_texts()
    rows = page.locator("#compare-readouts tbody tr")
    assert rows.count() == len(FAST)
    table = page.locator("#compare-readouts").inner_text()
    for c in FAST:
        assert c.label in table
    assert page.locator("#compare-gallery img").count() >= len(FAST) or len(captions) >= len(FAST)
    page.screenshot(path=str(artifacts / "compare_side_by_side.png"), full_page=True)


def test_arena_in_the_browser_battle_vote_reveal(app_url, page, artifacts):
    open_tab(page, app_url, "compare", "Compare", "Arena")
    page.locator("#arena-left img").wait_for(timeout=120_000)  # opening the Arena starts a battle
    page.locator("#arena-right img").wait_for(timeout=30_000)
    bid = page.locator("#arena-battle-id textarea, #arena-battle-id input").first.input_value()
    assert len(bid) == 32
    page.locator("#arena-vote-left").click()
    page.wait_for_function("() => document.querySelector('#arena-reveal')?.innerText.includes(' was ')",
                           timeout=60_000)
    page.locator("#arena-standings table").wait_for(timeout=30_000)
    page.screenshot(path=str(artifacts / "compare_arena.png"), full_page=True)
    page.locator("#arena-vote-right").click()  # a second vote on the same battle: a clear error, not a crash
    page.locator(".toast-body").first.wait_for(timeout=30_000)
    assert "already has a vote" in page.locator(".toast-body").first.inner_text()


def test_leaderboard_tab_shows_the_results_file(app_url, page):
    open_tab(page, app_url, "compare", "Compare", "Leaderboard")
    page.locator("#leaderboard-table").get_by_text("CGAN", exact=True).first.wait_for(timeout=60_000)
    assert "python -m genmodels leaderboard" in page.locator("#leaderboard-note").inner_text()


def test_200_concurrent_votes_are_all_stored_and_survive_a_restart(app_url, client, arena_dir):
    store = ArenaStore(arena_dir)
    before = store.count_votes()
    errors = []

    def voter(k: int):
        try:
            cl = Client(app_url, verbose=False)
            for i in range(25):
                _, _, bid, _ = cl.predict("star", "red", "solid", "light", k * 100 + i, api_name="/arena_battle")
                cl.predict(bid, ("left", "right", "tie", "both_bad")[i % 4], api_name="/arena_vote")
        except Exception as e:  # noqa: BLE001 — reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=voter, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert not errors, errors[:3]
    total = store.count_votes()
    assert total - before == 200
    assert f"{total} votes" in client.predict(api_name="/arena_leaderboard")
    port = free_port()  # a second server on the same data dir: the votes are there
    proc = start_app(port, arena_dir / "restart.log")
    try:
        again = Client(f"http://127.0.0.1:{port}/", verbose=False)
        assert f"{total} votes" in again.predict(api_name="/arena_leaderboard")
    finally:
        stop_app(proc)


def test_api_bad_input_is_a_clear_message(client):
    with pytest.raises(Exception, match="(?i)unknown battle"):
        client.predict("0" * 32, "left", api_name="/arena_vote")
    with pytest.raises(Exception, match="(?i)unknown battle id"):
        client.predict("'; drop table battles; --", "left", api_name="/arena_vote")
    _, _, bid, _ = client.predict("heart", "blue", "striped", "dark", 1, api_name="/arena_battle")
    with pytest.raises(Exception, match="(?i)unknown vote"):
        client.predict(bid, "maybe", api_name="/arena_vote")
    client.predict(bid, "tie", api_name="/arena_vote")
    with pytest.raises(Exception, match="(?i)already has a vote"):
        client.predict(bid, "left", api_name="/arena_vote")
    with pytest.raises(Exception, match="blob is not in the list of choices"):  # Gradio's own dropdown check
        client.predict("blob", "red", "solid", "light", 0, 2, False, api_name="/compare_run")
    with pytest.raises(Exception, match="Seed must be"):
        client.predict("star", "red", "solid", "light", -3, 2, False, api_name="/compare_run")


def test_compare_api_returns_every_fast_family(client):
    gallery, panel, note = client.predict("cross", "green", "striped", "dark", 2, 1, False, api_name="/compare_run")
    assert len(gallery) == len(FAST) and all(g["caption"] for g in gallery)
    assert panel.count("<tr>") == len(FAST) + 1 and "seed 2" in note


def test_unknown_tab_in_a_link_falls_back_with_a_notice(app_url, page):
    page.goto(app_url + "?tab=nosuchfamily")
    page.locator("#hub-notice").get_by_text("does not have").wait_for(timeout=60_000)
    selected = page.locator("[role=tab][aria-selected=true]").first.inner_text().strip()
    assert selected == "Compare"
    assert "gradio 6" in page.locator("#hub-footer").inner_text()
