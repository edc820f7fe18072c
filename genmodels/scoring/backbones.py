"""Pluggable feature backbones of the scoring module; every readout names the one it used.

- ``shapes``: our ``ShapesClassifier`` (domain_nets.py), trained on the shapes domain and shipped. Always available.
- ``inception``: Inception-v3 with the FID weights (Szegedy et al. 2016, arXiv:1512.00567; the TF-FID graph of
  Heusel et al. 2017, arXiv:1706.08500), through torchmetrics' ``NoTrainInceptionV3`` (torch-fidelity's port):
  2048-d pool3 features, 1008-way logits for IS. Used when its weights are in torch's hub cache, at
  ``GENMODELS_INCEPTION_WEIGHTS``, or downloadable; otherwise ``get_backbone`` falls back to ``shapes`` and says why.

Images enter as uint8 (N, H, W, 3) arrays or float (N, 3, H, W) tensors in [-1, 1].
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..loading import LOAD_LOCK

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"


class BackboneUnavailable(RuntimeError):
    pass


def as_float_images(images) -> torch.Tensor:
    """uint8 NHWC (numpy / torch) or float NCHW in [-1, 1] -> float32 NCHW in [-1, 1]."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.require(images, requirements=("C", "W")))
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a numpy array or torch tensor, got {type(images).__name__}")
    if images.dtype == torch.uint8:
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"uint8 images must be (N, H, W, 3), got {tuple(images.shape)}")
        return images.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"float images must be (N, 3, H, W) in [-1, 1], got {tuple(images.shape)}")
    x = images.float()
    if not torch.isfinite(x).all():
        raise ValueError("images contain NaN or Inf")
    return x


def as_uint8_images(images) -> torch.Tensor:
    """-> uint8 NCHW (what Inception expects)."""
    x = as_float_images(images)
    return x.clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)


def file_hash(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:12]


@dataclass
class Backbone:
    """A named feature extractor: ``features`` (N, D) float64 and ``class_probs`` (N, K) for IS."""

    key: str  # "shapes" | "inception"
    name: str  # shown in every readout, includes the weights' hash
    net: torch.nn.Module
    batch: int = 250

    def _run(self, images, fn) -> np.ndarray:
        outs = []
        with torch.inference_mode():
            for i in range(0, len(images), self.batch):
                outs.append(fn(images[i:i + self.batch]).double().cpu())
        return torch.cat(outs).numpy() if outs else np.zeros((0, 0))

    def features(self, images) -> np.ndarray:
        raise NotImplementedError

    def class_probs(self, images) -> np.ndarray:
        raise NotImplementedError


class FeatureModule(torch.nn.Module):
    """(N, 3, H, W) float images in [-1, 1] -> (N, D) features: the form torchmetrics' ``feature=`` accepts."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net
        self.num_features = net.num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.features(x)


class ShapesBackbone(Backbone):
    def feature_module(self) -> FeatureModule:
        return FeatureModule(self.net)

    def features(self, images) -> np.ndarray:
        return self._run(as_float_images(images), self.net.features)

    def class_probs(self, images) -> np.ndarray:
        return self._run(as_float_images(images), lambda x: F.softmax(self.net(x)["shape"].double(), dim=1))

    def attribute_predictions(self, images) -> dict[str, np.ndarray]:
        x = as_float_images(images)
        outs: dict[str, list] = {}
        with torch.no_grad():
            for i in range(0, len(x), self.batch):
                for k, v in self.net(x[i:i + self.batch]).items():
                    outs.setdefault(k, []).append(v.argmax(1))
        return {k: torch.cat(v).numpy() for k, v in outs.items()}

    def feature_maps(self, images) -> list[torch.Tensor]:
        """Activations after each stage of the CNN (for PD and the Gram style distance)."""
        x = self.net._prep(as_float_images(images))
        maps = []
        for layer in self.net.body:
            x = layer(x)
            if isinstance(layer, torch.nn.MaxPool2d):
                maps.append(x)
        maps.append(x)
        return maps


class InceptionBackbone(Backbone):
    # torchmetrics' forward keeps only the first requested output; its torch-fidelity forward returns them all
    def features(self, images) -> np.ndarray:
        return self._run(as_uint8_images(images), lambda x: self.net._torch_fidelity_forward(x)[0])

    def class_probs(self, images) -> np.ndarray:
        # logits_unbiased over the 1008 outputs, as torch-fidelity / torchmetrics IS do
        return self._run(as_uint8_images(images),
                         lambda x: F.softmax(self.net._torch_fidelity_forward(x)[1].double(), dim=1))


@lru_cache(maxsize=4)
def load_shapes_classifier(folder: str | None = None):
    from .domain_nets import ShapesClassifier

    path = Path(folder or WEIGHTS / "shapes-classifier")
    if not (path / "model.safetensors").exists():
        raise BackboneUnavailable(f"the shapes classifier is not at {path} (train it: "
                                  "python -m genmodels train shapes-classifier)")
    with contextlib.redirect_stdout(sys.stderr):  # huggingface_hub prints "Loading weights from local directory"
        net = ShapesClassifier.from_pretrained(str(path)).fuse_for_inference()
    return net, file_hash([path / "model.safetensors"])


def inception_weights_path() -> Path | None:
    env = os.environ.get("GENMODELS_INCEPTION_WEIGHTS")
    if env:
        return Path(env) if Path(env).exists() else None
    cached = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE
    return cached if cached.exists() else None


def _offline() -> bool:
    return any(os.environ.get(k, "").lower() in ("1", "true", "yes") for k in ("HF_HUB_OFFLINE", "GENMODELS_OFFLINE"))


@lru_cache(maxsize=2)
def _load_inception(path: str | None):
    from torchmetrics.image.fid import NoTrainInceptionV3

    try:
        net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048", "logits_unbiased"],
                                 feature_extractor_weights_path=path)
    except Exception as e:  # a download that fails, a corrupt file: say which, never crash the caller
        raise BackboneUnavailable(f"Inception-v3 FID weights could not be loaded ({type(e).__name__}: "
                                  f"{str(e)[:120]})") from None
    return net.eval(), file_hash([Path(path)]) if path else "download"


def get_backbone(key: str = "shapes") -> Backbone:
    """The backbone ``key``; raises ``BackboneUnavailable`` with a reason a person can act on."""
    with LOAD_LOCK:  # every model build in the process holds it (loading.py)
        if key == "shapes":
            net, h = load_shapes_classifier()
            return ShapesBackbone("shapes", f"shapes-classifier@{h}", net)
        if key == "inception":
            path = inception_weights_path()
            if path is None and _offline():
                raise BackboneUnavailable(
                    f"Inception-v3 FID weights are not cached ({INCEPTION_FILE} in {torch.hub.get_dir()}/checkpoints "
                    "or GENMODELS_INCEPTION_WEIGHTS) and this server is offline")
            net, h = _load_inception(str(path) if path else None)
            return InceptionBackbone("inception", f"inception-v3-fid@{h}", net, batch=50)
    raise BackboneUnavailable(f"unknown backbone {key!r}; choose 'shapes' or 'inception'")


def with_fallback(get, key: str, fallback: str, what: str):
    """``get(key)``, or ``get(fallback)`` when ``key`` is unavailable; returns (object, note about the fallback)."""
    try:
        return get(key), ""
    except BackboneUnavailable as e:
        if key == fallback:
            raise
        return get(fallback), f"{key} unavailable: {e}; used the {what} instead"


def resolve_backbone(key: str = "shapes") -> tuple[Backbone, str]:
    """``get_backbone`` that falls back to the domain backbone; returns (backbone, note about the fallback)."""
    return with_fallback(get_backbone, key, "shapes", "shapes domain backbone")
