"""DragDiffusion: move points of an image by optimising a diffusion latent (handle points → target points).

Shi, Xue, Liew, Pan, Yan, Zhang, Tan & Bai 2023, "DragDiffusion: Harnessing Diffusion Models for Interactive
Point-based Image Editing", arXiv:2306.14435 (CVPR 2024), after DragGAN (Pan et al. 2023, arXiv:2305.10973). Steps:

1. DDIM-invert the image to an intermediate step t = the ``inversion``-th fraction of the schedule (paper: step 35 of
   50, 0.7) under its caption, guidance 1 (inversion.py).
2. Motion supervision (eq. 3): with F the UNet decoder's features of z_t (bilinearly resized to the image),
   L = Σ_i Σ_{q ∈ Ω(h_i, r1)} ‖F_{q+d_i}(z_t) − sg(F_q(z_t))‖_1 + λ ‖(z_{t−1} − sg(z⁰_{t−1})) ⊙ (1 − M)‖_1,
   d_i = (g_i − h_i) / ‖g_i − h_i‖ — each handle's neighbourhood is pulled one pixel towards its target; z_{t−1} is
   the DDIM step from the current latent, z⁰_{t−1} the one from the inverted latent, M the editable region (the
   second term vanishes without one). One Adam step on z_t per iteration (lr 0.02; the paper's 0.01 moved the
   handles too little in 60 iterations on this model).
3. Point tracking (eq. 4): each handle moves to the position within Ω(h_i, r2) whose features are nearest (L1) to the
   original handle's features F_{h_i^0}(ẑ_t). Stop when every handle is within 1 px of its target, or after the
   iterations asked for (≤ ``MAX_ITERATIONS``; the paper's default is 80).
4. Denoise the optimised latent with DDIM from step t, guidance 1, with *reference-latent control* (paper §3.3 of
   v4, after MasaCtrl, Cao et al. 2023, arXiv:2304.08465): the self-attention of the UNet decoder in the edited
   branch reads its keys and values from the branch that regenerates the original from the inverted latent.

What differs from the paper: no per-image LoRA fine-tune (its §3.2 trains a LoRA on the image for 80 steps to keep
the identity; this hub trains nothing per request); the features are those of the UNet's first decoder block (8×8,
after its upsampler, 128 channels; SD's is the third of four), resized to the 32×32 image; points are (x, y) pixel
coordinates of the 32×32 image, and r1 = 3, r2 = 3 are in those pixels (the paper's r1 = 1 at its 256-px features
is ~0.75 latent cells; here 1 px is 0.25 of a cell). Measured on this model: test items 0-5 (6 px drags, 60
iterations), the object's centroid covered 47 / 54 / 65 % of the way with 1 point at inversion 0.7 / 4 points at
0.7 / 4 points at 0.8 — a single point stretches the object more than it moves it, so the evaluation's scripted drags
move 4 points together (evaluate.py); items 0-15 of those drags, r1 = 1 / 2 / 3: 48 / 54 / 59 % of the way, shape
kept 94 / 100 / 94 % (N = 16: differences of a few points are noise).

Added to the paper's two terms when every handle moves by one vector (the object is moved): FreeDrag's feature
template over the whole object (Ling et al. 2023, arXiv:2307.04684; ``pointdrag.ObjectTemplate``, weight ``RIGID``)
— the source's UNet features at the object's pixels, pulled to where the tracked handles say the object now is, one
step further. Without it the handles' neighbourhoods moved and the rest of the object lagged (centroid 56.4 % of the
way on the 50 scripted drags; 62-64 % with it, ``RIGID`` below).
"""
from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from ...limits import check_deadline
from ...pointdrag import (ObjectTemplate, drag_region, draw_points, optimise_points, sample_at,  # noqa: F401
                           track)  # drag_region, draw_points, sample_at, track: re-exported
from .attention import Controller, controlled
from .common import ddim, decode, encode_image, encode_text
from .inversion import invert

MAX_ITERATIONS = 100
INVERSION_RANGE = (0.2, 0.9)
R1, R2, LAMBDA, LR = 3, 3, 0.1, 0.02
# Weight of the object template term (pointdrag.ObjectTemplate) for drags that move every handle by one vector (an
# object moved); other drags get the paper's two terms only. Scripted drags, N = 50 (edit/evaluate.py): centroid
# 56.4 % of the way / shape kept 96 % without it; weights 1 / 3 / 10: 62.0 / 64.3 / 54.1 %, shape 86 / 92 / 92 %; on
# items 50-99 (not used to choose): 53.8 % / 90 % without, 62.3 % / 88 % with 3.
RIGID = 3.0
FEATURE_BLOCKS = (0,)  # indices into unet.up_blocks whose outputs are the features


class ReferenceControl(Controller):
    """Self-attention of the decoder (up blocks) in row 1 (edited) reads keys and values of row 0 (reference)."""

    def self_kv(self, key, value, layer):
        if layer.place != "up" or key.shape[0] < 2:
            return key, value
        return torch.cat([key[:1], key[:1], key[2:]]), torch.cat([value[:1], value[:1], value[2:]])


class Features:
    """The UNet's prediction and its decoder features at one timestep, resized to ``size`` × ``size``."""

    def __init__(self, unet, size: int, blocks=FEATURE_BLOCKS):
        self.unet, self.size, self.out = unet, size, {}
        self.hooks = [unet.up_blocks[b].register_forward_hook(self._keep(b)) for b in blocks]

    def _keep(self, b):
        def hook(module, inputs, output):
            self.out[b] = output[0] if isinstance(output, tuple) else output
        return hook

    def __call__(self, z, t, cond):
        pred = self.unet(z, t, encoder_hidden_states=cond).sample
        feats = [F.interpolate(self.out[b], size=(self.size, self.size), mode="bilinear", align_corners=False)
                 for b in sorted(self.out)]
        return pred, torch.cat(feats, 1)

    def close(self):
        for h in self.hooks:
            h.remove()


def optimise(feats: "Features", z_t: torch.Tensor, t, cond: torch.Tensor, sched, handles: torch.Tensor,
             targets: torch.Tensor, iterations: int, keep: torch.Tensor | None = None, lr: float = LR, callback=None,
             rigid: float = 0.0, object_mask: np.ndarray | None = None):
    """Motion supervision + point tracking (``pointdrag.iterate_points``) on the latent ``z_t`` at timestep ``t``.
    ``keep``: (1, 1, h, w) latent mask of what the λ term holds still (None: no term); ``rigid`` > 0 with the
    object's ``object_mask``: FreeDrag's feature template over the object (``pointdrag.ObjectTemplate``). Returns the
    optimised latent, the tracked handles, the handles after each iteration and the iterations used."""
    with torch.no_grad():
        pred0, f_src = feats(z_t, t, cond)
        prev0 = sched.step(pred0, t, z_t).prev_sample if keep is not None else None
    template = None
    if rigid and object_mask is not None and np.asarray(object_mask).any():
        template = ObjectTemplate(f_src, object_mask, handles, targets, rigid, R1)

    def terms(z, pred, feat, hnd):  # the λ term: the next latent outside the editable region stays the original's
        out = None if keep is None else LAMBDA * ((sched.step(pred, t, z).prev_sample - prev0) * keep).abs().sum()
        if template is not None:
            out = template.loss(feat, hnd) if out is None else out + template.loss(feat, hnd)
        return out
    return optimise_points(z_t, lambda z: feats(z, t, cond), handles, targets, iterations, lr, R1, R2, terms,
                           "DragDiffusion", callback)


def drag(pipe, image: np.ndarray, prompt: str, handles, targets, steps: int = 20, inversion: float = 0.8,
         iterations: int = 60, mask: np.ndarray | None = None, reference: bool = True, lr: float = LR,
         callback=None, rigid: float | None = None, object_mask: np.ndarray | None = None) -> dict:
    """Drag ``handles`` (N, 2) to ``targets`` (N, 2), pixel (x, y) of the uint8 image. ``mask``: bool (H, W)
    editable region for the λ term (None: no term). Returns the edited image, the reconstruction from the unedited
    latent (same path, same control), the tracked handles, iterations used and times. ``rigid``: the object template's
    weight (None: ``RIGID`` when every handle moves by one vector, else 0); ``object_mask``: the object it covers."""
    from .common import latent_mask

    t0 = time.perf_counter()
    h0 = torch.as_tensor(np.asarray(handles, np.float32)).view(-1, 2)
    g = torch.as_tensor(np.asarray(targets, np.float32)).view(-1, 2)
    if rigid is None:  # the template only where the drag moves the object: every handle by one vector (±1 px)
        rigid = RIGID if bool(((g - h0) - (g - h0).mean(0)).norm(dim=1).max() <= 1.0) else 0.0
    cond = encode_text(pipe, [prompt])
    k = max(1, min(int(steps) - 1, int(round(float(inversion) * steps))))
    z_t = invert(pipe, encode_image(pipe, image), cond, steps, upto=k)[-1]
    start = int(steps) - k
    sched = ddim(pipe, steps)
    t = sched.timesteps[start]
    keep = None if mask is None else 1.0 - latent_mask(mask, z_t.shape[-1])
    feats = Features(pipe.unet, int(image.shape[0]))
    try:
        z_edit, hnd, history, used = optimise(feats, z_t, t, cond, sched, h0, g, iterations, keep, lr, callback,
                                              rigid, object_mask)
    finally:
        feats.close()
    t_opt = time.perf_counter() - t0
    with torch.no_grad(), controlled(pipe.unet, ReferenceControl() if reference else Controller()):
        both = torch.cat([z_t, z_edit])
        for i in range(start, int(steps)):
            check_deadline("DragDiffusion denoising")
            ts = sched.timesteps[i]
            both = sched.step(pipe.unet(both, ts, encoder_hidden_states=cond.expand(2, -1, -1)).sample, ts,
                              both).prev_sample
    recon, edited = decode(pipe, both)
    return {"edited": edited, "reconstruction": recon, "handles": hnd.numpy(), "history": [h.numpy() for h in history],
            "iterations": used, "inversion_steps": k, "template": float(rigid) if object_mask is not None else 0.0,
            "seconds": {"optimise": t_opt, "total": time.perf_counter() - t0}}
