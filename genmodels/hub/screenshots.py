"""``python -m genmodels screenshots [OUT] [--tabs KEY ...]``: what a visitor sees on first open, one PNG per tab.

Starts ``python app.py`` on a free local port, opens ``?tab=<key>`` for every registered family in headless
Chromium (Playwright driving Debian's ``/usr/bin/chromium``, or ``GENMODELS_CHROMIUM``), waits until the tab's
first-open outputs are in (its images decoded, no progress bar left) and saves a full-page screenshot. Used for
the pictures in ``docs/screenshots`` — made by this script, never by hand.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
# JavaScript: true once the selected tab panel shows at least one decoded image and nothing is still pending.
_READY = """() => {
  const panel = [...document.querySelectorAll('[role=tabpanel]')].find(p => p.offsetParent !== null);
  if (!panel) return false;
  const imgs = [...panel.querySelectorAll('img')].filter(i => i.offsetParent !== null);
  const pending = panel.querySelectorAll('.pending, .progress-text, .eta-bar').length;
  const shown = imgs.length > 0 || panel.querySelector('table') !== null;  // tables-only tabs (Metrics)
  return shown && imgs.every(i => i.complete && i.naturalWidth > 0) && pending === 0;
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(port: int, log: Path) -> subprocess.Popen:
    """``python app.py`` on 127.0.0.1:``port`` (offline), output to ``log``; returns once its API answers (the e2e
    tests' app fixture uses this too)."""
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1", "HF_HUB_OFFLINE": "1",
           "GRADIO_ANALYTICS_ENABLED": "False"}
    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    t0 = time.time()
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/gradio_api/info", timeout=5)
            return proc
        except OSError:
            if proc.poll() is not None or time.time() - t0 > 180:
                proc.kill()
                raise RuntimeError(f"app.py did not start; see {log}") from None
            time.sleep(0.3)


def stop_app(proc: subprocess.Popen) -> None:
    """Terminate a ``start_app`` server (kill it if it has not exited 15 s later)."""
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


def take(out: str | Path = "docs/screenshots", tabs: list[str] | None = None, timeout_s: float = 180) -> list[Path]:
    """Screenshot each tab (all registered families by default) after its first-open outputs appear."""
    from ..registry import families

    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise RuntimeError("screenshots need playwright: pip install -r requirements-dev.txt") from None
    chromium = os.environ.get("GENMODELS_CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists():
        raise RuntimeError(f"Chromium not found at {chromium}: apt-get install -y chromium (or set GENMODELS_CHROMIUM)")
    known = {f.key: f.title for f in families()}
    keys = tabs or list(known)
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise RuntimeError(f"unknown tab(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = start_app(port, out / "app.log")
    saved = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
            for key in keys:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"http://127.0.0.1:{port}/?tab={key}")
                page.wait_for_function(
                    "t => document.querySelector('[role=tab][aria-selected=true]')?.innerText.trim() === t",
                    arg=known[key], timeout=60_000)
                page.wait_for_function(_READY, timeout=timeout_s * 1000, polling=500)
                page.wait_for_timeout(500)
                path = out / f"{key}.png"
                page.screenshot(path=str(path), full_page=True)
                saved.append(path)
                page.close()
            browser.close()
    finally:
        stop_app(proc)
    (out / "app.log").unlink(missing_ok=True)
    return saved
