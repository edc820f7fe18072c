"""``python -m genmodels screenshots [OUT] [--tabs KEY ...]``: what a visitor sees on first open, one PNG per tab.

Starts ``python app.py`` on a free local port, opens ``?tab=<key>`` for every registered family in headless
Chromium (Playwright driving Debian's ``/usr/bin/chromium``, or ``GENMODELS_CHROMIUM``), waits until the tab's
first-open outputs are in (its images decoded, no progress bar left) and saves a full-page screenshot. Used for
the pictures in ``docs/screenshots`` — made by this script, never by hand.

Each picture is stamped in ``manifest.json`` beside it: the tabs the served hub had (read from its ``/config``), the
commit (and whether the work tree had changes), the time, and the picture's SHA-256 — so a test
(tests/unit/test_screenshot_manifest.py) catches a picture whose hub had other tabs than the registry has now, or a
picture replaced without the command.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
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
  const busy = /processing \|/.test(panel.innerText);  // a status tracker still counting (the Examples table shows early)
  return shown && !busy && imgs.every(i => i.complete && i.naturalWidth > 0) && pending === 0;
}"""


# Sub-tabs pictured on their own (``--tabs gan-drag``): picture key -> (tab key, sub-tab label). The command makes
# them by default after the tabs' first views.
SUB_TABS = {"gan-drag": ("gan", "Drag"), "gan-text": ("gan", "Text → image (StackGAN)"),
            "gan-edit": ("gan", "Edit an attribute")}
MANIFEST = "manifest.json"
STAMPED_BY = "python -m genmodels screenshots"


def picture_name(key: str) -> str:
    """The file the command writes for tab ``key``."""
    return f"{key}.png"


def hub_tabs_from_config(config: dict) -> list[dict[str, str]]:
    """The hub's top-level tabs, in order, from a Gradio config (``GET /config`` or ``Blocks.config``): the tab items
    whose elem_id build.py set from the family key (``TAB_ELEM_ID``); [{"key", "title"}, …]."""
    prefix = "tab-"  # build.TAB_ELEM_ID = "tab-{key}" (not imported: that would import gradio)
    tabs = []
    for comp in config.get("components", []):
        props = comp.get("props") or {}
        elem_id = props.get("elem_id") or ""
        if comp.get("type") == "tabitem" and elem_id.startswith(prefix) and props.get("id") == elem_id[len(prefix):]:
            tabs.append({"key": props["id"], "title": props.get("label")})
    return tabs


def git_state(root: Path = ROOT) -> dict:
    """``{"commit": HEAD or None, "dirty": bool or None}`` of the checkout at ``root`` (None where git is absent)."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_manifest(out: str | Path) -> dict:
    """The manifest in ``out`` ({"about", "pictures": {name: stamp}}), or an empty one."""
    path = Path(out) / MANIFEST
    if path.exists():
        return json.loads(path.read_text())
    return {"pictures": {}}


def write_manifest(out: str | Path, stamps: dict[str, dict]) -> Path:
    """Merge ``stamps`` (picture name → stamp) into ``out``/manifest.json; other pictures' entries are kept. One line
    per field, so a diff shows what changed."""
    path = Path(out) / MANIFEST
    pictures = {**read_manifest(out).get("pictures", {}), **stamps}
    about = (f"Written by `{STAMPED_BY}`: per picture, the tabs the served hub had (hub_tabs, from its /config), the "
             "commit and whether the work tree had changes, when it was taken (UTC) and its SHA-256. "
             "tests/unit/test_screenshot_manifest.py compares hub_tabs with the registry.")
    entries = []
    for name in sorted(pictures):
        fields = [f"   {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in pictures[name].items()]
        entries.append(f"  {json.dumps(name)}: {{\n" + ",\n".join(fields) + "\n  }")
    text = "{\n" + f" \"about\": {json.dumps(about)},\n \"pictures\": {{\n" + ",\n".join(entries) + "\n }\n}\n"
    json.loads(text)  # the file stays valid JSON
    path.write_text(text)
    return path


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
    """Screenshot each tab (all registered families by default) after its first-open outputs appear, and stamp each
    picture in ``out``/manifest.json (the served hub's tabs, commit, time, SHA-256)."""
    from ..registry import families

    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise RuntimeError("screenshots need playwright: pip install -r requirements-dev.txt") from None
    chromium = os.environ.get("GENMODELS_CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists():
        raise RuntimeError(f"Chromium not found at {chromium}: apt-get install -y chromium (or set GENMODELS_CHROMIUM)")
    known = {f.key: f.title for f in families()}
    keys = tabs or [*known, *SUB_TABS]
    unknown = [k for k in keys if k not in known and k not in SUB_TABS]
    if unknown:
        raise RuntimeError(f"unknown tab(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = start_app(port, out / "app.log")
    saved, stamps = [], {}
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=30) as r:
            hub_tabs = hub_tabs_from_config(json.loads(r.read()))
        missing = [k for k in keys if SUB_TABS.get(k, (k,))[0] not in {t["key"] for t in hub_tabs}]
        if missing:
            raise RuntimeError(f"the served hub has no tab {', '.join(missing)} (its tabs: "
                               f"{', '.join(t['key'] for t in hub_tabs)})")
        git = git_state()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
            for key in keys:
                tab, sub = SUB_TABS.get(key, (key, None))
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"http://127.0.0.1:{port}/?tab={tab}")
                page.wait_for_function(
                    "t => document.querySelector('[role=tab][aria-selected=true]')?.innerText.trim() === t",
                    arg=known[tab], timeout=60_000)
                if sub is not None:
                    page.get_by_role("tab", name=sub, exact=True).click()
                page.wait_for_function(_READY, timeout=timeout_s * 1000, polling=500)
                page.wait_for_timeout(500)
                path = out / picture_name(key)
                page.screenshot(path=str(path), full_page=True)
                title = known[tab] if sub is None else f"{known[tab]} › {sub}"
                stamps[path.name] = {"tab": key, "title": title, "hub_tabs": hub_tabs, **git,
                                     "taken": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                                     "sha256": sha256(path), "stamped_by": STAMPED_BY}
                saved.append(path)
                page.close()
            browser.close()
    finally:
        stop_app(proc)
        if stamps:  # the pictures written before a failure are stamped too
            write_manifest(out, stamps)
    (out / "app.log").unlink(missing_ok=True)
    return saved
