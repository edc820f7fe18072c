"""Reference statistics of the shapes test split, computed once per backbone and cached on disk.

The cache key is the backbone's name, which includes the hash of its weights, plus the data's identity (split,
items, image size, renderer version): new weights or a new renderer give a new file, never stale numbers.
Cached: features (N, D) — for KID and precision/recall — their mean and covariance (float64) — for FID — and
class probabilities (for IS of the real data, the ceiling a generator can reach).
"""
from __future__ import annotations

import hashlib
import threading

import numpy as np

from ..data import shapes
from ..data.dataset import cache_dir, shapes_arrays
from .backbones import Backbone
from .fid import feature_stats

RENDERER_VERSION = "shapes-v1"
_LOCK = threading.Lock()
_MEMO: dict[str, dict[str, np.ndarray]] = {}


def test_images(n: int = shapes.TEST_SPLIT_SIZE, size: int = 32) -> np.ndarray:
    return shapes_arrays("test", n, size)["images"]


def reference_stats(backbone: Backbone, n: int = shapes.TEST_SPLIT_SIZE, size: int = 32) -> dict[str, np.ndarray]:
    """{'features', 'mu', 'sigma', 'probs'} of the first ``n`` test items under ``backbone`` (cached)."""
    key = f"{RENDERER_VERSION}-test-{n}-{size}-{backbone.name}"
    with _LOCK:
        if key in _MEMO:
            return _MEMO[key]
        path = cache_dir() / "reference" / f"{hashlib.sha1(key.encode()).hexdigest()[:16]}.npz"
        if path.exists():
            with np.load(path) as z:
                out = {k: z[k] for k in z.files}
        else:
            images = test_images(n, size)
            feats = backbone.features(images)
            mu, sigma = feature_stats(feats)
            out = {"features": feats, "mu": mu, "sigma": sigma, "probs": backbone.class_probs(images)}
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npz")
            np.savez(tmp, **out)
            tmp.replace(path)
        _MEMO[key] = out
        return out
