"""VAE and conditional VAE with a discretized-logistic decoder, so the ELBO is an upper bound on the NLL in bits/dim.

- VAE: Kingma & Welling 2013, "Auto-Encoding Variational Bayes", arXiv:1312.6114 — Gaussian encoder q(z|x),
  standard normal prior, reparameterised single-sample ELBO.
- CVAE: Sohn, Lee, Yan 2015, "Learning Structured Output Representation using Deep Conditional Generative Models"
  (NeurIPS 2015) — the condition (here shape class and colour) is given to both the encoder q(z|x, c) and the
  decoder p(x|z, c). With ``prior_net`` the prior is the paper's prior network p(z|c) (a diagonal Gaussian whose
  mean and variance an MLP reads from the condition) and samples are drawn from it; without, the prior is N(0, I)
  (the paper's "baseline CVAE" form). With N(0, I) the encoder kept the shape in z and the decoder ignored the
  shape label: samples from N(0, I) showed the requested shape at chance (18 %, docs/models.md); a prior per
  condition lets every class keep its own region of z, and sampling that region draws that class.
- ``decoder="gan"``: the CVAE-GAN of Bao, Chen, Wen, Li, Hua 2017 ("CVAE-GAN: Fine-Grained Image Generation through
  Asymmetric Training", arXiv:1703.10155) — the decoder is a class-conditional DCGAN generator (the GAN family's
  one-pass CGAN architecture, conditional batch norm; ``decoder="layered-gan"``: the layered CGAN's) whose image is
  the mean of the likelihood, with one calibrated scale per colour channel (sigma-VAE); it is trained (``cvae_gan_train.py``) on the ELBO plus a discriminator and a classifier, as the
  paper does, because seven pixel-likelihood-only recipes here never drew the requested shape (docs/experiments).
- Likelihood: a discretized logistic per pixel with PixelCNN++'s linear dependencies between R, G and B
  (Salimans et al. 2017, arXiv:1701.05517; as in the VAE decoder of Kingma et al. 2016, arXiv:1606.04934) — the same
  ``mixture_log_prob`` the autoregressive family uses, with one component, so the bits/dim of the two families are
  measured on the same discrete scale.

Images enter as (N, 3, H, W) integer levels in [0, 255]; ``elbo_bits_per_dim`` returns the negative ELBO per
sub-pixel. What the tab shows as "the decoder's output" is the mode of p(x|z): the component's means with the
colour coefficients applied R -> G -> B.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin

from ..autoregressive.pixelcnnpp import mixture_log_prob


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.GroupNorm(8, cout), nn.SiLU())


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv ×2 with an identity skip (shared by the VAE and VQ-VAE trunks)."""

    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(nn.GroupNorm(8, ch), nn.SiLU(), nn.Conv2d(ch, ch, 3, padding=1),
                                  nn.GroupNorm(8, ch), nn.SiLU(), nn.Conv2d(ch, ch, 3, padding=1))

    def forward(self, x):
        return x + self.body(x)


class BroadcastDecoder(nn.Module):
    """Spatial broadcast decoder (Watters et al. 2019, arXiv:1901.07017): the code is tiled over a half-size grid
    with two coordinate planes (CoordConv, Liu et al. 2018, arXiv:1807.03247), then stride-1 convolutions and one
    upsampling. Both papers show a transposed-convolution decoder learns *where* an object is, and so its outline,
    slowly; with the coordinates in every pixel a single-object scene is a per-pixel function of (code, x, y)."""

    def __init__(self, zin: int, width: int, size: int):
        super().__init__()
        self.base = size // 2
        w2 = 2 * width
        self.net = nn.Sequential(nn.Conv2d(zin + 2, w2, 3, padding=1), nn.SiLU(), ResBlock(w2), ResBlock(w2),
                                 nn.Upsample(scale_factor=2, mode="nearest"), _block(w2, width), ResBlock(width),
                                 nn.GroupNorm(8, width), nn.SiLU(), nn.Conv2d(width, 10, 3, padding=1))
        lin = torch.linspace(-1, 1, self.base)
        self.register_buffer("coords", torch.stack(torch.meshgrid(lin, lin, indexing="ij"))[None], persistent=False)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        b = self.base
        h = torch.cat([code[:, :, None, None].expand(-1, -1, b, b), self.coords.expand(len(code), -1, -1, -1)], 1)
        return self.net(h)


class _ReverseGrad(torch.autograd.Function):
    """Identity forward, negated gradient backward (Ganin & Lempitsky 2015, arXiv:1409.7495)."""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return -g


# decoders: "conv" (upsampling), "gan" (the one-pass CGAN's generator), "layered-gan" (the layered CGAN's, RGB
# background and appearance), "layered-albedo-gan" (the layered CGAN's with a grey background and albedo × shade)
DECODERS = ("conv", "gan", "layered-gan", "layered-albedo-gan")


class ConvVAE(nn.Module, PyTorchModelHubMixin):
    """32x32 RGB <-> a ``latent``-dimensional Gaussian code. ``n_shapes`` / ``n_colours`` > 0 make it a CVAE: the
    labels' embeddings are broadcast as extra input planes for the encoder and concatenated to z for the decoder."""

    def __init__(self, latent: int = 64, width: int = 64, size: int = 32, n_shapes: int = 0, n_colours: int = 0,
                 cond_dim: int = 32, prior_net: bool = False, sharp_head: bool = False, shared_scale: bool = False,
                 film: bool = False, broadcast: bool = False, adversary: bool = False, decoder: str = "conv",
                 g_width: int = 128):
        super().__init__()
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {', '.join(DECODERS)}, got {decoder!r}")
        if decoder != "conv" and not (n_shapes and n_colours):
            raise ValueError("the GAN decoder is class-conditional: give n_shapes and n_colours")
        self.latent, self.size, self.n_shapes, self.n_colours = latent, size, n_shapes, n_colours
        self.conditional = n_shapes > 0
        c = cond_dim if self.conditional else 0
        self.shape_emb = nn.Embedding(n_shapes, cond_dim) if self.conditional else None
        self.colour_emb = nn.Embedding(n_colours, cond_dim) if self.conditional and n_colours else None
        w = width
        self.enc = nn.Sequential(_block(3 + c, w), nn.Conv2d(w, w, 4, 2, 1), ResBlock(w),          # 16
                                 _block(w, 2 * w), nn.Conv2d(2 * w, 2 * w, 4, 2, 1), ResBlock(2 * w),  # 8
                                 _block(2 * w, 2 * w), nn.Conv2d(2 * w, 2 * w, 4, 2, 1), ResBlock(2 * w))  # 4
        self.bottom = size // 8
        self.to_stats = nn.Linear(2 * w * self.bottom ** 2, 2 * latent)
        self.from_z = nn.Linear(latent + c, 2 * w * self.bottom ** 2)
        self.dec = nn.Sequential(ResBlock(2 * w), nn.Upsample(scale_factor=2, mode="nearest"), _block(2 * w, 2 * w),
                                 ResBlock(2 * w), nn.Upsample(scale_factor=2, mode="nearest"), _block(2 * w, w),
                                 ResBlock(w), nn.Upsample(scale_factor=2, mode="nearest"), _block(w + c, w),
                                 ResBlock(w), nn.GroupNorm(8, w), nn.SiLU(), nn.Conv2d(w, 10, 3, padding=1))
        self.width = w
        self.broadcast = BroadcastDecoder(latent + c, w, size) if broadcast else None
        if broadcast:  # the broadcast decoder replaces the upsampling one
            self.from_z = self.dec = None
        self.generator = None
        if decoder == "gan":  # CVAE-GAN: a conditional DCGAN generator draws the likelihood's mean from (z, c)
            from ..gan.dcgan import DCGANGenerator

            self.generator = DCGANGenerator(z_dim=latent, width=g_width, n_classes=(n_shapes, n_colours),
                                            conditional_bn=True)
        elif decoder.startswith("layered"):  # ... or the layered CGAN's (LR-GAN): z's pose part places the object
            from ..gan.layered import LayeredGenerator
            from ..gan.recipes import ONE_HUE_LOOKS

            looks = ONE_HUE_LOOKS if decoder == "layered-albedo-gan" else {}
            self.generator = LayeredGenerator(z_dim=latent, width=g_width, n_classes=(n_shapes, n_colours), **looks)
        if self.generator is not None:
            self.from_z = self.dec = None
            shared_scale = True
        # A latent critic that tries to read the shape from the posterior mean; through a reversed gradient the encoder
        # learns to hide it, so the decoder has to take the shape from its label (Fader Networks, Lample et al. 2017,
        # arXiv:1706.00409). Training only: sampling and the ELBO never use it.
        self.critic = nn.Sequential(nn.Linear(latent, 128), nn.SiLU(), nn.Linear(128, 128), nn.SiLU(),
                                    nn.Linear(128, n_shapes)) if adversary and self.conditional else None
        # p(z|c): the condition's embedding -> (mean, log-variance) of a diagonal Gaussian (Sohn et al.'s prior network)
        self.prior = nn.Sequential(nn.Linear(cond_dim, 4 * cond_dim), nn.SiLU(), nn.Linear(4 * cond_dim, 2 * latent)) \
            if prior_net and self.conditional else None
        # FiLM (Perez et al. 2018, arXiv:1709.07871): the condition scales and shifts every decoder stage (4, 8, 16 and
        # 32 px), zero-initialised so the decoder starts as without it
        self.film_at = {0: 2 * w, 3: 2 * w, 6: w, 9: w} if film and self.conditional else {}
        self.film = nn.ModuleDict({str(i): nn.Linear(cond_dim, 2 * ch) for i, ch in self.film_at.items()})
        for lin in self.film.values():
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)
        # One log-scale per colour channel, set to the decoder's current error (sigma-VAE, Rybkin et al. 2021,
        # arXiv:2006.13202) instead of a scale per pixel: a per-pixel scale lets the decoder explain an edge by
        # widening its scale there, and the reconstructions stayed blobs for thousands of steps.
        self.shared_scale = shared_scale
        if shared_scale:
            self.register_buffer("log_scale", torch.full((3,), -1.0))
        if sharp_head:  # the likelihood head starts at mean 0, log-scale -5 (the PixelCNN++ finding, pixelcnnpp.py):
            head = self.dec[-1]  # a sharp scale makes every mean error costly from the first step
            with torch.no_grad():
                head.weight.zero_()
                head.bias.zero_()
                head.bias[[2, 5, 8]] = -5.0  # channels: logit, then (mean, log-scale, coefficient) per R, G, B

    # ------------------------------------------------------------------------------------------------ conditioning
    def cond(self, shape: torch.Tensor | None, colour: torch.Tensor | None) -> torch.Tensor | None:
        if not self.conditional:
            return None
        if shape is None:
            raise ValueError("this CVAE needs a shape label")
        e = self.shape_emb(shape)
        if self.colour_emb is not None:
            if colour is None:
                raise ValueError("this CVAE needs a colour label")
            e = e + self.colour_emb(colour)
        return e

    @staticmethod
    def _planes(e: torch.Tensor, size: int) -> torch.Tensor:
        return e[:, :, None, None].expand(-1, -1, size, size)

    # ------------------------------------------------------------------------------------------------ encode / decode
    def encode(self, x_levels: torch.Tensor, shape=None, colour=None) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x[, c]) -> (mean, log-variance), each (N, latent)."""
        x = x_levels.float() * (2 / 255) - 1
        e = self.cond(shape, colour)
        if e is not None:
            x = torch.cat([x, self._planes(e, x.shape[-1])], 1)
        mu, logvar = self.to_stats(self.enc(x).flatten(1)).chunk(2, 1)
        return mu, logvar.clamp(-12, 8)

    def decode_params(self, z: torch.Tensor, shape=None, colour=None) -> torch.Tensor:
        """p(x|z[, c]) as discretized-logistic parameters (N, 10, H, W) (``mixture_log_prob`` layout, one component)."""
        if self.generator is not None:
            self.cond(shape, colour)  # the same refusal as the other decoders when a label is missing
            return self.gan_params(self.generator(z, torch.stack([shape, colour], 1)))
        e = self.cond(shape, colour)
        if self.broadcast is not None:
            h = self.broadcast(z if e is None else torch.cat([z, e], 1))
            return self._with_shared_scale(h) if self.shared_scale else h
        h = self.from_z(z if e is None else torch.cat([z, e], 1))
        h = h.view(len(z), 2 * self.width, self.bottom, self.bottom)
        for i, layer in enumerate(self.dec):
            if i == 8 and e is not None:  # the 32-px block also sees the condition
                h = torch.cat([h, self._planes(e, h.shape[-1])], 1)
            if str(i) in self.film:
                gamma, beta = self.film[str(i)](e)[:, :, None, None].chunk(2, 1)
                h = h * (1 + gamma) + beta
            h = layer(h)
        if self.shared_scale:
            h = self._with_shared_scale(h)
        return h

    def gan_params(self, mean: torch.Tensor) -> torch.Tensor:
        """Likelihood parameters around an image ``mean`` (N, 3, H, W) in [-1, 1]: one component, the shared log-scale
        per colour channel, no R -> G -> B coefficients (so the mode is the mean)."""
        n, _, hh, ww = mean.shape
        scale = self.log_scale.view(1, 3, 1, 1).expand(n, 3, hh, ww)
        rest = torch.stack([mean, scale, torch.zeros_like(mean)], 2).reshape(n, 9, hh, ww)
        return torch.cat([torch.zeros_like(mean[:, :1]), rest], 1)

    def _with_shared_scale(self, params: torch.Tensor) -> torch.Tensor:
        n, _, hh, ww = params.shape
        rest = params[:, 1:].view(n, 3, 3, hh, ww)
        scale = self.log_scale.view(1, 3, 1, 1, 1).expand(n, 3, 1, hh, ww)
        rest = torch.cat([rest[:, :, :1], scale, rest[:, :, 2:]], 2)
        return torch.cat([params[:, :1], rest.reshape(n, 9, hh, ww)], 1)

    @torch.no_grad()
    def _calibrate(self, params: torch.Tensor, x_levels: torch.Tensor, momentum: float = 0.9) -> None:
        """Training: the logistic scale whose variance (s^2 pi^2 / 3) is the batch's squared error per channel."""
        x = x_levels.float() * (2 / 255) - 1
        n, _, hh, ww = params.shape
        rest = params[:, 1:].view(n, 3, 3, hh, ww)
        m, c = rest[:, :, 0], torch.tanh(rest[:, :, 2])
        pred = torch.stack([m[:, 0], m[:, 1] + c[:, 0] * x[:, 0], m[:, 2] + c[:, 1] * x[:, 0] + c[:, 2] * x[:, 1]], 1)
        mse = (x - pred).pow(2).mean((0, 2, 3)).clamp(min=1e-6)
        target = 0.5 * torch.log(3 * mse / math.pi ** 2)
        self.log_scale.lerp_(target.clamp(min=-7.0), 1 - momentum)

    def prior_stats(self, shape=None, colour=None, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The prior's (mean, log-variance), each (N, latent): p(z|c) with a prior network, else N(0, I)."""
        if self.prior is None:
            dev = next(self.parameters()).device
            size = (n if n is not None else len(shape), self.latent)
            return torch.zeros(size, device=dev), torch.zeros(size, device=dev)
        mu, logvar = self.prior(self.cond(shape, colour)).chunk(2, 1)
        return mu, logvar.clamp(-12, 8)

    def forward(self, x_levels, shape=None, colour=None, generator: torch.Generator | None = None):
        mu, logvar = self.encode(x_levels, shape, colour)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device) if generator is not None \
            else torch.randn_like(mu)
        z = mu + eps * (0.5 * logvar).exp()
        return self.decode_params(z, shape, colour), mu, logvar

    # ------------------------------------------------------------------------------------------------ likelihood
    def elbo_terms(self, x_levels, shape=None, colour=None, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(reconstruction NLL, KL), each (N,) in nats per image."""
        nll, kl, _ = self._terms(x_levels, shape, colour, generator)
        return nll, kl

    def _terms(self, x_levels, shape, colour, generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(NLL, KL, posterior mean); while training with ``shared_scale`` the scale is calibrated on this batch."""
        params, mu, logvar = self(x_levels, shape, colour, generator)
        if self.shared_scale and self.training:
            self._calibrate(params, x_levels)
            params = self._with_shared_scale(params)
        nll = -mixture_log_prob(params, x_levels, 1).flatten(1).sum(1)
        return nll, self._kl(mu, logvar, shape, colour), mu

    def _kl(self, mu, logvar, shape, colour) -> torch.Tensor:
        if self.prior is None:
            return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
        pm, plv = self.prior_stats(shape, colour)  # KL(q(z|x,c) || p(z|c)) between diagonal Gaussians
        return 0.5 * (plv - logvar + (logvar.exp() + (mu - pm).pow(2)) / plv.exp() - 1).sum(1)

    def training_loss(self, x_levels, shape=None, colour=None, beta: float = 1.0, adversary: float = 0.0) -> tuple:
        """(loss, negative ELBO bits/dim, critic cross-entropy): ``beta`` weighs the KL (Higgins et al. 2017's beta;
        1 = the ELBO), ``adversary`` the latent critic's cross-entropy, whose gradient the encoder receives negated."""
        nll, kl, mu = self._terms(x_levels, shape, colour, None)
        dims = math.log(2) * x_levels[0].numel()
        bpd = ((nll + kl) / dims).mean()
        loss = ((nll + beta * kl) / dims).mean()
        ce = torch.zeros((), device=mu.device)
        if self.critic is not None and adversary:
            ce = F.cross_entropy(self.critic(_ReverseGrad.apply(mu)), shape)
            loss = loss + adversary * ce
        return loss, bpd, ce

    def elbo_bits_per_dim(self, x_levels, shape=None, colour=None, generator=None) -> torch.Tensor:
        """(N,) negative ELBO in bits per sub-pixel: an upper bound on -log2 p(x) / D."""
        nll, kl = self.elbo_terms(x_levels, shape, colour, generator)
        return (nll + kl) / (math.log(2) * x_levels[0].numel())

    # ------------------------------------------------------------------------------------------------ images
    @staticmethod
    def mode(params: torch.Tensor) -> torch.Tensor:
        """The most likely image of a one-component discretized logistic: (N, 3, H, W) levels (long)."""
        n, _, h, w = params.shape
        rest = params[:, 1:].view(n, 3, 3, h, w)
        m, c = rest[:, :, 0], torch.tanh(rest[:, :, 2])
        r = m[:, 0].clamp(-1, 1)
        g = (m[:, 1] + c[:, 0] * r).clamp(-1, 1)
        b = (m[:, 2] + c[:, 1] * r + c[:, 2] * g).clamp(-1, 1)
        return torch.stack([r, g, b], 1).add(1).mul(127.5).round().long()

    @torch.no_grad()
    def reconstruct(self, x_levels, shape=None, colour=None) -> torch.Tensor:
        """Decode the posterior mean (the usual 'reconstruction' of a VAE)."""
        mu, _ = self.encode(x_levels, shape, colour)
        return self.mode(self.decode_params(mu, shape, colour))

    @torch.no_grad()
    def sample(self, n: int, shape=None, colour=None, generator: torch.Generator | None = None,
               temperature: float = 1.0) -> torch.Tensor:
        """z from the prior (N(0, I), or p(z|c) with a prior network) at ``temperature`` × its standard deviation
        -> the decoder's mode (levels)."""
        dev = next(self.parameters()).device
        eps = torch.randn(n, self.latent, generator=generator).to(dev) * temperature
        if self.prior is None:
            return self.mode(self.decode_params(eps, shape, colour))
        pm, plv = self.prior_stats(shape, colour)
        return self.mode(self.decode_params(pm + eps * (0.5 * plv).exp(), shape, colour))

    @torch.no_grad()
    def decode_latents(self, z: torch.Tensor, shape=None, colour=None) -> torch.Tensor:
        return self.mode(self.decode_params(z, shape, colour))


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation between latent vectors (White 2016, arXiv:1609.04468); linear when nearly parallel."""
    an, bn = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    omega = torch.acos((an * bn).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    lin = (1 - t) * a + t * b
    sl = (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b
    return torch.where(so.abs() < 1e-4, lin, sl)
