"""VQ-VAE: an autoencoder whose latent is a grid of entries from a learned codebook.

van den Oord, Vinyals, Kavukcuoglu 2017, "Neural Discrete Representation Learning", arXiv:1711.00937 — encoder ->
nearest codebook entry per position -> decoder; straight-through gradients; commitment loss beta·||z_e - sg(e)||²;
codebook learned by exponential moving averages of the assigned encoder outputs (the paper's appendix A.1, with
Laplace smoothing of the counts). Departures:
- **Dead-code restarts** (as in Dhariwal et al. 2020, Jukebox, arXiv:2005.00341): an entry whose EMA usage falls
  below ``restart_below`` is moved onto a random encoder output of the current batch, so the whole codebook stays
  in use (the issue asks ≥ 80 % of entries used on the test split).
- Distances are plain Euclidean, as in the paper (no L2-normalised codes).

32x32 images -> ``size / 2**downs`` square code maps (8x8 with the default two stride-2 stages).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin

from .vae import ResBlock


class EMAQuantizer(nn.Module):
    """Nearest-neighbour quantisation with an EMA codebook and dead-code restarts (buffers, no gradients)."""

    def __init__(self, codes: int, dim: int, decay: float = 0.99, eps: float = 1e-5, restart_below: float = 0.03):
        super().__init__()
        self.codes, self.dim, self.decay, self.eps, self.restart_below = codes, dim, decay, eps, restart_below
        embed = torch.randn(codes, dim) * 0.1
        self.register_buffer("embed", embed)
        self.register_buffer("cluster_size", torch.ones(codes))
        self.register_buffer("embed_sum", embed.clone())

    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        d = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.embed.t() + self.embed.pow(2).sum(1)[None]
        return d.argmin(1)

    def lookup(self, idx: torch.Tensor) -> torch.Tensor:
        """(N, h, w) code indices -> (N, dim, h, w) vectors."""
        return F.embedding(idx, self.embed).permute(0, 3, 1, 2)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """z (N, dim, h, w) -> (straight-through quantised z, indices (N, h, w), commitment loss)."""
        n, d, h, w = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, d)
        idx = self.nearest(flat.detach())
        q = self.embed[idx]
        if self.training:
            with torch.no_grad():
                onehot = F.one_hot(idx, self.codes).type(flat.dtype)
                self.cluster_size.mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)
                self.embed_sum.mul_(self.decay).add_(onehot.t() @ flat.detach(), alpha=1 - self.decay)
                total = self.cluster_size.sum()
                size = (self.cluster_size + self.eps) / (total + self.codes * self.eps) * total
                self.embed.copy_(self.embed_sum / size[:, None])
                dead = self.cluster_size < self.restart_below
                if dead.any():
                    k = int(dead.sum())
                    pick = flat.detach()[torch.randint(len(flat), (k,), device=flat.device)]
                    self.embed[dead] = pick
                    self.embed_sum[dead] = pick
                    self.cluster_size[dead] = 1.0
        commit = F.mse_loss(flat, q.detach())
        q_st = flat + (q - flat).detach()
        return q_st.view(n, h, w, d).permute(0, 3, 1, 2), idx.view(n, h, w), commit


class VQVAE(nn.Module, PyTorchModelHubMixin):
    """Conv encoder (``downs`` stride-2 stages + residual blocks) -> EMA codebook of ``codes`` entries of size
    ``dim`` -> mirrored decoder. Inputs / outputs are images in [-1, 1]."""

    def __init__(self, codes: int = 256, dim: int = 32, width: int = 64, downs: int = 2, res_blocks: int = 2,
                 beta: float = 0.25, size: int = 32):
        super().__init__()
        self.codes, self.dim, self.downs, self.beta, self.size = codes, dim, downs, beta, size
        w = width
        enc: list[nn.Module] = [nn.Conv2d(3, w, 3, padding=1)]
        for _ in range(downs):
            enc += [nn.SiLU(), nn.Conv2d(w, w, 4, 2, 1)]
        enc += [ResBlock(w) for _ in range(res_blocks)] + [nn.GroupNorm(8, w), nn.SiLU(), nn.Conv2d(w, dim, 1)]
        self.encoder = nn.Sequential(*enc)
        self.quantizer = EMAQuantizer(codes, dim)
        dec: list[nn.Module] = [nn.Conv2d(dim, w, 3, padding=1)] + [ResBlock(w) for _ in range(res_blocks)]
        for _ in range(downs):
            dec += [nn.GroupNorm(8, w), nn.SiLU(), nn.ConvTranspose2d(w, w, 4, 2, 1)]
        dec += [nn.GroupNorm(8, w), nn.SiLU(), nn.Conv2d(w, 3, 3, padding=1)]
        self.decoder = nn.Sequential(*dec)

    @property
    def grid(self) -> int:
        return self.size // 2 ** self.downs

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, 3, H, W) in [-1, 1] -> code indices (N, h, w)."""
        return self.quantizer(self.encoder(x))[1]

    def decode(self, idx: torch.Tensor) -> torch.Tensor:
        """Code indices (N, h, w) -> images in [-1, 1] (not clamped)."""
        return self.decoder(self.quantizer.lookup(idx))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> (reconstruction, indices, commitment loss)."""
        q, idx, commit = self.quantizer(self.encoder(x))
        return self.decoder(q), idx, commit

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        rec, idx, commit = self(x)
        mse = F.mse_loss(rec, x)
        return mse + self.beta * commit, {"mse": mse.detach(), "commit": commit.detach()}


def codebook_stats(idx: torch.Tensor, codes: int) -> dict:
    """Usage (share of entries used at least once) and perplexity exp(H) of the code histogram of ``idx``."""
    counts = torch.bincount(idx.flatten(), minlength=codes).float()
    p = counts / counts.sum()
    ent = -(p[p > 0] * p[p > 0].log()).sum()
    return {"usage": float((counts > 0).float().mean()), "perplexity": float(ent.exp()), "histogram": counts}
