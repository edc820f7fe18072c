"""Held-out evaluation of the Edit tab's methods against issue 31's acceptance lines — no Gradio here.

``python -m genmodels.families.edit.evaluate --n 200`` runs, on test items start .. start+n-1 of the shapes test split
(papers: inversion.py, p2p.py, blended.py, drag.py):

- **DDIM inversion**: invert under the item's caption, regenerate (same DDIM steps, guidance 1); PSNR to the image,
  beside the VAE's own round trip (the ceiling).
- **Prompt-to-Prompt colour swap** from that inversion: the caption's colour word swapped for the colour three places
  on in ``shapes.COLOUR_NAMES`` (red → yellow, green → magenta, blue → cyan, …), word swap with local blend on the
  shape noun and direct-inversion correction, the last ``--p2p-strength`` (0.5) of the steps re-run, CFG ``--cfg``.
  Read by the scoring classifier: the new colour recognised; the other attributes (shape, fill, background) kept as
  labelled; and the IoU of the object masks the outline reader segments in the source and in the edit (the
  inversion's own regeneration gives the ceiling of that IoU, reported under DDIM inversion). Acceptance: ≥ 85 %,
  ≥ 85 %, ≥ 0.8.
- **Blended latent diffusion**: the item's shape mask (dilated 1 px) and the same new caption; PSNR outside the mask
  before the pixel blend (after it the pixels are the original's: exact by construction, counted as such), and the
  new colour recognised on the result. Acceptance: ≥ 35 dB, ≥ 80 %.
- **DragDiffusion**, on the first ``--drag-n`` items (default 50): a scripted drag moving the object 4-8 px (length
  and direction from the item index; targets kept 3 px inside the image) — the centroid and three points half-way to
  the object's edge, all moved by the same vector, background held by the λ term. Read: the handle-to-target distance
  reduction 1 − |c' − g| / |c − g| of the object centroid (outline reader's segmentation), its mean and the share of
  drags reduced ≥ 60 %, and the shape kept (scoring classifier; also the outline reader). Acceptance: ≥ 60 %, ≥ 85 %.

Writes ``genmodels/weights/edit/metrics.json`` (or ``--out``): columns of named values per method, the acceptance
lines with pass / fail, N, the settings and the wall time.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from ...data import shapes
from ...pointdrag import centroid_reduction, scripted_drag
from ...scoring.pixel import psnr
from . import blended as B
from . import drag as D
from . import p2p as P
from .common import OUT, check_mask, decode, dilate, edit_pipeline, encode_image, encode_text, swap_word, test_item
from .inversion import denoise, invert
from .readouts import mask_iou, object_mask

OTHERS = ("shape", "fill", "background")


def new_colour(colour: int) -> int:
    return (int(colour) + 3) % len(shapes.COLOUR_NAMES)


def run(n: int = 200, start: int = 0, steps: int = 20, cfg: float = 3.0, drag_n: int = 50, drag_iterations: int = 60,
        only: tuple[str, ...] = ("invert", "p2p", "blended", "drag", "diffae"), p2p_strength: float = 0.5,
        progress=print, diffae_depth: float | None = None, diffae_strength: float = 1.0) -> dict:
    """Every method on test items start .. start+n-1 (DragDiffusion on the first ``drag_n`` of them)."""
    from ...scoring.backbones import get_backbone
    from ...scoring.readout import read_shapes

    torch.manual_seed(0)
    pipe = edit_pipeline()
    side = int(pipe.unet.config.sample_size)
    bb = get_backbone("shapes")
    rec, vae, p2p_img, blend_img, blend_latent, psnr_latent, exact_outside = [], [], [], [], [], [], []
    drag_img, drag_red, drag_items = [], [], []
    items, targets, ious, rec_iou = [], [], [], []
    secs = {k: 0.0 for k in ("invert", "p2p", "blended", "drag", "diffae")}
    t_all = time.perf_counter()
    for j, i in enumerate(range(start, start + n)):
        it = test_item(i)
        items.append(it)
        colour = int(it.labels[shapes.LABEL_COLUMNS.index("colour")])
        new = new_colour(colour)
        target = swap_word(it.caption, shapes.COLOUR_NAMES[colour], shapes.COLOUR_NAMES[new])
        targets.append(new)
        traj = None
        if "invert" in only or "p2p" in only:
            t0 = time.perf_counter()
            cond = encode_text(pipe, [it.caption])
            z0 = encode_image(pipe, it.image)
            traj = invert(pipe, z0, cond, steps)
            secs["invert"] += time.perf_counter() - t0
            if "invert" in only:
                t0 = time.perf_counter()
                z = denoise(pipe, traj[-1], cond, None, steps, 1.0)
                secs["invert"] += time.perf_counter() - t0
                a, b = decode(pipe, torch.cat([z, z0]))
                rec.append(psnr(it.image, a))
                vae.append(psnr(it.image, b))
                rec_iou.append(mask_iou(object_mask(it.image), object_mask(a)))
        if "p2p" in only:
            t0 = time.perf_counter()
            align = P.check_swap(pipe.tokenizer, it.caption, target)
            blend = P.blend_tokens(pipe.tokenizer, it.caption, target, "",
                                   (align.source_changed, align.target_changed))
            first = steps - max(1, int(round(p2p_strength * steps)))
            out = P.p2p(pipe, it.caption, target, traj[steps - first], steps, cfg, inverted=traj, blend=blend,
                        first=first)
            secs["p2p"] += time.perf_counter() - t0
            p2p_img.append(out["target"])
            ious.append(mask_iou(object_mask(it.image), object_mask(out["target"])))
        if "blended" in only:
            t0 = time.perf_counter()
            mask = dilate(it.mask, 1)
            res = B.blended(pipe, it.image, mask, check_mask(mask, side), target, steps, cfg, seed=i)
            secs["blended"] += time.perf_counter() - t0
            blend_img.append(res["result"])
            blend_latent.append(res["latent_only"])
            keep = ~mask
            psnr_latent.append(psnr(it.image[keep][None], res["latent_only"][keep][None], data_range=255))
            exact_outside.append(bool((res["result"][keep] == it.image[keep]).all()))
        if "drag" in only and j < drag_n:
            t0 = time.perf_counter()
            handles, goals = scripted_drag(it.mask, i)
            region = D.drag_region(it.mask, handles, goals)
            res = D.drag(pipe, it.image, it.caption, handles, goals, steps, 0.8, drag_iterations, region,
                         object_mask=it.mask)
            secs["drag"] += time.perf_counter() - t0
            drag_img.append(res["edited"])
            drag_items.append(it)
            drag_red.append(centroid_reduction(it.mask, object_mask(res["edited"]), handles, goals))
        if progress and (j + 1) % max(1, n // 10) == 0:
            progress(f"{j + 1}/{n} items, {time.perf_counter() - t_all:.0f} s")
    labels = np.stack([it.labels for it in items])
    col = lambda k: labels[:, shapes.LABEL_COLUMNS.index(k)]  # noqa: E731
    r4 = lambda v: round(float(v), 4)  # noqa: E731
    columns, accept = {}, {}
    if rec:
        columns["DDIM inversion"] = {"regeneration PSNR (dB)": r4(np.mean(rec)), "VAE round-trip PSNR (dB)":
                                     r4(np.mean(vae)), "object mask IoU, regeneration vs source": r4(np.mean(rec_iou)),
                                     "N": n, "seconds per image": r4(secs["invert"] / n)}
    if p2p_img:
        pred = bb.attribute_predictions(np.stack(p2p_img))
        new_ok = pred["colour"] == np.array(targets)
        kept = np.all([pred[k] == col(k) for k in OTHERS], 0)
        columns["Prompt-to-Prompt colour swap"] = {
            "new colour recognised": r4(new_ok.mean()), "other attributes kept (shape, fill, background)":
            r4(kept.mean()), **{f"{k} kept": r4((pred[k] == col(k)).mean()) for k in OTHERS},
            "mask IoU with the source": r4(np.mean(ious)), "N": n, "seconds per image": r4(secs["p2p"] / n)}
        accept["P2P: new attribute recognised ≥ 0.85"] = bool(new_ok.mean() >= 0.85)
        accept["P2P: other attributes kept ≥ 0.85"] = bool(kept.mean() >= 0.85)
        accept["P2P: mask IoU ≥ 0.8"] = bool(np.mean(ious) >= 0.8)
    if blend_img:
        pred = bb.attribute_predictions(np.stack(blend_img))
        pred_l = bb.attribute_predictions(np.stack(blend_latent))
        content = pred["colour"] == np.array(targets)
        columns["Blended latent diffusion (shape mask, new colour)"] = {
            "PSNR outside the mask, before the pixel blend (dB)": r4(np.mean(psnr_latent)),
            "outside the mask identical after the pixel blend": r4(np.mean(exact_outside)),
            "new colour recognised (result)": r4(content.mean()),
            "new colour recognised (before the pixel blend)": r4((pred_l["colour"] == np.array(targets)).mean()),
            "shape kept (result)": r4((pred["shape"] == col("shape")).mean()), "N": n,
            "seconds per image": r4(secs["blended"] / n)}
        accept["Blended: PSNR outside the mask ≥ 35 dB (before the pixel blend)"] = bool(np.mean(psnr_latent) >= 35)
        accept["Blended: PSNR outside the mask ≥ 35 dB (result: identical pixels)"] = bool(np.mean(exact_outside) == 1)
        accept["Blended: content recognised inside ≥ 0.8"] = bool(content.mean() >= 0.8)
    if drag_img:
        m = len(drag_img)
        dl = np.stack([it.labels for it in drag_items])
        pred = bb.attribute_predictions(np.stack(drag_img))
        shape_ok = pred["shape"] == dl[:, 0]
        outline = read_shapes(np.stack(drag_img), dl[:, 0]).summary()
        red = np.nan_to_num(np.array(drag_red), nan=0.0)
        columns["DragDiffusion (scripted 4-8 px drags)"] = {
            "centroid distance reduction (mean)": r4(red.mean()), "drags reduced ≥ 60 %": r4((red >= 0.6).mean()),
            "shape kept (classifier)": r4(shape_ok.mean()), "shape kept (outline)": r4(outline["outline"]),
            "objects in pieces": r4(outline["pieces"]), "no object found": r4(outline["no_object"]),
            "N": m, "seconds per drag": r4(secs["drag"] / m)}
        accept["Drag: distance reduced ≥ 60 % (mean)"] = bool(red.mean() >= 0.6)
        accept["Drag: shape kept ≥ 0.85"] = bool(shape_ok.mean() >= 0.85)
    if "diffae" in only:
        from . import diffae

        enc, dirs = diffae.load_embedded()
        t0 = time.perf_counter()
        from .service import DIFFAE_DEPTH

        diffae_depth = DIFFAE_DEPTH if diffae_depth is None else diffae_depth
        images = np.stack([it.image for it in items])
        out = diffae.edit_batch(pipe, enc, dirs, images, labels, steps, targets=np.array(targets),
                                depth=diffae_depth, strength=diffae_strength)
        secs["diffae"] = time.perf_counter() - t0
        sc = diffae.edit_scores(images, labels, out)
        pred = bb.attribute_predictions(out["edits"])
        columns[f"Diffusion Autoencoder colour swap (depth {diffae_depth:g}, strength {diffae_strength:g})"] = {
            "new colour recognised": r4(sc["new_recognised"]), "other attributes kept (shape, fill, background)":
            r4(sc["others_kept"]), **{f"{k} kept": r4((pred[k] == col(k)).mean()) for k in OTHERS},
            "mask IoU with the source": r4(sc["iou"]), "reconstruction PSNR (dB)": r4(sc["rec_psnr"]), "N": n,
            "seconds per image": r4(secs["diffae"] / n)}
        accept["DiffAE: new attribute recognised ≥ 0.85"] = bool(sc["new_recognised"] >= 0.85)
        accept["DiffAE: other attributes kept ≥ 0.85"] = bool(sc["others_kept"] >= 0.85)
        accept["DiffAE: mask IoU ≥ 0.8"] = bool(sc["iou"] >= 0.8)
    return {"n": n, "start": start, "steps": steps, "cfg": cfg, "p2p_strength": p2p_strength, "drag_n": len(drag_img),
            "drag_iterations": drag_iterations, "columns": columns, "acceptance": accept,
            "wall_s": round(time.perf_counter() - t_all, 1),
            "footnote": (f"Test items {start}-{start + n - 1} of the shapes test split (DragDiffusion: the first "
                         f"{len(drag_img)}); DDIM {steps} steps, CFG {cfg:g} for the edits, guidance 1 for inversion "
                         "and DragDiffusion; colours read by the scoring classifier (shapes backbone), masks by the "
                         "outline reader. `python -m genmodels.families.edit.evaluate` (see its docstring)."),
            "command": f"python -m genmodels.families.edit.evaluate --n {n} --start {start} --steps {steps} "
                       f"--cfg {cfg:g} --p2p-strength {p2p_strength:g} --drag-n {drag_n} --only {','.join(only)}"
                       + (f" --diffae-depth {diffae_depth:g} --diffae-strength {diffae_strength:g}"
                          if "diffae" in only else "")}


def merge_previous(res: dict, path: Path) -> dict:
    """A run of some methods keeps the other methods' columns and acceptance lines of an earlier ``metrics.json``
    (same N and start only); each column names the command that measured it."""
    for name in res["columns"]:
        res["columns"][name]["command"] = res["command"]
    if not path.exists():
        return res
    old = json.loads(path.read_text())
    if (old.get("n"), old.get("start")) != (res["n"], res["start"]):
        return res
    method = lambda name: " ".join(name.split()[:2])  # noqa: E731 — "Diffusion Autoencoder (depth …)" is one method
    ran = {method(name) for name in res["columns"]}
    for name, col in old.get("columns", {}).items():
        if method(name) not in ran:
            res["columns"][name] = {**col, "command": col.get("command", old.get("command", ""))}
    prefixes = {line.split(":")[0] for line in res["acceptance"]}
    res["acceptance"] = {**{k: v for k, v in old.get("acceptance", {}).items()
                            if k.split(":")[0] not in prefixes}, **res["acceptance"]}
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200, help="test items per method (default 200)")
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--cfg", type=float, default=3.0)
    ap.add_argument("--drag-n", type=int, default=50, help="scripted drags (the first of the n items; default 50)")
    ap.add_argument("--drag-iterations", type=int, default=60)
    ap.add_argument("--p2p-strength", type=float, default=0.5, help="share of the steps Prompt-to-Prompt re-runs")
    ap.add_argument("--diffae-depth", type=float, default=None, help="share of the steps the Diffusion Autoencoder "
                    "inverts and re-runs (default: the tab's)")
    ap.add_argument("--diffae-strength", type=float, default=1.0, help="target margin, x the source's")
    ap.add_argument("--only", default="invert,p2p,blended,drag,diffae", help="comma-separated subset (the other "
                    "methods' columns of an existing metrics.json are kept)")
    ap.add_argument("--out", default=str(OUT), help="folder for metrics.json (default genmodels/weights/edit)")
    a = ap.parse_args(argv)
    if a.n < 1 or a.start < 0 or a.start + a.n > shapes.TEST_SPLIT_SIZE:
        ap.error(f"--start + --n must stay within the test split's {shapes.TEST_SPLIT_SIZE} items")
    only = tuple(s.strip() for s in a.only.split(",") if s.strip())
    unknown = set(only) - {"invert", "p2p", "blended", "drag", "diffae"}
    if unknown:
        ap.error(f"unknown method(s) {', '.join(sorted(unknown))}")
    if not 0.1 <= a.p2p_strength <= 1.0:
        ap.error("--p2p-strength must be in [0.1, 1]")
    res = run(a.n, a.start, a.steps, a.cfg, a.drag_n, a.drag_iterations, only, a.p2p_strength,
              diffae_depth=a.diffae_depth, diffae_strength=a.diffae_strength)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    res = merge_previous(res, out / "metrics.json")
    (out / "metrics.json").write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(res["columns"], indent=2, ensure_ascii=False))
    print(json.dumps(res["acceptance"], indent=2, ensure_ascii=False))
    print(f"wrote {out / 'metrics.json'} ({res['wall_s']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
