"""The real app, started as `python app.py` on a free port, shared by the e2e tests."""
import os
from pathlib import Path

import pytest

from genmodels.hub.screenshots import CHROMIUM_ARGS, free_port, start_app, stop_app

CHROMIUM = os.environ.get("GENMODELS_CHROMIUM", "/usr/bin/chromium")


ARENA_MODELS = "dcgan,cgan,stylegan,pix2pix,cyclegan,vae,cvae,vq-dalle"  # fast ones: 200-vote load test


@pytest.fixture(scope="session")
def arena_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("arena")


@pytest.fixture(scope="session")
def app_url(tmp_path_factory, arena_dir):
    os.environ["GENMODELS_ARENA_DIR"] = str(arena_dir)  # the app inherits it (start_app copies os.environ)
    os.environ["GENMODELS_ARENA_MODELS"] = ARENA_MODELS
    # every partial frame of a streamed caption, as a busy server sends them (the VAE tab's streaming test sees them)
    os.environ["GENMODELS_STREAM_EVERY_S"] = "0"
    port = free_port()
    log = tmp_path_factory.mktemp("app") / "app.log"
    try:
        proc = start_app(port, log)
    except RuntimeError:
        pytest.fail(f"app.py did not start:\n{log.read_text()[-3000:]}")
    yield f"http://127.0.0.1:{port}/"
    stop_app(proc)
    text = log.read_text()
    # Gradio logs the user-facing gr.Error it shows; uvicorn logs a browser that closed a page while a request (e.g.
    # a sketchpad upload) was in flight as ClientDisconnect, or as h11's "Too little data for declared Content-Length"
    # when the body was cut short, or "Too much data" (a streamed preview file re-served mid-response); any other
    # traceback is a bug.
    unexpected = (text.count("Traceback (most recent call last)") - text.count("\ngradio.exceptions.Error: ")
                  - text.count("\nstarlette.requests.ClientDisconnect")
                  - text.count("\nh11._util.LocalProtocolError: Too little data for declared Content-Length")
                  - text.count("\nh11._util.LocalProtocolError: Too much data for declared Content-Length"))
    assert unexpected <= 0, f"the app logged a traceback:\n{text[-4000:]}"


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's chromium (see .ci/run)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture()
def page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    yield pg
    ctx.close()


@pytest.fixture(scope="session")
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False)

