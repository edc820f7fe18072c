"""The guidance lab: samplers as plain functions over a denoiser (k-diffusion style), with pluggable guides.

- Classifier-free guidance: Ho & Salimans 2022, arXiv:2207.12598 — eps = eps_u + w (eps_c - eps_u).
- Classifier guidance: Dhariwal & Nichol 2021 (ADM), arXiv:2105.05233 — eps' = eps - s sqrt(1 - abar_t)
  grad log p(y | z_t).
- CLIP guidance: Nichol et al. 2021 (GLIDE), arXiv:2112.10741 — the same shift with the gradient of a noise-aware
  CLIP's cosine similarity to the prompt.
- Semantic (reference-image) guidance in the spirit of SDG: Liu et al. 2023, arXiv:2112.05744 — the gradient of
  the similarity between the noise-aware image embedding of z_t and the clean embedding of a reference.
- ILVR: Choi et al. 2021, arXiv:2108.02938 — after each step, z <- z - phi_N(z) + phi_N(ref_t), phi_N a low-pass
  filter (area down-sample by N, nearest up-sample), ref_t the reference noised to the same level.

All of it runs on the tiny Stable Diffusion's latents (the guides are noise-aware *latent* nets), with any diffusers
scheduler: the model output is converted to (eps, x0) on the variance-preserving latent ``scale_model_input``
returns, the guides shift eps, and the result is converted back to the scheduler's prediction type.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

from ...limits import check_deadline


@dataclass
class Step:
    """What a callback sees after each step: index, timestep, current latent, predicted clean latent."""

    i: int
    t: int
    latents: torch.Tensor
    x0: torch.Tensor


def _abar(scheduler, t) -> torch.Tensor:
    return scheduler.alphas_cumprod.to(torch.float32)[int(t)]


def to_eps_x0(out: torch.Tensor, z: torch.Tensor, abar: torch.Tensor, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    a, s = abar.sqrt(), (1 - abar).sqrt()
    if kind == "v_prediction":
        return a * out + s * z, a * z - s * out
    if kind == "epsilon":
        return out, (z - s * out) / a
    if kind == "sample":
        return (z - a * out) / s, out
    raise ValueError(f"unsupported prediction type {kind!r}")


def from_eps(eps: torch.Tensor, z: torch.Tensor, abar: torch.Tensor, kind: str) -> torch.Tensor:
    a, s = abar.sqrt(), (1 - abar).sqrt()
    x0 = (z - s * eps) / a
    return {"v_prediction": a * eps - s * x0, "epsilon": eps, "sample": x0}[kind]


def low_pass(z: torch.Tensor, factor: int) -> torch.Tensor:
    """phi_N: area down-sampling by ``factor`` then nearest up-sampling (identity at factor 1). A projection
    (phi(phi(z)) = phi(z)), so after an ILVR step the N-times down-sampled latent equals the reference's exactly."""
    if factor <= 1:
        return z
    h, w = z.shape[-2:]
    small = F.interpolate(z, size=(max(1, h // factor), max(1, w // factor)), mode="area")
    return F.interpolate(small, size=(h, w), mode="nearest")


# ---- gradient guides: fn(z_in, t) -> d/dz of a log-density-like objective (summed over the batch) -------------

@dataclass
class GradientGuide:
    name: str
    scale: float
    objective: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (z, t) -> per-sample objective (B,)

    def grad(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            zz = z.detach().requires_grad_(True)
            obj = self.objective(zz, t).sum()
            return torch.autograd.grad(obj, zz)[0]


def classifier_guide(classifier, target: torch.Tensor, scale: float, head: str = "shape") -> GradientGuide:
    """ADM classifier guidance: objective log p(y | z_t, t) from the noise-aware classifier's ``head``."""
    def objective(z, t):
        logp = F.log_softmax(classifier.logits(z, t.expand(len(z)))[head], dim=1)
        return logp.gather(1, target.view(-1, 1)).squeeze(1)

    return GradientGuide("classifier", scale, objective)


def clip_guide(noisy_clip, text_embedding: torch.Tensor, scale: float) -> GradientGuide:
    """GLIDE-style CLIP guidance: objective cos(f(z_t, t), g(prompt)) with the noise-aware CLIP, times the
    model's logit scale (so scale 1 is a log-likelihood-sized push)."""
    def objective(z, t):
        img = noisy_clip.embed_image(z, t.expand(len(z)))
        return noisy_clip.logit_scale.exp().clamp(max=100) * (img * text_embedding).sum(-1)

    return GradientGuide("clip", scale, objective)


def semantic_guide(noisy_clip, reference_embedding: torch.Tensor, scale: float) -> GradientGuide:
    """SDG-style reference-image guidance: objective cos(f(z_t, t), f(z_ref, 0))."""
    def objective(z, t):
        img = noisy_clip.embed_image(z, t.expand(len(z)))
        return noisy_clip.logit_scale.exp().clamp(max=100) * (img * reference_embedding).sum(-1)

    return GradientGuide("semantic", scale, objective)


@dataclass
class ILVR:
    """Iterative latent variable refinement toward ``reference`` latents (B or 1, C, H, W)."""

    reference: torch.Tensor
    factor: int = 2
    start: float = 0.0  # fraction of the trajectory where ILVR starts / stops (0 = first step, 1 = last)
    stop: float = 1.0
    noise_seed: int = 0
    _noise: torch.Tensor | None = field(default=None, repr=False)

    def apply(self, scheduler, z_prev: torch.Tensor, i: int, n: int) -> torch.Tensor:
        frac = i / max(1, n - 1)
        if not (self.start <= frac <= self.stop):
            return z_prev
        if self._noise is None:
            g = torch.Generator().manual_seed(self.noise_seed)
            self._noise = torch.randn(self.reference.shape, generator=g)
        ref = self.reference.expand_as(z_prev)
        if i + 1 < n:
            t_prev = scheduler.timesteps[i + 1].reshape(1)
            ref_t = scheduler.add_noise(ref, self._noise.expand_as(z_prev), t_prev)
        else:
            ref_t = ref
        return z_prev - low_pass(z_prev, self.factor) + low_pass(ref_t, self.factor)


def denoise(unet, scheduler, cond: torch.Tensor, uncond: torch.Tensor | None, *, steps: int = 20, cfg: float = 3.0,
            generator: torch.Generator | None = None, latents: torch.Tensor | None = None,
            guides: tuple[GradientGuide, ...] = (), ilvr: ILVR | None = None, eta: float | None = None,
            callback: Callable[[Step], None] | None = None, control: Callable | None = None) -> torch.Tensor:
    """Sample latents. ``cond`` / ``uncond``: text encoder hidden states (B, L, D) / (1 or B, L, D).
    ``control(z_in, t, hidden) -> (down_residuals, mid_residual)`` adds a ControlNet.
    Returns the final latents; ``callback`` sees every step with its predicted clean latent."""
    b = len(cond)
    cfg_on = uncond is not None and cfg != 1.0
    kind = scheduler.config.prediction_type
    scheduler.set_timesteps(steps)
    shape = (b, unet.config.in_channels, unet.config.sample_size, unet.config.sample_size)
    z = torch.randn(shape, generator=generator) if latents is None else latents.clone()
    z = z * scheduler.init_noise_sigma
    hidden = torch.cat([uncond.expand(b, -1, -1), cond]) if cfg_on else cond
    step_kw = {"eta": eta} if eta is not None and "eta" in _step_params(scheduler) else {}
    if "generator" in _step_params(scheduler):
        step_kw["generator"] = generator
    n = len(scheduler.timesteps)
    for i, t in enumerate(scheduler.timesteps):
        check_deadline("denoising")
        zin = scheduler.scale_model_input(z, t)
        x = torch.cat([zin, zin]) if cfg_on else zin
        extra = {}
        if control is not None:
            down, mid = control(x, t, hidden)
            extra = {"down_block_additional_residuals": down, "mid_block_additional_residual": mid}
        with torch.no_grad():
            out = unet(x, t, encoder_hidden_states=hidden, **extra).sample
        if cfg_on:
            ou, oc = out.chunk(2)
            out = ou + cfg * (oc - ou)
        abar = _abar(scheduler, t)
        eps, x0 = to_eps_x0(out, zin, abar, kind)
        if guides:
            tt = torch.as_tensor(t).reshape(())
            for g in guides:
                if g.scale:
                    eps = eps - g.scale * (1 - abar).sqrt() * g.grad(zin, tt)
            out = from_eps(eps, zin, abar, kind)
            _, x0 = to_eps_x0(out, zin, abar, kind)
        z = scheduler.step(out, t, z, **step_kw).prev_sample
        if ilvr is not None:
            z = ilvr.apply(scheduler, z, i, n)
        if callback is not None:
            callback(Step(i, int(t), z, x0))
    return z


def _step_params(scheduler) -> set[str]:
    import inspect

    return set(inspect.signature(scheduler.step).parameters)
