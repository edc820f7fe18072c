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

from .reject import MAX_BEST_OF, check_best_of

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
RERANK_CLIP = WEIGHTS / "gen-clip"
DEFAULT_RERANK = 8  # candidates a caption at the hub's default settings
MAX_RERANK = MAX_BEST_OF


def check_rerank(k) -> int:
    """The number of candidates a caption (1 = no reranking), refused with a sentence outside 1 … MAX_RERANK."""
    return check_best_of(k, "Reranking (best of k)")


def reranker(folder: str | Path | None = None):
    """The generators' CLIP (``scoring.clip_models.ClipEncoder``)."""
    from ...scoring.clip_models import load_tiny_clip

    return load_tiny_clip(folder or RERANK_CLIP)


@torch.no_grad()
def clip_scores(images: np.ndarray, captions: list[str], clip=None) -> np.ndarray:
    """(N,) cosine similarity of each image's and its caption's embeddings (N images, N captions)."""
    import torch.nn.functional as F

    img, text = (clip or reranker()).pair_embeddings(images, captions)
    return (F.normalize(img, dim=-1) * F.normalize(text, dim=-1)).sum(1).numpy()


def best_of(images: np.ndarray, captions: list[str], k: int, clip=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``images`` (n·k, H, W, 3): caption i's k candidates are rows i·k … i·k + k − 1; ``captions``: n texts.
    Returns (the n chosen images, the index of each among its k, the (n, k) scores)."""
    n = len(captions)
    if len(images) != n * k:
        raise ValueError(f"{len(images)} candidates for {n} captions × {k}")
    scores = clip_scores(images, [c for c in captions for _ in range(k)], clip).reshape(n, k)
    pick = scores.argmax(1)
    return images[np.arange(n) * k + pick], pick, scores

