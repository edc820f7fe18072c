"""Noise-aware latent networks for guidance: a classifier p(y | z_t, t) and a CLIP image tower f(z_t, t).

Classifier guidance follows Dhariwal & Nichol 2021, "Diffusion Models Beat GANs on Image Synthesis",
arXiv:2105.05233 (ADM): a classifier trained on noisy inputs at every timestep, whose gradient steers sampling.
The noised CLIP follows Nichol et al. 2021, "GLIDE", arXiv:2112.10741 (a CLIP image encoder trained on noisy
images, paired with a text encoder). Both work on the tiny Stable Diffusion's 16x16x4 latents (not pixels), so
guidance needs no VAE decode per step. What differs: a small residual CNN with FiLM timestep conditioning instead
of ADM's half-UNet; the CLIP text side is the pipeline's own ``CLIPTextModel`` (pooled) with a linear projection
that lives in this module.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin

HEADS = {"shape": 6, "colour": 6, "fill": 2, "background": 3}


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    a = t.float()[:, None] * freqs[None]
    return torch.cat([a.sin(), a.cos()], 1)


class FiLMBlock(nn.Module):
    def __init__(self, cin: int, cout: int, tdim: int, down: bool):
        super().__init__()
        self.n1, self.c1 = nn.GroupNorm(8, cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.n2, self.c2 = nn.GroupNorm(8, cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.film = nn.Linear(tdim, 2 * cout)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()
        self.down = down

    def forward(self, x, temb):
        h = self.c1(F.silu(self.n1(x)))
        scale, shift = self.film(temb)[:, :, None, None].chunk(2, 1)
        h = self.c2(F.silu(self.n2(h) * (1 + scale) + shift))
        h = h + self.skip(x)
        return F.avg_pool2d(h, 2) if self.down else h


class NoisyLatentEncoder(nn.Module, PyTorchModelHubMixin):
    """z_t (B, C, 16, 16) and t (B,) -> a feature vector; ``heads`` turn it into class logits (noisy classifier),
    ``proj_dim`` into a unit-norm CLIP embedding (noisy CLIP, with ``text_proj`` for the text side)."""

    def __init__(self, in_channels: int = 4, widths: tuple = (64, 128, 128), tdim: int = 128,
                 heads: dict | None = None, proj_dim: int = 0, text_dim: int = 0):
        super().__init__()
        self.tdim = tdim
        self.temb = nn.Sequential(nn.Linear(tdim, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
        self.stem = nn.Conv2d(in_channels, widths[0], 3, padding=1)
        blocks, c = [], widths[0]
        for i, w in enumerate(widths):
            blocks.append(FiLMBlock(c, w, tdim, down=i < len(widths) - 1))
            c = w
        self.blocks = nn.ModuleList(blocks)
        self.out_norm = nn.GroupNorm(8, c)
        self.heads = nn.ModuleDict({k: nn.Linear(c, n) for k, n in (heads or {}).items()})
        self.proj = nn.Linear(c, proj_dim) if proj_dim else None
        self.text_proj = nn.Linear(text_dim, proj_dim) if proj_dim and text_dim else None
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07))) if proj_dim else None

    def features(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if t.dim() == 0:
            t = t.expand(len(z))
        temb = self.temb(timestep_embedding(t, self.tdim))
        h = self.stem(z)
        for b in self.blocks:
            h = b(h, temb)
        return F.silu(self.out_norm(h)).mean((2, 3))

    def forward(self, z: torch.Tensor, t: torch.Tensor) -> dict[str, torch.Tensor]:
        return {k: head(self.features(z, t)) for k, head in self.heads.items()} if self.heads else \
            {"embedding": self.embed_image(z, t)}

    def logits(self, z: torch.Tensor, t: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.features(z, t)
        return {k: head(f) for k, head in self.heads.items()}

    def embed_image(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.proj(self.features(z, t)), dim=-1)

    def embed_text(self, pooled: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text_proj(pooled), dim=-1)
