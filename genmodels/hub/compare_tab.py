"""The "Compare" tab: every family on one condition, the blind arena, and the leaderboard.

Compare: one condition + one seed -> every embedded generator answers in the form it can take (``contenders``),
streamed into one grid as each finishes, with its wall time and whether the scoring classifier reads what was
asked; below, the readout panel puts the families side by side: this click's numbers beside the leaderboard's
(one protocol, N images each, ``python -m genmodels leaderboard``). Arena: two anonymous models, one condition, a
vote, then the names (``arena``). Leaderboard: the results file as a table and a quality-vs-time plot.
"""
from __future__ import annotations

import html
import logging
import math
import os
import random

import gradio as gr
import numpy as np

from ..data import shapes
from ..limits import BudgetExceeded, current_deadline
from . import arena as A
from . import contenders as C
from . import leaderboard as L
from .compare_family import FAMILY
from .widgets import clamp_count, how_it_works, on_open, parse_seed, readout_table, seed_row, user_errors

MAX_PER_MODEL = 8
OUTCOMES = {"👈 A is better": "left", "👉 B is better": "right", "🤝 Tie": "tie", "👎 Both are bad": "both_bad"}


def tile(images: np.ndarray, scale: int = 4) -> np.ndarray:
    """A batch as one square-ish grid (white gutters), upscaled (nearest) so 32-px pixels stay crisp."""
    n, h, w, _ = images.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    g = 2
    grid = np.full((rows * (h + g) - g, cols * (w + g) - g, 3), 255, np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        grid[r * (h + g):r * (h + g) + h, c * (w + g):c * (w + g) + w] = im
    return grid.repeat(scale, 0).repeat(scale, 1)


def _leader_rows() -> tuple[dict, dict]:
    res = L.load()
    return res, {r["model"]: r for r in res.get("rows", [])}


BOARD = (("condition accuracy", "condition acc. ↑"), ("confident shape", "confident ↑"), ("FID", "FID ↓"),
         ("KID", "KID ↓"), ("precision", "precision ↑"), ("recall", "recall ↑"), ("IS", "IS ↑"))


def _cell(v: dict | None) -> str:
    if not isinstance(v, dict):
        return "—"
    txt = f"{v['value']:.3g}"
    if v.get("interval"):
        txt += f" <span class='gm-ci'>[{v['interval'][0]:.3g}, {v['interval'][1]:.3g}]</span>"
    return txt


def _readouts(done: list[dict], n: int) -> str:
    """One row per model: this click (asked for, read as asked, ms / image) beside its leaderboard row."""
    if not done:
        return ""
    res, board = _leader_rows()
    head = ["model", "family", "given", f"as asked (this click, of {n})", "ms / image (this click)",
            *(f"{h} (board)" for _, h in BOARD), "ms / image (board)", "N (board)"]
    body = []
    for d in done:
        c, row = d["contender"], board.get(d["contender"].key, {})
        cells = [html.escape(c.label), c.family, html.escape(c.takes),
                 f"{d['hits']}/{n}" if c.conditional else "— (unconditional)", f"{1000 * d['seconds'] / n:.1f}",
                 *(_cell(row.get(m)) for m, _ in BOARD), str(row.get("ms_per_image", "—")), str(row.get("n", "—"))]
        body.append("<tr>" + "".join(f"<td>{x}</td>" for x in cells) + "</tr>")
    if res:
        p = res["protocol"]
        foot = (f"Board: the leaderboard ({p['reference']}, backbone {p['backbone']}, N = {p['n']} per model"
                f"{_slow(p)}; 95 % bootstrap intervals; computed {res['computed']}). "
                "This click: the scoring classifier on the images above; wall time of each model's sampling call.")
    else:
        foot = "No leaderboard computed yet (python -m genmodels leaderboard): this click's numbers only."
    return ("<div class='gm-panel' style='overflow-x:auto'><table class='gm-readout'><thead><tr>"
            + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr></thead><tbody>" + "".join(body)
            + f"</tbody></table><p class='gm-foot'>{html.escape(foot)}</p></div>")


def _slow(p: dict) -> str:
    """Results files computed while the naive PixelCNNs ran at a smaller N say so (the protocol's slow_models)."""
    return f" ({', '.join(p['slow_models'])}: N = {p['slow_n']})" if p.get("slow_models") else ""


@user_errors
def compare_run(shape: str, colour: str, fill: str, background: str, seed, count):
    """Every contender on one condition; yields (gallery, readout panel, note) as each model finishes."""
    cond = C.Condition(shape, colour, fill, background)
    seed = parse_seed(seed)
    n, note = clamp_count(count, 1, MAX_PER_MODEL, "number of images per model")
    picked = C.available()
    missing = [c.label for c in C.CONTENDERS.values() if c not in C.available()]
    items, done, stopped = [], [], []
    deadline = current_deadline()
    for c in picked:
        if deadline is not None and deadline.expired():  # the time budget: keep what is done, say what is not
            stopped.append(c.label)
            continue
        try:
            images, seconds = C.run(c, cond, seed, n)
        except BudgetExceeded:
            stopped.append(c.label)
            continue
        except Exception as e:  # noqa: BLE001 — one model failing must not hide the others; it says why
            logging.getLogger("genmodels").warning("compare: %s failed: %s: %s", c.key, type(e).__name__, e)
            items.append((np.full((32, 32, 3), 200, np.uint8), f"{c.label}: failed — {type(e).__name__}: {e}"))
            continue
        hits = C.condition_hits(images, cond, c.honours)
        k = int(hits["all"].sum()) if hits else 0
        asked = f"{k}/{n} read as asked" if c.conditional else "unconditional (asked for nothing)"
        items.append((tile(images), f"{c.label} · {c.family} · given {c.takes} · {asked} · {seconds:.2f} s"))
        done.append({"contender": c, "hits": k, "seconds": seconds})
        yield list(items), _readouts(done, n), note
    notes = [note] if note else []
    if stopped:
        notes.append(f"Stopped at this server's time budget of {deadline.seconds:.0f} s per request "
                     f"(GENMODELS_TIME_BUDGET); not run: {', '.join(stopped)}.")
    if missing:
        notes.append(f"Not on this server: {', '.join(missing)}.")
    notes.append(f"Condition: “{cond.caption}”, seed {seed}. Image-conditioned models get test scene "
                 f"#{C.reference_index(cond, seed)} of the domain (its edge map; CycleGAN: that scene with the other fill).")
    yield items, _readouts(done, n), " ".join(notes)


def compare_default(*args):
    """The last state of ``compare_run`` (the on-open default shows the finished grid)."""
    out = None
    for out in compare_run(*args):
        pass
    return out


# ---- arena ---------------------------------------------------------------------------------------------------------

@user_errors
def arena_battle(shape: str, colour: str, fill: str, background: str, seed):
    """A new blind battle: (model A's images, model B's images, battle id, instructions)."""
    cond = C.Condition(shape, colour, fill, background)
    b = A.battle(cond, parse_seed(seed))
    return (tile(b["left"]), tile(b["right"]), b["battle_id"],
            f"Which answers **“{cond.caption}”** better? Vote below; the names are revealed after your vote.")


def _reveal(rec: dict) -> str:
    said = {"left": "A is better", "right": "B is better", "tie": "a tie", "both_bad": "both are bad"}[rec["outcome"]]
    return (f"Your vote: **{said}** (stored). **A** was **{rec['left_label']}** (given {rec['left_takes']}); "
            f"**B** was **{rec['right_label']}** (given {rec['right_takes']}). Start a new battle for the next vote.")


def standings_html() -> str:
    rows, n = A.standings()
    if not rows:
        return "<p class='gm-foot'>No votes yet.</p>"
    cols = {}
    for r in rows:
        cols[r["label"]] = [{"metric": "rating (Bradley–Terry, Elo scale)", "value": round(r["rating"], 1),
                             "interval": (round(r["lo"], 1), round(r["hi"], 1)), "higher_is_better": True},
                            {"metric": "votes", "value": r["votes"]},
                            {"metric": "wins / losses / ties", "value": f"{r['wins']} / {r['losses']} / {r['ties']}"}]
    return readout_table(cols, f"{n} votes; 95 % bootstrap intervals (200 resamples of the votes); ties and "
                               "'both bad' count half a win each side.")


@user_errors
def arena_vote(battle_id: str, outcome: str) -> dict:
    """Record a vote (left / right / tie / both_bad) for a battle; returns who was who."""
    return A.vote(battle_id, outcome)


def _vote_ui(label: str):
    @user_errors
    def run(battle_id: str):
        if not (battle_id or "").strip():
            raise gr.Error("Start a battle first (New battle), then vote.")
        return _reveal(A.vote(battle_id, OUTCOMES[label])), standings_html()
    return run


def arena_leaderboard() -> str:
    return standings_html()


@user_errors
def arena_first_open(shape, colour, fill, background, seed, battle_id):
    if (battle_id or "").strip():
        return gr.skip(), gr.skip(), gr.skip(), gr.skip(), standings_html()
    return (*arena_battle(shape, colour, fill, background, seed), standings_html())


# ---- leaderboard ---------------------------------------------------------------------------------------------------

def leaderboard_table():
    import pandas as pd

    res = L.load()
    return pd.DataFrame(L.table_rows(res), columns=L.HEADERS)


def leaderboard_plot():
    import pandas as pd

    res = L.load()
    rows = [{"model": r["label"], "family": r["family"], "log10 ms per image": round(math.log10(r["ms_per_image"]), 3),
             "FID": round(r["FID"]["value"], 1)} for r in res.get("rows", []) if isinstance(r.get("FID"), dict)]
    return pd.DataFrame(rows, columns=["model", "family", "log10 ms per image", "FID"])


def leaderboard_note() -> str:
    res = L.load()
    if not res:
        return "The leaderboard has not been computed on this checkout: `python -m genmodels leaderboard`."
    p = res["protocol"]
    return (f"Computed {res['computed']} (commit {res['commit'] or '?'}) by `python -m genmodels leaderboard`: "
            f"N = {p['n']} images per model{_slow(p)} (FID is biased upward at small N: compare FIDs at equal N "
            f"only), conditions = labels of test items 0 … N-1, each model asked "
            f"in the form it can take; {p['reference']}; backbone {p['backbone']}; {p['intervals']} in brackets. "
            "Condition acc.: every attribute asked for, read as asked; confident: unconditional models, classifier "
            "sure (p ≥ 0.9) of some shape.")


@user_errors
def leaderboard_recompute(n):
    n = int(n)
    L.compute(n=n)
    return leaderboard_table(), leaderboard_plot(), leaderboard_note()


# ---- layout ----------------------------------------------------------------------------------------------------------

def _condition_inputs(prefix: str):
    with gr.Row():
        shape = gr.Dropdown(list(shapes.SHAPES), value="star", label="Shape", elem_id=f"{prefix}-shape")
        colour = gr.Dropdown(list(shapes.COLOUR_NAMES), value="red", label="Colour", elem_id=f"{prefix}-colour")
        fill = gr.Radio(list(shapes.FILLS), value="solid", label="Fill")
        background = gr.Radio(list(shapes.BACKGROUNDS), value="light", label="Background")
    return shape, colour, fill, background


def build_tab(ctx) -> None:
    how_it_works(FAMILY.summary, FAMILY.papers)
    with gr.Tabs():
        with gr.Tab("Side by side", id="compare-run"):
            shape, colour, fill, background = _condition_inputs("compare")
            with gr.Row():
                with gr.Column(scale=2):
                    seed = seed_row(0, elem_id="compare-seed")
                with gr.Column(scale=1):
                    count = gr.Slider(1, MAX_PER_MODEL, value=4, step=1, label="Images per model")
            go = gr.Button("Compare every family", variant="primary", elem_id="compare-go")
            gallery = gr.Gallery(label="Every model on one condition", columns=6, object_fit="contain",
                                 elem_id="compare-gallery", elem_classes=["gm-pixelated"], height="auto")
            note = gr.Markdown(elem_id="compare-note")
            panel = gr.HTML(elem_id="compare-readouts")
            inputs = [shape, colour, fill, background, seed, count]
            go.click(compare_run, inputs, [gallery, panel, note], api_name="compare_run")
            on_open(compare_default, [gallery, panel, note], inputs, cancel_on=[go])
            gr.Examples([["star", "red", "solid", "light", 0, 4], ["heart", "blue", "striped", "dark", 7, 4],
                         ["cross", "green", "solid", "gradient", 3, 2]], inputs)
        with gr.Tab("Arena", id="compare-arena") as arena_tab:
            gr.Markdown("Two anonymous models answer the same condition with the same seed. Vote for the better "
                        "answer; the names are revealed after your vote. Ratings: Bradley–Terry on the Elo scale.")
            a_shape, a_colour, a_fill, a_background = _condition_inputs("arena")
            with gr.Row():
                a_seed = seed_row(0, elem_id="arena-seed")
                dice = gr.Button("🎲 Random condition", size="sm")
            new = gr.Button("New battle", variant="primary", elem_id="arena-new")
            with gr.Row():
                left = gr.Image(label="Model A", elem_id="arena-left", elem_classes=["gm-pixelated"], height=280)
                right = gr.Image(label="Model B", elem_id="arena-right", elem_classes=["gm-pixelated"], height=280)
            bid = gr.Textbox(label="Battle id", interactive=False, elem_id="arena-battle-id")
            status = gr.Markdown(elem_id="arena-status")
            with gr.Row():
                buttons = [gr.Button(label, elem_id=f"arena-vote-{OUTCOMES[label]}") for label in OUTCOMES]
            reveal = gr.Markdown(elem_id="arena-reveal")
            standings = gr.HTML(elem_id="arena-standings")
            refresh = gr.Button("Refresh ratings", size="sm")
            a_inputs = [a_shape, a_colour, a_fill, a_background, a_seed]
            dice.click(lambda: (random.choice(shapes.SHAPES), random.choice(shapes.COLOUR_NAMES),
                                random.choice(shapes.FILLS), random.choice(shapes.BACKGROUNDS),
                                random.randint(0, 10_000)), None, a_inputs, api_visibility="private", queue=False)
            new.click(arena_battle, a_inputs, [left, right, bid, status], api_name="arena_battle").then(
                lambda: "", None, reveal, api_visibility="private", queue=False)
            for b, label in zip(buttons, OUTCOMES):
                b.click(_vote_ui(label), [bid], [reveal, standings], api_visibility="private", concurrency_limit=8)
            gr.api(arena_vote, api_name="arena_vote", concurrency_limit=8)
            refresh.click(arena_leaderboard, None, standings, api_name="arena_leaderboard")
            # opening the Arena starts this visitor's own battle (a shared on-open default would hand every visitor
            # the same battle id); later opens keep the battle in progress
            arena_tab.select(arena_first_open, [*a_inputs, bid], [left, right, bid, status, standings],
                             api_visibility="private")
        with gr.Tab("Leaderboard", id="compare-leaderboard"):
            lb_note = gr.Markdown(leaderboard_note(), elem_id="leaderboard-note")
            table = gr.Dataframe(leaderboard_table(), interactive=False, elem_id="leaderboard-table", wrap=True)
            plot = gr.ScatterPlot(leaderboard_plot(), x="log10 ms per image", y="FID", color="family",
                                  tooltip=["model", "family", "FID", "log10 ms per image"],
                                  title="Quality vs time per image (lower-left is better)", elem_id="leaderboard-plot")
            # re-read the results file on every page load (a maintainer may have recomputed it), privately
            from gradio.context import Context

            Context.root_block.load(lambda: (leaderboard_table(), leaderboard_plot(), leaderboard_note()), None,
                                    [table, plot, lb_note], api_visibility="private", queue=False)
            if os.environ.get("GENMODELS_MAINTAINER"):  # recomputing is a maintainer's action, never a page load
                with gr.Row():
                    lb_n = gr.Number(500, label="N per model", precision=0)
                    again = gr.Button("Recompute the leaderboard (minutes)")
                again.click(leaderboard_recompute, [lb_n], [table, plot, lb_note], api_visibility="private")
