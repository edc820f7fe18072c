"""StyleGAN2 generator and residual discriminator in pure PyTorch, with optional class conditioning.

- Karras, Laine, Aila 2019, "A Style-Based Generator Architecture for Generative Adversarial Networks",
  arXiv:1812.04948: mapping network z -> w, per-layer styles, learned constant input, per-layer noise with learned
  strength, style mixing, truncation trick w' = w_avg + psi (w - w_avg).
- Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN", arXiv:1912.04958: modulated conv with
  weight demodulation instead of AdaIN, skip-connection ToRGB generator, residual discriminator, minibatch stddev,
  equalised learning rate, lazy R1 and path-length regularisation (``losses.py``).

What differs. Module, parameter and buffer names and shapes are those of rosinality/stylegan2-pytorch ``model.py``,
so its ``g_ema`` state_dicts load (``rosinality.py``), but: no custom CUDA ops (upfirdn2d is pad + conv2d, the fused
leaky ReLU is bias + leaky_relu(0.2) * sqrt(2)); the modulated conv scales activations and demodulates outputs (the
non-fused form, equal in exact arithmetic to modulating weights); ``channels`` can override the channel table to
keep CPU models small; the minibatch-stddev group is the largest divisor of the batch <= 4; one extra buffer
``w_avg`` (NVlabs-style tracked mean of w, EMA 0.995). Our addition: with ``n_classes > 0`` the pixel-normalised
``class_embed(c)`` is concatenated to the pixel-normalised z before the MLP (whose first layer then takes
2*style_dim inputs), truncation pulls toward the class-conditional mean of w (as conditional StyleGAN2-ADA does),
and D gets a projection term (Miyato & Koyama 2018, arXiv:1802.05637). The unconditional layout is rosinality's.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin

SQRT2 = math.sqrt(2.0)


def resolve_channels(size: int, channel_multiplier: int = 2, channels=None) -> dict[int, int]:
    """Resolution -> channels for 4..size: rosinality's table (512 up to 32 px, then 256*cm, 128*cm, ...) updated
    with ``channels``, a dict res -> ch (str keys, as JSON gives back, are fine) or a list [c4, c8, c16, ...]."""
    cm = channel_multiplier
    table = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * cm, 128: 128 * cm, 256: 64 * cm, 512: 32 * cm, 1024: 16 * cm}
    if isinstance(channels, (list, tuple)):
        channels = {4 * 2 ** i: c for i, c in enumerate(channels)}
    table.update({int(k): int(v) for k, v in (channels or {}).items()})
    return {r: table[r] for r in (2 ** i for i in range(2, int(math.log2(size)) + 1))}


def make_kernel(k) -> torch.Tensor:
    k = torch.tensor(k, dtype=torch.float32)
    if k.ndim == 1:
        k = k[None, :] * k[:, None]
    return k / k.sum()


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1, pad=(0, 0)) -> torch.Tensor:
    """Upsample by zero insertion, pad (negative pads crop), FIR-filter (true convolution), downsample."""
    n, c, h, w = x.shape
    if up > 1:
        x = F.pad(x.reshape(n, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    # depthwise (groups = channels): far faster on CPU, forward and backward, than folding channels into the batch
    weight = torch.flip(kernel, [0, 1]).to(x.dtype)[None, None].expand(c, 1, *kernel.shape)
    return F.conv2d(x, weight, stride=down, groups=c)


def fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor | None = None, scale: float = SQRT2) -> torch.Tensor:
    if bias is not None:
        x = x + bias.view(1, -1, *([1] * (x.ndim - 2)))
    return F.leaky_relu(x, 0.2) * scale


class FusedLeakyReLU(nn.Module):
    def __init__(self, channel: int, bias: bool = True):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channel)) if bias else None

    def forward(self, x):
        return fused_leaky_relu(x, self.bias)


class PixelNorm(nn.Module):
    def forward(self, x):
        return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + 1e-8)


class Blur(nn.Module):
    """FIR filter (``up`` = 2: zero-insertion upsampling first; the kernel is then scaled by 4)."""

    def __init__(self, kernel, pad, upsample_factor: int = 1, up: int = 1):
        super().__init__()
        self.register_buffer("kernel", make_kernel(kernel) * upsample_factor ** 2)
        self.pad, self.up = pad, up

    def forward(self, x):
        return upfirdn2d(x, self.kernel, up=self.up, pad=self.pad)


class Upsample(Blur):
    def __init__(self, kernel, factor: int = 2):
        p = len(kernel) - factor
        super().__init__(kernel, ((p + 1) // 2 + factor - 1, p // 2), upsample_factor=factor, up=factor)


class EqualConv2d(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int = 1, padding: int = 0, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.scale, self.stride, self.padding = 1 / math.sqrt(in_ch * kernel_size ** 2), stride, padding

    def forward(self, x):
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)


class EqualLinear(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, bias_init: float = 0.0, lr_mul: float = 1.0, activation=False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.scale, self.lr_mul, self.activation = lr_mul / math.sqrt(in_dim), lr_mul, bool(activation)

    def forward(self, x):
        if self.activation:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), self.bias * self.lr_mul)
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class ModulatedConv2d(nn.Module):
    """Style-modulated conv with optional demodulation; ``upsample`` = transposed conv (stride 2) + blur."""

    def __init__(self, in_ch, out_ch, kernel_size, style_dim, demodulate=True, upsample=False,
                 blur_kernel=(1, 3, 3, 1)):
        super().__init__()
        self.upsample, self.demodulate = upsample, demodulate
        if upsample:
            p = (len(blur_kernel) - 2) - (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + 1, p // 2 + 1), upsample_factor=2)
        self.scale, self.padding = 1 / math.sqrt(in_ch * kernel_size ** 2), kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_ch, in_ch, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_ch, bias_init=1)

    def forward(self, x, style):
        n = x.shape[0]
        s = self.modulation(style)  # (N, in)
        w = self.weight[0] * self.scale  # (out, in, k, k)
        x = x * s.view(n, -1, 1, 1)
        if self.upsample:
            x = self.blur(F.conv_transpose2d(x, w.transpose(0, 1), stride=2))
        else:
            x = F.conv2d(x, w, padding=self.padding)
        if self.demodulate:  # sum_{i,k} (w[o,i,k] s[n,i])^2 = (s^2 @ sum_k w^2 .T)[n,o]
            d = torch.rsqrt(s.square() @ w.square().sum(dim=(2, 3)).t() + 1e-8)
            x = x * d.view(n, -1, 1, 1)
        return x


class NoiseInjection(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x, noise=None):
        return x if noise is None else x + self.weight * noise


class ConstantInput(nn.Module):
    def __init__(self, channel: int, size: int = 4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channel, size, size))

    def forward(self, batch: int):
        return self.input.repeat(batch, 1, 1, 1)


class StyledConv(nn.Module):
    def __init__(self, in_ch, out_ch, kernel_size, style_dim, upsample=False, blur_kernel=(1, 3, 3, 1)):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, kernel_size, style_dim, upsample=upsample, blur_kernel=blur_kernel)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_ch)

    def forward(self, x, style, noise=None):
        return self.activate(self.noise(self.conv(x, style), noise))


class ToRGB(nn.Module):
    def __init__(self, in_ch, style_dim, upsample=True, blur_kernel=(1, 3, 3, 1)):
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(in_ch, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x, style, skip=None):
        out = self.conv(x, style) + self.bias
        return out if skip is None else out + self.upsample(skip)


class Generator(nn.Module, PyTorchModelHubMixin):
    """z (N, style_dim) [+ labels c (N,) long] -> images (N, 3, size, size), roughly in [-1, 1]."""

    def __init__(self, size: int = 32, style_dim: int = 256, n_mlp: int = 4, channel_multiplier: int = 1,
                 channels=None, lr_mlp: float = 0.01, n_classes: int = 0, blur_kernel=(1, 3, 3, 1)):
        super().__init__()
        self.size, self.style_dim, self.n_classes = size, style_dim, n_classes
        self.log_size = int(math.log2(size))
        if 2 ** self.log_size != size or size < 8:
            raise ValueError(f"size must be a power of two >= 8, got {size}")
        self.channels = ch = resolve_channels(size, channel_multiplier, channels)
        if n_classes > 0:
            self.class_embed = nn.Embedding(n_classes, style_dim)
        dims = [2 * style_dim if n_classes > 0 else style_dim] + [style_dim] * n_mlp
        self.style = nn.Sequential(PixelNorm(), *(EqualLinear(dims[i], style_dim, lr_mul=lr_mlp, activation=True)
                                                  for i in range(n_mlp)))
        self.input = ConstantInput(ch[4])
        self.conv1 = StyledConv(ch[4], ch[4], 3, style_dim, blur_kernel=blur_kernel)
        self.to_rgb1 = ToRGB(ch[4], style_dim, upsample=False)
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.convs, self.to_rgbs, self.noises = nn.ModuleList(), nn.ModuleList(), nn.Module()
        for i in range(self.num_layers):  # noise_i has the resolution of the i-th StyledConv
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, 2 ** ((i + 5) // 2), 2 ** ((i + 5) // 2)))
        in_ch = ch[4]
        for i in range(3, self.log_size + 1):
            out_ch = ch[2 ** i]
            self.convs.append(StyledConv(in_ch, out_ch, 3, style_dim, upsample=True, blur_kernel=blur_kernel))
            self.convs.append(StyledConv(out_ch, out_ch, 3, style_dim, blur_kernel=blur_kernel))
            self.to_rgbs.append(ToRGB(out_ch, style_dim, blur_kernel=blur_kernel))
            in_ch = out_ch
        self.register_buffer("w_avg", torch.zeros(style_dim))
        self._mean_cache, self._mean_cache_key = {}, None  # mean_w per label, valid for one set of mapping weights

    @property
    def num_ws(self) -> int:
        """Number of per-layer styles (rosinality's ``n_latent``)."""
        return self.log_size * 2 - 2

    n_latent = num_ws

    @property
    def device(self) -> torch.device:
        return self.input.input.device

    def _labels(self, c, n: int | None = None) -> torch.Tensor | None:
        if (c is None) != (self.n_classes == 0):
            raise ValueError(f"n_classes={self.n_classes}: pass labels c (N,) if and only if G is class-conditional")
        if c is None:
            return None
        c = torch.as_tensor(c, device=self.device).long().reshape(-1)
        if n is not None and c.numel() == 1:
            c = c.expand(n)
        if n is not None and c.numel() != n:
            raise ValueError(f"got {c.numel()} labels for a batch of {n}")
        if c.numel() and (c.min() < 0 or c.max() >= self.n_classes):
            raise ValueError(f"labels must lie in [0, {self.n_classes})")
        return c

    def mapping(self, z: torch.Tensor, c=None) -> torch.Tensor:
        """z (N, style_dim) [+ labels (N,)] -> w (N, style_dim)."""
        c = self._labels(c, z.shape[0])
        if c is None:
            return self.style(z)
        x = torch.cat([self.style[0](z), self.style[0](self.class_embed(c))], dim=1)
        return self.style[1:](x)

    @torch.no_grad()
    def update_w_avg(self, w: torch.Tensor, beta: float = 0.995) -> None:
        """Training-time EMA of the mean w: w_avg <- beta w_avg + (1 - beta) mean(w)."""
        self.w_avg.copy_(w.detach().float().mean(0).lerp(self.w_avg, beta))

    @torch.no_grad()
    def mean_latent(self, n: int = 4096, c=None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean of mapping(z) over n z ~ N(0, I): (1, style_dim), or (len(c), style_dim) per label when c is given."""
        dev = generator.device if generator is not None else self.device
        z = torch.randn(n, self.style_dim, generator=generator, device=dev).to(self.device)
        if c is None:
            return self.mapping(z).mean(0, keepdim=True)
        labels = torch.as_tensor(c).long().reshape(-1).tolist()
        return torch.stack([self.mapping(z, torch.full((n,), k, device=self.device)).mean(0) for k in labels])

    def mean_w(self, c=None, n: int = 1024, seed: int = 0) -> torch.Tensor:
        """Class-conditional mean of w for labels c (N,) -> (N, style_dim), from n z drawn with a fixed seed (cached
        until the mapping weights change). It is the truncation centre of the conditional model."""
        if c is None:
            return self.mean_latent(n, generator=torch.Generator().manual_seed(seed))
        c = self._labels(c)
        key = (n, seed, self.device, tuple((p.data_ptr(), p._version) for p in self.style.parameters()))
        key += (self.class_embed.weight.data_ptr(), self.class_embed.weight._version)
        if key != self._mean_cache_key:
            self._mean_cache, self._mean_cache_key = {}, key
        missing = [k for k in c.unique().tolist() if k not in self._mean_cache]
        if missing:
            means = self.mean_latent(n, missing, torch.Generator().manual_seed(seed))
            self._mean_cache.update(zip(missing, means))
        return torch.stack([self._mean_cache[k] for k in c.tolist()])

    def _noise(self, n: int, noise_mode: str, generator: torch.Generator | None):
        if noise_mode == "const":
            return [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]
        if noise_mode == "none":
            return [None] * self.num_layers
        if noise_mode == "random":
            dev = generator.device if generator is not None else self.device
            return [torch.randn(n, 1, 2 ** ((i + 5) // 2), 2 ** ((i + 5) // 2), generator=generator, device=dev)
                    .to(self.device) for i in range(self.num_layers)]
        raise ValueError(f"noise_mode must be 'const', 'random' or 'none', got {noise_mode!r}")

    def synthesis(self, ws: torch.Tensor, noise_mode: str = "const", generator: torch.Generator | None = None):
        """ws (N, num_ws, style_dim) (or (N, style_dim), broadcast to every layer) -> images (N, 3, size, size)."""
        if ws.ndim == 2:
            ws = ws[:, None].expand(-1, self.num_ws, -1)
        if ws.shape[1:] != (self.num_ws, self.style_dim):
            raise ValueError(f"ws must be (N, {self.num_ws}, {self.style_dim}), got {tuple(ws.shape)}")
        noise = self._noise(ws.shape[0], noise_mode, generator)
        x = self.conv1(self.input(ws.shape[0]), ws[:, 0], noise[0])
        skip = self.to_rgb1(x, ws[:, 1])
        i = 1
        blocks = zip(self.convs[::2], self.convs[1::2], noise[1::2], noise[2::2], self.to_rgbs)
        for up, conv, n1, n2, to_rgb in blocks:
            x = conv(up(x, ws[:, i], n1), ws[:, i + 1], n2)
            skip = to_rgb(x, ws[:, i + 2], skip)
            i += 2
        return skip

    def forward(self, z: torch.Tensor, c=None, psi: float = 1.0, noise_mode: str = "const", mix_z=None,
                mix_layer: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Truncation w' = w_mean + psi (w - w_mean), w_mean = w_avg (unconditional) or mean_w(c) (conditional).
        Style mixing: layers < mix_layer take w(z), layers >= mix_layer take w(mix_z) (random in [1, num_ws) when
        mix_layer is None, as in training). noise_mode: 'const' (the ``noises`` buffers), 'random', 'none'."""
        c = self._labels(c, z.shape[0])
        ws = [self.mapping(z, c)]
        if mix_z is not None:
            ws.append(self.mapping(mix_z, c))
        elif mix_layer is not None:
            raise ValueError("mix_layer needs mix_z")
        if psi != 1:
            mean = self.w_avg[None] if c is None else self.mean_w(c)
            ws = [mean + psi * (w - mean) for w in ws]
        if len(ws) == 1:
            return self.synthesis(ws[0], noise_mode, generator)
        if mix_layer is None:
            dev = generator.device if generator is not None else "cpu"
            mix_layer = int(torch.randint(1, self.num_ws, (1,), generator=generator, device=dev))
        if not 0 <= mix_layer <= self.num_ws:
            raise ValueError(f"mix_layer must lie in [0, {self.num_ws}], got {mix_layer}")
        first = (torch.arange(self.num_ws, device=self.device) < mix_layer)[None, :, None]
        return self.synthesis(torch.where(first, ws[0][:, None], ws[1][:, None]), noise_mode, generator)


class ConvLayer(nn.Sequential):
    def __init__(self, in_ch, out_ch, kernel_size, downsample=False, blur_kernel=(1, 3, 3, 1), bias=True,
                 activate=True):
        p = (len(blur_kernel) - 2) + (kernel_size - 1)
        layers = [Blur(blur_kernel, pad=((p + 1) // 2, p // 2))] if downsample else []
        layers.append(EqualConv2d(in_ch, out_ch, kernel_size, stride=2 if downsample else 1,
                                  padding=0 if downsample else kernel_size // 2, bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(out_ch, bias=bias))
        super().__init__(*layers)


class ResBlock(nn.Module):
    def __init__(self, in_ch, out_ch, blur_kernel=(1, 3, 3, 1)):
        super().__init__()
        self.conv1 = ConvLayer(in_ch, in_ch, 3, blur_kernel=blur_kernel)
        self.conv2 = ConvLayer(in_ch, out_ch, 3, downsample=True, blur_kernel=blur_kernel)
        self.skip = ConvLayer(in_ch, out_ch, 1, downsample=True, blur_kernel=blur_kernel, activate=False, bias=False)

    def forward(self, x):
        return (self.conv2(self.conv1(x)) + self.skip(x)) / SQRT2


class Discriminator(nn.Module, PyTorchModelHubMixin):
    """StyleGAN2 residual D (rosinality names): images (N, 3, size, size) [+ labels (N,)] -> logits (N, 1).
    With n_classes > 0 adds the projection term <class_embed(c), phi(x)> / sqrt(dim) (Miyato & Koyama 2018)."""

    def __init__(self, size: int = 32, channel_multiplier: int = 1, channels=None, n_classes: int = 0,
                 blur_kernel=(1, 3, 3, 1), stddev_group: int = 4):
        super().__init__()
        ch = resolve_channels(size, channel_multiplier, channels)
        log_size = int(math.log2(size))
        convs, in_ch = [ConvLayer(3, ch[size], 1)], ch[size]
        for i in range(log_size, 2, -1):
            convs.append(ResBlock(in_ch, ch[2 ** (i - 1)], blur_kernel))
            in_ch = ch[2 ** (i - 1)]
        self.convs = nn.Sequential(*convs)
        self.stddev_group, self.stddev_feat, self.n_classes = stddev_group, 1, n_classes
        self.final_conv = ConvLayer(in_ch + 1, ch[4], 3)
        self.final_linear = nn.Sequential(EqualLinear(ch[4] * 16, ch[4], activation=True), EqualLinear(ch[4], 1))
        if n_classes > 0:
            self.class_embed = nn.Embedding(n_classes, ch[4])

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        out = self.convs(x)
        n, ch, h, w = out.shape
        group = max(g for g in range(1, min(n, self.stddev_group) + 1) if n % g == 0)
        sd = out.view(group, -1, self.stddev_feat, ch // self.stddev_feat, h, w)
        sd = torch.sqrt(sd.var(0, unbiased=False) + 1e-8).mean([2, 3, 4], keepdim=True).squeeze(2)
        out = self.final_conv(torch.cat([out, sd.repeat(group, 1, h, w)], 1))
        feat = self.final_linear[0](out.view(n, -1))
        logit = self.final_linear[1](feat)
        if (c is None) != (self.n_classes == 0):
            raise ValueError(f"n_classes={self.n_classes}: pass labels c (N,) if and only if D is class-conditional")
        if c is not None:
            proj = (self.class_embed(c.long().reshape(-1)) * feat).sum(1, keepdim=True)
            logit = logit + proj / math.sqrt(feat.shape[1])
        return logit
