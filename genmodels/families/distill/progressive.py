"""Progressive distillation of a v-prediction latent diffusion model — no Gradio here.

Salimans & Ho 2022, "Progressive Distillation for Fast Sampling of Diffusion Models", arXiv:2202.00512 (the student
learns two deterministic DDIM steps of its teacher in one, in v-space with SNR+1 weighting; repeated, 64 → 1 step);
Meng et al. 2023, "On Distillation of Guided Diffusion Models", arXiv:2210.03142 (stage 1: a student conditioned on
the guidance weight w matches the classifier-free-guided teacher for every w in a range; stage 2: progressive
distillation of that student); Song, Meng, Ermon 2020, "Denoising Diffusion Implicit Models", arXiv:2010.02502.

The step grid. A sampler with ``n`` steps evaluates the model at the timesteps of diffusers' ``"trailing"`` spacing,
``t_k = round(1000 - k * 1000 / n) - 1`` (k = 0 … n - 1), and steps from ``t_k`` to ``t_{k+1}``, the last step to
the clean latent (alpha-bar = 1, as ``DDIMScheduler(set_alpha_to_one=True)``). The grid of n steps is every other
point of the grid of 2n steps, which is what progressive distillation needs: one student step from t_k to t_{k+1}
is two teacher steps t_{2k} → t_{2k+1} → t_{2k+2}. For n = 1, 2, 4, 8 (divisors of 1,000) this is exactly the stock
``DDIMScheduler`` with ``timestep_spacing="trailing"`` (tested); for 16, 32, 64 the stock scheduler's previous
timestep ``t - 1000 // n`` is at most one of the 1,000 training timesteps off the grid.
"""
from __future__ import annotations

from typing import Callable

import torch

from ...limits import check_deadline

TRAIN_TIMESTEPS = 1000
W_RANGE = (1.0, 8.0)  # guidance weights the w-conditioned students learn (diffusers' convention: 1 = no guidance)
W_EMBED_DIM = 256  # the UNet's ``time_cond_proj_dim`` (as LCM's w-embedding)


def grid(n: int, train_steps: int = TRAIN_TIMESTEPS) -> list[int]:
    """The n model timesteps, high noise first, followed by -1 (the clean end)."""
    if not 1 <= n <= train_steps:
        raise ValueError(f"steps must be in 1–{train_steps}, got {n}")
    return [int(round(train_steps - k * train_steps / n)) - 1 for k in range(n)] + [-1]


def abar_at(alphas_cumprod: torch.Tensor, t) -> torch.Tensor:
    """alpha-bar at integer timesteps ``t`` (a tensor or int); -1 means the clean end (1.0)."""
    t = torch.as_tensor(t)
    ac = alphas_cumprod.to(torch.float32)
    return torch.where(t >= 0, ac[t.clamp(min=0)], torch.ones((), dtype=torch.float32))


def _bcast(a: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return a.reshape(-1, *([1] * (like.dim() - 1))) if a.dim() else a


def ddim_step(v: torch.Tensor, z: torch.Tensor, abar_t: torch.Tensor, abar_s: torch.Tensor) -> torch.Tensor:
    """One deterministic DDIM step t → s from a v-prediction: x0 = a z - s v, eps = s z + a v,
    z_s = a_s x0 + s_s eps."""
    abar_t, abar_s = _bcast(abar_t, z), _bcast(abar_s, z)
    a, s = abar_t.sqrt(), (1 - abar_t).sqrt()
    x0, eps = a * z - s * v, s * z + a * v
    return abar_s.sqrt() * x0 + (1 - abar_s).sqrt() * eps


def v_target(z_t: torch.Tensor, z_s: torch.Tensor, abar_t: torch.Tensor, abar_s: torch.Tensor) -> torch.Tensor:
    """Salimans & Ho's Algorithm 2 target, in v-space: the clean latent x~ for which one DDIM step t → s lands on
    ``z_s`` (the teacher's two steps), x~ = (z_s - (s_s / s_t) z_t) / (a_s - (s_s / s_t) a_t), then
    v~ = (a_t z_t - x~) / s_t. An MSE on v is the x-space MSE weighted by 1 / s_t^2 = SNR + 1 (the paper's
    'SNR+1' weighting)."""
    abar_t, abar_s = _bcast(abar_t, z_t), _bcast(abar_s, z_t)
    a_t, s_t = abar_t.sqrt(), (1 - abar_t).sqrt()
    a_s, s_s = abar_s.sqrt(), (1 - abar_s).sqrt()
    ratio = s_s / s_t
    x = (z_s - ratio * z_t) / (a_s - ratio * a_t)
    return (a_t * z_t - x) / s_t


def w_embedding(w: torch.Tensor, dim: int = W_EMBED_DIM) -> torch.Tensor:
    """The guidance weight as the UNet's ``timestep_cond``: sinusoidal features of 1000 (w - 1), sines first —
    what diffusers' ``LatentConsistencyModelPipeline.get_guidance_scale_embedding`` gives for w - 1 (tested)."""
    from diffusers.models.embeddings import get_timestep_embedding

    w = torch.as_tensor(w, dtype=torch.float32).reshape(-1)
    return get_timestep_embedding((w - 1) * 1000, dim, flip_sin_to_cos=False, downscale_freq_shift=1)


Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (z_t, t) -> v


def cfg_denoiser(unet, cond: torch.Tensor, uncond: torch.Tensor | None, w) -> Denoiser:
    """The teacher with classifier-free guidance: v = v_u + w (v_c - v_u) (w = 1: the conditional model alone).
    ``w`` a float or a (B,) tensor."""
    w_t = torch.as_tensor(w, dtype=torch.float32)

    def f(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, device=z.device).expand(len(z))
        if uncond is None or (w_t.dim() == 0 and float(w_t) == 1.0):
            return unet(z, t, encoder_hidden_states=cond).sample
        u = uncond.expand(len(z), -1, -1)
        out = unet(torch.cat([z, z]), torch.cat([t, t]), encoder_hidden_states=torch.cat([u, cond])).sample
        vu, vc = out.chunk(2)
        return vu + _bcast(w_t.to(z.device), z) * (vc - vu)

    return f


def student_denoiser(unet, cond: torch.Tensor, w) -> Denoiser:
    """A w-conditioned student (``time_cond_proj_dim`` set): one call, guidance folded in. A student without the
    w input ignores ``w``."""
    w_t = torch.as_tensor(w, dtype=torch.float32)

    def f(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, device=z.device).expand(len(z))
        kw = {}
        if unet.config.time_cond_proj_dim:
            kw["timestep_cond"] = w_embedding(w_t.expand(len(z)) if w_t.dim() == 0 else w_t,
                                              unet.config.time_cond_proj_dim).to(z.device)
        return unet(z, t, encoder_hidden_states=cond, **kw).sample

    return f


@torch.no_grad()
def sample(denoise: Denoiser, z: torch.Tensor, steps: int, alphas_cumprod: torch.Tensor,
           callback: Callable[[int, torch.Tensor], None] | None = None) -> torch.Tensor:
    """Deterministic DDIM on the ``steps`` grid from the initial noise ``z``; returns the clean latent."""
    g = grid(steps)
    for k in range(steps):
        check_deadline("denoising")
        t, s = g[k], g[k + 1]
        ac = alphas_cumprod.cpu()
        z = ddim_step(denoise(z, torch.tensor(t)), z, abar_at(ac, t).to(z.device), abar_at(ac, s).to(z.device))
        if callback is not None:
            callback(k, z)
    return z


def make_w_student(teacher, dim: int = W_EMBED_DIM):
    """A ``UNet2DConditionModel`` with the teacher's config plus ``time_cond_proj_dim`` (the w input), holding the
    teacher's weights; the new projection starts at zero, so the student starts as the conditional teacher."""
    from diffusers import UNet2DConditionModel

    student = UNet2DConditionModel.from_config(teacher.config, time_cond_proj_dim=dim)
    missing, unexpected = student.load_state_dict(teacher.state_dict(), strict=False)
    if unexpected or any("cond_proj" not in k for k in missing):
        raise ValueError(f"teacher / student mismatch: missing {missing}, unexpected {unexpected}")
    torch.nn.init.zeros_(student.time_embedding.cond_proj.weight)
    return student


def progressive_target(teacher: Denoiser, z_t: torch.Tensor, k: torch.Tensor, n_student: int,
                       alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """The v-target of a student with ``n_student`` steps at its grid index ``k`` (B,): two teacher DDIM steps on
    the 2n grid, t_{2k} → t_{2k+1} → t_{2k+2}."""
    gt = torch.tensor(grid(2 * n_student))
    k = k.cpu()
    t, t1, t2 = gt[2 * k], gt[2 * k + 1], gt[2 * k + 2]
    a_t, a_1, a_2 = (abar_at(alphas_cumprod.cpu(), x).to(z_t.device) for x in (t, t1, t2))
    with torch.no_grad():
        z1 = ddim_step(teacher(z_t, t), z_t, a_t, a_1)
        z2 = ddim_step(teacher(z1, t1), z1, a_1, a_2)
    return v_target(z_t, z2, a_t, a_2)
