"""Cached (fast) sampling for PixelCNN and Gated PixelCNN — Ramachandran, Le Paine, Khorrami, Babaeizadeh, Chang,
Zhang, Hasegawa-Johnson, Campbell, Huang 2017, "Fast Generation for Convolutional Autoregressive Models",
arXiv:1704.06001.

The naive sampler (``pixelcnn.iter_sample``) runs the whole network over the whole image for every sub-pixel: 3,072
passes over 1,024 positions for a 32x32 RGB image. The logits of sub-pixel (i, j, c) need every layer at (i, j)
only, and every layer's value at an earlier position is already final (it depends on earlier pixels only). As in the
paper, each layer keeps a cache of the values it computed; a new position reads its window from the caches:

- ``PixelCNNCache``: the inputs of the k x k masked convolutions (the 7x7 mask-A layer, each block's 3x3 layer) are
  kept as zero-padded maps; the 1x1 layers and the residual stream act on one position. A new position reads only
  the causal rows of each window (k//2 + 1 of k rows: the rows below are masked out).
- ``GatedPixelCNNCache``: the vertical stack at row i depends on image rows < i only, so it is computed once per row,
  for the whole row, at the row's first pixel (with its 1x1 link into the horizontal stack); the horizontal stack
  reads the current row only, so each of its layers keeps one row of its input and computes one position per step.

Within a pixel the colour channels are drawn in order and position (i, j) is recomputed for each (the channel groups
of channel c see the sub-pixels < c just drawn). No feature depends on the last channel of its own pixel, so the
values computed for it are final and stay in the caches. Departure from the paper: no per-layer queues — with
stride-1 layers the value a layer needs next is always in its cache at a fixed offset, so the caches are plain
padded maps indexed directly.

Exactness: the same masked weights, the same draw function (``pixelcnn.draw``) and the same generator calls in the
same order as the naive sampler, hence the same levels for the same seed. (Sums run in another order, so logits agree
to ~1e-6 rather than bit for bit; that could change a draw only where two Gumbel-perturbed logits tie that closely —
the tests compare whole images draw for draw.)
"""
from __future__ import annotations

from types import SimpleNamespace

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...limits import check_deadline
from .pixelcnn import GatedPixelCNN, PixelCNN, draw


def _masked(conv: nn.Conv2d) -> torch.Tensor:
    """The weight a (masked) convolution applies: weight * mask, as in its forward."""
    return conv.weight * conv.mask if hasattr(conv, "mask") else conv.weight


def _causal_matrix(conv: nn.Conv2d) -> torch.Tensor:
    """(cout, cin * (kh//2 + 1) * kw): the masked kernel's rows at and above the centre (those below are zero),
    flattened in the order of a (N, cin, kh//2 + 1, kw) window."""
    w = _masked(conv)
    return w[:, :, :w.shape[2] // 2 + 1].reshape(w.shape[0], -1).contiguous()


def _pointwise(conv: nn.Conv2d) -> torch.Tensor:
    """(cout, cin): a 1x1 (masked) convolution as a matrix."""
    return _masked(conv)[:, :, 0, 0].contiguous()


class _CachedSampler:
    """The sampling loop shared by both models; subclasses keep the caches (``_begin``, ``_row``, ``_position``) and
    say where the input features live (``_input``). The masked weight matrices are taken from the model when the
    sampler is built (build it again after changing the weights); the caches are made per call."""

    def __init__(self, model: nn.Module, size: int = 32):
        self.model, self.size = model, int(size)
        self.channels, self.levels = model.channels, model.levels
        out2 = model.out2
        with torch.no_grad():  # the output layer, one (levels, hidden) block per colour channel
            w2 = _pointwise(out2)
            self.out1 = (_pointwise(model.out1), model.out1.bias)
            self.out2 = (w2, out2.bias)
            rows = [slice(c * self.levels, (c + 1) * self.levels) for c in range(self.channels)]
            self.out2_ch = [(w2[r].contiguous(), out2.bias[r].contiguous()) for r in rows]
        self.embed = model.inp.embed

    # ---- the loop
    @torch.no_grad()
    def sample(self, n: int, y: torch.Tensor | None = None, generator: torch.Generator | None = None,
               x: torch.Tensor | None = None, start: int = 0, temperature: float = 1.0, on_pixel=None,
               keep_outputs: bool = False) -> torch.Tensor:
        """Like ``pixelcnn.sample``, with the same draws for the same generator. ``keep_outputs`` (with ``start =
        size * size``: teacher forcing on ``x``) records each position's logits (N, levels, C) in ``self.logits``."""
        out = self._canvas(n, x)
        kept: list | None = [] if keep_outputs else None
        for t, out in self.iterate(n, y, generator, out, start, temperature, kept):
            if on_pixel is not None and on_pixel(t, out):
                break
        if kept is not None:
            self.logits = kept
        return out

    def iterate(self, n: int, y: torch.Tensor | None = None, generator: torch.Generator | None = None,
                x: torch.Tensor | None = None, start: int = 0, temperature: float = 1.0, kept: list | None = None):
        """``pixelcnn.iter_sample`` with caches: yields (raster index, the images so far) after each pixel from
        ``start`` on (pixels before ``start`` are read from ``x``, as the naive sampler reads them). A closed
        generator stops the work. Thread-safe: the caches belong to the call."""
        size, hw = self.size, self.size * self.size
        if not 0 <= int(start) <= hw:
            raise ValueError(f"start must be a raster index between 0 and {hw}, got {start}.")
        if not temperature > 0:
            raise ValueError(f"Temperature must be > 0, got {temperature}.")
        with torch.no_grad():
            out = self._canvas(n, x)
            st = self._begin(n, y, out.device)
        for p in range(hw):
            check_deadline("sampling")
            i, j = divmod(p, size)
            with torch.no_grad():
                if j == 0:
                    self._row(st, i)
                if p < start:  # known pixel: its features once, with every channel set
                    self._set_input(st, i, j, out[:, :, i, j], None)
                    logits = self._position(st, i, j, "all" if kept is not None else None)
                    if kept is not None:
                        kept.append(logits)
                    continue
                for c in range(self.channels):
                    out[:, c, i, j] = draw(self._position(st, i, j, c), generator, temperature)
                    self._set_input(st, i, j, out[:, c, i, j], c)
            yield p, out

    # ---- shared pieces
    def _canvas(self, n: int, x: torch.Tensor | None) -> torch.Tensor:
        dev = next(self.model.parameters()).device
        if x is None:
            return torch.zeros(n, self.channels, self.size, self.size, dtype=torch.long, device=dev)
        if x.shape != (n, self.channels, self.size, self.size):
            raise ValueError(f"x must be ({n}, {self.channels}, {self.size}, {self.size}) levels, "
                             f"got {tuple(x.shape)}.")
        return x.clone().to(dev)

    def _features(self, levels: torch.Tensor) -> torch.Tensor:
        """Input features of one position: (N,) levels of one channel -> (N,), or (N, C) -> (N, C); codes
        (C = 1) -> their embeddings (N, E). The same arithmetic as the model's input layer."""
        if self.embed is not None:
            return self.embed.weight[levels.reshape(-1)]
        return levels.float() * (2.0 / (self.levels - 1)) - 1.0

    def _set_input(self, st, i: int, j: int, levels: torch.Tensor, c: int | None) -> None:
        """Write the drawn (or given) level(s) of pixel (i, j) into the input cache: channel c, or all of them."""
        buf, r0, c0 = self._input(st)
        if self.embed is not None:
            buf[:, :, i + r0, j + c0] = self._features(levels)
        elif c is None:
            buf[:, :self.channels, i + r0, j + c0] = self._features(levels)
        else:
            buf[:, c, i + r0, j + c0] = self._features(levels)

    def _head(self, hidden: torch.Tensor, which) -> torch.Tensor | None:
        """relu -> out1 -> relu -> out2 at one position: channel ``which``'s logits (N, levels), all channels'
        (N, levels, C) for "all", or nothing (None) when only the caches were wanted."""
        if which is None:
            return None
        o = F.relu(F.linear(F.relu(hidden), *self.out1))
        if which == "all":
            n = o.shape[0]
            return F.linear(o, *self.out2).view(n, self.channels, self.levels).transpose(1, 2)
        return F.linear(o, *self.out2_ch[which])

    def _in_channels(self) -> int:
        return self.embed.embedding_dim if self.embed is not None else self.channels

    def _row(self, st, i: int) -> None:  # start of image row i (the Gated PixelCNN's vertical stack)
        pass


class PixelCNNCache(_CachedSampler):
    """Cached sampling for ``PixelCNN`` (see the module docstring)."""

    def __init__(self, model: PixelCNN, size: int = 32):
        if not isinstance(model, PixelCNN):
            raise TypeError(f"PixelCNNCache needs a PixelCNN, got {type(model).__name__}.")
        super().__init__(model, size)
        with torch.no_grad():
            kh, kw = model.first.kernel_size
            self.first = (_causal_matrix(model.first), model.first.bias, kh // 2, kw)
            self.blocks = []
            for b in model.blocks:
                bh, bw = b.b.kernel_size
                self.blocks.append((_pointwise(b.a), b.a.bias, _causal_matrix(b.b), b.b.bias, bh // 2, bw,
                                    _pointwise(b.c), b.c.bias))

    def _begin(self, n, y, dev):
        m, s = self.model, self.size
        dtype = m.first.weight.dtype
        _, _, ph, kw = self.first
        cond = m.cond(y.to(dev)) if (m.cond is not None and y is not None) else None
        return SimpleNamespace(
            x=torch.zeros(n, self._in_channels(), s + ph, s + 2 * (kw // 2), device=dev, dtype=dtype),
            r=[torch.zeros(n, wa.shape[0], s + bh, s + 2 * (bw // 2), device=dev, dtype=dtype)
               for wa, _, _, _, bh, bw, _, _ in self.blocks],
            cond=cond)

    def _input(self, st):
        _, _, ph, kw = self.first
        return st.x, ph, kw // 2

    def _position(self, st, i: int, j: int, which):
        wf, bf, ph, kw = self.first
        n = st.x.shape[0]
        f = F.linear(st.x[:, :, i:i + ph + 1, j:j + kw].reshape(n, -1), wf, bf)
        for (wa, ba, wb, bb, bh, bw, wc, bc), r in zip(self.blocks, st.r):
            y = F.linear(F.relu(f), wa, ba)
            if st.cond is not None:
                y = y + st.cond
            r[:, :, i + bh, j + bw // 2] = F.relu(y)
            z = F.linear(r[:, :, i:i + bh + 1, j:j + bw].reshape(n, -1), wb, bb)
            f = f + F.linear(F.relu(z), wc, bc)
        return self._head(f, which)


class GatedPixelCNNCache(_CachedSampler):
    """Cached sampling for ``GatedPixelCNN`` — RGB images or a VQ-VAE code prior (C = 1, K levels); see the module
    docstring."""

    def __init__(self, model: GatedPixelCNN, size: int = 32):
        if not isinstance(model, GatedPixelCNN):
            raise TypeError(f"GatedPixelCNNCache needs a GatedPixelCNN, got {type(model).__name__}.")
        super().__init__(model, size)
        self.k = model.layers[0].k
        if self.k % 2 == 0:
            raise ValueError(f"the Gated PixelCNN's kernel must be odd, got {self.k}.")
        with torch.no_grad():
            self.layers = [(layer.v.weight, layer.v.bias, layer.v2h.weight, layer.v2h.bias,
                            _masked(layer.h)[:, :, 0, :self.k // 2 + 1].reshape(layer.h.out_channels, -1).contiguous(),
                            layer.h.bias, _pointwise(layer.h_out), layer.h_out.bias, _pointwise(layer.skip),
                            layer.skip.bias) for layer in model.layers]

    def _begin(self, n, y, dev):
        m, s, p = self.model, self.size, self.k // 2
        dtype = m.out1.weight.dtype
        hidden = m.layers[0].h_out.out_channels
        has_y = y is not None and m.n_classes
        y = y.to(dev) if has_y else None
        return SimpleNamespace(
            # input features: p + 1 zero rows on top (the first vertical layer reads rows [i - p - 1, i - 1]), p
            # columns each side; the horizontal stack's first layer reads the same map
            x=torch.zeros(n, self._in_channels(), s + p + 1, s + 2 * p, device=dev, dtype=dtype),
            # the vertical stack's input of layers 1 .. L-1: rows [i - p, i]
            v=[None] + [torch.zeros(n, hidden, s + p, s + 2 * p, device=dev, dtype=dtype)
                        for _ in range(len(m.layers) - 1)],
            # the horizontal stack's input of layers 1 .. L-1, current row only: columns [j - p, j]
            h=[None] + [torch.zeros(n, hidden, s + p, device=dev, dtype=dtype) for _ in range(len(m.layers) - 1)],
            link=[None] * len(m.layers),
            cv=[layer.cv(y) if has_y else None for layer in m.layers],
            ch=[layer.ch(y) if has_y else None for layer in m.layers])

    def _input(self, st):
        p = self.k // 2
        return st.x, p + 1, p

    def _row(self, st, i: int) -> None:
        """The vertical stack at row i (final once rows < i are known) and its link into the horizontal stack."""
        p, last = self.k // 2, len(self.layers) - 1
        for li, (wv, bv, wl, bl, *_) in enumerate(self.layers):
            src = st.x if li == 0 else st.v[li]
            v_pre = F.conv2d(src[:, :, i:i + p + 1], wv, bv)  # (N, 2h, 1, W)
            st.link[li] = F.conv2d(v_pre, wl, bl)[:, :, 0].permute(2, 0, 1)  # (W, N, 2h): column j -> (N, 2h)
            if li < last:
                if st.cv[li] is not None:
                    v_pre = v_pre + st.cv[li][:, :, None, None]
                a, b = v_pre[:, :, 0].chunk(2, 1)
                st.v[li + 1][:, :, i + p, p:p + self.size] = torch.tanh(a) * torch.sigmoid(b)

    def _position(self, st, i: int, j: int, which):
        p, last = self.k // 2, len(self.layers) - 1
        n = st.x.shape[0]
        skip = None
        for li, (_, _, _, _, wh, bh, wo, bo, ws, bs) in enumerate(self.layers):
            hin = st.x[:, :, i + p + 1, j:j + p + 1] if li == 0 else st.h[li][:, :, j:j + p + 1]
            h_pre = F.linear(hin.reshape(n, -1), wh, bh) + st.link[li][j]
            if st.ch[li] is not None:
                h_pre = h_pre + st.ch[li]
            a, b = h_pre.chunk(2, 1)
            g = torch.tanh(a) * torch.sigmoid(b)
            if li < last:  # the last layer's horizontal output feeds nothing
                h_new = F.linear(g, wo, bo)
                st.h[li + 1][:, :, j + p] = h_new if li == 0 else h_new + hin[:, :, -1]
            s = F.linear(g, ws, bs)
            skip = s if skip is None else skip + s
        return self._head(skip, which)
