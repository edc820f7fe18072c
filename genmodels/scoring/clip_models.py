"""CLIP encoders for the CLIP score (Hessel et al. 2021, arXiv:2104.08718; CLIP: Radford et al. 2021,
arXiv:2103.00020).

- ``shapes``: our tiny ``CLIPModel`` trained on shapes captions (weights/shapes-clip), always available.
- ``standard``: ``openai/clip-vit-base-patch16`` (or ``GENMODELS_CLIP_ID``: a Hub id or a local folder) through
  transformers ``CLIPModel`` / ``CLIPProcessor``; used when it is cached or downloadable.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .backbones import WEIGHTS, BackboneUnavailable, _offline, as_float_images, file_hash, with_fallback
from .clip_score import clip_score_from_embeddings
from ..loading import LOAD_LOCK

STANDARD_CLIP = "openai/clip-vit-base-patch16"


@dataclass
class ClipEncoder:
    key: str
    name: str
    model: torch.nn.Module
    tokenizer: object
    processor: object | None = None  # standard CLIP: resizing / normalisation of images
    image_size: int = 32

    @torch.no_grad()
    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        tok = self.tokenizer(list(texts), padding=True, truncation=True, return_tensors="pt")
        return _as_tensor(self.model.get_text_features(**tok))

    @torch.no_grad()
    def embed_images(self, images) -> torch.Tensor:
        x = as_float_images(images)
        if self.processor is not None:
            u8 = x.clamp(-1, 1).add(1).mul(127.5).round().byte().permute(0, 2, 3, 1).numpy()
            pix = self.processor(images=list(u8), return_tensors="pt")["pixel_values"]
        else:
            pix = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", antialias=True,
                                align_corners=False) if x.shape[-1] != self.image_size else x
        return _as_tensor(self.model.get_image_features(pixel_values=pix))

    @torch.no_grad()
    def pair_embeddings(self, images, texts: list[str], batch: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
        """(image embeddings (N, D), the embedding of each image's text (N, D)) for N image / text pairs: each distinct
        text is embedded once, the images ``batch`` at a time."""
        if len(texts) != len(images):
            raise ValueError(f"{len(images)} images but {len(texts)} texts")
        uniq = sorted(set(texts))
        where = {t: i for i, t in enumerate(uniq)}
        row = torch.tensor([where[t] for t in texts]) if len(uniq) < len(texts) else None
        text = self.embed_texts(uniq if row is not None else list(texts))
        img = torch.cat([self.embed_images(images[i:i + batch]) for i in range(0, len(images), batch)])
        return img, (text[row] if row is not None else text)

    def score(self, images, texts: list[str]) -> np.ndarray:
        """Per-pair CLIP score (N,) = 100 · max(cos, 0)."""
        return clip_score_from_embeddings(*self.pair_embeddings(images, texts)).numpy()


def _as_tensor(out) -> torch.Tensor:
    """transformers 5 may return a model output with ``pooler_output`` instead of a bare tensor."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output


@lru_cache(maxsize=2)
def _load_shapes(folder: str) -> ClipEncoder:
    from transformers import CLIPModel, CLIPTokenizer

    path = Path(folder)
    if not (path / "model.safetensors").exists():
        raise BackboneUnavailable(f"the {path.name} CLIP is not at {path} (train it: python -m genmodels train "
                                  f"{path.name})")
    model = CLIPModel.from_pretrained(str(path)).eval()
    tok = CLIPTokenizer.from_pretrained(str(path))
    return ClipEncoder("shapes", f"{path.name}@{file_hash([path / 'model.safetensors'])}", model, tok,
                       image_size=model.config.vision_config.image_size)


def load_tiny_clip(folder: str | Path) -> ClipEncoder:
    """A tiny shapes CLIP saved by ``train.train_clip`` in ``folder`` (e.g. the generators' gen-clip)."""
    with LOAD_LOCK:
        return _load_shapes(str(folder))


@lru_cache(maxsize=2)
def _load_standard(repo: str, local_only: bool) -> ClipEncoder:
    from transformers import CLIPModel, CLIPProcessor

    try:
        model = CLIPModel.from_pretrained(repo, local_files_only=local_only).eval()
        proc = CLIPProcessor.from_pretrained(repo, local_files_only=local_only)
    except Exception as e:
        raise BackboneUnavailable(f"CLIP {repo} is not cached{' and this server is offline' if local_only else ''} "
                                  f"({type(e).__name__})") from None
    return ClipEncoder("standard", f"clip:{repo}", model, proc.tokenizer, processor=proc,
                       image_size=model.config.vision_config.image_size)


def get_clip(key: str = "shapes") -> ClipEncoder:
    with LOAD_LOCK:  # every model build in the process holds it (loading.py)
        if key == "shapes":
            return _load_shapes(str(WEIGHTS / "shapes-clip"))
        if key == "standard":
            repo = os.environ.get("GENMODELS_CLIP_ID", STANDARD_CLIP)
            return _load_standard(repo, local_only=_offline() or Path(repo).exists())
    raise BackboneUnavailable(f"unknown CLIP model {key!r}; choose 'shapes' or 'standard'")


def resolve_clip(key: str = "shapes") -> tuple[ClipEncoder, str]:
    """``get_clip`` that falls back to the shapes CLIP; returns (encoder, note about the fallback)."""
    return with_fallback(get_clip, key, "shapes", "shapes CLIP")
