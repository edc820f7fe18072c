"""Load test: ``clients`` concurrent gradio_client clients × ``per_client`` mixed requests against ``python app.py``
on loopback (`python -m genmodels bench --only load`). Reports the share of requests served, p50 / p95 latency, the
server's peak resident memory and whether the worker survived; a slow-marked test runs it with small numbers.

The mix is what visitors do: GAN samples, a VAE sample, a DALL-E-style caption, a pix2pix test item, a few-step
tiny-SD prompt, a metrics pair, the data browser, the leaderboard — cheap settings, a different seed per request.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import Row, case


def _mix(png: str):
    """(api_name, kwargs-from-seed) pairs cycled through by every client."""
    from gradio_client import handle_file

    return [
        ("/gan_sample", lambda s: dict(model="CGAN", source="embedded", shape="star", colour="red", psi=1.0, count=4,
                                       seed=s)),
        ("/vae_sample", lambda s: dict(model="CVAE", shape="heart", colour="blue", count=2, temperature=1.0,
                                       guidance=3.0, seed=s)),
        ("/vae_text2image", lambda s: dict(caption="a small green solid circle", count=1, temperature=1.0, top_k=0,
                                           guidance=3.0, seed=s)),
        ("/img2img_cyclegan", lambda s: dict(source="embedded", mode="Test item", index=s % 2000, upload=None,
                                             direction="A→B")),
        ("/diffusion_txt2img", lambda s: dict(prompt="a large red striped star on a light background", negative="",
                                              steps=4, cfg=3.0, scheduler="DDIM", count=1, seed=s, model="embedded")),
        ("/metrics_pair", lambda s: dict(image_a=handle_file(png), image_b=handle_file(png))),
        ("/data_sample", lambda s: dict(split="test", shape="any", colour="any", fill="any", background="any", count=8,
                                        seed=s, size="32")),
        ("/arena_leaderboard", lambda s: {}),
        ("/gan_sample", lambda s: dict(model="StyleGAN", source="embedded", shape="cross", colour="cyan", psi=0.7,
                                       count=4, seed=s)),
        ("/ar_complete", lambda s: dict(model="PixelCNN++", index=s % 2000, upload=None, keep_rows=28, count=1,
                                        seed=s)),
    ]


def _rss_mb(pid: int) -> float:
    import psutil

    try:
        p = psutil.Process(pid)
        return sum(q.memory_info().rss for q in [p, *p.children(recursive=True)]) / 2**20
    except psutil.Error:
        return 0.0


def load_test(clients: int = 8, per_client: int = 10, url: str | None = None, timeout_s: float = 300) -> dict:
    """Start the app (unless ``url`` is given), run the load, stop it; returns the measurements."""
    from gradio_client import Client
    from PIL import Image

    from ..hub.screenshots import free_port, start_app, stop_app

    tmp = Path(tempfile.mkdtemp(prefix="genmodels-load-"))
    png = str(tmp / "a.png")
    Image.new("RGB", (48, 48), (30, 144, 255)).save(png)
    proc = None
    if url is None:
        os.environ.setdefault("GENMODELS_ARENA_DIR", str(tmp / "arena"))
        port = free_port()
        proc = start_app(port, tmp / "app.log")
        url = f"http://127.0.0.1:{port}/"
    peak, stop = [0.0], threading.Event()

    def sample_rss():
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_mb(proc.pid))
            stop.wait(0.2)

    sampler = threading.Thread(target=sample_rss, daemon=True)
    if proc is not None:
        sampler.start()
    mix = _mix(png)
    results: list[tuple[str, bool, float, str]] = []
    lock = threading.Lock()

    def one_client(k: int):
        c = Client(url, verbose=False)
        for j in range(per_client):
            api, kwargs = mix[(k + j) % len(mix)]
            t0 = time.perf_counter()
            try:
                c.submit(api_name=api, **kwargs(1000 * k + j)).result(timeout=timeout_s)
                ok, err = True, ""
            except Exception as e:  # noqa: BLE001 — counted and reported
                ok, err = False, f"{type(e).__name__}: {str(e)[:120]}"
            with lock:
                results.append((api, ok, time.perf_counter() - t0, err))

    start_rss = _rss_mb(proc.pid) if proc is not None else 0.0
    t0 = time.perf_counter()
    try:
        with ThreadPoolExecutor(clients) as ex:
            list(ex.map(one_client, range(clients)))
        wall = time.perf_counter() - t0
        alive = proc is None or proc.poll() is None
        after_ok = False
        try:  # the worker still serves a normal request afterwards
            Client(url, verbose=False).predict(api_name="/arena_leaderboard")
            after_ok = True
        except Exception:  # noqa: BLE001
            pass
    finally:
        stop.set()
        if proc is not None:
            stop_app(proc)
    lat = sorted(r[2] for r in results)
    served = sum(r[1] for r in results)
    return {"requests": len(results), "served": served, "success_rate": served / max(1, len(results)),
            "p50_s": statistics.median(lat) if lat else float("nan"),
            "p95_s": lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))] if lat else float("nan"),
            "wall_s": wall, "rss_start_mb": start_rss, "rss_peak_mb": peak[0], "server_alive": alive,
            "served_after": after_ok, "errors": [r for r in results if not r[1]][:10], "clients": clients,
            "per_client": per_client}


@case("load")
def bench_load(quick: bool) -> list[Row]:
    clients, per = (4, 5) if quick else (8, 10)
    r = load_test(clients, per)
    note = f"{clients} clients × {per} mixed requests on loopback, app queue as shipped"
    rows = [("load", "requests served", 100 * r["success_rate"], "%", f"{r['served']}/{r['requests']}; {note}"),
            ("load", "latency p50", r["p50_s"], "s", note),
            ("load", "latency p95", r["p95_s"], "s", note),
            ("load", "wall time", r["wall_s"], "s", note),
            ("load", "server RSS at start", r["rss_start_mb"], "MB", "app.py after its on-open defaults"),
            ("load", "server RSS peak", r["rss_peak_mb"], "MB", "sampled every 0.2 s during the load"),
            ("load", "worker alive and serving after", float(r["server_alive"] and r["served_after"]), "bool", "")]
    for api, _, secs, err in r["errors"]:
        rows.append(("load", f"failed: {api}", secs, "s", err.replace("|", "/")))
    return rows
