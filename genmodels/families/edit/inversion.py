"""DDIM inversion: run the deterministic DDIM sampler backwards to find the noise that regenerates a given image.

Song, Meng & Ermon 2020, "Denoising Diffusion Implicit Models", arXiv:2010.02502 (§4.3: DDIM as an ODE, which can be
integrated in either direction); Dhariwal & Nichol 2021, "Diffusion Models Beat GANs on Image Synthesis",
arXiv:2105.05233 (App. F: reverse DDIM to encode real images); Mokady et al. 2023, "Null-text Inversion for Editing
Real Images using Guided Diffusion Models", arXiv:2211.09794 (why an inversion at guidance 1 drifts when re-run with
CFG > 1 — what ``p2p.py`` corrects with direct inversion instead of optimising null-text embeddings).

The image is encoded by the VAE (latent mean), then ``diffusers.DDIMInverseScheduler`` — built from the pipeline's own
scheduler config, so its timesteps are exactly the DDIM ones in reverse — steps it from t = 0 to t = T with the
caption as the only condition (guidance 1). Each inverse step evaluates the UNet at the *next* timestep on the current
latent, ε(z_{t_{i-1}}, t_i) standing in for ε(z_{t_i}, t_i): the usual approximation, exact in the limit of small
steps. Regenerating with ``diffusers.DDIMScheduler`` (same config, same steps, guidance 1) returns close to the
original latent; what is left is the approximation's error plus the VAE's own round-trip error, both reported.
``invert(..., upto=k)`` stops after k steps (an intermediate latent, as DragDiffusion needs); ``denoise(..., start=
steps - k)`` continues from it.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from ...limits import check_deadline
from .common import ddim, ddim_inverse, decode, encode_image, encode_text, guided, initial_noise


@torch.no_grad()
def invert(pipe, z0: torch.Tensor, cond: torch.Tensor, steps: int, upto: int | None = None) -> list[torch.Tensor]:
    """The inverted DDIM trajectory [z_0, z_{t_1}, ..., z_{t_k}] of latent ``z0`` under text states ``cond``
    (k = ``upto`` or ``steps``); z_{t_i} is the latent the i-th-from-last DDIM step of ``steps`` starts from."""
    inv = ddim_inverse(pipe, steps)
    k = int(steps if upto is None else upto)
    if not 0 <= k <= int(steps):
        raise ValueError(f"upto must be in 0..{steps}, got {upto}")
    traj, z = [z0], z0
    for t in inv.timesteps[:k]:
        check_deadline("DDIM inversion")
        z = inv.step(pipe.unet(z, t, encoder_hidden_states=cond).sample, t, z).prev_sample
        traj.append(z)
    return traj


@torch.no_grad()
def denoise(pipe, z: torch.Tensor, cond: torch.Tensor, uncond: torch.Tensor | None, steps: int, cfg: float = 1.0,
            start: int = 0, callback=None) -> torch.Tensor:
    """DDIM (eta = 0) from step index ``start`` of ``steps`` to the clean latent; ``callback(i, z)`` after each
    step. ``start = steps - k`` continues a latent inverted ``k`` steps."""
    sched = ddim(pipe, steps)
    for i in range(int(start), int(steps)):
        check_deadline("denoising")
        t = sched.timesteps[i]
        z = sched.step(guided(pipe.unet, z, t, cond, uncond, cfg), t, z).prev_sample
        if callback is not None:
            callback(i, z)
    return z


def reconstruct(pipe, image: np.ndarray, caption: str, steps: int, cfg: float = 1.0, seed: int = 0) -> dict:
    """Invert ``image`` under ``caption`` and regenerate it (DDIM, same steps, guidance ``cfg``); beside it the VAE's
    own round trip (the ceiling) and a sample from fresh noise of ``seed`` with the same caption (what the caption
    alone gives). Returns uint8 images, the inverted latent, its statistics and the wall times."""
    t0 = time.perf_counter()
    cond = encode_text(pipe, [caption])
    uncond = encode_text(pipe, [""]) if cfg != 1.0 else None
    z0 = encode_image(pipe, image)
    z_t = invert(pipe, z0, cond, steps)[-1]
    t_inv = time.perf_counter() - t0
    t1 = time.perf_counter()
    z_rec = denoise(pipe, z_t, cond, uncond, steps, cfg)
    t_regen = time.perf_counter() - t1
    fresh = denoise(pipe, initial_noise(pipe, seed), cond, uncond, steps, cfg)
    rec, vae_only, sample = decode(pipe, torch.cat([z_rec, z0, fresh]))
    return {"reconstruction": rec, "vae": vae_only, "sample": sample, "inverted": z_t,
            "latent_rmse": float((z_rec - z0).pow(2).mean().sqrt()),
            "noise_std": float(z_t.std()), "seconds": {"invert": t_inv, "regenerate": t_regen}}


def noise_picture(z: torch.Tensor) -> np.ndarray:
    """The first three channels of an inverted latent (1, C, h, w) as a uint8 RGB picture (each channel mapped
    from [-3, 3]), to show that the inverted noise is not white: the image's layout shows through."""
    a = z[0, :3].clamp(-3, 3).add(3).div(6).mul(255).round().byte().permute(1, 2, 0).numpy()
    return a if a.shape[2] == 3 else np.repeat(a[..., :1], 3, axis=2)
