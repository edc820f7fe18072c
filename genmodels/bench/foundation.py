"""Bench cases of the foundation: hub cold start vs a bare ``import gradio, torch``; shapes rendering speed."""
from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import threading
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


def time_cold_start(timeout: float = 120.0) -> dict[str, float]:
    """Spawn ``python app.py`` and time, from the spawn, (a) ``page``: the page answers (GET / → 200), (b)
    ``first_call``: then the first API call is served (data_sample: no model), (c) ``models_ready``: the server says
    transformers / diffusers are resolved (its background warm-up, hub/build.py ``WARM_MARK``; NaN if not seen within
    ``timeout``), after which model loads stop waiting for it."""
    from ..hub.build import WARM_MARK

    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    base = f"http://127.0.0.1:{port}"
    ready: dict[str, float] = {}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)

    def read_log() -> None:  # drains the server's output; notes when the warm-up line appears
        for line in proc.stdout:
            if WARM_MARK in line and "models_ready" not in ready:
                ready["models_ready"] = time.perf_counter() - t0

    reader = threading.Thread(target=read_log, daemon=True)
    reader.start()
    out: dict[str, float] = {}
    try:
        while "page" not in out:
            if proc.poll() is not None:
                raise RuntimeError(f"app.py exited with status {proc.returncode}")
            if time.perf_counter() - t0 > timeout:
                raise RuntimeError("app.py did not answer in time")
            try:
                with urllib.request.urlopen(f"{base}/", timeout=10) as r:
                    if r.status == 200 and r.read(1):
                        out["page"] = time.perf_counter() - t0
            except OSError:
                time.sleep(0.05)
        call_api(base, "data_sample", ["test", "any", "any", "any", "any", 4, 0, "32"], timeout=timeout)
        out["first_call"] = time.perf_counter() - t0
        while "models_ready" not in ready and time.perf_counter() - t0 < timeout and proc.poll() is None:
            time.sleep(0.05)
        out["models_ready"] = ready.get("models_ready", float("nan"))
        return out
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        reader.join(5)


def time_bare_import() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import gradio, torch"], check=True)
    return time.perf_counter() - t0


@case("cold_start")
def cold_start(quick: bool) -> list[Row]:
    """``python app.py`` until the page answers vs a bare ``import gradio, torch``, interleaved in one run."""
    reps = 1 if quick else 3
    bare, app = [], []
    for _ in range(reps):  # interleaved, so drift hits both alike
        bare.append(time_bare_import())
        app.append(time_cold_start())
    b = statistics.median(bare)
    a = {k: statistics.median(x[k] for x in app) for k in app[0]}
    note = f"median of {reps}, interleaved with the bare import"
    return [("cold_start", "bare `import gradio, torch`", b, "s", note),
            ("cold_start", "`python app.py` → the page answers (GET /)", a["page"], "s", note),
            ("cold_start", "ratio page answers / bare import", a["page"] / b, "×", "bar ≤ 1.5, goal ≤ 1.2"),
            ("cold_start", "`python app.py` → first served API call (data_sample)", a["first_call"], "s", note),
            ("cold_start", "ratio first API call / bare import", a["first_call"] / b, "×", note),
            ("cold_start", "`python app.py` → model libraries resolved (background warm-up done)",
             a["models_ready"], "s", f"{note}; model loads wait until then")]


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
