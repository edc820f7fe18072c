"""Held-out numbers of the image-to-image models on the shapes test split, with the shared scoring module.

pix2pix (edges + attribute planes → image): shape recognised by the scoring classifier and by the object's outline
(``scoring.readout.read_shapes``: no CNN) with the shares of objects in pieces and of outputs with no object found,
edge F1 between the input edge map and the output's detected edges (the scoring module's Canny and 1-px tolerance),
SSIM / PSNR / LPIPS / PD vs the ground-truth image. CycleGAN (solid ↔ striped): per direction the target-fill
accuracy, shape (by the classifier and by the outline) and colour kept, SSIM vs the ground-truth other-fill twin, and
the cycle PSNR (A → B → A vs A).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from ...data.dataset import to_tensor, to_uint8
from ...scoring.backbones import get_backbone
from ...scoring.edges import edge_f1
from ...scoring.pixel import psnr, ssim
from ...scoring.readout import read_shapes


def _batched(fn, x: torch.Tensor, batch: int = 250) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([fn(x[i:i + batch]) for i in range(0, len(x), batch)]).clamp(-1, 1)


def _pair_means(a: np.ndarray, b: np.ndarray) -> dict:
    return {"SSIM": float(np.mean([ssim(x, y) for x, y in zip(a, b)])),
            "PSNR": float(np.mean([psnr(x, y) for x, y in zip(a, b)]))}


def _perceptual(a: np.ndarray, b: np.ndarray) -> dict:
    from ...scoring.perceptual import LPIPSUnavailable, lpips, perceptual_distance

    out = {"PD (shapes)": float(perceptual_distance(a, b, "shapes").mean())}
    try:
        out["LPIPS (alex)"] = float(lpips(a, b, "alex").mean())
    except LPIPSUnavailable:
        pass  # offline: the trunk weights are not cached; PD is the perceptual number
    return out


def evaluate_pix2pix(G, n: int = 1000, quick: bool = False) -> dict:
    from .data import shapes_paired

    d = shapes_paired("test", n)
    G.eval()
    out = to_uint8(_batched(G, d["x"]))
    pred = get_backbone("shapes").attribute_predictions(out)
    labels = d["labels"].numpy()
    res = {"shape recognised": float((pred["shape"] == labels[:, 0]).mean()),
           # shape by outline, objects in pieces, no object found
           **read_shapes(out, labels[:, 0]).as_dict(digits=None, classifier=False),
           "colour recognised": float((pred["colour"] == labels[:, 1]).mean()),
           "fill recognised": float((pred["fill"] == labels[:, 2]).mean()),
           "edge F1": float(edge_f1(out, d["edges"].numpy()).mean())}
    res.update(_pair_means(out, d["images"]))
    if not quick:
        res.update(_perceptual(out, d["images"]))
    return res


def evaluate_cyclegan(pair, n: int = 1000, quick: bool = False) -> dict:
    """Both directions on the first n test items: solid items go A → B, striped items B → A."""
    from .data import shapes_twins

    d = shapes_twins(n)
    labels = d["labels"]
    bb = get_backbone("shapes")
    res = {}
    for direction, src_fill in (("AB", 0), ("BA", 1)):
        sel = labels[:, 2] == src_fill
        x = to_tensor(d["images"][sel])
        fwd = (pair.G_AB if direction == "AB" else pair.G_BA).eval()
        back = (pair.G_BA if direction == "AB" else pair.G_AB).eval()
        y = _batched(fwd, x)
        rec = to_uint8(_batched(back, y))
        y8 = to_uint8(y)
        pred = bb.attribute_predictions(y8)
        lab = labels[sel]
        tag = "A→B" if direction == "AB" else "B→A"
        res[f"{tag} target fill"] = float((pred["fill"] == 1 - src_fill).mean())
        res[f"{tag} shape kept"] = float((pred["shape"] == lab[:, 0]).mean())
        res.update({f"{tag} {k}": v for k, v in read_shapes(y8, lab[:, 0]).as_dict(digits=None,
                                                                                  classifier=False).items()})
        res[f"{tag} colour kept"] = float((pred["colour"] == lab[:, 1]).mean())
        twin = d["twins"][sel]
        res[f"{tag} SSIM vs twin"] = float(np.mean([ssim(a, b) for a, b in zip(y8, twin)]))
        res[f"{tag} PSNR vs twin"] = float(np.mean([psnr(a, b) for a, b in zip(y8, twin)]))
        res[f"{tag} cycle PSNR"] = float(np.mean([psnr(a, b) for a, b in zip(rec, d["images"][sel])]))
        if not quick:
            res.update({f"{tag} {k} vs twin": v for k, v in _perceptual(y8, twin).items()})
    return res


OUTLINE_NOTE = ("*Shape by outline*: the shape named from the output's object outline alone "
                "(`genmodels/scoring/outline.py`, no CNN; 100 % on the 2,000 real test items), beside the scoring "
                "classifier's reading; *objects in pieces*: outputs whose object falls apart (real items: 0 %); *no "
                "object found*: outputs the reader cannot segment (counted as not read).")

WHAT = {"pix2pix": "pix2pix (Isola et al. 2017, arXiv:1611.07004): U-Net G (reference layout, `UnetGenerator`, "
                   "5 downsamplings, batch norm) + 2-layer PatchGAN D; input = exact edge map + its hole-filled "
                   "interior + one-hot colour / fill / background planes (13 channels), output the 32×32 image",
        "cyclegan": "CycleGAN (Zhu et al. 2017, arXiv:1703.10593): two U-Net generators (reference layout, "
                    "`UnetGenerator`, 5 downsamplings, batch norm — the reference's `--netG unet_*` option; the "
                    "ResNet G blurred at this budget, see docs/experiments) + two 2-layer PatchGAN Ds (instance "
                    "norm), LSGAN, cycle 10 (λ_B 20 from step 18,000, 40 from 24,000, 60 from 54,000), identity 5, "
                    "image pool 50, 300 identity warm-up steps; A = solid, B = striped, trained unpaired on disjoint "
                    "train indices; weights stored in float16"}


def write_card(kind: str, out: Path, run: Path, recipe, steps: int, wall_s: float, data: str | None,
               eval_n: int = 1000) -> dict:
    out = Path(out)
    if data is None:
        if kind == "pix2pix":
            from .networks import UnetGenerator

            metrics = evaluate_pix2pix(UnetGenerator.from_pretrained(out), eval_n)
        else:
            from .models import CycleGAN

            metrics = evaluate_cyclegan(CycleGAN.load(out), eval_n)
    else:
        metrics = {}
    size_mb = sum(f.stat().st_size for f in out.rglob("*.safetensors")) / 1e6
    rows = "\n".join(f"| {k} | {v:.4f} |" for k, v in metrics.items())
    curve = ""
    mon = run / "monitor.jsonl"
    if mon.exists():
        (out / "monitor.jsonl").write_text(mon.read_text())
        recs = [json.loads(line) for line in mon.read_text().splitlines() if line.strip()]
        cols = [k for k in recs[0] if k not in ("step", "wall_min")] if recs else []
        curve = (f"\n## Monitor during training (N = {recipe.monitor_n} test items; `monitor.jsonl`)\n\n"
                 f"| step | wall min | {' | '.join(cols)} |\n|---|---|{'---|' * len(cols)}\n" +
                 "\n".join(f"| {r['step']} | {r['wall_min']} | " + " | ".join(f"{r[c]:.3f}" for c in cols) + " |"
                            for r in recs) + "\n")
    (out / "README.md").write_text(f"""---
license: apache-2.0
tags: [genmodels, image-to-image, {kind}, shapes]
---
# {kind}

{WHAT[kind]}. Weights: {size_mb:.2f} MB (safetensors).

- **Reproduce:** `python -m genmodels train {kind} --steps {steps}` (resumable; checkpoints in `runs/{kind}/`)
- **Data:** {f'user folder {data}' if data else f'{recipe.n_train:,} rendered items of the shapes train split (32x32)'}
- **Wall time:** {wall_s / 60:.1f} min of training loop on {torch.get_num_threads()} threads / {os.cpu_count()} CPU \
cores ({steps} steps at batch {recipe.batch}; the only training job on the machine)
- **Recipe:** `RECIPES["{kind}"]` in `genmodels/families/img2img/models.py`
- **Trained:** {time.strftime('%Y-%m-%d')}

## Held-out metrics (first {eval_n} items of the shapes test split, scoring module)

| metric | value |
|---|---|
{rows}

{OUTLINE_NOTE if metrics else ""}
{curve}""")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics
