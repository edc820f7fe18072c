"""Bench cases of the foundation: hub cold start vs a bare ``import gradio, torch``; shapes rendering speed."""
from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from . import Row, case

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call_api(base: str, api_name: str, data: list, timeout: float = 60.0):
    """One call through Gradio's HTTP API (POST /gradio_api/call/<name>, then read the event stream)."""
    req = urllib.request.Request(f"{base}/gradio_api/call/{api_name}", data=json.dumps({"data": data}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        event_id = json.loads(r.read())["event_id"]
    with urllib.request.urlopen(f"{base}/gradio_api/call/{api_name}/{event_id}", timeout=timeout) as r:
        text = r.read().decode()
    if "event: complete" not in text:
        raise RuntimeError(f"API call {api_name} did not complete: {text[:300]}")
    return text


def time_to_first_call(timeout: float = 120.0) -> float:
    """Seconds from spawning ``python app.py`` to the first completed API call (data_sample)."""
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    base = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - t0 < timeout:
            if proc.poll() is not None:
                raise RuntimeError(f"app.py exited with status {proc.returncode}")
            try:
                call_api(base, "data_sample", ["test", "any", "any", "any", "any", 4, 0, "32"], timeout=10)
                return time.perf_counter() - t0
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("app.py did not answer in time")
    finally:
        proc.terminate()
        proc.wait(10)


def time_bare_import() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import gradio, torch"], check=True)
    return time.perf_counter() - t0


@case("cold_start")
def cold_start(quick: bool) -> list[Row]:
    reps = 1 if quick else 3
    bare, app = [], []
    for _ in range(reps):  # interleaved, so drift hits both alike
        bare.append(time_bare_import())
        app.append(time_to_first_call())
    b, a = statistics.median(bare), statistics.median(app)
    return [("cold_start", "bare `import gradio, torch`", b, "s", f"median of {reps}"),
            ("cold_start", "`python app.py` → first served API call", a, "s", f"median of {reps}"),
            ("cold_start", "ratio app / bare import", a / b, "×", "goal ≤ 1.5")]


@case("shapes_render")
def shapes_render(quick: bool) -> list[Row]:
    from ..data import shapes

    n = 500 if quick else 2000
    shapes.render_batch("train", 0, 16)
    rows = []
    for full, label in ((False, "image + labels"), (True, "image + twin + mask + edges")):
        t0 = time.perf_counter()
        shapes.render_batch("train", 0, n, full=full)
        rows.append(("shapes_render", f"{label}, 1 process", n / (time.perf_counter() - t0), "items/s", f"n={n}"))
    workers = os.cpu_count() or 1
    t0 = time.perf_counter()
    shapes.render_batch("train", 0, n, workers=workers)
    rows.append(("shapes_render", f"image + labels, {workers} processes", n / (time.perf_counter() - t0), "items/s",
                 f"n={n}"))
    return rows
