"""Cached (fast) sampling for PixelCNN++ (Salimans, Karpathy, Chen, Kingma 2017, arXiv:1701.05517) — Ramachandran,
Le Paine, Khorrami, Babaeizadeh, Chang, Zhang, Hasegawa-Johnson, Campbell, Huang 2017, "Fast Generation for
Convolutional Autoregressive Models", arXiv:1704.06001.

The naive sampler runs the whole network once per pixel. As in Ramachandran et al., every layer keeps what it computed
and a pixel computes each layer only where it made it final, here along PixelCNN++'s two streams (``PixelCNNpp.run``):
the down-shifted ``u`` at image row i depends on rows < i only, so it is computed **once per row, for the whole row**
(each resolution at its own rows: 16² every 2nd, 8² every 4th), by convolving each map's last two rows. The
down-right-shifted ``ul`` is computed **per position**, each 2x2 convolution split by kernel row: the top row reads the
row above, final when the row starts, so it is computed for the whole row at once with the bias, the 1x1 skip from
``u`` and the class vector; per position only the bottom row is left (the position and its left neighbour: one small
matrix product). A coarser resolution runs at the pixels that complete one of its positions; up-sampling it costs a
product on even rows only (on odd rows both up-sampled rows lie in a complete coarse row). ``ul`` values are kept as
[v; -v] (the producing weights doubled with a sign): concat_elu is one ``elu`` written straight into the row cache,
the gate one ``glu``. The caches hold one row per map. Per pixel ~33 small torch ops remain for the network and ~40
for the mixture draw (``pixelcnnpp.sample_pixel``, shared with the naive sampler): ~93 in all, against 389 for the
generic plan this module had before (the forward recorded as a graph, each node's positions computed when final).
Departure from the paper: no per-layer queues — everything a position reads is at a fixed place of a row cache.

Threads: below ``THREADED_BATCH`` images a step runs on one intra-op thread (``genmodels.threads.OneThread``, restored
before the step yields): its products are too small to gain from a second thread, and on a busy CPU each product that
takes BLAS's threaded path waits for that thread to be scheduled (with a training job on both cores: 0.25-0.3 ms a pixel
on one thread, 1-10 ms on two). From 16 images on the row products (16 x 32 rows and more) can use idle cores, so the
caller's setting stands (on the busy CPU one thread still won: 2.2 against 16-24 ms a pixel at batch 100).
``torch.set_num_threads`` acts on the calling thread (and on threads whose torch runtime starts during the step).

Exactness: the same draw function and generator calls, in the same order, as ``pixelcnnpp.sample_naive``: the same
levels for the same seed. The network's sums run in another order (matrix products, split kernels), so the mixture
parameters agree with the full pass to float32 rounding, not bit for bit (embedded model, teacher forced on test
images: means within 4e-7, as with the previous plan); a draw could differ only where a sample lands that close to a
rounding boundary (tests: teacher-forced parameters, whole images draw for draw).

``for_model(model, size)`` gives the cached sampler of any model of the family (PixelCNN and Gated PixelCNN: see
``cached_pixelcnn.py``); every sampler has ``iterate(n, y, generator, x, start, temperature)`` and ``sample(...)``.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ...limits import check_deadline
from ...threads import THREADED_BATCH, OneThread as _OneThread
from .pixelcnnpp import PixelCNNpp, check_guidance, guided_pixel, pixel_anchors, sample_pixel

_elu_into = torch._C._nn.elu  # elu(x, out=slot): the concat_elu of a [v; -v] value, straight into a row cache
_addmm, _glu = torch.addmm, F.glu


def for_model(model: nn.Module, size: int = 32):
    """The cached sampler of ``model`` (PixelCNN++, PixelCNN or Gated PixelCNN) for size x size images: build it once
    per model and size and reuse it."""
    from .cached_pixelcnn import GatedPixelCNNCache, PixelCNNCache
    from .pixelcnn import GatedPixelCNN, PixelCNN

    if isinstance(model, PixelCNNpp):
        return CachedSampler(model, size)
    if isinstance(model, GatedPixelCNN):
        return GatedPixelCNNCache(model, size)
    if isinstance(model, PixelCNN):
        return PixelCNNCache(model, size)
    raise TypeError(f"No cached sampler for {type(model).__name__}; expected PixelCNNpp, PixelCNN or GatedPixelCNN.")


# ------------------------------------------------------------------------------------------------ weights
def _pm(t: torch.Tensor, gate: bool = False) -> torch.Tensor:
    """Output rows (dim 0) of a weight or bias for the [v; -v] form: [t; -t], or for a gate input [a; b]: [a; -a; b; b]
    (its glu is [a*s(b); -a*s(b)])."""
    if not gate:
        return torch.cat([t, -t])
    a, b = t.chunk(2)
    return torch.cat([a, -a, b, b])


def _raw(w: torch.Tensor) -> torch.Tensor:  # a convolution of v applied to [v; -v]: zero weights on -v
    return torch.cat([w, torch.zeros_like(w)], 1)


def _t(w: torch.Tensor) -> torch.Tensor:  # (Cout, K) -> the (K, Cout) operand of addmm, as F.linear passes it
    return w.contiguous().t()


def _rows(w: torch.Tensor) -> list[torch.Tensor]:
    """(Cout, Cin, kh, kw) -> per kernel row the (kw * Cin, Cout) operand of a window laid out (column, channel)."""
    return [_t(w[:, :, i].permute(0, 2, 1).reshape(w.shape[0], -1)) for i in range(w.shape[2])]


def _u_block(blk):
    """A gated block of the u stream, as the model's (whole rows: its 2x3 convolutions and 1x1 skip as they are)."""
    nin = blk.nin_skip
    return SimpleNamespace(module=blk, ci=blk.conv_in.weight, co=blk.conv_out.weight, co_b=blk.conv_out.bias, pm=False,
                           ci_b=blk.conv_in.bias + (0 if nin is None else nin.bias), nin=nin and nin.weight[..., 0])


def _ul_block(blk, down: bool):
    """A gated block of the ul stream: its 2x2 kernels split by row, [v; -v] outputs, a down block's 1x1 skip on
    ce(cat(u, s)) = elu([u, s, -u, -s]) split into its u part (known a row ahead) and its s part (per position)."""
    f = blk.conv_in.out_channels
    ci, co = _pm(blk.conv_in.weight), _pm(blk.conv_out.weight, True)
    nin = _pm(blk.nin_skip.weight[:, :, 0, 0])
    return SimpleNamespace(module=blk, ci_rows=_rows(ci), co_rows=_rows(co), co_b=_pm(blk.conv_out.bias, True),
                           ci_b=_pm(blk.conv_in.bias) + _pm(blk.nin_skip.bias), pm=True,
                           nin_u=_t(torch.cat([nin[:, :f], nin[:, 2 * f:3 * f]], 1) if down else nin),
                           nin_s=_t(torch.cat([nin[:, f:2 * f], nin[:, 3 * f:]], 1)) if down else None)


def _ce(x: torch.Tensor) -> torch.Tensor:  # concat_elu over channels, as the model's
    return F.elu(torch.cat([x, -x], 1))


def _win(buf: torch.Tensor) -> torch.Tensor:  # row cache (n, S + 1, C) -> every 2-column window (n * S, 2C)
    n, s1, c = buf.shape
    return buf.as_strided((n, s1 - 1, 2 * c), (buf.stride(0), c, 1)).reshape(n * (s1 - 1), 2 * c)


def _conv_rows(rows, weight, bias, stride: int = 1) -> torch.Tensor:  # 2 rows (n, C, W) -> the next (n, Cout, W)
    return F.conv2d(torch.stack(rows, 2), weight, bias, stride, (0, 1))[:, :, 0]


# ------------------------------------------------------------------------------------------------ the sampler
class CachedSampler:
    """Ramachandran et al.'s fast generation for PixelCNN++ (see the module docstring), drawing what
    ``pixelcnnpp.sample_naive`` draws. Built once per (model, image size) from the model's weights (build it again
    after changing them); eval mode only. Thread-safe: the caches belong to the call."""

    def __init__(self, model: PixelCNNpp, size: int = 32):
        if not isinstance(model, PixelCNNpp):
            raise TypeError(f"CachedSampler needs a PixelCNNpp, got {type(model).__name__}.")
        m, depth, res = model, model.depth, model.resnets
        if size % (1 << (depth - 1)):
            raise ValueError(f"The image size must be a multiple of {1 << (depth - 1)} for {depth} resolutions, "
                             f"got {size}.")
        self.model, self.size, self.depth, self.f = model, int(size), depth, m.u_in.out_channels
        with torch.no_grad():
            self.u_in = (m.u_in.weight, m.u_in.bias)
            w = m.ul_in_h.weight  # (f, 4, 2, 1): ul's first value reads the pixel to the left and the one above it
            self.in_top, self.in_bot = (_t(_pm(w[:, :, i, 0])) for i in (0, 1))
            self.in_b, self.in_v = _pm(m.ul_in_h.bias), (_pm(m.ul_in_v.weight), _pm(m.ul_in_v.bias))
            first = [sum(m.n_down[:depth - 1 - lv]) for lv in range(depth)]
            self.up = [[(_u_block(m.up_u[lv * res + i]), _ul_block(m.up_ul[lv * res + i], False))
                        for i in range(res)] for lv in range(depth)]
            self.dn = [[(_u_block(m.down_u[k]), _ul_block(m.down_ul[k], True))
                        for k in range(first[lv], first[lv] + m.n_down[depth - 1 - lv])] for lv in range(depth)]
            # down- / up-sampling into level lv: (u weight, u bias, ul top, ul bottom, [ul odd bottom,] ul bias)
            self.dsz, self.usz = [None], []
            for lv in range(1, depth):
                cu, cul = m.downsize_u[lv - 1], m.downsize_ul[lv - 1]
                self.dsz.append((cu.weight, cu.bias, *_rows(_pm(_raw(cul.weight))), _pm(cul.bias)))
            for lv in range(depth - 1):
                cu, cul = m.upsize_u[depth - 2 - lv], m.upsize_ul[depth - 2 - lv]
                top, bot = _rows(_pm(_raw(cul.weight)))
                half = bot.shape[0] // 2  # an odd column reads one coarse value twice: the kernel's columns summed
                self.usz.append((cu.weight, cu.bias, top, bot,
                                 _t(bot.t()[:, :half] + bot.t()[:, half:]), _pm(cul.bias)))
            wo = m.out.weight[:, :, 0, 0]
            self.out_w, self.out_b = _t(_raw(wo)), m.out.bias  # reads elu(v) of elu([v; -v])
        # the coarsest resolution that completes a position at pixel (i, j)
        tz = [min(depth - 1, (k & -k).bit_length() - 1) if k else depth - 1 for k in range(size)]
        self.top_level = [[min(tz[i], tz[j]) for j in range(size)] for i in range(size)]

    # ---- the loop
    @torch.no_grad()
    def sample(self, n: int, y: torch.Tensor | None = None, generator: torch.Generator | None = None,
               x: torch.Tensor | None = None, start: int = 0, temperature: float = 1.0, on_pixel=None,
               keep_outputs: bool = False, guidance: float = 0.0) -> torch.Tensor:
        """Like ``sample_naive`` with the same draws for the same generator; ``x`` / ``start``: pixels before raster
        index ``start`` are taken from ``x`` (``start = H*W``: teacher forcing, ``keep_outputs`` records each
        step's mixture parameters in ``self.params``); ``guidance`` > 0: classifier-free guidance
        (``pixelcnnpp.guided_pixel``; the conditional and the "no class" network run as one batch of 2n)."""
        out = None
        for t, out in self.iterate(n, y, generator, x, start, temperature, keep_outputs, guidance):
            if on_pixel is not None and on_pixel(t, out):
                break
        if out is None:  # nothing left to draw (start = H*W)
            dev = next(self.model.parameters()).device
            out = torch.zeros(n, 3, self.size, self.size, dtype=torch.long, device=dev) if x is None else x.clone()
        return out

    def iterate(self, n: int, y: torch.Tensor | None = None, generator: torch.Generator | None = None,
                x: torch.Tensor | None = None, start: int = 0, temperature: float = 1.0,
                keep_outputs: bool = False, guidance: float = 0.0):
        """Generator form: yields (raster index, image so far) after each pixel it draws (from ``start`` on; the
        pixels before are read from ``x``). A closed generator stops the work."""
        m, size = self.model, self.size
        hw = size * size
        if not 0 <= int(start) <= hw:
            raise ValueError(f"start must be a raster index between 0 and {hw}, got {start}.")
        if not temperature > 0:
            raise ValueError(f"Temperature must be > 0, got {temperature}.")
        if x is not None and tuple(x.shape) != (n, 3, size, size):
            raise ValueError(f"x must be ({n}, 3, {size}, {size}) levels, got {tuple(x.shape)}.")
        w = check_guidance(m, y, guidance)
        if not w:
            yield from self._loop(n, y, generator, x, start, temperature, keep_outputs)
            return
        # both networks in one batch: rows n.. carry "no class" and the same pixels; the first n are shown
        y2, x2 = torch.cat([y, torch.full_like(y, m.n_classes)]), None if x is None else torch.cat([x, x])
        for t, out in self._loop(2 * n, y2, generator, x2, start, temperature, keep_outputs, guided=w):
            yield t, out[:n]

    def _loop(self, n: int, y, generator, x, start: int, temperature: float, keep_outputs: bool, guided: float = 0):
        m, size, hw = self.model, self.size, self.size * self.size
        dev = next(m.parameters()).device
        with torch.no_grad():
            out = torch.zeros(n, 3, size, size, dtype=torch.long, device=dev) if x is None else x.clone().to(dev)
            st = self._begin(n, y, dev, next(m.parameters()).dtype)
        self.params = []
        cpu = dev.type == "cpu"  # then the image caches and the canvas are written through NumPy views (fewer ops)
        img, row, canvas = (st.img.numpy(), st.x.numpy(), out.numpy()) if cpu else (None, None, None)
        scale, one = np.float32(2 / 255), np.float32(1)
        for t in range(hw):
            check_deadline("sampling")
            i, j = divmod(t, size)
            with torch.inference_mode(), _OneThread(n < THREADED_BATCH):
                if j == 0:
                    self._row(st, i)
                params = self._position(st, i, j, t >= start or keep_outputs)
                if keep_outputs:
                    self.params.append(params.clone())
                if t >= start and guided:  # rows n/2.. are the "no class" twins of rows ..n/2
                    h = n // 2
                    anchor = self._anchor(st, out, i, j)
                    levels = guided_pixel(params[:h], params[h:], m.mix, guided, generator, temperature,
                                          None if anchor is None else anchor[:h]).repeat(2, 1)
                elif t >= start:
                    levels = sample_pixel(params, m.mix, generator, temperature, self._anchor(st, out, i, j))
                if t >= start:
                    if cpu:
                        canvas[:, :, i, j] = levels.numpy()
                    else:
                        out[:, :, i, j] = levels
                if cpu:  # the same float32 arithmetic as PixelCNNpp.prepare
                    img[:, i + 1, j + 1, :3] = row[:, j + 1, :3] = canvas[:, :, i, j].astype(np.float32) * scale - one
                else:
                    st.img[:, i + 1, j + 1, :3] = st.x[:, j + 1, :3] = out[:, :, i, j].to(st.img.dtype) * (2 / 255) - 1
            if t >= start:  # like the naive sampler: a completion streams the pixels it draws
                yield t, out

    # ---- per call: the caches, and per resolution and column the views a position reads and writes
    def _begin(self, n: int, y, dev, dtype):
        m, size, f, depth = self.model, self.size, self.f, self.depth
        kw = dict(device=dev, dtype=dtype)
        vectors = m.block_vectors(y.to(dev) if y is not None else None) or (lambda block: None)
        img = torch.zeros(n, size + 1, size + 2, 4, **kw)  # x in [-1, 1] + ones; a zero row on top, zero columns
        img[:, 1:, 1:-1, 3] = 1.0
        x = torch.zeros(n, size + 1, 4, **kw)  # the current image row; slot 0 = column -1
        x[:, 1:, 3] = 1.0
        st = SimpleNamespace(img=img, x=x, levels=[], anchors=np.zeros((n, 3, m.mix), np.float32), vec={}, prev={},
                             us=[None] * depth, ud=[None] * depth, last=[None] * depth, final=[None] * depth)
        for w in (w for blocks in self.up + self.dn for pair in blocks for w in pair):
            v = vectors(w.module)
            st.vec[id(w)] = v if v is None or not w.pm else _pm(v.t(), True).t()  # ul: (n, 4f)
        for lv in range(depth):
            s = size >> lv
            st.last[lv] = st.final[lv] = (torch.zeros(n, f, s, **kw),) * 2  # u rows (previous, current)
            cache = lambda: torch.zeros(n, s + 1, 2 * f, **kw)  # noqa: E731 — a ul row cache; slot 0 = column -1
            tops = lambda c=2 * f: torch.zeros(n * s, c, **kw)  # noqa: E731 — the row's top parts, (n * S, C)
            L = SimpleNamespace(s=s, t_in=tops(), skip=[cache() for _ in range(len(self.up[lv]) + 1)], blocks=[],
                                raw=cache() if lv < depth - 1 else None, draw=cache() if lv else None,
                                t_usz=tops() if lv < depth - 1 else None)
            for k, (_, w) in enumerate(self.up[lv] + self.dn[lv]):
                vec = st.vec[id(w)]
                L.blocks.append(SimpleNamespace(w=w, h=cache(), x=cache() if k >= len(self.up[lv]) else None,
                                                t_in=tops(), t_out=tops(4 * f), co_b=w.co_b if vec is None else
                                                (w.co_b + vec).repeat_interleave(s, 0)))
            st.levels.append(L)
        for lv in range(depth):
            self._plan(st, lv, n)
        return st

    def _plan(self, st, lv: int, n: int) -> None:
        """Per column g of resolution lv, the tuples of views ``_position`` runs on (made once per call: the caches are
        written in place)."""
        L, top = st.levels[lv], lv == self.depth - 1
        s, ups, dns = L.s, L.blocks[:len(self.up[lv])], L.blocks[len(self.up[lv]):]
        col = lambda t, g: t.view(n, s, -1)[:, g]  # noqa: E731 — column g of a row's top parts
        win = lambda b, g: b[:, g:g + 2].reshape(n, -1)  # noqa: E731 — columns g - 1, g of a row cache
        if lv == 0:
            src, w_in = [st.x[:, g] for g in range(s)], self.in_bot  # x(i, g - 1)
        else:  # the stride-2 window of the finer row: columns 2g - 1, 2g
            src, w_in = [win(st.levels[lv - 1].raw, 2 * g) for g in range(s)], self.dsz[lv][3]
        first = len(L.skip) - (2 if top else 1)  # the skips the way down reads, last first
        L.up_ops, L.dn_ops = [], []
        for g in range(s):
            blocks = [(col(b.t_in, g), win(L.skip[k], g), b.w.ci_rows[1], b.h[:, g + 1], col(b.t_out, g), win(b.h, g),
                       b.w.co_rows[1], L.skip[k + 1][:, g + 1] if k + 1 < len(ups) or not top else None)
                      for k, b in enumerate(ups)]
            L.up_ops.append((col(L.t_in, g), src[g], w_in, L.skip[0][:, g + 1], blocks,
                             None if L.raw is None else L.raw[:, g + 1]))
            blocks = [(b.x[:, g + 1], col(b.t_in, g), win(b.x, g), b.w.ci_rows[1], L.skip[first - k][:, g + 1],
                       b.w.nin_s, b.h[:, g + 1], col(b.t_out, g), win(b.h, g), b.w.co_rows[1])
                      for k, b in enumerate(dns)]
            if top:
                usz = (None, None, None)
            else:  # up-sampling's bottom row: even columns read two coarse values, odd columns one
                coarse, (_, _, _, bot, bot_odd, _) = st.levels[lv + 1].draw, self.usz[lv]
                usz = (col(L.t_usz, g), *((win(coarse, g // 2), bot) if g % 2 == 0 else
                                          (coarse[:, (g + 1) // 2], bot_odd)))
            L.dn_ops.append((*usz, blocks, None if L.draw is None else L.draw[:, g + 1]))

    # ---- start of an image row: the u stream's rows and the ul stream's row tops, at every resolution due
    def _u_block(self, st, key, w, u, ce, skip_ce):
        """One gated block of the u stream on a row (n, f, W); ``ce`` = concat_elu(u)."""
        prev_in, prev_h = st.prev.get(key, (torch.zeros_like(ce),) * 2)  # the row above of both inputs
        h = _conv_rows([prev_in, ce], w.ci, w.ci_b)
        if skip_ce is not None:
            h = h + F.conv1d(skip_ce, w.nin)
        ce_h = _ce(h)
        st.prev[key] = (ce, ce_h)
        h = _conv_rows([prev_h, ce_h], w.co, w.co_b)
        vec = st.vec[id(w)]
        if vec is not None:
            h = h + vec[:, :, None]
        u = u + _glu(h, 1)
        return u, _ce(u)

    def _row(self, st, i: int) -> None:
        due = [lv for lv in range(self.depth) if i % (1 << lv) == 0]
        n = st.img.shape[0]
        for lv in due:  # the way up, finest first
            r = i >> lv
            if lv == 0:
                u = F.conv2d(st.img[:, r - 1:r + 1].permute(0, 3, 1, 2), *self.u_in)[:, :, 0] if r else \
                    st.last[0][0].new_zeros(n, self.f, self.size)
            else:
                u = _conv_rows(st.last[lv - 1], *self.dsz[lv][:2], stride=2)
            us = [(u, _ce(u))]
            for k, (w, _) in enumerate(self.up[lv]):
                us.append(self._u_block(st, ("up", lv, k), w, *us[-1], None))
            if lv < self.depth - 1:
                st.last[lv] = (st.last[lv][1], us[-1][0])
            st.us[lv] = us
        for lv in reversed(due):  # the way down, coarsest first
            r, us = i >> lv, list(st.us[lv])
            if lv == self.depth - 1:
                u = us.pop()
            else:
                prev, cur = st.final[lv + 1]
                rows = [prev if r % 2 == 0 else cur, cur]
                u = _conv_rows([x.repeat_interleave(2, dim=2) for x in rows], *self.usz[lv][:2])
                u = (u, _ce(u))
            ud = []
            for k, (w, _) in enumerate(self.dn[lv]):
                u = self._u_block(st, ("dn", lv, k), w, *u, us.pop()[1])
                ud.append(u)
            if lv:
                st.final[lv] = (st.final[lv][1], u[0])
            st.ud[lv] = ud
        for lv in due:
            self._tops(st, lv, i >> lv)

    def _tops(self, st, lv: int, r: int) -> None:
        """The parts of row r's ul values that depend on the rows above and on u (the caches hold row r - 1 now)."""
        L, img, n, s = st.levels[lv], st.img, st.img.shape[0], st.levels[lv].s
        if lv == 0:  # ul = shift_down(conv_1x3(x)) + shift_right(conv_2x1(x))
            t = _addmm(self.in_b, img[:, r, :s].reshape(-1, 4), self.in_top, out=L.t_in).view(n, s, -1)
            t[:, 0] = 0  # shifted right: column 0 is zero padding
            if r:
                t += F.conv2d(img[:, r:r + 1].permute(0, 3, 1, 2), *self.in_v)[:, :, 0].transpose(1, 2)
        else:
            _, _, top, _, b = self.dsz[lv]
            _addmm(b, st.levels[lv - 1].raw[:, :-1].reshape(n * s, -1), top, out=L.t_in)
        us = [u[1] for u in st.us[lv][1:]] + [u[1] for u in st.ud[lv]]
        for k, (b, ce_u) in enumerate(zip(L.blocks, us)):
            w = b.w
            _addmm(w.ci_b, _win(b.x if b.x is not None else L.skip[k]), w.ci_rows[0], out=b.t_in)
            _addmm(b.t_in, ce_u.transpose(1, 2).reshape(n * s, -1), w.nin_u, out=b.t_in)
            _addmm(b.co_b, _win(b.h), w.co_rows[0], out=b.t_out)
        if lv < self.depth - 1:  # up-sampling the coarser way down: row r - 1 (odd r: rows r - 1 and r)
            _, _, top, bot, _, b = self.usz[lv]
            up = _win(F.pad(st.levels[lv + 1].draw[:, 1:].repeat_interleave(2, dim=1), (0, 0, 1, 0)))
            _addmm(b, up, top, out=L.t_usz)
            if r % 2:
                _addmm(L.t_usz, up, bot, out=L.t_usz)

    # ---- one position: the ul stream from the finest to the coarsest resolution due and back, then the output
    def _position(self, st, i: int, j: int, head: bool = True) -> torch.Tensor | None:
        depth, top, levels = self.depth, self.top_level[i][j], st.levels
        vals = [None] * depth
        for lv in range(top + 1):
            t, src, w, slot, blocks, raw = levels[lv].up_ops[j >> lv]
            v = _addmm(t, src, w)
            _elu_into(v, out=slot)
            for t_in, win, w_in, h_slot, t_out, h_win, w_out, nxt in blocks:
                _elu_into(_addmm(t_in, win, w_in), out=h_slot)
                v = v + _glu(_addmm(t_out, h_win, w_out), 1)
                if nxt is not None:
                    _elu_into(v, out=nxt)
            if raw is not None:
                raw.copy_(v)
            vals[lv] = v
        for lv in range(top, -1, -1):
            t, src, w, blocks, draw = levels[lv].dn_ops[j >> lv]
            v = vals[lv] if t is None else t if (i >> lv) & 1 else _addmm(t, src, w)  # the way up / up-sampled
            for x_slot, t_in, x_win, w_in, s_slot, w_s, h_slot, t_out, h_win, w_out in blocks:
                _elu_into(v, out=x_slot)
                _elu_into(_addmm(_addmm(t_in, x_win, w_in), s_slot, w_s), out=h_slot)
                v = v + _glu(_addmm(t_out, h_win, w_out), 1)
            if draw is not None:
                draw.copy_(v)
        return _addmm(self.out_b, F.elu(v), self.out_w) if head else None

    def _anchor(self, st, out: torch.Tensor, i: int, j: int):
        """``pixelcnnpp.pixel_anchors`` of pixel (i, j): from the cached image on the CPU (the same values: the same
        arithmetic, zero outside), as an array (N, 3, mix)."""
        if not self.model.anchored:
            return None
        if st.img.device.type != "cpu":
            return pixel_anchors(out, i, j, self.model.mix)
        img, a = st.img.numpy(), st.anchors
        left, up_left, up, up_right = img[:, i + 1, j, :3], img[:, i, j, :3], img[:, i, j + 1, :3], img[:, i, j + 2, :3]
        for c, val in enumerate((left, up, up_left, up_right, left + up - up_left)[:a.shape[2]]):
            a[:, :, c] = val
        return a
