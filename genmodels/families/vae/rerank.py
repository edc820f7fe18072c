"""CLIP reranking of the DALL-E-style prior's samples.

Ramesh, Pavlov, Goh, Gray, Voss, Radford, Chen, Sutskever 2021, "Zero-Shot Text-to-Image Generation",
arXiv:2102.12092, §2.5: the samples drawn from the transformer are reranked by a pretrained contrastive model
(CLIP, Radford et al. 2021, arXiv:2103.00020), which scores how well each candidate image matches the caption; the
paper draws 512 candidates a caption and keeps the best. Here ``k`` candidates a caption (the tab's "best of k") and the
one the generators' CLIP scores highest is kept.

The reranker is ``weights/gen-clip`` (``python -m genmodels train gen-clip``): a CLIP trained apart from the scoring
module's ``shapes-clip`` (its own seed and train items), so nothing that grades a sample also chose it; the scoring
classifier, which reads the attributes, took no part in either.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
RERANK_CLIP = WEIGHTS / "gen-clip"
DEFAULT_RERANK = 8  # candidates a caption at the hub's default settings
MAX_RERANK = 32


def check_rerank(k) -> int:
    """The number of candidates a caption (1 = no reranking), refused with a sentence outside 1 … MAX_RERANK."""
    try:
        v = float(k)
    except (TypeError, ValueError):
        raise ValueError(f"Reranking (best of k) must be a whole number, got {k!r}.") from None
    if not (np.isfinite(v) and v == int(v) and 1 <= v <= MAX_RERANK):
        raise ValueError(f"Reranking (best of k) must be a whole number from 1 (off) to {MAX_RERANK}, got {k!r}.")
    return int(v)


def reranker(folder: str | Path | None = None):
    """The generators' CLIP (``scoring.clip_models.ClipEncoder``)."""
    from ...scoring.clip_models import load_tiny_clip

    return load_tiny_clip(folder or RERANK_CLIP)


@torch.no_grad()
def clip_scores(images: np.ndarray, captions: list[str], clip=None, batch: int = 500) -> np.ndarray:
    """(N,) cosine similarity of each image's and its caption's embeddings (N images, N captions)."""
    import torch.nn.functional as F

    clip = clip or reranker()
    if len(images) != len(captions):
        raise ValueError(f"{len(images)} images but {len(captions)} captions")
    uniq = sorted(set(captions))
    text = F.normalize(clip.embed_texts(uniq), dim=-1)
    row = torch.tensor([uniq.index(c) for c in captions])
    img = torch.cat([F.normalize(clip.embed_images(images[i:i + batch]), dim=-1)
                     for i in range(0, len(images), batch)])
    return (img * text[row]).sum(1).numpy()


def best_of(images: np.ndarray, captions: list[str], k: int, clip=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``images`` (n·k, H, W, 3): caption i's k candidates are rows i·k … i·k + k − 1; ``captions``: n texts.
    Returns (the n chosen images, the index of each among its k, the (n, k) scores)."""
    n = len(captions)
    if len(images) != n * k:
        raise ValueError(f"{len(images)} candidates for {n} captions × {k}")
    scores = clip_scores(images, [c for c in captions for _ in range(k)], clip).reshape(n, k)
    pick = scores.argmax(1)
    return images[np.arange(n) * k + pick], pick, scores


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
