"""The shared scoring module: one place for every metric the hub shows, on pluggable named backbones.

Feature-level functions take (N, D) arrays; image-level functions take uint8 (N, H, W, 3) arrays or float
(N, 3, H, W) tensors in [-1, 1]. Heavy pieces (networks, transformers) load lazily on first use.
"""
from .bootstrap import bootstrap_interval, mean_interval
from .clip_score import clip_score_from_embeddings
from .fid import feature_stats, fid_from_features, fid_from_stats
from .inception_score import inception_score_from_probs
from .kid import kid_from_features, mmd2_unbiased
from .pixel import psnr, ssim
from .ppl import lerp, perceptual_path_length, slerp
from .precision_recall import precision_recall_from_features
from .style import gram_matrix, style_distance_from_features

__all__ = [
    "Readout", "bootstrap_interval", "clip_score", "clip_score_from_embeddings", "feature_stats",
    "fid_from_features", "fid_from_stats", "gram_matrix", "inception_score_from_probs", "kid_from_features", "lerp",
    "lpips", "mean_interval", "mmd2_unbiased", "perceptual_distance", "perceptual_path_length",
    "precision_recall_from_features", "psnr", "score_clip", "score_pairs", "score_sets", "slerp", "ssim",
    "style_distance", "style_distance_from_features",
    "outline_accuracy", "read_outlines",  # lazy, from .outline: the shape check without a CNN
    "ShapeReading", "read_shapes", "shape_readouts",  # lazy, from .readout: classifier and outline side by side
]

_LAZY = {"Readout": "readout", "score_sets": "readout", "score_pairs": "readout", "score_clip": "readout",
         "lpips": "perceptual", "perceptual_distance": "perceptual", "style_distance": "perceptual",
         "get_backbone": "backbones", "resolve_backbone": "backbones",
         "read_outlines": "outline", "outline_accuracy": "outline",
         "ShapeReading": "readout", "read_shapes": "readout", "shape_readouts": "readout"}


def clip_score(images, texts, model: str = "shapes") -> float:
    """Mean CLIP score, 100 · max(cos, 0), of images and their texts with the ``model`` CLIP encoder."""
    from .readout import score_clip

    return score_clip(images, texts, model).value


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
