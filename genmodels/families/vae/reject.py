"""Classifier-based rejection sampling for the VAE tab's class-conditional samplers (CVAE, VQ-VAE + PixelCNN prior).

Razavi, van den Oord, Vinyals 2019, "Generating Diverse High-Fidelity Images with VQ-VAE-2", arXiv:1906.00446, §3.3:
samples of the class-conditional code prior are passed through a pretrained classifier and those to which it gives a
low probability of the requested class are rejected — trading diversity for quality, like truncation for GANs. Here:
``k`` candidates a requested label, and the first that the *gan-guide-robust* network
(``genmodels/families/gan/projected.py``: trained on its own seed and train items, then adversarially, so that it
reads outlines rather than textures) gives a probability ≥ ``ACCEPT`` of the requested shape (times that of the
requested colour, for the CVAE) is kept — the most probable where none reaches it. The scoring classifier, which
grades the samples, takes no part; the outline reader (``scoring/outline.py``) is reported beside it, so a pick that
only pleases CNNs shows.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
REJECT_NET = WEIGHTS / "gan-guide-robust"
MAX_BEST_OF = 32
# candidates a label at the hub's default settings, per sampler label (service.SAMPLERS); chosen on the sweep
# (rejection_sweep.py, seed 7; docs/experiments/README.md), read on seed 12345 in the cards
DEFAULT_BEST_OF = {"VAE": 1, "CVAE": 8, "VQ-VAE + PixelCNN prior": 8}
# a candidate is accepted once the judge gives the requested label this probability (VQ-VAE-2's rejection); taking
# the most probable of the k instead drew the requested shape as often but collapsed the spread (FID_domain 85 -> 702
# against 85 -> 252 at N = 300: docs/experiments/README.md)
ACCEPT = 0.95


def check_best_of(k, what: str = "Rejection sampling (best of k)") -> int:
    """The number of candidates a label or caption (1 = off), refused with a sentence outside 1 … MAX_BEST_OF."""
    try:
        v = float(k)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a whole number, got {k!r}.") from None
    if not (np.isfinite(v) and v == int(v) and 1 <= v <= MAX_BEST_OF):
        raise ValueError(f"{what} must be a whole number from 1 (off) to {MAX_BEST_OF}, got {k!r}.")
    return int(v)


def judge(folder: str | Path | None = None):
    """The network that picks among the candidates (``GuideNet``; default gan-guide-robust)."""
    from ..gan.projected import load_guide

    return load_guide(folder or REJECT_NET)


@torch.no_grad()
def label_log_probs(images: np.ndarray, shape: np.ndarray, colour: np.ndarray | None = None, net=None,
                    batch: int = 500) -> np.ndarray:
    """(N,) log p(requested shape | image) (+ log p(requested colour | image) where ``colour`` is given) by ``net``."""
    net = net or judge()
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1
    out = [net(x[i:i + batch]) for i in range(0, len(x), batch)]
    rows = torch.arange(len(x))
    score = torch.cat([o["shape"] for o in out]).log_softmax(1)[rows, torch.as_tensor(shape)]
    if colour is not None:
        score = score + torch.cat([o["colour"] for o in out]).log_softmax(1)[rows, torch.as_tensor(colour)]
    return score.numpy()


def best_of(images: np.ndarray, shape: np.ndarray, colour: np.ndarray | None, k: int, net=None,
            threshold: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``images`` (n·k, H, W, 3): label i's k candidates are rows i·k … i·k + k − 1; ``shape`` / ``colour``: the n
    requested labels (colour None: shape only). ``threshold`` (a probability): rejection sampling proper — the first
    candidate the judge gives at least that probability of the requested label is accepted (the most probable where
    none is); None: the most probable of the k (a harder pick that narrows the samples far more: see the cards).
    Returns (the n kept images, the index of each among its k, the (n, k) log-probabilities)."""
    n = len(shape)
    if len(images) != n * k:
        raise ValueError(f"{len(images)} candidates for {n} labels × {k}")
    rep = np.repeat(np.asarray(shape), k)
    crep = None if colour is None else np.repeat(np.asarray(colour), k)
    scores = label_log_probs(images, rep, crep, net).reshape(n, k)
    pick = scores.argmax(1)
    if threshold is not None:
        ok = scores >= np.log(threshold)
        pick = np.where(ok.any(1), ok.argmax(1), pick)
    return images[np.arange(n) * k + pick], pick, scores
