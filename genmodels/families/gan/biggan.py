"""BigGAN-style class-conditional GAN for 32×32 shapes.

Brock, Donahue, Simonyan 2018, "Large Scale GAN Training for High Fidelity Natural Image Synthesis",
arXiv:1809.11096. What is kept from the paper:

- **Shared class embedding** into **class-conditional batch norm** (de Vries et al. 2017, arXiv:1707.00683): one
  embedding of the condition, shared by every block; each batch norm's gain and bias are linear maps of it.
- **Hierarchical latent**: z is split into one chunk for the first 4×4 map and one chunk per residual block; each
  block's batch-norm gains and biases read [shared embedding, its z chunk] ("skip-z").
- Residual up-blocks in G (BN-ReLU-upsample-conv3×3-BN-ReLU-conv3×3, 1×1 conv on the upsampled skip), residual
  down-blocks in D, **spectral normalisation in both** (Miyato et al. 2018, arXiv:1802.05957), a **projection
  discriminator** (Miyato & Koyama 2018, arXiv:1802.05637) with sum pooling, **hinge loss** (train.py), **orthogonal
  regularisation** of G's weights (``orthogonal_penalty``, the paper's §3.1 form β‖WᵀW ⊙ (1 − I)‖²_F), an EMA of G
  with standing statistics, and the **truncation trick** (``truncated_normal``: z components beyond a threshold are
  redrawn).

What differs: two conditions (shape class and colour) instead of one class — each has its own embedding table and
the shared embedding is their sum; widths are CPU-sized (256 → 128 → 64 → 32 channels at 4 → 8 → 16 → 32 px, one
block per resolution, no self-attention); D also sees the condition through the projected, guide-feature heads of
``projected.py`` when the recipe says so (the training recipe that works for every conditional GAN here).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin

SN = nn.utils.parametrizations.spectral_norm


class HierarchicalCBN(nn.Module):
    """Batch norm (no affine) whose gain (1 + γ) and bias β are linear in the block's conditioning vector."""

    def __init__(self, channels: int, cond_dim: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain = SN(nn.Linear(cond_dim, channels, bias=False))
        self.bias = SN(nn.Linear(cond_dim, channels, bias=False))

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.bn(x) * (1 + self.gain(cond))[:, :, None, None] + self.bias(cond)[:, :, None, None]


class GBlock(nn.Module):
    def __init__(self, cin: int, cout: int, cond_dim: int):
        super().__init__()
        self.bn1, self.bn2 = HierarchicalCBN(cin, cond_dim), HierarchicalCBN(cout, cond_dim)
        self.conv1 = SN(nn.Conv2d(cin, cout, 3, 1, 1))
        self.conv2 = SN(nn.Conv2d(cout, cout, 3, 1, 1))
        self.skip = SN(nn.Conv2d(cin, cout, 1))

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x, cond)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h), cond)))
        return h + self.skip(F.interpolate(x, scale_factor=2, mode="nearest"))


class BigGANGenerator(nn.Module, PyTorchModelHubMixin):
    """z (N, z_dim) + labels (N, len(n_classes)) -> images (N, 3, 32, 32) in [-1, 1]."""

    def __init__(self, z_dim: int = 128, channels: tuple[int, ...] = (256, 128, 64, 32),
                 n_classes: tuple[int, ...] = (6, 6), shared_dim: int = 64, size: int = 32):
        super().__init__()
        if size != 4 * 2 ** (len(channels) - 1):
            raise ValueError(f"{len(channels)} channel widths make {4 * 2 ** (len(channels) - 1)} px, not {size}")
        if not n_classes:
            raise ValueError("BigGAN is class-conditional: give n_classes")
        self.z_dim, self.n_classes, self.channels = z_dim, tuple(n_classes), tuple(channels)
        n_chunks = len(channels)  # one for the 4×4 map, one per block
        if z_dim % n_chunks:
            raise ValueError(f"z_dim {z_dim} does not split into {n_chunks} equal chunks")
        self.chunk = z_dim // n_chunks
        self.shared = nn.ModuleList(nn.Embedding(k, shared_dim) for k in self.n_classes)
        cond_dim = shared_dim + self.chunk
        self.fc = SN(nn.Linear(self.chunk, 4 * 4 * channels[0]))
        self.blocks = nn.ModuleList(GBlock(a, b, cond_dim) for a, b in zip(channels[:-1], channels[1:]))
        self.out_bn = nn.BatchNorm2d(channels[-1])
        self.out = SN(nn.Conv2d(channels[-1], 3, 3, 1, 1))

    @property
    def conditional(self) -> bool:
        return True

    def embed(self, labels: torch.Tensor) -> torch.Tensor:
        """The shared class embedding: the sum of one embedding per condition."""
        return sum(e(labels[:, i]) for i, e in enumerate(self.shared))

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is None or labels.shape != (len(z), len(self.n_classes)):
            raise ValueError(f"this generator needs labels of shape (N, {len(self.n_classes)})")
        chunks = z.split(self.chunk, dim=1)
        shared = self.embed(labels)
        h = self.fc(chunks[0]).view(len(z), self.channels[0], 4, 4)
        for block, zc in zip(self.blocks, chunks[1:]):
            h = block(h, torch.cat([shared, zc], 1))
        return torch.tanh(self.out(F.relu(self.out_bn(h))))


class DBlock(nn.Module):
    def __init__(self, cin: int, cout: int, down: bool, preactivation: bool = True):
        super().__init__()
        self.conv1 = SN(nn.Conv2d(cin, cout, 3, 1, 1))
        self.conv2 = SN(nn.Conv2d(cout, cout, 3, 1, 1))
        self.skip = SN(nn.Conv2d(cin, cout, 1)) if (cin != cout or down) else None
        self.down, self.pre = down, preactivation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(x) if self.pre else x  # the first block sees the image itself (no ReLU on pixels)
        h = self.conv2(F.relu(self.conv1(h)))
        s = x if self.skip is None else self.skip(x)
        if self.down:
            h, s = F.avg_pool2d(h, 2), F.avg_pool2d(s, 2)
        return h + s


class BigGANDiscriminator(nn.Module, PyTorchModelHubMixin):
    """images (N, 3, 32, 32) + labels -> logits (N,): residual down-blocks, ReLU, sum pooling, a linear output plus
    the projection ⟨embed(y), φ(x)⟩ summed over the conditions."""

    def __init__(self, channels: tuple[int, ...] = (64, 128, 128, 128), n_classes: tuple[int, ...] = (6, 6)):
        super().__init__()
        self.n_classes = tuple(n_classes)
        ins = (3,) + tuple(channels[:-1])
        downs = [True] * (len(channels) - 1) + [False]
        self.blocks = nn.Sequential(*(DBlock(a, b, d, preactivation=i > 0)
                                      for i, (a, b, d) in enumerate(zip(ins, channels, downs))))
        self.out = SN(nn.Linear(channels[-1], 1))
        self.proj = nn.ModuleList(SN(nn.Embedding(k, channels[-1])) for k in self.n_classes)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))
        out = self.out(h).squeeze(1)
        for i, p in enumerate(self.proj):
            out = out + (p(labels[:, i]) * h).sum(1)
        return out


def orthogonal_penalty(module: nn.Module, beta: float = 1e-4) -> torch.Tensor:
    """BigGAN's orthogonal regularisation, β Σ_W ‖WᵀW ⊙ (1 − I)‖²_F over the conv / linear weights of ``module``
    (each flattened to (out, in·k·k); the rows' pairwise cosines are pushed to zero, their norms left free). Spectrally
    normalised layers are penalised on their normalised weight, the one the forward pass uses."""
    total = None
    for m in module.modules():
        if not isinstance(m, (nn.Conv2d, nn.Linear)):
            continue
        w = m.weight.flatten(1)
        gram = w @ w.T
        off = gram - torch.diag_embed(torch.diagonal(gram))
        term = off.pow(2).sum()
        total = term if total is None else total + term
    if total is None:
        return torch.zeros(())
    return beta * total


def truncated_normal(shape: tuple[int, ...], threshold: float | None, generator: torch.Generator | None = None,
                     max_rounds: int = 100) -> torch.Tensor:
    """N(0, I) samples whose components beyond ±``threshold`` are redrawn (BigGAN's truncation trick); None: plain
    N(0, I). The same generator state gives the same tensor."""
    z = torch.randn(shape, generator=generator)
    if threshold is None:
        return z
    if threshold <= 0:
        raise ValueError("the truncation threshold must be > 0")
    for _ in range(max_rounds):
        bad = z.abs() > threshold
        if not bad.any():
            break
        z = torch.where(bad, torch.randn(shape, generator=generator), z)
    return z.clamp(-threshold, threshold)
