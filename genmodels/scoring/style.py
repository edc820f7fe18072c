"""Gram-matrix style statistics and a style distance between feature stacks.

Reference
---------
Gatys, Ecker, Bethge (2015/2016), "A Neural Algorithm of Artistic Style",
arXiv:1508.06576 (and "Image Style Transfer Using Convolutional Neural
Networks", CVPR 2016).

For a feature map F of one sample with C channels and H×W positions, flattened
to a C×(H·W) matrix, the Gram matrix used here is

    G = F Fᵀ / (C · H · W).

The style distance between two samples over L layers is

    d = (1/L) Σ_l  mean_{i,j} (G^a_l[i, j] - G^b_l[i, j])²
      = (1/L) Σ_l  ||G^a_l - G^b_l||_F² / C_l².

Differences from the paper
--------------------------
* Gatys et al. use the unnormalised Gram matrix F Fᵀ and weight layer l's
  squared error by 1 / (4 N_l² M_l²) with N_l = C_l, M_l = H_l·W_l. We
  normalise the Gram matrix by C·H·W (a common convention, e.g. in the PyTorch
  neural-style tutorial), take the mean (not the sum) over its C² entries, and
  weight all layers equally with 1/L. This keeps values comparable across
  layers and resolutions; it is a rescaling of the paper's per-layer loss.
* Only the math on already-extracted features (no VGG network).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["gram_matrix", "style_distance_from_features"]


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Per-sample Gram matrices F·Fᵀ / (C·H·W) of an (N, C, H, W) tensor → (N, C, C)."""
    if features.ndim != 4:
        raise ValueError(f"features must be (N, C, H, W), got shape {tuple(features.shape)}")
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)


def style_distance_from_features(
    feats_a: Sequence[torch.Tensor], feats_b: Sequence[torch.Tensor]
) -> torch.Tensor:
    """Per-sample style distance (N,) between two lists of (N, C_l, H_l, W_l) features.

    Returns the mean over layers of the mean squared difference of the Gram
    matrices (see the module docstring). Layer l of ``feats_a`` and
    ``feats_b`` must agree in N and C_l; H_l, W_l may differ.
    """
    if len(feats_a) != len(feats_b):
        raise ValueError(f"got {len(feats_a)} layers for a and {len(feats_b)} for b")
    if len(feats_a) == 0:
        raise ValueError("at least one feature layer is required")
    total: torch.Tensor | None = None
    for layer, (fa, fb) in enumerate(zip(feats_a, feats_b)):
        if fa.ndim != 4 or fb.ndim != 4 or fa.shape[:2] != fb.shape[:2]:
            raise ValueError(
                f"layer {layer}: expected (N, C, H, W) features with equal N and C, "
                f"got {tuple(fa.shape)} and {tuple(fb.shape)}"
            )
        per_layer = (gram_matrix(fa) - gram_matrix(fb)).pow(2).mean(dim=(1, 2))
        total = per_layer if total is None else total + per_layer
    assert total is not None
    return total / len(feats_a)
