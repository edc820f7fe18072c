"""The leaderboard: every embedded generator on the shapes test split under one protocol.

``python -m genmodels leaderboard`` writes ``genmodels/hub/leaderboard.json`` (versioned; the Compare tab's
Leaderboard reads it, nothing is computed on page load) and ``docs/leaderboard.md``.

Protocol (stated in the file): the conditions are the labels of test items 0 … N-1; each contender is asked for
each item's condition in the form it can take (``contenders``), calls batched over items that ask the same thing;
image-conditioned models get the item's own scene. Set metrics — FID, KID (Bińkowski et al. 2018,
arXiv:1801.01401), IS, precision / recall (Kynkäänniemi et al. 2019, arXiv:1904.06991) — against the cached test
split on the domain backbone (``scoring.readout.score_sets``, 95 % bootstrap intervals); condition accuracy = the
share of images whose honoured attributes the scoring classifier reads as asked (95 % bootstrap); shape by outline =
the share whose object's outline names the asked shape (``scoring.readout.read_shapes``: no CNN, so textures that
fool the classifier do not count; unconditional models: the shape the classifier reads), objects in pieces = the
share whose object falls apart, no object found = the share the outline reader cannot segment (counted as not
read); time per image = sampling wall time / N on this machine (weights loaded beforehand), with the batch sizes the
protocol used. ``update_shape_readings`` adds the outline columns to rows computed before they existed, redrawing
each model's images with the protocol's seeds (the other cells are left as they are).
Every model runs at the same N (the PixelCNNs through their cached samplers, ~1 s per image here).
"""
from __future__ import annotations

import datetime as _dt
import json
import platform
import subprocess
import time
from pathlib import Path

import numpy as np

from ..data import shapes
from . import contenders as C

RESULTS = Path(__file__).with_name("leaderboard.json")
DOC = Path(__file__).resolve().parents[2] / "docs" / "leaderboard.md"
VERSION = 1
DEFAULT_N = 500
BATCH = 64


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _groups(c: C.Contender, labels: np.ndarray) -> list[tuple[C.Condition, np.ndarray]]:
    """Items grouped by what ``c`` is asked for: (one representative condition, item indices)."""
    if not c.conditional:
        return [(C.Condition(), np.arange(len(labels)))]
    if c.per_scene:  # each item's own scene
        return [(C.Condition.from_labels(labels[i], scene=i), np.array([i])) for i in range(len(labels))]
    cols = [C.ATTRS.index(a) for a in c.honours]
    keys = [tuple(r) for r in labels[:, cols]]
    out = []
    for k in dict.fromkeys(keys):
        idx = np.array([i for i, kk in enumerate(keys) if kk == k])
        out.append((C.Condition.from_labels(labels[idx[0]]), idx))
    return out


def draw(c: C.Contender, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, float, int]:
    """The protocol's images of ``c``: (images uint8 (n, 32, 32, 3), the conditions' label rows, sampling seconds,
    calls). Item i's condition is test item i's labels; the seeds depend only on ``seed`` and the grouping."""
    labels = C.test_labels()[:n]
    images = np.zeros((n, 32, 32, 3), np.uint8)
    c.warm()
    seconds, calls = 0.0, 0
    for g, (cond, idx) in enumerate(_groups(c, labels)):
        for s in range(0, len(idx), BATCH):
            part = idx[s:s + BATCH]
            t0 = time.perf_counter()
            images[part] = c.draw(cond, seed + 1000 * g + s, len(part))
            seconds += time.perf_counter() - t0
            calls += 1
    return images, labels, seconds, calls


def shape_cells(c: C.Contender, images: np.ndarray, labels: np.ndarray, seed: int = 0) -> dict:
    """The row's outline cells: "shape by outline", "objects in pieces", "no object found" (value + 95 % bootstrap
    interval), read by ``scoring.readout.read_shapes`` against the asked shape (the classifier's reading for models
    that are not asked for a shape)."""
    from ..scoring.bootstrap import mean_interval
    from ..scoring.readout import IN_PIECES, NO_OBJECT, SHAPE_OUTLINE, read_shapes

    asked = "shape" in c.honours
    reading = read_shapes(images, labels[:, 0] if asked else None)
    cells = {}
    for name, hits in ((SHAPE_OUTLINE, reading.outline_hits), (IN_PIECES, reading.in_pieces),
                       (NO_OBJECT, reading.no_object)):
        v = hits.astype(float)
        cells[name] = {"value": float(v.mean()), "interval": list(mean_interval(v, n_boot=500, seed=seed)),
                       "backbone": reading.reader}
    cells[SHAPE_OUTLINE]["against"] = "the asked shape" if asked else "the classifier's reading"
    return cells


def evaluate(c: C.Contender, n: int, seed: int = 0, n_boot: int = 50) -> dict:
    """One leaderboard row."""
    from ..scoring.backbones import get_backbone
    from ..scoring.bootstrap import mean_interval
    from ..scoring.readout import score_sets

    images, labels, seconds, calls = draw(c, n, seed)
    row = {"model": c.key, "label": c.label, "family": c.family, "takes": c.takes, "honours": list(c.honours),
           "n": n, "calls": calls, "seconds": round(seconds, 3), "ms_per_image": round(1000 * seconds / n, 2)}
    for r in score_sets(images, n_boot=n_boot, seed=seed):
        row[r.metric] = {"value": r.value, "interval": list(r.interval) if r.interval else None,
                         "warning": r.warning, "backbone": r.backbone}
    if c.conditional:
        pred = get_backbone("shapes").attribute_predictions(images)
        hits = np.logical_and.reduce([pred[a] == labels[:, C.ATTRS.index(a)] for a in c.honours])
        row["condition accuracy"] = {"value": float(hits.mean()),
                                     "interval": list(mean_interval(hits.astype(float), n_boot=500, seed=seed)),
                                     "per attribute": {a: float((pred[a] == labels[:, C.ATTRS.index(a)]).mean())
                                                       for a in c.honours}}
    else:  # unconditional: how often the classifier is sure of *some* shape (the DCGAN bar of the GAN issue)
        probs = get_backbone("shapes").class_probs(images)
        conf = probs.max(1) >= 0.9
        row["confident shape"] = {"value": float(conf.mean()),
                                  "interval": list(mean_interval(conf.astype(float), n_boot=500, seed=seed))}
    row.update(shape_cells(c, images, labels, seed))
    return row


def update_shape_readings(keys=None, log=print) -> dict:
    """Add (or refresh) the outline cells of the rows of ``keys`` (default: every row whose model has weights here)
    in the results file, redrawing each model's N images with the protocol's seed; the other cells — FID,
    condition accuracy, time — stay as computed. The same images as the row's only if the model's weights did not
    change since (else recompute the row: ``compute(keys)``). Returns the updated results."""
    res = load()
    if not res:
        raise ValueError(f"no leaderboard at {RESULTS}: compute it first (python -m genmodels leaderboard)")
    seed = res["protocol"]["seed"]
    rows = {r["model"]: r for r in res["rows"]}
    picked = [c for c in C.available(keys) if c.key in rows]
    for c in picked:
        t0 = time.perf_counter()
        images, labels, _, _ = draw(c, rows[c.key]["n"], seed)
        rows[c.key].update(shape_cells(c, images, labels, seed))
        log(f"{c.key}: N={rows[c.key]['n']}, shape by outline {rows[c.key]['shape by outline']['value']:.3f}, "
            f"objects in pieces {rows[c.key]['objects in pieces']['value']:.3f} "
            f"({time.perf_counter() - t0:.1f} s)")
    res["rows"] = list(rows.values())
    res["outline_readings"] = {"computed": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                               "commit": _commit(), "models": [c.key for c in picked]}
    RESULTS.write_text(json.dumps(res, indent=1) + "\n")
    DOC.write_text(markdown(res))
    return res


def compute(keys=None, n: int = DEFAULT_N, seed: int = 0, log=print) -> dict:
    """Evaluate ``keys`` (default: every contender with weights) and merge the rows into the results file."""
    picked = C.available(keys)
    old = load()
    rows = {r["model"]: r for r in old.get("rows", [])} if old.get("protocol", {}).get("n") == n else {}
    for c in picked:
        log(f"{c.key}: N={n} …")
        t0 = time.perf_counter()
        rows[c.key] = evaluate(c, n, seed)
        log(f"{c.key}: done in {time.perf_counter() - t0:.1f} s — "
            + ", ".join(f"{k} {v['value']:.4g}" for k, v in rows[c.key].items() if isinstance(v, dict)
                        and "value" in v))
    order = list(C.CONTENDERS)
    result = {"version": VERSION,
              "protocol": {"n": n, "seed": seed,
                           "reference": f"shapes test split ({shapes.TEST_SPLIT_SIZE:,} items, 32x32)",
                           "backbone": "shapes (the domain scoring classifier)", "batch": BATCH,
                           "conditions": "labels of test items 0 … N-1", "intervals": "95 % bootstrap"},
              "computed": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "commit": _commit(), "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
              "rows": sorted(rows.values(), key=lambda r: order.index(r["model"]) if r["model"] in order else 99)}
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    DOC.write_text(markdown(result))
    return result


def load(path: Path | None = None) -> dict:
    """The results file, or {} if it was never computed (or is unreadable / of another version)."""
    p = Path(path or RESULTS)
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("version") == VERSION else {}


COLUMNS = (("FID", "FID ↓"), ("KID", "KID ↓"), ("IS", "IS ↑"), ("precision", "precision ↑"),
           ("recall", "recall ↑"), ("condition accuracy", "condition acc. ↑"), ("confident shape", "confident ↑"),
           ("shape by outline", "shape by outline ↑"), ("objects in pieces", "objects in pieces ↓"))


def cell(row: dict, metric: str, ci: bool = True) -> str:
    """A cell's text: value [interval]; "—" where the row has no such value (e.g. rows computed before the outline
    columns existed). The outline cell adds how many images had no object found, and "vs classifier" for models
    that were not asked for a shape."""
    v = row.get(metric)
    if not isinstance(v, dict):
        return "—"
    txt = f"{v['value']:.4g}"
    if ci and v.get("interval"):
        lo, hi = v["interval"]
        txt += f" [{lo:.3g}, {hi:.3g}]"
    if metric == "shape by outline":
        if v.get("against") == "the classifier's reading":
            txt += " vs classifier"
        none = row.get("no object found")
        if isinstance(none, dict) and none["value"] > 0:
            txt += f" · {round(none['value'] * row['n'])} of {row['n']} no object"
    return txt


def table_rows(result: dict) -> list[list]:
    """Rows for a table: model, family, takes, N, the metric cells, ms / image."""
    return [[r["label"], r["family"], r["takes"], r["n"], *(cell(r, m) for m, _ in COLUMNS), r["ms_per_image"]]
            for r in result.get("rows", [])]


HEADERS = ["model", "family", "asked for", "N", *(h for _, h in COLUMNS), "ms / image"]


def _slow_note(result: dict) -> str:
    """Rows below the protocol's N (results files from when the naive PixelCNNs ran at a smaller N) say so."""
    small = [f"{r['label']}: N = {r['n']}" for r in result.get("rows", []) if r["n"] != result["protocol"]["n"]]
    return f" ({', '.join(small)}; FID is biased upward at small N, compare FIDs at equal N only)" if small else ""


def markdown(result: dict) -> str:
    p = result["protocol"]
    lines = ["# Leaderboard", "",
             f"Every embedded model on the shapes test split under one protocol — computed {result['computed']} "
             f"(commit {result['commit'] or '?'}, {result['machine']}) by `python -m genmodels leaderboard`; the "
             "hub's Compare tab shows the same file (`genmodels/hub/leaderboard.json`).", "",
             f"- N = {p['n']} generated images per model" + _slow_note(result) + "; conditions: the labels of test "
             "items 0 … N-1, each model asked in the form it can take.",
             f"- Reference: {p['reference']}; backbone: {p['backbone']}; intervals: {p['intervals']}.",
             "- Condition accuracy: every attribute the model was asked for read as asked by the scoring "
             "classifier; *confident*: unconditional models, classifier sure (p ≥ 0.9) of some shape.",
             "- Shape by outline: the object's outline names the asked shape (`genmodels/scoring/outline.py`, no "
             "CNN; 100 % on the 2,000 real test items; *vs classifier*: unconditional models, the outline names the "
             "shape the classifier reads); images with no object found count as not read and are counted in the "
             "cell; objects in pieces: the object falls apart (real items: 0 %). A dash: the row predates them.",
             "- ms / image: sampling wall time / N on the machine above (weights loaded beforehand; batch "
             f"≤ {p['batch']}, image-conditioned models one scene per call).", "",
             "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for row in table_rows(result):
        lines.append("| " + " | ".join(str(x) for x in row) + " |")
    return "\n".join(lines) + "\n"
