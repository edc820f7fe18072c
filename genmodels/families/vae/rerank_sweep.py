"""Guidance × CLIP-reranking sweep of the embedded DALL-E-style prior (``rerank.py``): how the tab's defaults were
chosen. ``python -m genmodels.families.vae.rerank_sweep --split train --n 500``."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .rerank import clip_scores, reranker


def sweep(n: int = 500, guidances=(1.0, 2.0, 3.0), ks=(1, 2, 4, 8, 16), seed: int = 12345,
          split: str = "test") -> list[dict]:
    """Held-out reading of the embedded DALL-E-style prior for each guidance × best of k: max(ks) candidates per
    test caption drawn once per guidance, best of the first k of them (k = 1: the plain draw). Shape, colour, fill by
    the scoring classifier and shape by outline (``scoring/outline.py``), N = n captions of ``split`` (the train
    split's to choose the defaults without looking at the test split)."""
    from ...data.captions import caption_of
    from ...data.dataset import shapes_arrays
    from ...scoring.backbones import get_backbone
    from ...scoring.readout import read_shapes
    from . import service
    from .evaluate import dalle_samples
    from .recipes import labels_tensor

    model, vq = service.load("vq-dalle"), service.load("vqvae")
    lab = labels_tensor(shapes_arrays(split, n))
    captions = [caption_of(row) for row in lab.tolist()]
    top = max(ks)
    clip, backbone = reranker(), get_backbone("shapes")
    rows = []
    for g in guidances:
        pool = dalle_samples(model, vq, lab.repeat_interleave(top, 0), seed=seed, guidance=g)  # (n·top, 32, 32, 3)
        scores = clip_scores(pool, [c for c in captions for _ in range(top)], clip).reshape(n, top)
        for k in ks:
            pick = scores[:, :k].argmax(1)
            images = pool[np.arange(n) * top + pick]
            p = backbone.attribute_predictions(images)
            hit = {a: p[a] == lab[:, c].numpy() for c, a in enumerate(("shape", "colour", "fill"))}
            outline = read_shapes(images, lab[:, 0]).summary()
            rows.append({"split": split, "guidance": g, "best_of": k, "n": n, **{a: round(float(v.mean()), 4) for a, v in hit.items()},
                         "all_three": round(float((hit["shape"] & hit["colour"] & hit["fill"]).mean()), 4),
                         "shape_by_outline": round(outline["outline"], 4), "pieces": round(outline["pieces"], 4)})
            print(rows[-1], flush=True)
    return rows


if __name__ == "__main__":
    import argparse
    import json

    ap = argparse.ArgumentParser(description="DALL-E-style prior: guidance × CLIP reranking sweep on test captions")
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--split", default="test", choices=("train", "test"))
    ap.add_argument("--guidance", type=float, nargs="+", default=[1.0, 2.0, 3.0])
    ap.add_argument("--best-of", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    ap.add_argument("--out", default=None, help="write the rows as JSON here")
    a = ap.parse_args()
    res = sweep(a.n, tuple(a.guidance), tuple(a.best_of), split=a.split)
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=1) + "\n")
