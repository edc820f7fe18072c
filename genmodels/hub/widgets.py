"""Widgets shared by every tab: the seed row, input checks, the "How it works" accordion, the readout panel."""
from __future__ import annotations

import functools
import inspect
import html
import logging
import random
import threading
import zipfile
from typing import Callable, Sequence

import gradio as gr
import numpy as np

from ..limits import Deadline
from ..validate import (MAX_SEED, clamp_count, image_32, parse_seed, parse_test_index,  # noqa: F401
                        parse_whole)

USER_ERRORS = (ValueError, FileNotFoundError, KeyError, zipfile.BadZipFile)


def user_errors(fn: Callable) -> Callable:
    """Turn the errors a person can fix (bad values, missing files, an unavailable backbone) into a ``gr.Error``
    with the message, so the UI shows a sentence instead of a traceback. Generators are wrapped too."""
    from ..scoring.backbones import BackboneUnavailable

    errors = (*USER_ERRORS, BackboneUnavailable)

    def convert(e: Exception) -> gr.Error:
        if isinstance(e, gr.Error):
            return e
        msg = str(e).strip("'\"") or type(e).__name__
        msg = msg[:1].upper() + msg[1:] if msg[:1].isascii() else msg
        return gr.Error(html.escape(msg, quote=False))  # messages may quote what the user typed

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            deadline = Deadline()  # one time budget for the whole stream; set again around each resume
            gen = fn(*args, **kwargs)
            try:
                while True:
                    with deadline:
                        try:
                            item = next(gen)
                        except StopIteration:
                            return
                    yield item
            except errors as e:
                raise convert(e) from None
            finally:
                gen.close()  # a cancelled stream stops its sampler at the next step
        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            with Deadline():
                return fn(*args, **kwargs)
        except errors as e:
            raise convert(e) from None
    return wrapper


def seed_row(value: int = 0, label: str = "Seed", elem_id: str | None = None) -> gr.Number:
    """A seed number with a "randomize" button beside it; returns the number component."""
    with gr.Row(equal_height=True):
        seed = gr.Number(value=value, label=label, precision=0, scale=4, elem_id=elem_id)  # checked by parse_seed
        dice = gr.Button("🎲 Randomize", scale=1, size="sm")
    dice.click(lambda: random.randint(0, MAX_SEED), None, seed, api_visibility="private", queue=False)
    return seed


class _OpenDefaults:
    """The default examples of one ``gr.Blocks``: computed once per process, one after another on one background
    thread that the first page open starts (so the work is done once even if that visitor leaves, and never competes
    with itself for the CPU); the ``slow`` ones after the others."""

    def __init__(self) -> None:
        self.entries: list[dict] = []
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def add(self, run: Callable[[], object], name: str, slow: bool) -> dict:
        entry = {"run": run, "name": name, "slow": slow, "done": threading.Event(), "ok": False, "value": None}
        self.entries.append(entry)
        return entry

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._compute_all, name="genmodels-open-defaults", daemon=True)
                self._thread.start()

    def _compute_all(self) -> None:
        for entry in sorted(self.entries, key=lambda e: e["slow"]):  # stable: tab order within each kind
            try:
                entry["value"], entry["ok"] = entry["run"](), True
            except Exception as e:  # noqa: BLE001 — an empty output beats an error toast on page open
                logging.getLogger("genmodels").warning("default example %s failed: %s: %s", entry["name"],
                                                       type(e).__name__, e)
            entry["done"].set()


def _opening_value(component: gr.components.Component):
    """What the handler receives from ``component`` before a visitor touches it: its initial value, preprocessed as
    an event would (an image's file path, a number rounded to its precision)."""
    value = component.value
    if value is None:
        return None
    model = getattr(component, "data_model", None)
    if isinstance(value, dict) and model is not None:
        value = model.model_validate(value)
    return component.preprocess(value)


def on_open(fn: Callable, outputs: Sequence[gr.components.Component], inputs: Sequence[gr.components.Component] = (),
            *, cancel_on: Sequence[gr.Button] = (), slow: bool = False, **kwargs):
    """Show the real output of a tab's default example when the page opens (DESIGN §7: a tab never opens blank).

    ``fn(*values, **kwargs)`` — ``values`` being what ``inputs`` open with, since the default example is what a
    visitor sees in the inputs — fills ``outputs`` through a private ``load`` event. Each default is computed once per
    process, after the first page open (start-up stays fast; models load then), on one background thread in the
    order the tabs register them, ``slow`` ones last; every open waits for it without holding a worker thread, and
    later opens cost only the transfer. A click on one of ``cancel_on`` cancels a still-waiting open event, so a late
    default cannot overwrite the click's own result. A deep link (``?deep_link=``) keeps the values it restores. If
    ``fn`` fails (e.g. weights not trained here), the outputs stay empty and a warning is logged."""
    import asyncio

    from gradio.context import Context

    root = Context.root_block
    if root is None:
        raise RuntimeError("on_open() must be called while a gr.Blocks is being built")
    defaults = root.__dict__.setdefault("_genmodels_open_defaults", _OpenDefaults())
    outputs = list(outputs)
    skip = gr.skip() if len(outputs) == 1 else tuple(gr.skip() for _ in outputs)
    args = [_opening_value(c) for c in inputs]
    name = getattr(fn, "__name__", "default")
    entry = defaults.add(lambda: fn(*args, **kwargs), name, slow)

    async def show(request: gr.Request):
        if request is not None and request.query_params.get("deep_link"):
            return skip
        defaults.start()
        while not entry["done"].is_set():
            await asyncio.sleep(0.05)
        return entry["value"] if entry["ok"] else skip

    show.__name__ = f"open_{name}"
    event = root.load(show, None, outputs, api_visibility="private", concurrency_limit=None)
    for button in cancel_on:
        button.click(None, None, None, cancels=[event], api_visibility="private", queue=False)
    return event


def enlarge(a, k: int = 6):
    """A small result (H, W[, C] uint8) enlarged k× by nearest-neighbour for the single-image boxes (galleries get
    native images and scale them by CSS, ``gm-pixelated``). Pillow's resize: 42 µs for a 32×32 tile, against 85 µs
    for two np.repeat calls and 205 µs for a broadcast + reshape copy (bench). None, and images already larger
    than 64 px, pass through."""
    if a is None or a.shape[0] > 64:
        return a
    from PIL import Image

    h, w = a.shape[:2]
    return np.asarray(Image.fromarray(a).resize((w * k, h * k), Image.NEAREST))


def how_it_works(summary: str, papers: Sequence[str]) -> None:
    with gr.Accordion("How it works", open=False):
        refs = "\n".join(f"- {p}" for p in papers)
        gr.Markdown(f"{summary}\n\n**Papers**\n\n{refs}")


def readout_table(columns: dict[str, Sequence[dict]], footnote: str = "") -> str:
    """HTML table: one column per compared variant, one row per metric.

    Each readout is a mapping with keys ``metric``, ``value`` and optionally ``interval`` (lo, hi),
    ``higher_is_better``, ``warning``. The scoring module's ``Readout.as_dict()`` produces exactly this. Rows
    without a direction (a model card's metrics.json) get the scoring module's for the metrics it names
    (``scoring.readout.known_direction``: FID, the shape readings, objects in pieces, ...).
    """
    from ..scoring.readout import known_direction

    metrics: list[str] = []
    for rows in columns.values():
        for r in rows:
            if r["metric"] not in metrics:
                metrics.append(r["metric"])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for m in metrics:
        arrow = ""
        cells = []
        for rows in columns.values():
            r = next((r for r in rows if r["metric"] == m), None)
            if r is None:
                cells.append("<td>—</td>")
                continue
            hib = r.get("higher_is_better")
            hib = known_direction(m) if hib is None else hib
            if hib is not None:
                arrow = " ↑" if hib else " ↓"
            txt = _fmt(r["value"])
            if r.get("interval"):
                lo, hi = r["interval"]
                txt += f" <span class='gm-ci'>[{_fmt(lo)}, {_fmt(hi)}]</span>"
            if r.get("warning"):
                txt += f" <span title='{html.escape(r['warning'])}'>⚠️</span>"
            cells.append(f"<td>{txt}</td>")
        body.append(f"<tr><th>{html.escape(m)}{arrow}</th>{''.join(cells)}</tr>")
    foot = f"<p class='gm-foot'>{html.escape(footnote)}</p>" if footnote else ""
    return (f"<table class='gm-readout'><thead><tr><th>metric</th>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>{foot}")


def readout_panel_html(columns: dict[str, Sequence], title: str = "") -> str:
    """The readout panel: one column per compared variant (each a list of ``Readout``), backbone + N + interval
    kind + warnings in the footnote."""
    notes: list[str] = []
    for variant, rows in columns.items():
        for r in rows:
            n = f"N={r.n}" + (f" vs {r.n_ref}" if r.n_ref else "")
            line = f"{r.metric}: {r.backbone}, {n}" + (f", interval: {r.interval_kind}" if r.interval_kind else "")
            if r.warning:
                line += f" — ⚠ {r.warning}"
            line = (f"[{variant}] " if len(columns) > 1 else "") + line
            if line not in notes:
                notes.append(line)
    table = readout_table({k: [r.as_dict() for r in v] for k, v in columns.items()})
    foot = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    head = f"<h4>{html.escape(title)}</h4>" if title else ""
    return f"<div class='gm-panel'>{head}{table}<ul class='gm-foot'>{foot}</ul></div>"


def _fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        if v != v:
            return "nan"
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.3e}"
    return html.escape(str(v))


CSS = """
.gm-readout { border-collapse: collapse; font-variant-numeric: tabular-nums; }
.gm-readout th, .gm-readout td { padding: 4px 10px; border-bottom: 1px solid var(--border-color-primary); text-align: left; }
.gm-ci { opacity: 0.7; font-size: 0.85em; }
.gm-foot { opacity: 0.75; font-size: 0.85em; }
.gm-pixelated img { image-rendering: pixelated; }
/* a native 32x32 result shown at the box's size (the browser enlarges it, crisp): no server-side upscaling */
.gm-enlarge img { width: 100% !important; height: 100% !important; object-fit: contain !important;
  image-rendering: pixelated; }
"""
