"""PixelCNN and Gated PixelCNN with 256-way (or K-way) softmax outputs.

- PixelCNN: van den Oord, Kalchbrenner, Kavukcuoglu 2016, "Pixel Recurrent Neural Networks", arXiv:1601.06759 —
  masked convolutions: mask A on the first layer (the current pixel and, within it, the current and later colour
  channels are hidden), mask B after it (the current channel's own features are visible); R -> G -> B inside a
  pixel by splitting every feature map into three channel groups.
- Gated PixelCNN: van den Oord et al. 2016, "Conditional Image Generation with PixelCNN Decoders",
  arXiv:1606.05328 — a vertical stack (rows above, no blind spot) feeding a horizontal stack (the current row to
  the left), gated activations tanh(a) * sigmoid(b), residual and skip connections, and a class embedding added to
  both stacks' pre-activations (h-conditioning).

Both take ``x`` as integer levels (N, C, H, W) in [0, levels) and return logits (N, levels, C, H, W): the
distribution of channel c at (i, j) depends on every pixel before (i, j) in raster order and on channels < c of
(i, j) itself. ``C = 1`` with ``levels = K`` is the VQ-VAE code prior (categorical inputs are embedded).

Sampling here is naive (``sample`` / ``iter_sample``: one full forward pass per sub-pixel); ``cached_pixelcnn.py`` draws
the same levels for the same seed with cached activations (Ramachandran et al. 2017, "Fast Generation for
Convolutional Autoregressive Models", arXiv:1704.06001), ~30-50x faster. Both draw through ``draw``.
"""
from __future__ import annotations

import io
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from PIL import Image

from ...limits import check_deadline


def group_of(c: torch.Tensor, channels: int, groups: int) -> torch.Tensor:
    """Colour group (0 .. groups-1) of feature channel c when ``channels`` features are split into contiguous
    blocks; a gated layer's 2C outputs use c mod C, so a and b of one unit share a group."""
    return (c % channels) * groups // channels


def centre_mask(cout: int, cin: int, groups: int, rule: str, cout_block: int | None = None,
                cin_block: int | None = None) -> torch.Tensor:
    """(cout, cin) bool: which input channels the centre tap may read. rule "A": strictly earlier groups, "B": the
    same or earlier; with one group, "A" hides the centre entirely and "B" shows it."""
    go = group_of(torch.arange(cout), cout_block or cout, groups)[:, None]
    gi = group_of(torch.arange(cin), cin_block or cin, groups)[None, :]
    return gi < go if rule == "A" else gi <= go


class MaskedConv2d(nn.Conv2d):
    """A 2-D convolution whose kernel is multiplied by a fixed mask: taps below the centre row and right of the
    centre in the centre row are zero; the centre tap follows ``rule`` per channel group (see centre_mask).
    ``rows="above"`` keeps only rows strictly above the centre (the first vertical-stack layer)."""

    def __init__(self, cin: int, cout: int, kernel: tuple[int, int] | int, rule: str = "B", groups: int = 3,
                 cout_block: int | None = None, cin_block: int | None = None, bias: bool = True):
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        super().__init__(cin, cout, (kh, kw), padding=(kh // 2, kw // 2), bias=bias)
        m = torch.zeros(cout, cin, kh, kw)
        ch, cw = kh // 2, kw // 2
        m[:, :, :ch] = 1
        m[:, :, ch, :cw] = 1
        m[:, :, ch, cw] = centre_mask(cout, cin, groups, rule, cout_block, cin_block).float()
        self.register_buffer("mask", m, persistent=False)

    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, self.bias, self.stride, self.padding)


class _Input(nn.Module):
    """Levels -> features: images scaled to [-1, 1] (C = 3), codes embedded (C = 1, K levels)."""

    def __init__(self, channels: int, levels: int, embed_dim: int):
        super().__init__()
        self.channels, self.levels = channels, levels
        self.embed = nn.Embedding(levels, embed_dim) if channels == 1 else None

    @property
    def out_channels(self) -> int:
        return self.embed.embedding_dim if self.embed is not None else self.channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.embed is not None:
            return self.embed(x[:, 0]).permute(0, 3, 1, 2)
        return x.float() * (2.0 / (self.levels - 1)) - 1.0


class _ResBlockB(nn.Module):
    """PixelCNN's residual block: 1x1 (2h -> h), kxk mask B, 1x1 (h -> 2h), ReLUs before each conv."""

    def __init__(self, h: int, groups: int, k: int = 3):
        super().__init__()
        self.a = MaskedConv2d(2 * h, h, 1, "B", groups)
        self.b = MaskedConv2d(h, h, k, "B", groups)
        self.c = MaskedConv2d(h, 2 * h, 1, "B", groups)

    def forward(self, x, cond=None):
        y = self.a(F.relu(x))
        if cond is not None:
            y = y + cond
        return x + self.c(F.relu(self.b(F.relu(y))))


class PixelCNN(nn.Module, PyTorchModelHubMixin):
    """PixelCNN: 7x7 mask-A convolution, residual blocks of mask-B convolutions, two 1x1 mask-B output layers,
    ``levels``-way softmax per channel. ``n_classes`` > 0 adds a class embedding inside every block."""

    def __init__(self, channels: int = 3, levels: int = 256, hidden: int = 60, blocks: int = 6,
                 n_classes: int = 0, out_hidden: int = 120):
        super().__init__()
        self.config_ = dict(channels=channels, levels=levels, hidden=hidden, blocks=blocks, n_classes=n_classes)
        g = channels if channels > 1 else 1
        if hidden % g or out_hidden % g:
            raise ValueError("hidden widths must divide into the colour groups")
        self.channels, self.levels, self.n_classes = channels, levels, n_classes
        self.inp = _Input(channels, levels, hidden)
        self.first = MaskedConv2d(self.inp.out_channels, 2 * hidden, 7, "A", g,
                                  cin_block=self.inp.out_channels if channels == 1 else None)
        self.blocks = nn.ModuleList([_ResBlockB(hidden, g) for _ in range(blocks)])
        self.cond = nn.Embedding(n_classes, hidden) if n_classes else None
        self.out1 = MaskedConv2d(2 * hidden, out_hidden, 1, "B", g)
        self.out2 = MaskedConv2d(out_hidden, channels * levels, 1, "B", g)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.first(self.inp(x))
        cond = self.cond(y)[:, :, None, None] if (self.cond is not None and y is not None) else None
        for b in self.blocks:
            h = b(h, cond)
        out = self.out2(F.relu(self.out1(F.relu(h))))
        n, _, hh, ww = out.shape
        return out.view(n, self.channels, self.levels, hh, ww).transpose(1, 2)


class _GatedLayer(nn.Module):
    """One Gated PixelCNN layer. Vertical stack: a (k//2 + 1) x k convolution over the rows at and above (the
    first layer: strictly above), so it never sees the current row of the image. Horizontal stack: a 1 x (k//2 + 1)
    convolution over the current row up to the current pixel (its centre tap channel-masked: rule A in the first
    layer, B after), plus a 1x1 link from the vertical stack, whose row r depends on image rows < r only (the
    first layer reads strictly above; later ones keep that), so there is no blind spot and no leak. Gates
    tanh(a) * sigmoid(b); class embedding added to both pre-activations."""

    def __init__(self, h: int, k: int, groups: int, first: bool, n_classes: int, cin: int | None = None):
        super().__init__()
        cin = cin or h
        self.first, self.k = first, k
        self.v = nn.Conv2d(cin, 2 * h, (k // 2 + 1, k), bias=True)
        self.h = MaskedConv2d(cin, 2 * h, (1, k), "A" if first else "B", groups, cout_block=h,
                              cin_block=cin if first and groups == 1 else None)
        self.v2h = nn.Conv2d(2 * h, 2 * h, 1)
        self.h_out = MaskedConv2d(h, h, 1, "B", groups)
        self.skip = MaskedConv2d(h, h, 1, "B", groups)
        self.cv = nn.Embedding(n_classes, 2 * h) if n_classes else None
        self.ch = nn.Embedding(n_classes, 2 * h) if n_classes else None

    @staticmethod
    def gate(t: torch.Tensor) -> torch.Tensor:
        a, b = t.chunk(2, 1)
        return torch.tanh(a) * torch.sigmoid(b)

    def forward(self, v, h, y=None):
        k = self.k
        # vertical: rows [r - k//2, r] (first layer: [r - k//2 - 1, r - 1]); columns centred
        if self.first:
            vin = F.pad(v, (k // 2, k // 2, k // 2 + 1, 0))[:, :, :-1]
        else:
            vin = F.pad(v, (k // 2, k // 2, k // 2, 0))
        v_pre = self.v(vin)
        link = self.v2h(v_pre)  # v at row r depends on image rows < r only: the link cannot leak the current row
        h_pre = self.h(h) + link
        if self.cv is not None and y is not None:
            v_pre = v_pre + self.cv(y)[:, :, None, None]
            h_pre = h_pre + self.ch(y)[:, :, None, None]
        v_new = self.gate(v_pre)
        g = self.gate(h_pre)
        h_new = self.h_out(g) + (h if not self.first else 0)
        return v_new, h_new, self.skip(g)


class GatedPixelCNN(nn.Module, PyTorchModelHubMixin):
    """Gated PixelCNN with class conditioning; ``channels = 1, levels = K`` is a prior over VQ-VAE codes."""

    def __init__(self, channels: int = 3, levels: int = 256, hidden: int = 60, layers: int = 8, kernel: int = 5,
                 n_classes: int = 0, out_hidden: int = 120):
        super().__init__()
        g = channels if channels > 1 else 1
        if hidden % g or out_hidden % g:
            raise ValueError("hidden widths must divide into the colour groups")
        self.channels, self.levels, self.n_classes = channels, levels, n_classes
        self.inp = _Input(channels, levels, hidden)
        cin = self.inp.out_channels
        self.layers = nn.ModuleList([_GatedLayer(hidden, kernel, g, i == 0, n_classes, cin if i == 0 else None)
                                     for i in range(layers)])
        self.out1 = MaskedConv2d(hidden, out_hidden, 1, "B", g)
        self.out2 = MaskedConv2d(out_hidden, channels * levels, 1, "B", g)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        v = h = self.inp(x)
        skip = 0
        for layer in self.layers:
            v, h, s = layer(v, h, y)
            skip = skip + s
        out = self.out2(F.relu(self.out1(F.relu(skip))))
        n, _, hh, ww = out.shape
        return out.view(n, self.channels, self.levels, hh, ww).transpose(1, 2)


def nll_bits_per_dim(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood in bits per dimension (per sub-pixel) of integer levels x under softmax logits
    (N, levels, C, H, W); per image: (N,)."""
    nats = F.cross_entropy(logits, x.long(), reduction="none").flatten(1).mean(1)
    return nats / math.log(2)


def png_bits_per_dim(images) -> float:
    """Mean size of each image of (N, H, W, C) uint8 ``images`` as an optimised PNG, in bits per sub-pixel (the
    lossless-codec baseline)."""
    total = 0
    for im in images:
        buf = io.BytesIO()
        Image.fromarray(im).save(buf, format="PNG", optimize=True)
        total += len(buf.getvalue()) * 8
    return total / (len(images) * images[0].size)


def sample(model: nn.Module, n: int, size: int = 32, y: torch.Tensor | None = None,
           generator: torch.Generator | None = None, x: torch.Tensor | None = None, start: int = 0,
           temperature: float = 1.0, on_pixel=None) -> torch.Tensor:
    """Naive ancestral sampling: one full forward pass per sub-pixel, in raster order (R, G, B inside a pixel).
    ``x`` / ``start``: a partial image whose pixels before raster index ``start`` are kept (completion).
    ``on_pixel(index, x)`` is called after each pixel (for streaming); returning True stops early."""
    out = None
    for t, out in iter_sample(model, n, size, y, generator, x, start, temperature):
        if on_pixel is not None and on_pixel(t, out):
            break
    return out if out is not None else _canvas(model, n, size, x)


def _canvas(model, n, size, x):
    dev = next(model.parameters()).device
    c = model.channels
    return torch.zeros(n, c, size, size, dtype=torch.long, device=dev) if x is None else x.clone().to(dev)


def iter_sample(model: nn.Module, n: int, size: int = 32, y: torch.Tensor | None = None,
                generator: torch.Generator | None = None, x: torch.Tensor | None = None, start: int = 0,
                temperature: float = 1.0):
    """``sample`` as a generator: yields (raster index, the image so far) after each pixel (a stopped generator
    stops the work — how a cancelled streaming request ends)."""
    x = _canvas(model, n, size, x)
    for p in range(start, size * size):
        check_deadline("sampling")
        i, j = divmod(p, size)
        with torch.no_grad():
            for ch in range(model.channels):
                x[:, ch, i, j] = draw(model(x, y)[:, :, ch, i, j], generator, temperature)
        yield p, x


def draw(logits: torch.Tensor, generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
    """One level per row of (N, levels) logits, from softmax(logits / temperature) by Gumbel-max with uniform noise
    drawn on the CPU from ``generator`` (the same draws on any device). The naive and the cached samplers
    (cached_pixelcnn.py) both draw through here: same generator calls, same order, same levels."""
    logits = logits / temperature
    u = torch.rand(logits.shape, generator=generator).to(logits.device)
    return (logits - torch.log(-torch.log(u.clamp(1e-20, 1.0)))).argmax(1)
