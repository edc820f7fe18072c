"""Perceptual pair distances: LPIPS, PD (perceptual distance) and the Gram-matrix style distance.

- LPIPS: Zhang, Isola, Efros, Shechtman, Wang 2018, arXiv:1801.03924, through the ``lpips`` package (its shipped
  linear-layer weights v0.1 on torchvision AlexNet / VGG16). Available when torchvision's ImageNet weights of the
  trunk are in torch's hub cache (or downloadable); otherwise ``LPIPSUnavailable`` says which file is missing.
- PD: LPIPS's recipe without the learned linear layer (the "baseline" of Zhang et al. 2018, as also used by
  Karras et al. 2019 for PPL with VGG): per layer, unit-normalise each spatial feature vector over channels, take the
  squared difference, average over space; then average over layers. Our default trunk is the domain classifier's
  four stages, so it works offline and is named ``PD[shapes-classifier@hash]``.
- Style distance: Gatys, Ecker, Bethge 2016, arXiv:1508.06576 — Gram matrices of the same trunk's stages
  (see style.py for the normalisation).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..loading import serial_load
from .backbones import BackboneUnavailable, _offline, as_float_images, get_backbone
from .style import style_distance_from_features

LPIPS_TRUNKS = {"alex": "AlexNet_Weights", "vgg": "VGG16_Weights"}


class LPIPSUnavailable(BackboneUnavailable):
    pass


def _pairs(a, b) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = as_float_images(a), as_float_images(b)
    if x.shape != y.shape:
        raise ValueError(f"the two image sets differ in shape: {tuple(x.shape)} vs {tuple(y.shape)}; "
                         "resize them to one size first")
    return x, y


# torchvision's ImageNet weight files of the two trunks (``<Weights>.IMAGENET1K_V1.url``'s basename), named here so
# the hub's start-up check does not import torchvision.models (~1 s of the cold start); a unit test keeps them equal.
LPIPS_TRUNK_FILES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth"}


def trunk_weights_file(net: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / LPIPS_TRUNK_FILES[net]


@lru_cache(maxsize=2)
@serial_load
def load_lpips(net: str = "alex"):
    if net not in LPIPS_TRUNKS:
        raise LPIPSUnavailable(f"unknown LPIPS net {net!r}; choose 'alex' or 'vgg'")
    f = trunk_weights_file(net)
    if not f.exists() and _offline():
        raise LPIPSUnavailable(f"LPIPS-{net} needs torchvision's ImageNet weights {f.name} in {f.parent}, "
                               "and this server is offline")
    import lpips as lpips_pkg

    try:
        return lpips_pkg.LPIPS(net=net, pretrained=True, pnet_rand=False, verbose=False).eval()
    except Exception as e:
        raise LPIPSUnavailable(f"LPIPS-{net} could not load its trunk ({type(e).__name__}: {str(e)[:100]})") from None


@torch.no_grad()
def lpips(a, b, net: str = "alex") -> np.ndarray:
    """Per-pair LPIPS distances (N,) of two aligned image sets (inputs in [-1, 1] as LPIPS expects)."""
    x, y = _pairs(a, b)
    model = load_lpips(net)
    return model(x, y).flatten().double().numpy()


def _unit(f: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    return f / (f.pow(2).sum(dim=1, keepdim=True).sqrt() + eps)


def _stage_maps(a, b, backbone: str, what: str) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The backbone's per-stage activations of two aligned image sets."""
    x, y = _pairs(a, b)
    bb = get_backbone(backbone)
    if not hasattr(bb, "feature_maps"):
        raise BackboneUnavailable(f"{what} is defined here for the shapes backbone, not {backbone!r}")
    return bb.feature_maps(x), bb.feature_maps(y)


@torch.no_grad()
def perceptual_distance(a, b, backbone: str = "shapes") -> np.ndarray:
    """Per-pair PD (N,): mean over layers of the spatial mean of ||unit(f_a) - unit(f_b)||²."""
    maps_a, maps_b = _stage_maps(a, b, backbone, "PD")
    per_layer = [(_unit(fa) - _unit(fb)).pow(2).sum(1).mean(dim=(1, 2)) for fa, fb in zip(maps_a, maps_b)]
    return torch.stack(per_layer).mean(0).double().numpy()


@torch.no_grad()
def style_distance(a, b, backbone: str = "shapes") -> np.ndarray:
    """Per-pair Gram-matrix style distance (N,) on the backbone's stages."""
    maps_a, maps_b = _stage_maps(a, b, backbone, "the style distance")
    return style_distance_from_features(maps_a, maps_b).double().numpy()
