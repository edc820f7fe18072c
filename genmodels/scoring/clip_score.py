"""CLIPScore from precomputed image and text embeddings.

Reference
---------
Hessel, Holtzman, Forbes, Le Bras, Choi (2021), "CLIPScore: A Reference-free
Evaluation Metric for Image Captioning", arXiv:2104.08718.

For an image embedding v and a caption embedding c the paper defines

    CLIP-S(c, v) = w · max(cos(c, v), 0)   with w = 2.5.

Differences from the paper
--------------------------
* We use w = 100 (as torchmetrics' ``CLIPScore`` and most text-to-image
  papers do) instead of the paper's 2.5, so values lie in [0, 100].
* Only the math: loading CLIP and computing embeddings is done elsewhere.
* Cosines are computed in float64 after L2-normalising each embedding
  (a zero vector raises ``ValueError`` instead of producing NaN).
"""

from __future__ import annotations

import torch

__all__ = ["CLIP_SCORE_SCALE", "clip_score_from_embeddings", "mean_clip_score"]

CLIP_SCORE_SCALE = 100.0


def _check(image_emb: torch.Tensor, text_emb: torch.Tensor) -> None:
    if image_emb.ndim != 2 or text_emb.ndim != 2:
        raise ValueError(
            f"embeddings must be 2-D (N, D), got {tuple(image_emb.shape)} and {tuple(text_emb.shape)}"
        )
    if image_emb.shape != text_emb.shape:
        raise ValueError(
            f"image and text embeddings must have the same shape, got "
            f"{tuple(image_emb.shape)} and {tuple(text_emb.shape)}"
        )
    if not (torch.isfinite(image_emb).all() and torch.isfinite(text_emb).all()):
        raise ValueError("embeddings contain NaN or Inf")


def clip_score_from_embeddings(image_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
    """Per-pair CLIPScore 100 · max(cos(image_i, text_i), 0) → float64 tensor (N,)."""
    _check(image_emb, text_emb)
    img = image_emb.detach().to(torch.float64)
    txt = text_emb.detach().to(torch.float64)
    img_norm = img.norm(dim=1)
    txt_norm = txt.norm(dim=1)
    if bool((img_norm == 0).any()) or bool((txt_norm == 0).any()):
        raise ValueError("embeddings contain a zero vector; cosine similarity is undefined")
    cos = (img * txt).sum(dim=1) / (img_norm * txt_norm)
    return CLIP_SCORE_SCALE * cos.clamp(min=0.0)


def mean_clip_score(image_emb: torch.Tensor, text_emb: torch.Tensor) -> float:
    """Mean CLIPScore over all pairs (a Python float)."""
    return float(clip_score_from_embeddings(image_emb, text_emb).mean())
