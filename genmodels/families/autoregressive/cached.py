"""Cached (fast) sampling for PixelCNN++ — Ramachandran, Le Paine, Khorrami, Babaeizadeh, Chang, Zhang,
Hasegawa-Johnson, Campbell, Huang 2017, "Fast Generation for Convolutional Autoregressive Models", arXiv:1704.06001.

The naive sampler runs the whole network once per pixel although each new pixel changes only the values downstream
of it. Here the PixelCNN++ forward (``PixelCNNpp.run``, written once against an op backend) is recorded by ``Graph``
as a list of nodes; for every op output position we compute when that value becomes *final* — the raster index after
which every pixel it depends on is known. ``CachedSampler`` then computes each position of each op exactly once, at
the step it becomes final, from the cached maps of its inputs: one full forward pass of work in all, spread over the
pixels, instead of one per pixel; the draws are the naive sampler's (same generator calls, same order). Departure
from the paper: its per-layer queues are replaced by this precomputed plan (the U-Net's strided and upsampling
layers make the queue sizes differ per resolution; the plan handles any causal graph of these ops).

``for_model(model, size)`` gives the cached sampler of any model of the family (PixelCNN and Gated PixelCNN: see
``cached_pixelcnn.py``); every sampler has ``iterate(n, y, generator, x, start, temperature)`` and ``sample(...)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...limits import check_deadline
from .pixelcnnpp import PixelCNNpp, sample_pixel


def for_model(model: nn.Module, size: int = 32):
    """The cached sampler of ``model`` (PixelCNN++, PixelCNN or Gated PixelCNN) for size x size images: build it once
    per model and size and reuse it (PixelCNN++'s plan takes a moment to build)."""
    from .cached_pixelcnn import GatedPixelCNNCache, PixelCNNCache
    from .pixelcnn import GatedPixelCNN, PixelCNN

    if isinstance(model, PixelCNNpp):
        return CachedSampler(model, size)
    if isinstance(model, GatedPixelCNN):
        return GatedPixelCNNCache(model, size)
    if isinstance(model, PixelCNN):
        return PixelCNNCache(model, size)
    raise TypeError(f"No cached sampler for {type(model).__name__}; expected PixelCNNpp, PixelCNN or GatedPixelCNN.")


# ------------------------------------------------------------------------------------------------ the graph
@dataclass
class Node:
    op: str
    inputs: tuple
    channels: int
    size: tuple[int, int]
    args: dict = field(default_factory=dict)
    index: int = -1


class Graph:
    """Records the forward as a list of nodes (in execution order) with their channel counts and map sizes."""

    def __init__(self, channels: int, size: int):
        self.nodes: list[Node] = []
        self.input = self._add(Node("input", (), channels, (size, size)))

    def _add(self, node: Node) -> Node:
        node.index = len(self.nodes)
        self.nodes.append(node)
        return node

    def conv(self, x, layer, pad=(0, 0, 0, 0), stride: int = 1):
        kh, kw = layer.kernel_size
        h = (x.size[0] + pad[2] + pad[3] - kh) // stride + 1
        w = (x.size[1] + pad[0] + pad[1] - kw) // stride + 1
        return self._add(Node("conv", (x,), layer.out_channels, (h, w), dict(layer=layer, pad=pad, stride=stride)))

    def _same(self, op, *xs, channels=None, **args):
        return self._add(Node(op, xs, channels if channels is not None else xs[0].channels, xs[0].size, args))

    def concat_elu(self, x):
        return self._same("concat_elu", x, channels=2 * x.channels)

    def elu(self, x):
        return self._same("elu", x)

    def add(self, a, b):
        return self._same("add", a, b)

    def cat(self, a, b):
        return self._same("cat", a, b, channels=a.channels + b.channels)

    def gate(self, x):
        return self._same("gate", x, channels=x.channels // 2)

    def shift_down(self, x):
        return self._same("shift", x, dr=1, dc=0)

    def shift_right(self, x):
        return self._same("shift", x, dr=0, dc=1)

    def upsample(self, x):
        return self._add(Node("upsample", (x,), x.channels, (2 * x.size[0], 2 * x.size[1])))

    def add_vector(self, x, v):
        return self._same("add_vector", x, key=v)

    def dropout(self, x):
        return x


# ------------------------------------------------------------------------------------------------ the sampler
class CachedSampler:
    """Ramachandran et al.'s fast generation for PixelCNN++: every op output position is computed once, at the step
    it becomes final (see the module docstring), drawing what ``pixelcnnpp.sample_naive`` draws. Built once per
    (model, image size); eval mode only."""

    def __init__(self, model: PixelCNNpp, size: int = 32):
        self.model, self.size = model, size
        g = Graph(4, size)
        self.out = model.run(g, g.input, lambda block: block)
        self.nodes = g.nodes
        ready = self._ready_times()
        hw = size * size
        last = ready[self.out.index].flatten()
        if (last > torch.arange(hw)).any():  # the output at q may only wait for pixels before q
            raise RuntimeError("the network is not causal: an output depends on its own or a later pixel")
        # plan[t]: the (node, positions, gather indices) that become final at step t, in execution order
        self.plan: list[list[tuple]] = [[] for _ in range(hw + 1)]
        # concat_elu outputs feed only convolutions: those apply it to their gathered patch (elu(0) = 0, so zero
        # padding commutes with it) and the concat_elu maps are never stored — a third fewer ops per pixel.
        users: dict[int, list[Node]] = {}
        for node in self.nodes:
            for i in node.inputs:
                users.setdefault(i.index, []).append(node)
        self.fused = {n.index for n in self.nodes if n.op == "concat_elu"
                      and all(u.op == "conv" for u in users.get(n.index, []))}
        # x + gate(h [+ class vector]) at the end of each gated block: computed in one step by the add, the gate and
        # the class-vector nodes (whose only consumer it is) are never stored.
        only = lambda n: len(users.get(n.index, [])) == 1  # noqa: E731
        self.gated_add: dict[int, tuple[Node, Node | None]] = {}
        for n in self.nodes:
            if n.op == "add" and n.inputs[1].op == "gate" and only(n.inputs[1]):
                g = n.inputs[1]
                av = g.inputs[0] if g.inputs[0].op == "add_vector" and only(g.inputs[0]) else None
                self.gated_add[n.index] = (g, av)
        skip = set(self.fused) | {g.index for g, _ in self.gated_add.values()} | \
            {av.index for _, av in self.gated_add.values() if av is not None}
        for node, r in zip(self.nodes[1:], ready[1:]):
            if node.index in skip:
                continue
            flat = r.flatten()
            order = torch.argsort(flat, stable=True)
            counts = torch.bincount(flat, minlength=hw + 1).tolist()
            a = 0
            for t, c in enumerate(counts):
                if c:
                    pos = order[a:a + c]
                    self.plan[t].append((node, pos, self._gather(node, pos)))
                    a += c

    def _gather(self, node: Node, pos: torch.Tensor):
        """Precomputed source indices (and validity) of a conv / shift / upsample at output positions pos."""
        h, w = node.size
        if node.op == "conv":
            layer, (pl, _, pt, _), s = node.args["layer"], node.args["pad"], node.args["stride"]
            kh, kw = layer.kernel_size
            H, W = node.inputs[0].size
            rows = (pos // w)[:, None] * s - pt + torch.arange(kh).repeat_interleave(kw)[None]
            cols = (pos % w)[:, None] * s - pl + torch.arange(kw).repeat(kh)[None]
            valid = (rows >= 0) & (rows < H) & (cols >= 0) & (cols < W)
            return rows.clamp(0, H - 1) * W + cols.clamp(0, W - 1), valid.float(), bool(valid.all())
        if node.op == "upsample":
            W = node.inputs[0].size[1]
            return ((pos // w) // 2) * W + (pos % w) // 2
        if node.op == "shift":
            W = node.inputs[0].size[1]
            r, c = pos // w - node.args["dr"], pos % w - node.args["dc"]
            return r.clamp(min=0) * W + c.clamp(min=0), ((r >= 0) & (c >= 0)).float()
        return None

    def _ready_times(self) -> list[torch.Tensor]:
        """Per node, (h, w) long: the first step t (pixels 0 .. t-1 known) at which the value is final."""
        out: list[torch.Tensor] = []
        for node in self.nodes:
            if node.op == "input":
                h, w = node.size
                out.append(torch.arange(h * w).view(h, w) + 1)
                continue
            ins = [out[i.index].float()[None, None] for i in node.inputs]
            x = ins[0]
            if node.op == "conv":
                layer, pad, stride = node.args["layer"], node.args["pad"], node.args["stride"]
                r = F.max_pool2d(F.pad(x, pad), layer.kernel_size, stride)
            elif node.op in ("add", "cat"):
                r = torch.maximum(x, ins[1])
            elif node.op == "shift":
                dr, dc = node.args["dr"], node.args["dc"]
                r = F.pad(x, (dc, 0, dr, 0))[:, :, :x.shape[2], :x.shape[3]]
            elif node.op == "upsample":
                r = F.interpolate(x, scale_factor=2, mode="nearest")
            else:  # elementwise: concat_elu, elu, gate, add_vector
                r = x
            out.append(r[0, 0].long())
        return out

    def _compute(self, node: Node, pos: torch.Tensor, gather, flats: list, weights: dict, vectors) -> None:
        """Compute ``node`` at flat positions ``pos`` into its cached map (``flats``: every map viewed (n, C, h*w))."""
        src_node = node.inputs[0]
        if node.op == "conv":
            idx, valid, full = gather
            fused = src_node.index in self.fused
            patch = flats[src_node.inputs[0].index if fused else src_node.index][:, :, idx]  # (n, Cin, m, k)
            if not full:
                patch = patch * valid
            if fused:
                patch = F.elu(torch.cat([patch, -patch], 1))
            n, _, m, _ = patch.shape
            wt, bias = weights[node.index]
            if m == 1:  # the usual case (one new position): (n, Cin, 1, k) is already (n, Cin * k) in memory
                val = F.linear(patch.reshape(n, -1), wt, bias)[:, :, None]
            else:
                val = F.linear(patch.permute(0, 2, 1, 3).reshape(n, m, -1), wt, bias).transpose(1, 2)
        elif node.op == "upsample":
            val = flats[src_node.index][:, :, gather]
        elif node.op == "shift":
            val = flats[src_node.index][:, :, gather[0]] * gather[1]
        else:
            a = flats[src_node.index][:, :, pos]
            if node.op == "concat_elu":
                val = F.elu(torch.cat([a, -a], 1))
            elif node.op == "elu":
                val = F.elu(a)
            elif node.op == "gate":
                x1, x2 = a.chunk(2, 1)
                val = x1 * torch.sigmoid(x2)
            elif node.op == "add" and node.index in self.gated_add:
                g, av = self.gated_add[node.index]
                h = flats[(av or g).inputs[0].index][:, :, pos]
                if av is not None:
                    h = h + vectors(av.args["key"])[:, :, None]
                x1, x2 = h.chunk(2, 1)
                val = a + x1 * torch.sigmoid(x2)
            elif node.op == "add":
                val = a + flats[node.inputs[1].index][:, :, pos]
            elif node.op == "cat":
                val = torch.cat([a, flats[node.inputs[1].index][:, :, pos]], 1)
            elif node.op == "add_vector":
                val = a + vectors(node.args["key"])[:, :, None]
            else:
                raise ValueError(node.op)
        flats[node.index][:, :, pos] = val

    @torch.no_grad()
    def sample(self, n: int, y: torch.Tensor | None = None, generator: torch.Generator | None = None,
               x: torch.Tensor | None = None, start: int = 0, temperature: float = 1.0, on_pixel=None,
               keep_outputs: bool = False) -> torch.Tensor:
        """Like ``sample_naive`` with the same draws for the same generator; ``x`` / ``start``: pixels before raster
        index ``start`` are taken from ``x`` (``start = H*W``: teacher forcing, ``keep_outputs`` records each
        step's mixture parameters in ``self.params``)."""
        out = None
        for t, out in self.iterate(n, y, generator, x, start, temperature, keep_outputs):
            if on_pixel is not None and on_pixel(t, out):
                break
        if out is None:  # nothing left to draw (start = H*W)
            dev = next(self.model.parameters()).device
            out = torch.zeros(n, 3, self.size, self.size, dtype=torch.long, device=dev) if x is None else x.clone()
        return out

    def iterate(self, n: int, y: torch.Tensor | None = None, generator: torch.Generator | None = None,
                x: torch.Tensor | None = None, start: int = 0, temperature: float = 1.0,
                keep_outputs: bool = False):
        """Generator form: yields (raster index, image so far) after each pixel it draws (from ``start`` on; the
        pixels before are read from ``x``). A closed generator stops the work."""
        m, size = self.model, self.size
        hw = size * size
        dev = next(m.parameters()).device
        dtype = next(m.parameters()).dtype
        with torch.no_grad():
            bufs = [torch.zeros(n, node.channels, *node.size, device=dev, dtype=dtype) for node in self.nodes]
            vectors = m.block_vectors(y) or (lambda key: None)
            out = torch.zeros(n, 3, size, size, dtype=torch.long, device=dev) if x is None else x.clone().to(dev)
            inp = bufs[0].view(n, 4, -1)
            inp[:, 3] = 1.0
            self.params = []
            weights = {}
            for node in self.nodes:
                if node.op == "conv":
                    layer = node.args["layer"]
                    kh, kw = layer.kernel_size
                    weights[node.index] = (layer.weight.reshape(layer.out_channels, layer.in_channels * kh * kw),
                                           layer.bias)
            flats = [b.view(n, b.shape[1], -1) for b in bufs]
        for t in range(hw):
            check_deadline("sampling")
            with torch.no_grad():
                for node, pos, gather in self.plan[t]:
                    self._compute(node, pos, gather, flats, weights, vectors)
                i, j = divmod(t, size)
                params = bufs[self.out.index][:, :, i, j]
                if keep_outputs:
                    self.params.append(params.clone())
                if t >= start:
                    out[:, :, i, j] = sample_pixel(params, m.mix, generator, temperature, m.pixel_anchor(out, i, j))
                inp[:, :3, t] = out[:, :, i, j].to(dtype) * (2 / 255) - 1
            if t >= start:  # like the naive sampler: a completion streams the pixels it draws
                yield t, out
