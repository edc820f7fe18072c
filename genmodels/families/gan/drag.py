"""DragGAN on the embedded layered CGAN (the Drag sub-tab's default) and StyleGAN: move handle points of a generated
image to target points by optimising the generator's latent.

Pan, Tewari, Leimkühler, Liu, Meka, Theobalt 2023, "Drag Your GAN: Interactive Point-based Manipulation on the
Generative Image Manifold", arXiv:2305.10973. Each iteration (``pointdrag.iterate_points``):

1. **Motion supervision** (eq. 1) on F, the generator's features after the 16-px block (64 channels), bilinearly
   resized to the 32×32 image: every handle's neighbourhood Ω(h, r1) is pulled one pixel towards its target against
   a stop-gradient copy of itself; with a mask M of the movable region, λ ‖(F − F₀) ⊙ (1 − M)‖₁ keeps the rest still.
   Only the first ``LAYERS`` entries of w+ are optimised (the paper: the first 6 of StyleGAN2's; here the five that
   reach the 16-px features — the 32-px styles, i.e. texture and colour detail, stay the source's).
2. **Point tracking** (eq. 2): each handle moves to the position within Ω(h, r2) whose features are nearest (L1)
   to the source handle's features F₀(h⁰).

With ``rigid`` > 0 a third term moves the object as one piece (``pointdrag.ObjectTemplate``: FreeDrag's feature
template, Ling et al. 2023, arXiv:2307.04684, over the whole object) — every part of the object follows the handles
instead of only their neighbourhoods.

Measured (scripted drags on StyleGAN samples, ``evaluate``; N = 24 unless said): the paper's two terms with the
first 2 / 3 / 5 styles free — centroid 72-81 % of the way, but the classifier's shape reading kept in 38-75 % (the
neighbourhoods moved and the outline bent); with the template (weight 5, 5 styles) 72 % / 62.5 %, weight 20 71 % /
67 %; one w for every layer (W instead of W+) 68-69 % / 50-58 %; 16-px features beat 8-px ones (54 % of the way).
N = 50 with the shipped settings: 70.0 % of the way, shape kept 58 % (classifier) / 66 % (outline). The generator
is the limit: its objects sit in a narrower band than the domain's (centroid std 2.3 / 2.8 px vs 3.8 / 3.8 px in
the test split, N = 300), so a 4–8 px drag leaves the region it draws well.

**On the layered CGAN** (LR-GAN, layered.py; ``layered_drag_steps``): the latent is the attribute edit's code
(background noise, object noise, pose: centre, scale, angle), and a drag optimises the pose (with "rigid", the
default) or the pose and the object noise — the pose's centre alone for one handle, which fixes a translation only
(with the whole pose free, the tab's one-handle example shrank and turned its triangle); the background is a layer
of its own and stays the source's. Motion
supervision as above on the object's features in the image frame: the foreground network's 16-px map, placed by
the pose's spatial transformer, beside 3 × the placed mask. What differs from the paper: **point tracking by the
spatial transformer** — each handle's point of the canonical frame placed by the current pose — instead of the
nearest-neighbour feature search: the object's interior features are nearly constant, and with that search the
tracked handles slipped and the drags ran away (N = 10 on the last hidden map: the centroid went −72 % of the way on
average); with the transformer's tracking and those features 12 of 12 went ≥ 66 % of the way (the 16-px map alone:
10 of 12; the last hidden map: 1 of 6). N = 50
(``python -m genmodels.families.gan.drag --generator cgan``; weights/cgan/drag.json): the centroid 91.9 % of the way,
every drag ≥ 70 %, the shape kept 94 % (classifier) / 98 % (outline), 17.7 iterations, 0.19 s a drag. Why this
generator: its pose is an output of its own, so moving the object costs its outline nothing — where the StyleGAN's
objects sit in a narrower band than the domain's.

Stop when every handle is within 1 px of its target, or after the iterations asked for (≤ ``MAX_ITERATIONS``).
What differs: r1 = 3, r2 = 3 and the feature resolution are in pixels of our 32×32 images (the paper's r1 = 3,
r2 = 12 are for 256–1024 px images); the step size is the paper's Adam lr 2e-3 scaled to this w's spread.
"""
from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from ...pointdrag import ObjectTemplate, iterate_points

MAX_ITERATIONS = 300
R1, R2, LR, LAMBDA, RIGID = 3, 3, 0.02, 10.0, 5.0
LAYERS = 5  # w+ entries optimised (0: one w for every layer, the W space instead of W+)
FEATURE_CONV = 3  # G.convs[3]: the second convolution of the 16-px block


class GFeatures:
    """G's image and its 16-px features (resized to the image) for a w+ whose first ``LAYERS`` entries vary."""

    def __init__(self, G, ws_rest: torch.Tensor):
        self.G, self.rest, self.out = G, ws_rest, None
        self.hook = G.convs[FEATURE_CONV].register_forward_hook(self._keep)

    def _keep(self, module, inputs, output):
        self.out = output

    def __call__(self, ws_head: torch.Tensor):
        img = self.G.synthesis(self.full(ws_head), noise_mode="const")
        size = img.shape[-1]
        return img, F.interpolate(self.out, size=(size, size), mode="bilinear", align_corners=False)

    def full(self, ws_head: torch.Tensor) -> torch.Tensor:
        """The whole w+: the optimised head and the source's other entries (LAYERS = 0: one w for every layer)."""
        if self.rest is None:
            return ws_head.expand(-1, self.G.num_ws, -1)
        return torch.cat([ws_head, self.rest], 1)

    def close(self):
        self.hook.remove()


def source_ws(G, seed: int, label: torch.Tensor | None, psi: float = 1.0) -> torch.Tensor:
    """(1, num_ws, style_dim) w+ of the image the GAN tab draws for ``seed`` (and label, ψ)."""
    from .service import latents

    with torch.no_grad():
        w = G.mapping(latents(G, seed, 1), label)
        if psi != 1:
            mean = G.w_avg[None] if label is None else G.mean_w(label)
            w = mean + psi * (w - mean)
    return w[:, None].repeat(1, G.num_ws, 1)


def drag_steps(G, ws: torch.Tensor, handles, targets, iterations: int = 200, mask: np.ndarray | None = None,
               lr: float = LR, lam: float = LAMBDA, rigid: float = RIGID, object_mask: np.ndarray | None = None):
    """A generator of the StyleGAN drag: after every update {"ws" (= "latent"): the current w+, "handles",
    "iteration", "done", ...} (``G.synthesis(state["ws"])`` draws it). ``mask``: bool (H, W) movable region (None:
    all of it may change); ``object_mask``: bool (H, W) the object that ``rigid`` moves as one piece (None or rigid = 0: no such term)."""
    h0 = torch.as_tensor(np.asarray(handles, np.float32)).view(-1, 2)
    g = torch.as_tensor(np.asarray(targets, np.float32)).view(-1, 2)
    head, rest = (ws[:, :1].detach(), None) if LAYERS == 0 else (ws[:, :LAYERS].detach(), ws[:, LAYERS:].detach())
    feats = GFeatures(G, rest)
    with torch.no_grad():
        f_src = feats(head)[1]
    fixed = None if mask is None else torch.as_tensor(~np.asarray(mask, bool), dtype=f_src.dtype)[None, None]
    template = None
    if rigid and object_mask is not None and np.asarray(object_mask).any():
        template = ObjectTemplate(f_src, object_mask, h0, g, rigid, R1)

    def terms(p, img, feat, hnd):
        out = None
        if fixed is not None:  # the paper's λ ‖(F − F₀) ⊙ (1 − M)‖₁ (mean over the fixed pixels' features)
            out = lam * ((feat - f_src).abs() * fixed).sum() / (fixed.sum() * feat.shape[1]).clamp(min=1)
        if template is not None:
            r = template.loss(feat, hnd)
            out = r if out is None else out + r
        return out
    try:
        for state in iterate_points(head, feats, h0, g, iterations, lr, R1, R2, terms, "DragGAN"):
            state["latent"] = state["ws"] = feats.full(state["param"])
            yield state
    finally:
        feats.close()


def drag(G, ws: torch.Tensor, handles, targets, iterations: int = 200, mask: np.ndarray | None = None,
         lr: float = LR, lam: float = LAMBDA, rigid: float = RIGID, object_mask: np.ndarray | None = None) -> dict:
    """Run the StyleGAN drag to the end: the edited image (uint8 (H, W, 3)), the tracked handles, iterations used,
    seconds."""
    return _run(G, drag_steps(G, ws, handles, targets, iterations, mask, lr, lam, rigid, object_mask))


def _run(G, steps) -> dict:
    from ...data.dataset import to_uint8

    t0 = time.perf_counter()
    state = None
    for state in steps:
        pass
    with torch.no_grad():
        image = synthesize(G, state["latent"])
    return {"edited": to_uint8(image)[0], "latent": state["latent"], "ws": state["latent"],
            "handles": state["handles"].numpy(), "history": [h.numpy() for h in state["history"]],
            "iterations": state["iteration"], "seconds": time.perf_counter() - t0}


# ---- DragGAN on the layered CGAN (LR-GAN: the object has its own pose) -------------------------------------------

LAYERED_LR = 0.05  # Adam on the code: the pose's centre is atanh(c / max_shift), ~0.13 a pixel near the middle
FG_HIDDEN = 4  # G.fg_net[4]: the foreground network's 16-px map (its ReLU acts in place), canonical frame
MASK_WEIGHT = 3.0  # the placed mask beside those features (0: the features alone)


class LayeredLatent(NamedTuple):
    """What a drag on the layered CGAN optimises: the encoder's code (``attribute_edit.code_dim``: background noise,
    object noise, pose) under fixed labels."""
    code: torch.Tensor
    labels: torch.Tensor


def layered_source(G, seed: int, labels: torch.Tensor) -> LayeredLatent:
    """The code of the image the GAN tab's Sample sub-tab draws for ``seed`` and ``labels`` (1, 2)."""
    from .attribute_edit import pose_code
    from .service import latents

    z = latents(G, seed, 1)
    with torch.no_grad():
        pose = pose_code(G, G.pose_params(z, labels))
    return LayeredLatent(torch.cat([z[:, :G.z_bg], z[:, G.z_bg + G.z_pose:], pose], 1), labels)


def synthesize(G, latent) -> torch.Tensor:
    """The image (1, 3, H, W) of a drag's latent: a StyleGAN w+, or a ``LayeredLatent``."""
    if isinstance(latent, LayeredLatent):
        from .attribute_edit import render

        return render(G, latent.code, latent.labels)
    return G.synthesis(latent, noise_mode="const")


class LayeredFeatures:
    """The layered CGAN's image and its object's features in the image frame — the foreground network's 16-px map
    (canonical frame) placed by the pose's spatial transformer, as the mask and appearance are, beside the placed
    mask — for a code whose entries ``free`` vary (the rest are the source's)."""

    def __init__(self, G, latent: LayeredLatent, free: torch.Tensor):
        self.G, self.base, self.free, self.out = G, latent.code.detach(), free, None
        self.labels = latent.labels
        self.hook = G.fg_net[FG_HIDDEN].register_forward_hook(self._keep)

    def _keep(self, module, inputs, output):
        self.out = output

    def full(self, p: torch.Tensor) -> torch.Tensor:
        code = self.base.clone()
        code[:, self.free] = p
        return code

    def __call__(self, p: torch.Tensor):
        from .attribute_edit import decode

        z, pose = decode(self.G, self.full(p))
        out = self.G.layers(z, self.labels, pose)
        img = out["image"]
        grid = F.affine_grid(self.G.affine(pose), [1, self.out.shape[1], *img.shape[-2:]], align_corners=False)
        feat = F.grid_sample(self.out, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        if MASK_WEIGHT:
            feat = torch.cat([feat, MASK_WEIGHT * out["mask"]], 1)
        return img, feat

    def pose(self, p: torch.Tensor) -> dict[str, torch.Tensor]:
        from .attribute_edit import decode

        return decode(self.G, self.full(p))[1]

    def tracker(self, handles: torch.Tensor):
        """Point tracking by the spatial transformer: each source handle's point of the canonical frame, placed by
        the current pose (the layered generator knows where every point of its object went)."""
        side = self.G.size
        to_norm = lambda px: (2 * px + 1) / side - 1  # noqa: E731  pixel centres, align_corners=False
        with torch.no_grad():
            u = self.G.affine(self.pose(self.base[:, self.free]))[0]  # image -> canonical, source pose
            canon = torch.cat([to_norm(handles), torch.ones(len(handles), 1)], 1) @ u.T

        def track(p: torch.Tensor) -> torch.Tensor:
            a = self.G.affine(self.pose(p))[0]  # canonical = A q + b  =>  q = A^-1 (canonical - b)
            q = torch.linalg.solve(a[:, :2], (canon - a[:, 2]).T).T
            return ((q + 1) * side - 1) / 2
        return track

    def close(self):
        self.hook.remove()


def layered_free(G, rigid: bool = True, points: int = 2) -> torch.Tensor:
    """Indices of the code a drag optimises: the pose always — its centre alone for one handle (one point fixes a
    translation; two or more, a translation, scale and rotation); the object's noise too unless ``rigid`` (then the
    object moves as one piece, its outline the source's). The background is a layer of its own that the motion
    supervision never reaches: it stays the source's."""
    from .attribute_edit import POSE_CODE

    n = G.z_bg + G.z_fg + POSE_CODE
    free = torch.zeros(n, dtype=torch.bool)
    free[-POSE_CODE:] = True
    if points < 2:  # the pose code: centre (2), scale, cos and sin of the angle
        free[-POSE_CODE + 2:] = False
    free[G.z_bg:G.z_bg + G.z_fg] = not rigid
    return torch.nonzero(free)[:, 0]


def layered_drag_steps(G, latent: LayeredLatent, handles, targets, iterations: int = 200, rigid: bool = True,
                       lr: float = LAYERED_LR):
    """``drag_steps`` for the layered CGAN: motion supervision and point tracking on the placed foreground features,
    Adam on the code's free entries (``layered_free``); yields the states of ``iterate_points`` with "latent"."""
    h0 = torch.as_tensor(np.asarray(handles, np.float32)).view(-1, 2)
    g = torch.as_tensor(np.asarray(targets, np.float32)).view(-1, 2)
    free = layered_free(G, rigid, len(h0))
    feats = LayeredFeatures(G, latent, free)
    try:
        for state in iterate_points(latent.code[:, free].detach(), feats, h0, g, iterations, lr, R1, R2, None,
                                    "DragGAN", feats.tracker(h0)):
            state["latent"] = LayeredLatent(feats.full(state["param"]).detach(), latent.labels)
            yield state
    finally:
        feats.close()


# ---- what the GAN tab's Drag sub-tab does (no Gradio here) --------------------------------------------------------

STREAM_EVERY = 5  # a streamed frame every this many iterations
DRAG_GENERATORS = {"cgan": "Layered CGAN (LR-GAN)", "stylegan": "StyleGAN"}
DRAG_GENERATOR = "cgan"  # the Drag sub-tab's default (the acceptance runs: weights/<kind>/drag.json)


def source_image(G, seed: int, label: torch.Tensor | None, psi: float = 1.0) -> tuple:
    """(latent, uint8 (H, W, 3) image) the drag starts from: the Sample sub-tab's image for this seed / label (ψ:
    StyleGAN's truncation). The latent is a w+ for StyleGAN, a ``LayeredLatent`` for the layered CGAN (label (1, 2))."""
    from ...data.dataset import to_uint8
    from .service import is_layered

    latent = layered_source(G, seed, label) if is_layered(G) else source_ws(G, seed, label, psi)
    with torch.no_grad():
        return latent, to_uint8(synthesize(G, latent))[0]


def drag_any(G, latent, image: np.ndarray, handles, targets, iterations: int = 200, keep_background: bool = True,
             rigid: bool = True) -> tuple:
    """(states, region) of a drag on either generator, as the tab asks for it: ``region`` is the movable region
    (the object, its shifted copies and discs around the points; None: the whole image), which the StyleGAN drag's λ
    term holds and the readout's PSNR is measured outside of; the layered CGAN's background is a layer of its own and
    stays the source's whatever ``keep_background`` says (``layered_free``); its ``rigid`` moves only its pose."""
    from ...pointdrag import drag_region
    from ...scoring.outline import segment

    obj = segment(image)[1]
    region = drag_region(obj, handles, targets) if keep_background and obj.any() else None
    if isinstance(latent, LayeredLatent):
        return layered_drag_steps(G, latent, handles, targets, iterations, rigid), region
    return drag_steps(G, latent, handles, targets, iterations, region, rigid=RIGID if rigid else 0.0,
                      object_mask=obj if rigid else None), region


def drag_stream(G, latent, image: np.ndarray, handles: np.ndarray, targets: np.ndarray, iterations: int,
                keep_background: bool = True, rigid: bool = True, every: int = STREAM_EVERY):
    """The drag as a stream: {"image", "handles", "iteration", "done"} every ``every`` iterations and at the end,
    where the last also carries "region" (the movable region, or None) and "seconds"."""
    from ...data.dataset import to_uint8

    t0 = time.perf_counter()
    steps, region = drag_any(G, latent, image, handles, targets, iterations, keep_background, rigid)
    for state in steps:
        if state["done"] or state["iteration"] % every == 0:
            with torch.no_grad():
                frame = to_uint8(synthesize(G, state["latent"]))[0]
            out = {"image": frame, "handles": state["handles"].numpy(), "iteration": state["iteration"],
                   "done": state["done"]}
            if state["done"]:
                out.update(region=region, seconds=time.perf_counter() - t0)
            yield out


def drag_readouts(image: np.ndarray, edited: np.ndarray, handles: np.ndarray, targets: np.ndarray,
                  tracked: np.ndarray, region: np.ndarray | None, seconds: float) -> list:
    """The Drag sub-tab's readouts: the object's centroid moved / asked and the tracked handles' distance (outline
    reader's segmentation, no CNN), the shape read before / after by the scoring classifier and the outline, pixels
    kept outside the movable region, time."""
    from ...data import shapes
    from ...pointdrag import centroid_reduction
    from ...scoring.outline import segment
    from ...scoring.pixel import psnr
    from ...scoring.readout import Readout, per_pair_readout, read_shapes

    before = float(np.linalg.norm(targets - handles, axis=1).mean())
    after = float(np.linalg.norm(targets - tracked, axis=1).mean())
    rows = [per_pair_readout("tracked handle → target distance (px)", np.array([after]),
                             f"DragGAN's point tracking (before: {before:.1f} px)", False)]
    src_mask, out_mask = segment(image)[1], segment(edited)[1]
    if src_mask.any() and out_mask.any():
        rows.append(per_pair_readout("object centroid: share of the way to the target",
                                     np.array([centroid_reduction(src_mask, out_mask, handles, targets)]),
                                     "outline reader's segmentation (no CNN)", True))
    reading, names = read_shapes(np.stack([image, edited])), shapes.SHAPES
    for what, got in (("classifier", reading.classifier), ("outline", reading.outline)):
        if (got >= 0).all():  # the outline reader finds no object: -1, left out
            rows.append(Readout(f"shape kept ({what}: {names[got[0]]} → {names[got[1]]})", float(got[0] == got[1]),
                                "shapes" if what == "classifier" else "outline reader (no CNN)", 1, True))
    if region is not None and (~region).any():
        keep = ~region
        rows.append(per_pair_readout("PSNR outside the movable region (dB)",
                                     np.array([psnr(image[keep][None], edited[keep][None], data_range=255)]),
                                     "pixels (data range 255)", True))
    rows.append(Readout("time (s)", float(seconds), "wall clock", 1, False))
    return rows


# ---- acceptance run: ``python -m genmodels.families.gan.drag --n 50`` -------------------------------------------

def evaluate(n: int = 50, iterations: int = 200, rigid: float = RIGID, keep_background: bool = True,
             seed: int = 1000, progress=print, generator: str = "stylegan") -> dict:
    """Scripted drags (``pointdrag.scripted_drag``: the object's centroid and three points moved 4–8 px by one
    vector, as the Edit tab's DragDiffusion run) on samples of ``generator`` ("stylegan" or "cgan", the layered one)
    of seeds ``seed`` … ``seed + n − 1`` with balanced shape × colour labels. Reports the mean share of the way the
    object's centroid went (outline reader's segmentation of source and output), the share of drags ≥ 60 % / ≥ 70 %,
    the shape kept (the scoring classifier's and the outline reader's reading of the output = of the source) and
    seconds per drag. ``rigid``: the StyleGAN drag's template weight; for the layered CGAN, > 0 moves the pose
    only."""
    from ...pointdrag import centroid_reduction, drag_region, scripted_drag
    from ...scoring.outline import segment
    from ...scoring.readout import read_shapes
    from .recipes import balanced_labels, labels_for
    from .service import load_generator

    if generator not in DRAG_GENERATORS:
        raise ValueError(f"unknown drag generator {generator!r}; choose one of {', '.join(DRAG_GENERATORS)}")
    G = load_generator(generator)
    labels = balanced_labels(n, seed)
    red, src, out, used, secs = [], [], [], [], 0.0
    for i in range(n):
        c = labels_for(generator, labels[i:i + 1]) if G.n_classes else None
        latent, image = source_image(G, seed + i, c)
        mask = segment(image)[1]
        if not mask.any():  # no object to drag: counted as not moved
            red.append(0.0)
            continue
        h, g = scripted_drag(mask, i)
        if generator == "stylegan":
            region = drag_region(mask, h, g) if keep_background else None
            steps = drag_steps(G, latent, h, g, iterations, region, rigid=rigid, object_mask=mask)
        else:
            steps = layered_drag_steps(G, latent, h, g, iterations, rigid > 0)
        r = _run(G, steps)
        red.append(np.nan_to_num(centroid_reduction(mask, segment(r["edited"])[1], h, g), nan=0.0))
        src.append(image)
        out.append(r["edited"])
        used.append(r["iterations"])
        secs += r["seconds"]
        if progress and (i + 1) % 10 == 0:
            progress(f"{i + 1}/{n} drags, {secs:.0f} s")
    red = np.array(red)
    a, b = read_shapes(np.stack(src)), read_shapes(np.stack(out))
    found = (a.outline >= 0) & (b.outline >= 0)
    res = {"generator": generator, "N": n, "centroid distance reduction (mean)": round(float(red.mean()), 4),
           "drags reduced ≥ 60 %": round(float((red >= 0.6).mean()), 4),
           "drags reduced ≥ 70 %": round(float((red >= 0.7).mean()), 4),
           "shape kept (classifier)": round(float((a.classifier == b.classifier).mean()), 4),
           "shape kept (outline)": round(float((found & (a.outline == b.outline)).mean()), 4),
           "objects in pieces after": round(float(b.in_pieces.mean()), 4),
           "iterations used (mean)": round(float(np.mean(used)), 1),
           "seconds per drag": round(secs / max(1, len(out)), 3)}
    if generator == "stylegan":
        res["settings"] = {"iterations": iterations, "rigid": rigid, "keep_background": keep_background, "lr": LR,
                           "lambda": LAMBDA, "r1": R1, "r2": R2, "layers": LAYERS, "seeds": [seed, seed + n - 1]}
    else:
        res["settings"] = {"iterations": iterations, "pose only": rigid > 0, "keep_background": keep_background,
                           "lr": LAYERED_LR, "r1": R1, "features": f"fg_net[{FG_HIDDEN}] + {MASK_WEIGHT:g} × mask",
                           "tracking": "the spatial transformer", "seeds": [seed, seed + n - 1]}
    res["acceptance"] = {"distance reduced ≥ 70 % (mean)": res["centroid distance reduction (mean)"] >= 0.7,
                         "shape kept ≥ 90 % (classifier)": res["shape kept (classifier)"] >= 0.9}
    return res


def main(argv=None) -> None:
    import argparse
    import json
    from pathlib import Path

    from .service import WEIGHTS

    ap = argparse.ArgumentParser(description="DragGAN acceptance run: scripted drags on GAN samples")
    ap.add_argument("--generator", choices=list(DRAG_GENERATORS), default="stylegan")
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--rigid", type=float, default=RIGID)
    ap.add_argument("--no-mask", action="store_true", help="no λ term (the whole image may change)")
    ap.add_argument("--out", default=None, help="default: genmodels/weights/<generator>/drag.json")
    a = ap.parse_args(argv)
    res = evaluate(a.n, a.iterations, a.rigid, not a.no_mask, generator=a.generator)
    res["command"] = (f"python -m genmodels.families.gan.drag --generator {a.generator} --n {a.n} "
                      f"--iterations {a.iterations} --rigid {a.rigid:g}" + (" --no-mask" if a.no_mask else ""))
    out = Path(a.out or WEIGHTS / a.generator / "drag.json")
    out.write_text(json.dumps(res, indent=1, ensure_ascii=False))
    print(json.dumps(res, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
