"""DCGAN and its conditional variant (CGAN) for 32×32 images.

- DCGAN: Radford, Metz, Chintala 2015, "Unsupervised Representation Learning with Deep Convolutional GANs",
  arXiv:1511.06434 — all-convolutional G with batch norm and ReLU, tanh output; D with strided convs and LeakyReLU.
- CGAN: Mirza & Osindero 2014, "Conditional Generative Adversarial Nets", arXiv:1411.1784 — the condition y is fed
  to both networks: G gets [z, embed(y)], D gets the image with y broadcast as extra input planes.

What differs: the condition is a pair (shape class, colour), each embedded separately; D's conditioning adds, on
top of the paper's input concatenation, a projection term ⟨embed(y), φ(x)⟩ (Miyato & Koyama 2018,
arXiv:1802.05637), which makes the condition much harder for G to ignore, and optionally AC-GAN auxiliary
classifier heads (Odena et al. 2017, arXiv:1610.09585); D uses spectral normalisation
(Miyato et al. 2018, arXiv:1802.05957) instead of batch norm, for stable training on a CPU budget.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin

SN = nn.utils.parametrizations.spectral_norm


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose scale and shift come from the condition (de Vries et al. 2017, arXiv:1707.00683; as in
    BigGAN): one embedding per condition, summed."""

    def __init__(self, channels: int, n_classes: tuple[int, ...]):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.ModuleList(nn.Embedding(k, channels) for k in n_classes)
        self.bias = nn.ModuleList(nn.Embedding(k, channels) for k in n_classes)
        for e in self.gain:
            nn.init.zeros_(e.weight)
        for e in self.bias:
            nn.init.zeros_(e.weight)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        g = 1 + sum(e(labels[:, i]) for i, e in enumerate(self.gain))
        b = sum(e(labels[:, i]) for i, e in enumerate(self.bias))
        return self.bn(x) * g[:, :, None, None] + b[:, :, None, None]


class DCGANGenerator(nn.Module, PyTorchModelHubMixin):
    """z (N, z_dim) [+ labels (N, len(n_classes))] -> images (N, 3, 32, 32) in [-1, 1]."""

    def __init__(self, z_dim: int = 128, width: int = 256, n_classes: tuple[int, ...] = (), embed_dim: int = 32,
                 size: int = 32, conditional_bn: bool = False):
        super().__init__()
        if size != 32:
            raise ValueError("this DCGAN is built for 32×32 images")
        self.z_dim, self.n_classes = z_dim, tuple(n_classes)
        self.embeds = nn.ModuleList(nn.Embedding(k, embed_dim) for k in self.n_classes)
        in_dim = z_dim + embed_dim * len(self.n_classes)
        w = width
        self.fc = nn.Sequential(nn.Linear(in_dim, 4 * 4 * w, bias=False), nn.BatchNorm1d(4 * 4 * w), nn.ReLU(True))
        self.cbn = bool(conditional_bn and self.n_classes)

        def norm(c: int) -> nn.Module:
            return ConditionalBatchNorm2d(c, self.n_classes) if self.cbn else nn.BatchNorm2d(c)

        self.net = nn.Sequential(
            nn.ConvTranspose2d(w, w // 2, 4, 2, 1, bias=False), norm(w // 2), nn.ReLU(True),  # 8
            nn.ConvTranspose2d(w // 2, w // 4, 4, 2, 1, bias=False), norm(w // 4), nn.ReLU(True),  # 16
            nn.ConvTranspose2d(w // 4, w // 8, 4, 2, 1, bias=False), norm(w // 8), nn.ReLU(True),  # 32
            nn.Conv2d(w // 8, 3, 3, 1, 1), nn.Tanh())
        self.width = w

    @property
    def conditional(self) -> bool:
        return bool(self.n_classes)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.conditional:
            if labels is None or labels.shape != (len(z), len(self.n_classes)):
                raise ValueError(f"this generator needs labels of shape (N, {len(self.n_classes)})")
            z = torch.cat([z, *(e(labels[:, i]) for i, e in enumerate(self.embeds))], dim=1)
        h = self.fc(z).view(len(z), self.width, 4, 4)
        for layer in self.net:
            h = layer(h, labels) if isinstance(layer, ConditionalBatchNorm2d) else layer(h)
        return h


class DCGANDiscriminator(nn.Module, PyTorchModelHubMixin):
    """images (N, 3, 32, 32) [+ labels] -> logits (N,)."""

    def __init__(self, width: int = 32, n_classes: tuple[int, ...] = (), aux_classifier: bool = False):
        super().__init__()
        self.n_classes = tuple(n_classes)
        extra = sum(self.n_classes)  # one-hot planes of every condition (the paper's input concatenation)
        w = width
        self.net = nn.Sequential(
            SN(nn.Conv2d(3 + extra, w, 3, 1, 1)), nn.LeakyReLU(0.2, True),
            SN(nn.Conv2d(w, w * 2, 4, 2, 1)), nn.LeakyReLU(0.2, True),  # 16
            SN(nn.Conv2d(w * 2, w * 2, 3, 1, 1)), nn.LeakyReLU(0.2, True),
            SN(nn.Conv2d(w * 2, w * 4, 4, 2, 1)), nn.LeakyReLU(0.2, True),  # 8
            SN(nn.Conv2d(w * 4, w * 4, 3, 1, 1)), nn.LeakyReLU(0.2, True),
            SN(nn.Conv2d(w * 4, w * 8, 4, 2, 1)), nn.LeakyReLU(0.2, True),  # 4
        )
        self.out = SN(nn.Linear(w * 8 * 16, 1))
        feat = w * 8 * 16
        self.proj = nn.ModuleList(SN(nn.Embedding(k, feat)) for k in self.n_classes)
        # AC-GAN (Odena, Olah, Shlens 2017, arXiv:1610.09585): heads that classify the image, trained on real data
        self.aux = nn.ModuleList(nn.Linear(feat, k) for k in self.n_classes) if aux_classifier else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None,
                return_aux: bool = False) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        if self.n_classes:
            planes = [F.one_hot(labels[:, i], k).float()[:, :, None, None].expand(-1, -1, *x.shape[2:])
                      for i, k in enumerate(self.n_classes)]
            x = torch.cat([x, *planes], dim=1)
        h = self.net(x).flatten(1)
        out = self.out(h).squeeze(1)
        for i, p in enumerate(self.proj):
            out = out + (p(labels[:, i]) * h).sum(1)
        if return_aux:
            if self.aux is None:
                raise ValueError("this discriminator has no auxiliary classifier")
            return out, [head(h) for head in self.aux]
        return out
