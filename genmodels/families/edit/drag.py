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
"""
from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from ...limits import check_deadline
from .attention import Controller, controlled
from .common import ddim, decode, encode_image, encode_text
from .inversion import invert

MAX_ITERATIONS = 100
INVERSION_RANGE = (0.2, 0.9)
R1, R2, LAMBDA, LR = 3, 3, 0.1, 0.02
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


def sample_at(feat: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of ``feat`` (1, C, H, W) at (N, 2) pixel positions (x, y) -> (N, C)."""
    h, w = feat.shape[-2:]
    grid = torch.stack([points[:, 0] / (w - 1) * 2 - 1, points[:, 1] / (h - 1) * 2 - 1], -1).view(1, -1, 1, 2)
    return F.grid_sample(feat, grid.to(feat.dtype), mode="bilinear", align_corners=True)[0, :, :, 0].T


def _patch(center: torch.Tensor, r: int) -> torch.Tensor:
    d = torch.arange(-r, r + 1, dtype=torch.float32)
    dy, dx = torch.meshgrid(d, d, indexing="ij")
    return center[None] + torch.stack([dx.flatten(), dy.flatten()], -1)


def track(feat: torch.Tensor, targets_f0: torch.Tensor, handles: torch.Tensor, r: int) -> torch.Tensor:
    """Point tracking: each handle -> the integer position within r (inside the image) whose features are nearest
    (L1) to its original features ``targets_f0`` (N, C)."""
    h, w = feat.shape[-2:]
    out = []
    for hnd, f0 in zip(handles, targets_f0):
        cand = _patch(hnd.round(), r)
        cand = cand[(cand[:, 0] >= 0) & (cand[:, 0] <= w - 1) & (cand[:, 1] >= 0) & (cand[:, 1] <= h - 1)]
        d = (feat[0, :, cand[:, 1].long(), cand[:, 0].long()].T - f0[None]).abs().sum(1)
        out.append(cand[int(d.argmin())])
    return torch.stack(out)


@torch.enable_grad()
def optimise(feats: "Features", z_t: torch.Tensor, t, cond: torch.Tensor, sched, handles: torch.Tensor,
             targets: torch.Tensor, iterations: int, keep: torch.Tensor | None = None, lr: float = LR, callback=None):
    """Motion supervision + point tracking on the latent ``z_t`` at timestep ``t``. ``keep``: (1, 1, h, w) latent
    mask of what the λ term holds still (None: no term). Returns the optimised latent, the tracked handles, the
    handles after each iteration and the iterations used."""
    with torch.no_grad():
        pred0, f_orig = feats(z_t, t, cond)
        f0 = sample_at(f_orig, handles)
        prev0 = sched.step(pred0, t, z_t).prev_sample if keep is not None else None
    z = z_t.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=float(lr))
    hnd, used, history = handles.clone(), 0, [handles.clone()]
    for it in range(int(iterations)):
        check_deadline("DragDiffusion")
        pred, feat = feats(z, t, cond)
        if it > 0:
            hnd = track(feat.detach(), f0, hnd, R2)
            history.append(hnd.clone())
        if bool(((targets - hnd).norm(dim=1) < 1.0).all()):
            break
        loss = z.new_zeros(())
        for hi, gi in zip(hnd, targets):
            dist = (gi - hi).norm()
            if dist < 1.0:
                continue
            q = _patch(hi, R1)
            loss = loss + len(q) * F.l1_loss(sample_at(feat, q + (gi - hi) / dist), sample_at(feat, q).detach())
        if keep is not None:
            loss = loss + LAMBDA * ((sched.step(pred, t, z).prev_sample - prev0) * keep).abs().sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        used = it + 1
        if callback is not None:
            callback(used, int(iterations), hnd)
    return z.detach(), hnd, history, used


def drag(pipe, image: np.ndarray, prompt: str, handles, targets, steps: int = 20, inversion: float = 0.8,
         iterations: int = 60, mask: np.ndarray | None = None, reference: bool = True, lr: float = LR,
         callback=None) -> dict:
    """Drag ``handles`` (N, 2) to ``targets`` (N, 2), pixel (x, y) of the uint8 image. ``mask``: bool (H, W)
    editable region for the λ term (None: no term). Returns the edited image, the reconstruction from the unedited
    latent (same path, same control), the tracked handles, iterations used and times."""
    from .common import latent_mask

    t0 = time.perf_counter()
    h0 = torch.as_tensor(np.asarray(handles, np.float32)).view(-1, 2)
    g = torch.as_tensor(np.asarray(targets, np.float32)).view(-1, 2)
    cond = encode_text(pipe, [prompt])
    k = max(1, min(int(steps) - 1, int(round(float(inversion) * steps))))
    z_t = invert(pipe, encode_image(pipe, image), cond, steps, upto=k)[-1]
    start = int(steps) - k
    sched = ddim(pipe, steps)
    t = sched.timesteps[start]
    keep = None if mask is None else 1.0 - latent_mask(mask, z_t.shape[-1])
    feats = Features(pipe.unet, int(image.shape[0]))
    try:
        z_edit, hnd, history, used = optimise(feats, z_t, t, cond, sched, h0, g, iterations, keep, lr, callback)
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
            "iterations": used, "inversion_steps": k,
            "seconds": {"optimise": t_opt, "total": time.perf_counter() - t0}}


def drag_region(mask: np.ndarray, handles: np.ndarray, targets: np.ndarray, radius: int = 3) -> np.ndarray | None:
    """The region a drag may change: the object and its copy shifted by each drag, and discs around the points;
    None when that is the whole image."""
    from scipy import ndimage

    from .common import dilate

    h, w = mask.shape
    region = np.zeros_like(mask, bool)
    yy, xx = np.mgrid[0:h, 0:w]
    for hp, tp in zip(handles, targets):
        dx, dy = int(round(tp[0] - hp[0])), int(round(tp[1] - hp[1]))
        region |= mask | ndimage.shift(mask.astype(np.uint8), (dy, dx), order=0, cval=0).astype(bool)
        for p in (hp, tp):
            region |= (xx - p[0]) ** 2 + (yy - p[1]) ** 2 <= radius ** 2
    region = dilate(region, 2)
    return None if region.all() else region


def draw_points(image: np.ndarray, handles, targets, scale: int = 8) -> np.ndarray:
    """The image enlarged ``scale``× (nearest) with each handle (red) → target (blue) drawn as an arrow; a handle
    without its target yet is a red dot."""
    from PIL import Image, ImageDraw

    h, w = image.shape[:2]
    im = Image.fromarray(np.asarray(image, np.uint8)).resize((w * scale, h * scale), Image.Resampling.NEAREST)
    d = ImageDraw.Draw(im)
    c = lambda p: ((float(p[0]) + 0.5) * scale, (float(p[1]) + 0.5) * scale)  # noqa: E731
    r = max(3, scale // 2)
    for i, hp in enumerate(handles):
        x, y = c(hp)
        if i < len(targets):
            tx, ty = c(targets[i])
            d.line([(x, y), (tx, ty)], fill=(255, 255, 255), width=max(2, scale // 4))
            d.ellipse([tx - r, ty - r, tx + r, ty + r], fill=(40, 90, 255), outline=(255, 255, 255))
        d.ellipse([x - r, y - r, x + r, y + r], fill=(235, 40, 40), outline=(255, 255, 255))
    return np.asarray(im)
