"""Rejection sampling (``reject.py``) of the embedded CVAE and VQ prior: how the defaults were chosen, and the card rows.

``python -m genmodels.families.vae.rejection_sweep --model vq-prior --n 300`` — k candidates a request drawn once,
the best of the first k by each judge (gan-guide, gan-guide-robust, the generators' CLIP with "a <colour> <shape>"),
read by the scoring classifier and the outline reader. ``--card``: the held-out rows at the hub's defaults (N =
1,002) added to ``weights/vq-prior``'s model card (``evaluate.rejection_readings``; no training).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ...data import shapes

JUDGES = ("gan-guide", "gan-guide-robust", "gen-clip")


def sweep(model: str = "vq-prior", n: int = 300, ks=(1, 2, 4, 8), seed: int = 7, guidance: float | None = None) -> list[dict]:
    from ...scoring.readout import read_shapes
    from ..gan.projected import WEIGHTS as GAN_WEIGHTS
    from . import service
    from .evaluate import _predict, balanced_labels, prior_samples
    from .priors import DEFAULT_GUIDANCE
    from .recipes import to_images
    from .reject import judge, label_log_probs
    from .rerank import clip_scores, reranker

    n -= n % len(shapes.SHAPES)
    top = max(ks)
    if model == "vq-prior":
        guidance = DEFAULT_GUIDANCE["vq-prior"] if guidance is None else guidance
        pool, y, _ = prior_samples(service.load("vq-prior"), service.load("vqvae"), n * top, seed=seed, guidance=guidance)
        s, c = y[:n], None
    else:
        s_t, c_t = balanced_labels(n, seed)
        g = torch.Generator().manual_seed(seed)
        cvae = service.load("cvae")
        reps = (s_t.repeat(top), c_t.repeat(top))  # row j·n + i: request i's j-th candidate
        pool = to_images(torch.cat([cvae.sample(len(a), a, b, g) for a, b in zip(reps[0].split(500), reps[1].split(500))]))
        s, c = s_t.numpy(), c_t.numpy()
    tile_s, tile_c = np.tile(s, top), None if c is None else np.tile(c, top)
    captions = [f"a {shapes.SHAPES[a]}" if c is None else f"a {shapes.COLOUR_NAMES[b]} {shapes.SHAPES[a]}"
                for a, b in zip(tile_s, tile_s if c is None else tile_c)]
    scores = {"gan-guide": label_log_probs(pool, tile_s, tile_c, judge(GAN_WEIGHTS / "gan-guide")),
              "gan-guide-robust": label_log_probs(pool, tile_s, tile_c, judge()),
              "gen-clip": clip_scores(pool, captions, reranker())}
    pool = pool.reshape(top, n, *pool.shape[1:])
    rows = []
    for name in JUDGES:
        sc = scores[name].reshape(top, n)
        for k in ks:
            if k == 1 and name != JUDGES[0]:
                continue
            pick = sc[:k].argmax(0)
            images = pool[pick, np.arange(n)]
            p = _predict(images)
            row = {"model": model, "judge": name if k > 1 else "none", "best_of": k, "n": n, "seed": seed,
                   "shape": round(float((p["shape"] == s).mean()), 4)}
            if c is not None:
                row["colour"] = round(float((p["colour"] == c).mean()), 4)
            row.update({a: round(v, 4) for a, v in read_shapes(images, s).summary().items()})
            rows.append(row)
            print(row, flush=True)
    return rows


def add_to_card(extra: dict, folder: Path) -> None:
    """Merge ``extra`` into the card's metrics.json and add its rows to the README's held-out table (before the
    "eval seconds" row); nothing else of the card changes."""
    mpath, rpath = folder / "metrics.json", folder / "README.md"
    metrics = json.loads(mpath.read_text())
    metrics.update(extra)
    mpath.write_text(json.dumps(metrics, indent=2) + "\n")
    text = rpath.read_text()
    lines = [f"| {k} | {v} |" for k, v in extra.items() if f"| {k} |" not in text]
    anchor = "| eval seconds |"
    if anchor not in text:
        raise ValueError(f"{rpath} has no held-out table to add to")
    rpath.write_text(text.replace(anchor, "\n".join(lines + [anchor]), 1))


if __name__ == "__main__":
    import argparse

    from .priors import DEFAULT_GUIDANCE

    ap = argparse.ArgumentParser(description="CVAE / VQ prior: rejection sampling sweep (judges × best of k)")
    ap.add_argument("--model", default="vq-prior", choices=("vq-prior", "cvae"))
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", default=None, help="write the rows as JSON here")
    ap.add_argument("--card", action="store_true", help="add the held-out rows at the defaults to weights/vq-prior")
    a = ap.parse_args()
    torch.set_num_threads(2)
    if a.card:
        from . import service
        from .evaluate import rejection_readings
        from .reject import DEFAULT_BEST_OF, WEIGHTS

        rows = rejection_readings(service.load("vq-prior"), service.load("vqvae"), a.n,
                                  DEFAULT_BEST_OF["VQ-VAE + PixelCNN prior"], DEFAULT_GUIDANCE["vq-prior"])
        print(rows, flush=True)
        add_to_card(rows, WEIGHTS / "vq-prior")
    else:
        res = sweep(a.model, a.n, seed=a.seed)
        if a.out:
            Path(a.out).write_text(json.dumps(res, indent=1) + "\n")
