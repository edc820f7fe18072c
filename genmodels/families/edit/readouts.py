"""The readout panel of an edit — what was kept, what changed, how long it took — from the shared scoring module;
no Gradio here.

- **kept**: PSNR over the pixels that should not change (outside the mask, or outside the object), and SSIM, LPIPS
  (when its trunk's weights are here; otherwise the scoring module says why) and PD between the original and the edit
  with the region that may change pasted back from the original — so only differences where the image should be kept
  count (SSIM's and the perceptual nets' windows still see the border).
- **changed**: the scoring classifier's reading of each attribute the target prompt asks for (its N = 1 reading is a
  0 / 1), whether the attributes it does not ask for kept their source values, and the CLIP score (the scoring
  module's CLIP, not the text encoder of the pipeline) to the target prompt;
- **time**: wall-clock seconds on this server.
"""
from __future__ import annotations

import numpy as np

from ...data import shapes
from ...scoring.readout import Readout, per_pair_readout
from .common import named_attributes

ATTRIBUTES = ("shape", "colour", "fill", "background", "size")
NAMES = {"shape": shapes.SHAPES, "colour": shapes.COLOUR_NAMES, "fill": shapes.FILLS,
         "background": shapes.BACKGROUNDS, "size": shapes.SIZES}


def lpips_net() -> str | None:
    """'alex' when LPIPS-AlexNet's trunk weights are on disk, else None (PD stands in; the panel says so)."""
    from ...scoring.perceptual import trunk_weights_file

    return "alex" if trunk_weights_file("alex").exists() else None


def kept(original: np.ndarray, edited: np.ndarray, keep: np.ndarray | None, where: str = "outside the mask") \
        -> list[Readout]:
    """PSNR / SSIM / LPIPS / PD of the kept region ``keep`` (bool H×W; None: the whole image)."""
    from ...scoring.pixel import psnr
    from ...scoring.readout import score_pairs

    keep = np.ones(original.shape[:2], bool) if keep is None else np.asarray(keep, bool)
    if not keep.any():
        return []
    suffix = f" {where}" if where else ""
    p = psnr(original[keep][None], edited[keep][None], data_range=255)
    rows = [per_pair_readout(f"PSNR{suffix} (dB)", np.array([p]), "pixels (data range 255)", True,
                             "identical pixels: PSNR is infinite" if np.isinf(p) else "")]
    pasted = np.where(keep[..., None], edited, original)
    net = lpips_net()
    for r in score_pairs(original[None], pasted[None], lpips_net=net):
        if r.metric in ("SSIM", "LPIPS", "PD"):
            r.metric = f"{r.metric}{suffix}"
            rows.append(r)
    if net is None:
        rows.append(Readout(f"LPIPS{suffix}", float("nan"), "lpips-alex", 1, False,
                            warning="LPIPS-AlexNet's ImageNet trunk is not on this server (offline); PD is the "
                                    "perceptual distance on the shapes backbone"))
    return rows


def asked_attributes(target: str, source: str | None = None) -> dict[str, int]:
    """The attributes ``target`` names; with ``source``, only those it names differently (what the edit asks)."""
    tgt = {k: v for k, v in named_attributes(target).items() if k in ATTRIBUTES}
    if source is None:
        return tgt
    src = named_attributes(source)
    return {k: v for k, v in tgt.items() if src.get(k) != v}


def reference_labels(source_image: np.ndarray, labels: np.ndarray | None) -> dict[str, int]:
    """The source's attributes: its true labels for a test item, else the classifier's reading of it."""
    if labels is not None:
        return {k: int(labels[shapes.LABEL_COLUMNS.index(k)]) for k in ATTRIBUTES}
    from ...scoring.backbones import get_backbone

    pred = get_backbone("shapes").attribute_predictions(source_image[None])
    return {k: int(pred[k][0]) for k in ATTRIBUTES}


def changed(edited: np.ndarray, target: str, source: str | None = None, source_image: np.ndarray | None = None,
            labels: np.ndarray | None = None, each: bool = False,
            clip_metric: str = "CLIP score to the target prompt") -> list[Readout]:
    """The classifier's reading of the asked attributes, the others kept (``each``: one row per attribute as well),
    and the CLIP score to ``target``."""
    from ...scoring.backbones import get_backbone
    from ...scoring.readout import score_clip

    bb = get_backbone("shapes")
    pred = {k: int(v[0]) for k, v in bb.attribute_predictions(edited[None]).items()}
    asked = asked_attributes(target, source)
    rows = []
    for k, v in asked.items():
        rows.append(per_pair_readout(f"asked {k} '{NAMES[k][v]}' recognised", np.array([float(pred[k] == v)]),
                                     bb.name, True))
    if source_image is not None:
        ref = reference_labels(source_image, labels)
        others = [k for k in ATTRIBUTES if k not in asked]
        versus = bb.name + (" vs the item's labels" if labels is not None else " vs its reading of the source")
        if others:
            same = all(pred[k] == ref[k] for k in others)
            rows.append(per_pair_readout(f"other attributes kept ({', '.join(others)})", np.array([float(same)]),
                                         versus, True))
        if each:
            rows += [per_pair_readout(f"{k} kept", np.array([float(pred[k] == ref[k])]), versus, True)
                     for k in others]
    rows.append(score_clip(edited[None], [target]))
    rows[-1].metric = clip_metric
    return rows


def seconds(value: float, what: str = "time (s)") -> Readout:
    return Readout(what, float(value), "wall clock, this server", 1, False)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


def object_mask(image: np.ndarray) -> np.ndarray:
    """The object's mask as the outline reader segments it (empty when it finds no object)."""
    from ...scoring.outline import segment

    return segment(image)[1]


def iou_readout(source_image: np.ndarray, edited: np.ndarray) -> Readout:
    """IoU of the object masks the outline reader segments in the source and in the edit (one segmenter for both, so
    its own bias at the anti-aliased border cancels)."""
    return per_pair_readout("object mask IoU with the source",
                            np.array([mask_iou(object_mask(source_image), object_mask(edited))]),
                            "outline reader's segmentation (no CNN)", True)
