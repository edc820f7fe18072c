"""Widgets shared by every tab: the seed row, input checks, the "How it works" accordion, the readout panel."""
from __future__ import annotations

import functools
import inspect
import html
import random
import zipfile
from typing import Callable, Sequence

import gradio as gr

MAX_SEED = 2**32 - 1


def parse_seed(value) -> int:
    """A seed from a UI / API value: an integer in [0, 2**32 - 1], else a ``gr.Error`` that says so."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise gr.Error(f"Seed must be a whole number, got {value!r}.") from None
    if f != f or f in (float("inf"), float("-inf")) or f != int(f):
        raise gr.Error(f"Seed must be a whole number, got {value!r}.")
    if not 0 <= f <= MAX_SEED:
        raise gr.Error(f"Seed must be between 0 and {MAX_SEED}, got {int(f)}.")
    return int(f)


def clamp_count(value, lo: int, hi: int, what: str = "batch size") -> tuple[int, str]:
    """Clamp a count into [lo, hi]; returns the count and a visible note when it was clamped."""
    try:
        n = int(float(value))
    except (TypeError, ValueError):
        raise gr.Error(f"The {what} must be a whole number, got {value!r}.") from None
    if n < lo:
        return lo, f"The {what} was raised to {lo}."
    if n > hi:
        return hi, f"The {what} was capped at {hi} on this server."
    return n, ""


USER_ERRORS = (ValueError, FileNotFoundError, KeyError, zipfile.BadZipFile)


def user_errors(fn: Callable) -> Callable:
    """Turn the errors a person can fix (bad values, missing files, an unavailable backbone) into a ``gr.Error``
    with the message, so the UI shows a sentence instead of a traceback. Generators are wrapped too."""
    from ..scoring.backbones import BackboneUnavailable

    errors = (*USER_ERRORS, BackboneUnavailable)

    def convert(e: Exception) -> gr.Error:
        msg = str(e).strip("'\"") or type(e).__name__
        return gr.Error(msg[:1].upper() + msg[1:] if msg[:1].isascii() else msg)

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except errors as e:
                raise convert(e) from None
        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except errors as e:
            raise convert(e) from None
    return wrapper


def seed_row(value: int = 0, label: str = "Seed") -> gr.Number:
    """A seed number with a "randomize" button beside it; returns the number component."""
    with gr.Row(equal_height=True):
        seed = gr.Number(value=value, label=label, precision=0, scale=4)  # bounds checked by parse_seed
        dice = gr.Button("🎲 Randomize", scale=1, size="sm")
    dice.click(lambda: random.randint(0, MAX_SEED), None, seed, api_visibility="private", queue=False)
    return seed


def how_it_works(summary: str, papers: Sequence[str]) -> None:
    with gr.Accordion("How it works", open=False):
        refs = "\n".join(f"- {p}" for p in papers)
        gr.Markdown(f"{summary}\n\n**Papers**\n\n{refs}")


def readout_table(columns: dict[str, Sequence[dict]], footnote: str = "") -> str:
    """HTML table: one column per compared variant, one row per metric.

    Each readout is a mapping with keys ``metric``, ``value`` and optionally ``interval`` (lo, hi),
    ``higher_is_better``, ``warning``. The scoring module's ``Readout.as_dict()`` produces exactly this.
    """
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
            if r.get("higher_is_better") is not None:
                arrow = " ↑" if r["higher_is_better"] else " ↓"
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
"""
