"""PixelCNN++ (Salimans, Karpathy, Chen, Kingma 2017, arXiv:1701.05517) and its cached sampler.

Model, as in the paper: a discretized logistic mixture likelihood whose colour channels depend on each other
linearly (the mean of G moves with R, of B with R and G); two streams of shifted convolutions — ``u`` sees the rows
above (down-shifted), ``ul`` the rows above and the pixels to the left (down-right-shifted) — so there is no blind
spot; gated ResNet blocks with concat_elu and dropout; a U-Net of three resolutions (32, 16, 8) with stride-2
shifted convolutions going down and skip connections from every block of the way down into the way up; an optional
class embedding added inside every block. One departure: the way up uses nearest-neighbour upsampling followed by
the same shifted convolution (resize-convolution) instead of transposed convolutions; causality is the same (each
up-sampled value depends on pixels strictly before its position) and every layer is a plain convolution, which
keeps the cached sampler below exact with a handful of op types.

Second departure, opt-in (``anchored=True``; the embedded model uses it): **neighbour-anchored mixture means**. The
means of components 0-4 are the network's output *plus* the value of the left, upper, upper-left or upper-right
neighbour, or the planar prediction left + up - up-left (components 5+ keep the paper's free means), and the output
layer starts at zero with log-scales at -5. Copying a neighbour exactly (most pixels of a flat-coloured scene) or
continuing a ramp is then the starting point rather than a regression to ±1/255 the deep network has to learn; the
mixture logits learn *which* predictor to follow. The
likelihood stays exact and normalised (an anchor only moves a mean, from pixels already generated). Measured on
shapes (300 steps, batch 16, lr 2e-3, no dropout): test 2.96 bits/dim with the four neighbour anchors vs 4.85 with
the same zero-init head unanchored and 5.84 with the default init; the planar anchor was added when ramp backgrounds
turned out to cost 3.8 bits per sub-pixel (docs/experiments/README.md, "PixelCNN++ anchored means").

Fast sampling (Ramachandran et al. 2017, "Fast Generation for Convolutional Autoregressive Models",
arXiv:1704.06001): the network is written once against a small op backend, ``run(ops, ...)``; ``Dense`` (here) runs
it on whole tensors (training, likelihood, the naive sampler below: one full pass per pixel). ``cached.CachedSampler``
computes the same network incrementally — the down-shifted stream once per image row, the down-right-shifted one per
position with its kernels split into the row above (once per row) and the current row — and draws what
``sample_naive`` draws: both call ``sample_pixel``.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin

from ...limits import check_deadline

# Shifted convolutions (the reference implementation's down_shifted_conv2d / down_right_shifted_conv2d): zero
# padding (left, right, top, bottom) so output (r, c) reads rows <= r, and columns around c ("down") or <= c
# ("downright").
DOWN, DOWNRIGHT = "down", "downright"


def shifted_pad(kind: str, kh: int, kw: int) -> tuple[int, int, int, int]:
    if kind == DOWN:
        return ((kw - 1) // 2, (kw - 1) // 2, kh - 1, 0)
    return (kw - 1, 0, kh - 1, 0)


# ---------------------------------------------------------------------------------------------------- backends
class Dense:
    """Whole-tensor ops (training, likelihood, naive sampling)."""

    def __init__(self, training: bool = False, dropout: float = 0.0):
        self.training, self.dropout_p = training, dropout

    def conv(self, x, layer: nn.Conv2d, pad=(0, 0, 0, 0), stride: int = 1):
        return F.conv2d(F.pad(x, pad), layer.weight, layer.bias, stride)

    def concat_elu(self, x):
        return F.elu(torch.cat([x, -x], 1))

    def elu(self, x):
        return F.elu(x)

    def add(self, a, b):
        return a + b

    def cat(self, a, b):
        return torch.cat([a, b], 1)

    def gate(self, x):
        a, b = x.chunk(2, 1)
        return a * torch.sigmoid(b)

    def shift_down(self, x):
        return F.pad(x, (0, 0, 1, 0))[:, :, :-1]

    def shift_right(self, x):
        return F.pad(x, (1, 0, 0, 0))[:, :, :, :-1]

    def upsample(self, x):
        return F.interpolate(x, scale_factor=2, mode="nearest")

    def add_vector(self, x, v):  # v: (N, C) class embedding, broadcast over positions
        return x + v[:, :, None, None]

    def dropout(self, x):
        return F.dropout(x, self.dropout_p, self.training) if self.dropout_p else x


# ------------------------------------------------------------------------------------------------------ model
class _GatedResnet(nn.Module):
    """x + gate(conv(dropout(concat_elu(conv(concat_elu(x)) + nin(concat_elu(a)) [+ class]))))."""

    def __init__(self, c: int, kind: str, skip_channels: int, n_classes: int, null_class: bool = False):
        super().__init__()
        kh, kw = (2, 3) if kind == DOWN else (2, 2)
        self.kind, self.pad = kind, shifted_pad(kind, kh, kw)
        self.conv_in = nn.Conv2d(2 * c, c, (kh, kw))
        self.nin_skip = nn.Conv2d(2 * skip_channels, c, 1) if skip_channels else None
        self.conv_out = nn.Conv2d(2 * c, 2 * c, (kh, kw))
        self.embed = nn.Embedding(n_classes + int(null_class), 2 * c) if n_classes else None

    def forward(self, ops, x, a=None, y=None):
        h = ops.conv(ops.concat_elu(x), self.conv_in, self.pad)
        if a is not None:
            h = ops.add(h, ops.conv(ops.concat_elu(a), self.nin_skip))
        h = ops.conv(ops.dropout(ops.concat_elu(h)), self.conv_out, self.pad)
        if self.embed is not None and y is not None:
            h = ops.add_vector(h, y)
        return ops.add(x, ops.gate(h))


class PixelCNNpp(nn.Module, PyTorchModelHubMixin):
    """PixelCNN++ for RGB images in 256 levels. ``forward(x_levels, y)`` -> mixture parameters (N, 10 * mix, H, W)."""

    def __init__(self, filters: int = 64, resnets: int = 2, mix: int = 5, levels_down: int = 3,
                 dropout: float = 0.5, n_classes: int = 0, anchored: bool = False, null_class: bool = False):
        super().__init__()
        self.channels, self.levels, self.mix, self.n_classes = 3, 256, mix, n_classes
        # classifier-free guidance (Ho & Salimans 2022, arXiv:2207.12598): one more class row, "no class", label
        # ``n_classes``; trained by dropping the label (``train.ARRecipe.null_p``), used by ``guided_pixel``
        self.null_class = bool(null_class and n_classes)
        self.anchored = anchored
        self.resnets, self.depth, self.dropout = resnets, levels_down, dropout
        f = filters
        cin = 4  # RGB in [-1, 1] + a ones channel (tells the zero padding apart from black)
        cls = (n_classes, self.null_class)
        self.u_in = nn.Conv2d(cin, f, (2, 3))
        self.ul_in_v = nn.Conv2d(cin, f, (1, 3))
        self.ul_in_h = nn.Conv2d(cin, f, (2, 1))
        self.up_u = nn.ModuleList([_GatedResnet(f, DOWN, 0, *cls) for _ in range(resnets * levels_down)])
        self.up_ul = nn.ModuleList([_GatedResnet(f, DOWNRIGHT, f, *cls) for _ in range(resnets * levels_down)])
        self.downsize_u = nn.ModuleList([nn.Conv2d(f, f, (2, 3)) for _ in range(levels_down - 1)])
        self.downsize_ul = nn.ModuleList([nn.Conv2d(f, f, (2, 2)) for _ in range(levels_down - 1)])
        n_down = [resnets] + [resnets + 1] * (levels_down - 1)
        self.n_down = n_down
        self.down_u = nn.ModuleList([_GatedResnet(f, DOWN, f, *cls) for _ in range(sum(n_down))])
        self.down_ul = nn.ModuleList([_GatedResnet(f, DOWNRIGHT, 2 * f, *cls) for _ in range(sum(n_down))])
        self.upsize_u = nn.ModuleList([nn.Conv2d(f, f, (2, 3)) for _ in range(levels_down - 1)])
        self.upsize_ul = nn.ModuleList([nn.Conv2d(f, f, (2, 2)) for _ in range(levels_down - 1)])
        self.out = nn.Conv2d(f, 10 * mix, 1)
        if anchored:  # start from "copy a neighbour, sharply": zero offsets, uniform weights, log-scale -5
            with torch.no_grad():
                self.out.weight.zero_()
                self.out.bias.zero_()
                self.out.bias[mix:].view(3, 3 * mix)[:, mix:2 * mix] = -5.0

    def run(self, ops, x_in, y_blocks=None):
        """The network against an op backend; ``y_blocks(block)`` gives each block's class vector (or None)."""
        cond = y_blocks or (lambda block: None)
        pd, pdr = shifted_pad(DOWN, 2, 3), shifted_pad(DOWNRIGHT, 2, 2)
        u = ops.shift_down(ops.conv(x_in, self.u_in, pd))
        ul = ops.add(ops.shift_down(ops.conv(x_in, self.ul_in_v, shifted_pad(DOWN, 1, 3))),
                     ops.shift_right(ops.conv(x_in, self.ul_in_h, shifted_pad(DOWNRIGHT, 2, 1))))
        us, uls = [u], [ul]
        k = 0
        for level in range(self.depth):
            for _ in range(self.resnets):
                u = self.up_u[k](ops, u, y=cond(self.up_u[k]))
                ul = self.up_ul[k](ops, ul, a=u, y=cond(self.up_ul[k]))
                us.append(u)
                uls.append(ul)
                k += 1
            if level < self.depth - 1:
                u = ops.conv(u, self.downsize_u[level], pd, stride=2)
                ul = ops.conv(ul, self.downsize_ul[level], pdr, stride=2)
                us.append(u)
                uls.append(ul)
        u, ul = us.pop(), uls.pop()
        k = 0
        for level in range(self.depth):
            for _ in range(self.n_down[level]):
                u = self.down_u[k](ops, u, a=us.pop(), y=cond(self.down_u[k]))
                ul = self.down_ul[k](ops, ul, a=ops.cat(u, uls.pop()), y=cond(self.down_ul[k]))
                k += 1
            if level < self.depth - 1:
                u = ops.conv(ops.upsample(u), self.upsize_u[level], pd)
                ul = ops.conv(ops.upsample(ul), self.upsize_ul[level], pdr)
        return ops.conv(ops.elu(ul), self.out)

    def anchors(self, x_levels: torch.Tensor) -> torch.Tensor | None:
        """Per-component mean anchors (N, 3, mix, H, W) for whole images, or None for the paper's free means."""
        return neighbour_anchors(x_levels, self.mix) if self.anchored else None

    def pixel_anchor(self, x_levels: torch.Tensor, i: int, j: int) -> torch.Tensor | None:
        """The anchors (N, 3, mix) of pixel (i, j) from the pixels generated so far."""
        return pixel_anchors(x_levels, i, j, self.mix) if self.anchored else None

    def log_prob(self, x_levels: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """log p(x) per pixel (N, H, W) in nats."""
        return mixture_log_prob(self(x_levels, y), x_levels, self.mix, self.anchors(x_levels))

    @staticmethod
    def prepare(x_levels: torch.Tensor) -> torch.Tensor:
        x = x_levels.float() * (2 / 255) - 1
        return torch.cat([x, torch.ones_like(x[:, :1])], 1)

    def block_vectors(self, y: torch.Tensor | None):
        """Each block's class vector (N, 2C), computed once per forward."""
        if y is None or not self.n_classes:
            return None
        cache = {id(b): b.embed(y) for b in self.modules() if isinstance(b, _GatedResnet) and b.embed is not None}
        return lambda block: cache.get(id(block))

    def forward(self, x_levels: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        ops = Dense(self.training, self.dropout)
        return self.run(ops, self.prepare(x_levels), self.block_vectors(y))


# ------------------------------------------------------------------------------------- discretized logistic mixture
def _unpack(params: torch.Tensor, mix: int):
    """(N, 10 * mix, H, W) -> logit_probs (N, mix, H, W), means / log_scales / coeffs (N, 3, mix, H, W)."""
    n, _, h, w = params.shape
    logit_probs = params[:, :mix]
    rest = params[:, mix:].view(n, 3, 3 * mix, h, w)
    means, log_scales, coeffs = rest[:, :, :mix], rest[:, :, mix:2 * mix].clamp(min=-7.0), \
        torch.tanh(rest[:, :, 2 * mix:])
    return logit_probs, means, log_scales, coeffs


# What components 0-4 centre on when anchored: four neighbours, and the planar predictor left + up - up-left (the
# gradient-adjusted prediction of lossless image codecs, e.g. LOCO-I / JPEG-LS, Weinberger et al. 2000), exact on a
# linear ramp up to rounding.
ANCHORS = ("left", "up", "up-left", "up-right", "planar")


def neighbour_anchors(x_levels: torch.Tensor, mix: int) -> torch.Tensor:
    """(N, 3, H, W) levels -> (N, 3, mix, H, W) in [-1, 1]: component k < 5 centres on ``ANCHORS[k]`` (neighbours
    outside the image count as 0), later components on 0. Only pixels before (i, j) in raster order."""
    x = x_levels.float() * (2 / 255) - 1
    p = F.pad(x, (1, 1, 1, 0))  # one column each side, one row on top
    near = [p[:, :, 1:, :-2], p[:, :, :-1, 1:-1], p[:, :, :-1, :-2], p[:, :, :-1, 2:]]
    near.append(near[0] + near[1] - near[2])
    return torch.stack((near + [torch.zeros_like(x)] * mix)[:mix], 2)


def pixel_anchors(x_levels: torch.Tensor, i: int, j: int, mix: int) -> torch.Tensor:
    """``neighbour_anchors(x_levels, mix)[..., i, j]`` without the whole-image work (one pixel while sampling)."""
    h, w = x_levels.shape[-2:]
    zero = torch.zeros(x_levels.shape[0], 3, device=x_levels.device)

    def at(r, c):
        return x_levels[:, :, r, c].float() * (2 / 255) - 1 if 0 <= r < h and 0 <= c < w else zero

    near = [at(i, j - 1), at(i - 1, j), at(i - 1, j - 1), at(i - 1, j + 1)]
    near.append(near[0] + near[1] - near[2])
    return torch.stack((near + [zero] * mix)[:mix], 2)


def mixture_log_prob(params: torch.Tensor, x_levels: torch.Tensor, mix: int,
                     anchors: torch.Tensor | None = None) -> torch.Tensor:
    """log p(x) per pixel (N, H, W) in nats: the discretized logistic mixture of the paper (bins of width 2/255 on
    [-1, 1], the edge bins open to ±infinity), G's and B's means shifted by coefficients times the R (and G) values;
    ``anchors`` (N, 3, mix, H, W), if given, are added to the means (``PixelCNNpp(anchored=True)``)."""
    x = x_levels.float() * (2 / 255) - 1  # (N, 3, H, W)
    logit_probs, means, log_scales, coeffs = _unpack(params, mix)
    if anchors is not None:
        means = means + anchors
    xs = x[:, :, None]  # (N, 3, 1, H, W)
    m0 = means[:, 0]
    m1 = means[:, 1] + coeffs[:, 0] * xs[:, 0]
    m2 = means[:, 2] + coeffs[:, 1] * xs[:, 0] + coeffs[:, 2] * xs[:, 1]
    m = torch.stack([m0, m1, m2], 1)
    centred = xs - m
    inv_s = torch.exp(-log_scales)
    plus_in = inv_s * (centred + 1 / 255)
    min_in = inv_s * (centred - 1 / 255)
    cdf_plus, cdf_min = torch.sigmoid(plus_in), torch.sigmoid(min_in)
    log_cdf_plus = plus_in - F.softplus(plus_in)  # log sigmoid: the bin at 0 (x = -1)
    log_one_minus_cdf_min = -F.softplus(min_in)  # the bin at 255 (x = 1)
    cdf_delta = cdf_plus - cdf_min
    mid_in = inv_s * centred
    log_pdf_mid = mid_in - log_scales - 2 * F.softplus(mid_in)  # for bins whose mass underflows
    inner = torch.where(cdf_delta > 1e-5, torch.log(cdf_delta.clamp(min=1e-12)), log_pdf_mid - math.log(127.5))
    log_probs = torch.where(xs < -0.999, log_cdf_plus, torch.where(xs > 0.999, log_one_minus_cdf_min, inner))
    return torch.logsumexp(log_probs.sum(1) + F.log_softmax(logit_probs, 1), dim=1)


def bits_per_dim(params: torch.Tensor, x_levels: torch.Tensor, mix: int,
                 anchors: torch.Tensor | None = None) -> torch.Tensor:
    """(N,) negative log-likelihood in bits per sub-pixel."""
    lp = mixture_log_prob(params, x_levels, mix, anchors)
    return -lp.flatten(1).sum(1) / (math.log(2) * 3 * lp.shape[1] * lp.shape[2])


def sample_pixel(params: torch.Tensor, mix: int, generator: torch.Generator | None = None,
                 temperature: float = 1.0, anchor=None) -> torch.Tensor:
    """One pixel per row of params (N, 10 * mix) -> levels (N, 3): mixture component by Gumbel-max, then R, G, B
    logistic draws with the linear channel dependencies, rounded to the nearest of 256 levels; ``anchor`` (N, 3, mix),
    a tensor or an array, is added to the means (see ``pixel_anchors``).

    Both samplers call this once per pixel, so it is written with few small ops: the generator calls, the logs and
    the tanh / exp run in torch on the same shapes as ever, the selection of the component and the channel recursion
    (adds, products, clamps, rounding: exact float32 arithmetic either way) in NumPy on the CPU. The levels are those
    of the plain torch formulation bit for bit (tests/unit/test_autoregressive_cached.py keeps it as the reference)."""
    dev, n = params.device, params.shape[0]
    p = params.detach().cpu().contiguous().numpy() if dev.type != "cpu" or not params.is_contiguous() else \
        params.numpy()
    u = torch.rand(n, mix, generator=generator).clamp_(1e-5, 1 - 1e-5)
    v = torch.rand(n, 3, generator=generator).clamp_(1e-5, 1 - 1e-5)
    logits = p[:, :mix] if temperature == 1 else p[:, :mix] / np.float32(temperature)
    k = (logits - u.log_().neg_().log_().numpy()).argmax(1)  # Gumbel-max: the first of equal maxima, as torch
    rows = np.arange(n)
    sel = p[:, mix:].reshape(n, 3, 3, mix)[rows, :, :, k]  # (N, 3 channels, [mean, log-scale, coefficient])
    m = sel[:, :, 0] if anchor is None else sel[:, :, 0] + np.asarray(anchor, dtype=p.dtype)[rows, :, k]
    cf = torch.tanh(torch.from_numpy(sel[:, :, 2])).numpy()
    noise = torch.exp(torch.from_numpy(np.maximum(sel[:, :, 1], np.float32(-7.0)))).numpy()
    if temperature != 1:
        noise = noise * np.float32(temperature)
    noise = noise * (torch.log(v) - torch.log(1 - v)).numpy()
    one = np.float32(1)
    if n == 1:  # the same float32 arithmetic on NumPy scalars (a few times cheaper than on arrays of one)
        (m0, m1, m2), (c0, c1, c2), (e0, e1, e2) = m[0], cf[0], noise[0]
        x0 = min(max(m0 + e0, -one), one)
        x1 = min(max(m1 + c0 * x0 + e1, -one), one)
        x2 = min(max(m2 + c1 * x0 + c2 * x1 + e2, -one), one)
        x = np.array([[x0, x1, x2]], np.float32)
    else:  # x_c = clamp(mean_c + sum_{d<c} coeff_d * x_d + noise_c), the sums in this order
        x = np.empty((n, 3), p.dtype)
        x[:, 0] = np.minimum(np.maximum(m[:, 0] + noise[:, 0], -one), one)
        t = m[:, 1:] + cf[:, :2] * x[:, :1]
        x[:, 1] = np.minimum(np.maximum(t[:, 0] + noise[:, 1], -one), one)
        x[:, 2] = np.minimum(np.maximum(t[:, 1] + cf[:, 2] * x[:, 1] + noise[:, 2], -one), one)
    levels = np.rint((x + one) * np.float32(127.5)).astype(np.int64)  # in [0, 255]: x is clamped to [-1, 1]
    return torch.from_numpy(levels).to(dev)


_LEVELS = np.linspace(-1, 1, 256)  # the 256 bin centres in [-1, 1]
_EDGES = _LEVELS[:-1] + 1 / 255  # the 255 inner bin edges (the outer bins are open to ±infinity)
GUIDANCE_SUPPORT = 1e-4  # values the class model gives less than this share of its likeliest value's mass are left out


def guided_pixel(params: torch.Tensor, params_null: torch.Tensor, mix: int, guidance: float,
                 generator: torch.Generator | None = None, temperature: float = 1.0, anchor=None,
                 return_log_prob: bool = False):
    """One pixel per row under classifier-free guidance (Ho & Salimans 2022, arXiv:2207.12598) -> levels (N, 3).

    The mixture couples the channels (one component for R, G and B; G's mean moves with R, B's with R and G), so the
    pixel is drawn channel by channel from the exact per-sub-pixel conditionals of each model: p(r), p(g | r),
    p(b | r, g), each a mixture over the components weighted by their posterior given the channels drawn so far, over
    the 256 levels (a bin's mass is the mixture's CDF at its upper edge minus at its lower edge, float64). The two
    models' conditionals are combined as (1 + w) log p(v | c) − w log p(v | no class), renormalised over the 256
    values (the recipe issue 32 names; Gafni et al. 2022 do the same for token models), divided by ``temperature``
    and drawn by Gumbel-max — one ``torch.rand(N, 256)`` per channel from ``generator``, the same calls in the naive
    and the cached sampler.

    One restriction: values to which the class model gives less than ``GUIDANCE_SUPPORT`` of its likeliest value's
    mass are left out, and the unconditional mass is floored at the same share of its own maximum. Where the two models' logistics have different scales, p(v | c)^(1+w) / p(v | none)^w grows
    without bound far in the tails (log-linear in the distance for w > 1), so unrestricted guidance draws values
    neither model expects; restricting guided draws to what the conditional model finds plausible is what guided
    language models do with top-k / top-p (Sanchez et al. 2023, arXiv:2306.17806); the floor keeps a value the
    unconditional model rules out from winning every draw (a bounded ratio instead of an infinite one).

    ``params`` / ``params_null``: (N, 10 * mix) with / without the class; ``anchor`` (N, 3, mix) as in
    ``sample_pixel`` (the same for both: the same pixels came before). ``return_log_prob``: also each model's
    log p(drawn pixel) in nats, (2, N), the sum of its three conditionals (``mixture_log_prob`` of the pixel: tested).
    """
    n, dev = params.shape[0], params.device
    p = torch.stack([params.detach(), params_null.detach()]).cpu().double().numpy()  # (2, N, 10 * mix)
    rest = p[:, :, mix:].reshape(2, n, 3, 3, mix)  # model, pixel, channel, [means, log-scales, coefficients], k
    means = rest[:, :, :, 0] if anchor is None else rest[:, :, :, 0] + np.asarray(anchor, np.float64)
    half_inv_s, coeffs = 0.5 * np.exp(-np.maximum(rest[:, :, :, 1], -7.0)), np.tanh(rest[:, :, :, 2])
    logits = p[:, :, :mix]
    post = logits - logits.max(2, keepdims=True)  # log component weights given the channels drawn so far (+ const)
    x, levels, total, rows = np.zeros((n, 3)), np.zeros((n, 3), np.int64), np.zeros((2, n)), np.arange(n)
    pad = np.zeros((2, n, mix, 1))
    for c in range(3):
        m = means[:, :, c]
        if c == 1:
            m = m + coeffs[:, :, 0] * x[None, :, :1]
        elif c == 2:
            m = m + coeffs[:, :, 1] * x[None, :, :1] + coeffs[:, :, 2] * x[None, :, 1:2]
        cdf = np.concatenate([pad, 0.5 + 0.5 * np.tanh((_EDGES - m[..., None]) * half_inv_s[:, :, c, :, None]),
                              pad + 1], 3)  # (2, N, mix, 257): each component's CDF at the bin edges
        wts = np.exp(post - post.max(2, keepdims=True))
        wts /= wts.sum(2, keepdims=True)
        mass = np.maximum(np.diff((wts[:, :, None] @ cdf)[:, :, 0], axis=2), 0.0)  # (2, N, 256)
        with np.errstate(divide="ignore"):
            logp = np.log(mass)
        floor = GUIDANCE_SUPPORT * mass.max(2, keepdims=True)
        g = ((1 + guidance) * logp[0] - guidance * np.log(np.maximum(mass[1], floor[1]))) / temperature
        g = np.where(mass[0] >= floor[0], g, -np.inf)
        u = torch.rand(n, 256, generator=generator).clamp_(1e-10, 1 - 1e-10).double().numpy()
        v = (g - np.log(-np.log(u))).argmax(1)
        levels[:, c], x[:, c] = v, _LEVELS[v]
        total += logp[:, rows, v]
        bins = cdf[[[0], [1]], rows, :, v + 1] - cdf[[[0], [1]], rows, :, v]  # (2, N, mix): each component's mass
        post = post + np.log(np.maximum(bins, 1e-300))  # floored: a value no component reaches in float64 stays finite
    out = torch.from_numpy(levels).to(dev)
    return (out, torch.from_numpy(total).float()) if return_log_prob else out


def sample_naive(model: PixelCNNpp, n: int, size: int = 32, y: torch.Tensor | None = None,
                 generator: torch.Generator | None = None, x: torch.Tensor | None = None, start: int = 0,
                 temperature: float = 1.0, on_pixel=None, guidance: float = 0.0) -> torch.Tensor:
    """One full forward pass per pixel (what the cached sampler must match draw for draw)."""
    out = None
    for t, out in iter_naive(model, n, size, y, generator, x, start, temperature, guidance):
        if on_pixel is not None and on_pixel(t, out):
            break
    return out


def guidance_weight(value) -> float:
    """A guidance weight parsed and range-checked (0 <= w <= MAX_GUIDANCE), refused with a sentence otherwise."""
    try:
        w = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"Guidance weight must be a number, got {value!r}.") from None
    if not (math.isfinite(w) and 0 <= w <= MAX_GUIDANCE):
        raise ValueError(f"Guidance weight must be between 0 and {MAX_GUIDANCE:g}, got {value!r}.")
    return w


def check_guidance(model: PixelCNNpp, y: torch.Tensor | None, guidance: float) -> float:
    """The guidance weight w (0: the plain draw), refused with a reason where it cannot apply."""
    w = guidance_weight(guidance)
    if w and (y is None or not model.null_class):
        raise ValueError("Classifier-free guidance needs a class-conditional PixelCNN++ trained with a null class "
                         "(config null_class) and a class to guide towards.")
    return w


MAX_GUIDANCE = 10.0


def iter_naive(model: PixelCNNpp, n: int, size: int = 32, y: torch.Tensor | None = None,
               generator: torch.Generator | None = None, x: torch.Tensor | None = None, start: int = 0,
               temperature: float = 1.0, guidance: float = 0.0):
    w = check_guidance(model, y, guidance)
    dev = next(model.parameters()).device
    out = torch.zeros(n, 3, size, size, dtype=torch.long, device=dev) if x is None else x.clone().to(dev)
    null = None if not w else torch.full_like(y, model.n_classes)
    for t in range(start, size * size):
        check_deadline("sampling")
        i, j = divmod(t, size)
        with torch.no_grad():
            anchor = model.pixel_anchor(out, i, j)
            if w:  # the class and the no-class rows as one batch of 2n (as the cached sampler runs them)
                both = model(torch.cat([out, out]), torch.cat([y, null]))[:, :, i, j]
                k = len(out)
                out[:, :, i, j] = guided_pixel(both[:k], both[k:], model.mix, w, generator, temperature, anchor)
            else:
                params = model(out, y)[:, :, i, j]
                out[:, :, i, j] = sample_pixel(params, model.mix, generator, temperature, anchor)
        yield t, out
