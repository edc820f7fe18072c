"""Held-out evaluation of the GAN family on the shapes test split, with the shared scoring module.

FID / KID / precision / recall / IS against the 2,000-item test split (domain backbone), the real-vs-real floor
(2,000 train items vs the test split, same N), and for conditional models the rate at which the domain classifier
recognises the requested shape and colour — the shape beside the outline reader's (``scoring.readout.read_shapes``:
the shape named from the object's outline, no CNN) with the shares of objects in pieces and of samples with no
object; unconditional models: how often the outline names the shape the classifier reads.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch

from ...data.dataset import shapes_arrays
from ...scoring.backbones import get_backbone
from ...scoring.readout import read_shapes, score_sets
from .recipes import RECIPES, balanced_labels, labels_for
from .service import is_conditional, z_dim

N_EVAL = 2000


@torch.no_grad()
def sample(kind: str, G, n: int, seed: int = 0, labels: torch.Tensor | None = None, psi: float = 1.0,
           batch: int = 250) -> torch.Tensor:
    """n images (N, 3, 32, 32) in [-1, 1]; z from seed; labels default to balanced shape × colour."""
    from .biggan import truncated_normal
    from .service import biggan_threshold

    G.eval()
    labels = balanced_labels(n, seed) if labels is None else labels
    threshold = biggan_threshold(psi) if kind == "biggan" else None  # StyleGAN truncates in W (below)
    z = truncated_normal((n, z_dim(G)), threshold, torch.Generator().manual_seed(seed))
    outs = []
    for i in range(0, n, batch):
        c = labels_for(kind, labels[i:i + batch]) if is_conditional(G) else None
        if kind == "stylegan":
            outs.append(G(z[i:i + batch], c, psi=psi, noise_mode="const"))
        else:
            outs.append(G(z[i:i + batch], c))
    return torch.cat(outs).clamp(-1, 1)


def real_floor(n: int = N_EVAL) -> dict:
    """FID etc. of n train items against the test split: the best a perfect generator can score at this N."""
    return {r.metric: r.value for r in score_sets(shapes_arrays("train", n)["images"], "shapes-test", n_boot=10)}


def evaluate(kind: str, G, n: int = N_EVAL, seed: int = 12345) -> dict:
    labels = balanced_labels(n, seed)
    imgs = sample(kind, G, n, seed, labels)
    res = {f"{r.metric}": r.value for r in score_sets(imgs, "shapes-test", n_boot=10)}
    floor = real_floor(n)
    res["FID floor (train vs test)"] = floor["FID"]
    res["FID / floor"] = res["FID"] / floor["FID"]
    if is_conditional(G):
        pred = get_backbone("shapes").attribute_predictions(imgs)
        # requested shape recognised (classifier), shape by outline, objects in pieces, no object found
        res.update(read_shapes(imgs, labels[:, 0]).as_dict(digits=None))
        res["requested colour recognised"] = float((pred["colour"] == labels[:, 1].numpy()).mean())
    else:  # unconditional: how often the classifier is sure of *some* shape, and how evenly the shapes come out
        import numpy as np

        probs = get_backbone("shapes").class_probs(imgs)
        res["confident shape (p >= 0.9)"] = float((probs.max(1) >= 0.9).mean())
        freq = np.bincount(probs.argmax(1), minlength=probs.shape[1]) / len(probs)
        res["shape-frequency entropy / log K"] = float(-(freq[freq > 0] * np.log(freq[freq > 0])).sum()
                                                       / np.log(probs.shape[1]))
        res.update(read_shapes(imgs).as_dict(digits=None))  # the outline vs the classifier's reading, pieces
    return res


OUTLINE_NOTE = ("*Shape by outline*: the shape named from the object's outline alone (`genmodels/scoring/outline.py`, "
                "no CNN; 100 % on the 2,000 real test items), beside the scoring classifier's reading — a CNN can name "
                "textures a person would not; for an unconditional model, the share whose outline names the shape "
                "the classifier reads. *Objects in pieces*: samples whose object falls apart into several parts "
                "(real items: 0 %). *No object found*: samples the reader cannot segment (counted as not read).")


def _reward_note(kind: str, data) -> str:
    r = RECIPES.get(kind)
    if data or r is None or not r.reward:
        return ""
    return (f"; G's classifier-guidance term asks `{r.reward}` (adversarially trained, Santurkar et al. 2019, "
            f"arXiv:1906.09453) from step {r.reward_from:,}, the standard guide before")


def _cell(v) -> str:
    """A monitor value for the card's table: numbers to 3 decimals, per-class lists joined with '/'."""
    if isinstance(v, (list, tuple)):
        return " / ".join(f"{float(x):.2f}" for x in v)
    return "" if v is None else f"{float(v):.3f}"


def write_model_card(kind: str, G, out: Path, steps: int, wall_s: float, n_train: int, data: str | None,
                     n_eval: int = N_EVAL, variant: str | None = None, reproduce: str | None = None) -> dict:
    """The model card (README.md) and metrics.json of a GAN folder. ``variant``: the ``VARIANTS`` recipe the run
    ended on (a stage on the committed weights); ``reproduce``: the commands that make these weights, when they are
    not ``train <kind> --steps <steps>``."""
    from .recipes import VARIANTS

    recipe = VARIANTS[variant] if variant else RECIPES.get(kind)
    metrics = evaluate(kind, G, n_eval) if data is None else {}
    params = sum(p.numel() for p in G.parameters())
    rows = "\n".join(f"| {k} | {v:.4f} |" for k, v in metrics.items())
    what = {"dcgan": "DCGAN (Radford et al. 2015, arXiv:1511.06434), unconditional",
            "cgan": "Conditional DCGAN (Mirza & Osindero 2014, arXiv:1411.1784) on shape class and colour",
            "stylegan": "StyleGAN2 (Karras et al. 2020, arXiv:1912.04958) conditioned on shape class × colour",
            "biggan": "BigGAN-style (Brock et al. 2018, arXiv:1809.11096) on shape class and colour: shared embedding "
                      "into conditional batch norm, hierarchical z, projection D, hinge loss, orthogonal "
                      "regularisation"}[kind]
    if type(G).__name__ == "LayeredGenerator":
        what += (" with a layered generator (LR-GAN, Yang et al. 2017, arXiv:1703.01560; `layered.py`): a smooth "
                 "background, then a foreground appearance and mask drawn in a canonical frame and placed by a "
                 "learned pose (centre, scale, rotation) through a spatial transformer")
        if getattr(G, "appearance", "rgb") == "albedo-shade":
            bg = ("a grey plane (the domain's backgrounds are flat or linear gradients) within the domain's tones"
                  if G.background == "plane" else "a grey background")
            what += (f"; drawn with {bg} and a one-hue object (one colour a sample times a grey shade, so its stripes "
                     "keep their hue; `LayeredGenerator.one_hue`)")
            if recipe is not None and recipe.ship_looks:
                what += (" — trained with RGB layers and saved with these looks (`ship_looks` in recipes.py; the same "
                         "parameters); the monitor lines below with a *looks* entry read the samples so drawn, the "
                         "others the RGB layers")
        if recipe is not None and recipe.mask_d:
            what += ("; with a shape-conditional discriminator on the placed mask against the domain's ground-truth "
                     f"masks (`layered.MaskDiscriminator`, G's term weight {recipe.mask_d:g})")
    curve = ""
    mon = Path(out) / "monitor.jsonl"
    if mon.exists():  # the conditioning monitor of the run (scoring classifier, N = 300, EMA G)
        recs = [json.loads(line) for line in mon.read_text().splitlines() if line.strip()]
        cols = [k for k in recs[0] if k not in ("step", "wall_min", "shape_hist")] if recs else []
        curve = ("\n## Monitor during training (scoring classifier, N = 300 EMA samples; `monitor.jsonl`)\n\n"
                 f"| step | wall min | {' | '.join(cols)} |\n|---|---|{'---|' * len(cols)}\n" +
                 "\n".join(f"| {r['step']} | {r['wall_min']} | " + " | ".join(_cell(r.get(c)) for c in cols) + " |"
                            for r in recs) + "\n")
    (Path(out) / "README.md").write_text(f"""---
license: apache-2.0
tags: [genmodels, gan, shapes]
---
# {kind}

{what}; generator EMA, {params:,} parameters.

- **Reproduce:** {reproduce or f"`python -m genmodels train {kind} --steps {steps}`"} (resumable; checkpoints in `runs/`)
- **Data:** {f'user folder {data}' if data else f'{n_train:,} rendered items of the shapes train split (32x32)'}
- **Wall time:** {wall_s / 60:.1f} min of training loop on {torch.get_num_threads()} threads / {os.cpu_count()} CPU cores \
({steps} steps; other jobs on the machine: see docs/models.md)
- **Recipe:** {f'`VARIANTS["{variant}"]`' if variant else f'`RECIPES["{kind}"]`'} in `genmodels/families/gan/recipes.py` ({"guide recipe: projected.py" if not data else "pixel-space D"}){_reward_note(kind, data)}
- **Trained:** {time.strftime('%Y-%m-%d')}

## Held-out metrics (N = {n_eval} samples vs the 2,000-item test split, domain backbone)

| metric | value |
|---|---|
{rows}

{OUTLINE_NOTE if metrics else ""}
{curve}""")
    (Path(out) / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def ppl(kind: str, G, space: str = "z", n: int = 256, seed: int = 0) -> dict:
    """Population PPL (Karras et al. 2019): slerp in Z or lerp in W (StyleGAN), PD distance on the shapes backbone,
    ε = 1e-4, 1st–99th percentile filter. Conditional models cycle through every shape × colour label."""
    import torch

    from ...scoring.perceptual import perceptual_distance
    from ...scoring.ppl import perceptual_path_length
    def labels(m: int):
        if not is_conditional(G):
            return None
        half = labels_for(kind, balanced_labels(m // 2, seed))
        return torch.cat([half, half])

    def generator(lat):
        with torch.no_grad():
            if kind == "stylegan":
                return G.synthesis(lat) if space == "w" else G(lat, labels(len(lat)), noise_mode="const")
            return G(lat, labels(len(lat))) if is_conditional(G) else G(lat)

    def mapping(z):
        with torch.no_grad():
            return G.mapping(z, labels(len(z)))

    def dist(a, b):
        return torch.from_numpy(perceptual_distance(a, b))

    return perceptual_path_length(generator, dist, z_dim(G), n_samples=n, space=space,
                                  mapping=mapping if space == "w" else None, batch_size=64, seed=seed)


def readouts(kind: str, G, n: int = 500, seed: int = 12345, ppl_n: int = 256) -> list:
    """The GAN readout panel's column for one model: FID, KID, precision, recall, IS vs the test split, requested
    shape recognised by the classifier and by the outline (conditional models; unconditional: the outline vs the
    classifier's reading), objects in pieces, no object found, requested colour recognised, PPL in Z (and W for
    StyleGAN)."""
    from ...scoring.bootstrap import mean_interval
    from ...scoring.readout import Readout, score_sets, shape_readouts

    labels = balanced_labels(n, seed)
    imgs = sample(kind, G, n, seed, labels)
    out = score_sets(imgs, "shapes-test", n_boot=20)
    bb = out[0].backbone
    out += shape_readouts(imgs, labels[:, 0] if is_conditional(G) else None, seed)
    if is_conditional(G):
        ok = (get_backbone("shapes").attribute_predictions(imgs)["colour"] == labels[:, 1].numpy()).astype(float)
        out.append(Readout("requested colour recognised", float(ok.mean()), bb, n, True,
                           mean_interval(ok, n_boot=500, seed=seed), "95 % bootstrap over samples"))
    for space in (("z", "w") if kind == "stylegan" else ("z",)):
        p = ppl(kind, G, space, ppl_n, seed)
        out.append(Readout(f"PPL ({space.upper()})", p["mean"], f"PD[{bb}], ε=1e-4", p["n"], False,
                           mean_interval(p["samples"], n_boot=500, seed=seed), "95 % bootstrap over paths",
                           warning="PPL from fewer than 1,000 paths is noisy" if ppl_n < 1000 else ""))
    return out
