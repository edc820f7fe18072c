"""A layered conditional generator: background, then a foreground placed by a learned affine transform.

LR-GAN: Yang, Kannan, Batra, Parikh 2017, "LR-GAN: Layered Recursive Generative Adversarial Networks for Image
Generation", arXiv:1703.01560 — the image is composed, not painted in one pass: a background generator, then a
foreground generator that draws an appearance and a mask in its own (canonical) frame, and a pose generator whose
affine transform places both in the image through a spatial transformer (Jaderberg et al. 2015, arXiv:1506.02025):
x = m ⊙ f + (1 − m) ⊙ b.

Why here (issue 35: one pose a class): a one-pass generator trained with a classifier reward draws every sample of a
class at nearly the same place, size and rotation (CGAN recall 0.026). Here the *outline* is learned once, in the
canonical frame, and the *pose* is a separate, low-dimensional output of its own noise (translation, scale,
rotation), so spreading poses costs the generator nothing in shape: the classifier reward reaches the mask, the
discriminator and the mode-seeking term reach the pose.

What differs from the paper: one foreground layer (the domain has one object), conditioned on shape and colour
(conditional batch norm as in the hub's CGAN); the pose is an explicit (centre, scale, angle) rather than a free
2 × 3 matrix, so it cannot shear; the foreground generator also sees the pose, so stripes can keep the domain's
period at every scale.

Looks (issue 35, objects in pieces): ``background="grey"`` draws the background as the mean of its RGB channels and
``appearance="albedo-shade"`` redraws the object as one colour times a grey shade (``one_hue``) — both computed from
the RGB layers, so the parameters are the same and a generator trained with RGB layers loads as is. Why: the layered
CGAN with RGB layers drew 21.8 % of its objects in pieces, 45 % on dark backgrounds; its masks hardly ever fall apart
(0.5 %) but its backgrounds carry colour and its dark stripes lose their hue, so the outline reader's unmixing
counts them as background. Applied to that generator's own layers (N = 600), the two looks took pieces 20.3 -> 2.7 %
and the outline reading 91.7 -> 100 % (docs/experiments, twenty-second session). ``background="plane"``
draws the grey background as its least-squares plane (the domain's backgrounds are flat or linear gradients) and
``background_min`` / ``background_max`` keep it inside the domain's tones (18 to 236 of 255). Why: after the
mask-discriminator stage (recipes.py) the generator drew 36 % of its backgrounds darker than any in the domain, then
cloudy ones, and the outline reader's background plane misfit them — objects in pieces 11.5 %, then 6.3 %; clamped
and planar, 0.0 % (N = 600, twenty-third session).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin

from .dcgan import ConditionalBatchNorm2d


class LayeredGenerator(nn.Module, PyTorchModelHubMixin):
    """z (N, z_dim) + labels (N, len(n_classes)) -> images (N, 3, 32, 32) in [-1, 1].

    z is split into background (a quarter), pose (a quarter) and foreground (the rest) noise.
    """

    def __init__(self, z_dim: int = 128, width: int = 128, n_classes: tuple[int, ...] = (6, 6), embed_dim: int = 32,
                 bg_width: int = 64, pose_hidden: int = 128, min_scale: float = 0.2, max_scale: float = 1.1,
                 max_shift: float = 0.8, size: int = 32, background: str = "rgb", appearance: str = "rgb",
                 shade_floor: float = 0.0, background_min: float = -1.0, background_max: float = 1.0):
        super().__init__()
        if background not in ("rgb", "grey", "plane"):
            raise ValueError(f"background must be 'rgb', 'grey' or 'plane', got {background!r}")
        if appearance not in ("rgb", "albedo-shade"):
            raise ValueError(f"appearance must be 'rgb' or 'albedo-shade', got {appearance!r}")
        if not 0.0 <= shade_floor < 1.0:
            raise ValueError(f"shade_floor must be in [0, 1), got {shade_floor!r}")
        if not -1.0 <= background_min < background_max <= 1.0:
            raise ValueError(f"need -1 <= background_min < background_max <= 1, got {background_min!r}, "
                             f"{background_max!r}")
        self.background, self.appearance, self.shade_floor = background, appearance, float(shade_floor)
        self.background_range = (float(background_min), float(background_max))
        if size != 32:
            raise ValueError("this layered generator is built for 32×32 images")
        if not n_classes:
            raise ValueError("the layered generator is conditional: give n_classes")
        self.z_dim, self.n_classes, self.width, self.size = z_dim, tuple(n_classes), width, size
        self.z_bg = self.z_pose = z_dim // 4
        self.z_fg = z_dim - self.z_bg - self.z_pose
        self.min_scale, self.max_scale, self.max_shift = min_scale, max_scale, max_shift
        self.embeds = nn.ModuleList(nn.Embedding(k, embed_dim) for k in self.n_classes)
        e = embed_dim * len(self.n_classes)
        # pose: (cx, cy, scale, angle) from the pose noise and the labels (a shape's symmetry bounds its rotations)
        self.pose = nn.Sequential(nn.Linear(self.z_pose + e, pose_hidden), nn.ReLU(True),
                                  nn.Linear(pose_hidden, pose_hidden), nn.ReLU(True), nn.Linear(pose_hidden, 4))
        nn.init.normal_(self.pose[-1].weight, std=0.3)
        nn.init.zeros_(self.pose[-1].bias)
        # foreground: appearance (3) + mask logit (1) in the canonical frame
        w = width
        self.fg_fc = nn.Sequential(nn.Linear(self.z_fg + e + 4, 4 * 4 * w, bias=False), nn.BatchNorm1d(4 * 4 * w),
                                   nn.ReLU(True))
        self.fg_net = nn.ModuleList([
            nn.ConvTranspose2d(w, w // 2, 4, 2, 1, bias=False), ConditionalBatchNorm2d(w // 2, self.n_classes),
            nn.ReLU(True),  # 8
            nn.ConvTranspose2d(w // 2, w // 4, 4, 2, 1, bias=False), ConditionalBatchNorm2d(w // 4, self.n_classes),
            nn.ReLU(True),  # 16
            nn.ConvTranspose2d(w // 4, w // 8, 4, 2, 1, bias=False), ConditionalBatchNorm2d(w // 8, self.n_classes),
            nn.ReLU(True),  # 32
            nn.Conv2d(w // 8, 4, 3, 1, 1)])
        # background: unconditional (the labels name the object only) and smooth — drawn at 8 × 8 and upsampled
        # (the domain's backgrounds are flat or linear gradients; a 32 × 32 transposed-conv stack drew them with
        # a dotted texture at step 1,000 of the first run)
        b = bg_width
        self.bg = nn.Sequential(
            nn.Linear(self.z_bg, 4 * 4 * b, bias=False), nn.BatchNorm1d(4 * 4 * b), nn.ReLU(True),
            nn.Unflatten(1, (b, 4, 4)),
            nn.ConvTranspose2d(b, b // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(b // 2), nn.ReLU(True),  # 8
            nn.Conv2d(b // 2, 3, 3, 1, 1), nn.Tanh(), nn.Upsample(size=(32, 32), mode="bilinear"))
        # the foreground lives inside its canonical frame: its mask fades to 0 over the frame's outer tenth, so the
        # placed frame's edge never shows (the first run drew a faint square around every object)
        c = (2 * torch.arange(32) + 1) / 32 - 1
        d = torch.maximum(c.abs()[:, None], c.abs()[None, :])
        self.register_buffer("window", ((d.max() - d) / 0.2).clamp(0, 1)[None, None], persistent=False)

    def with_looks(self, **looks: str) -> "LayeredGenerator":
        """A copy of this generator drawing with other looks (``background``, ``appearance``): the same parameters,
        so a generator trained with RGB layers is shipped, or monitored, as it will be drawn."""
        g = type(self)(**{**self._hub_mixin_config, **looks})
        g.load_state_dict(self.state_dict())
        return g.to(next(self.parameters()).device).train(self.training)

    @property
    def conditional(self) -> bool:
        return True

    def _split(self, z: torch.Tensor, labels: torch.Tensor | None):
        if labels is None or labels.shape != (len(z), len(self.n_classes)):
            raise ValueError(f"this generator needs labels of shape (N, {len(self.n_classes)})")
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be (N, {self.z_dim}), got {tuple(z.shape)}")
        emb = torch.cat([e(labels[:, i]) for i, e in enumerate(self.embeds)], 1)
        return z[:, :self.z_bg], z[:, self.z_bg:self.z_bg + self.z_pose], z[:, self.z_bg + self.z_pose:], emb

    def _pose(self, zp: torch.Tensor, emb: torch.Tensor) -> dict[str, torch.Tensor]:
        p = self.pose(torch.cat([zp, emb], 1))
        return {"cx": self.max_shift * torch.tanh(p[:, 0]), "cy": self.max_shift * torch.tanh(p[:, 1]),
                "scale": self.min_scale + (self.max_scale - self.min_scale) * torch.sigmoid(p[:, 2]),
                "angle": math.pi * torch.tanh(p[:, 3])}

    def pose_params(self, z: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Centre (cx, cy in [-max_shift, max_shift], image half-widths), scale of the canonical frame in the
        image, and rotation angle (radians) of each sample."""
        _, zp, _, emb = self._split(z, labels)
        return self._pose(zp, emb)

    @staticmethod
    def one_hue(look: torch.Tensor, mask: torch.Tensor, eps: float = 1e-4, shade_floor: float = 0.0) -> torch.Tensor:
        """The appearance redrawn as one colour times a grey shade: the albedo is the mask-weighted mean colour of
        ``look`` (N, 3, H, W in [-1, 1]) scaled so its largest channel is 1, the shade each pixel's largest channel,
        at least ``shade_floor``; so every pixel of the object, the stripes' dark ones too, has the object's hue."""
        rgb = (look + 1) / 2
        albedo = (rgb * mask).sum((2, 3), keepdim=True) / mask.sum((2, 3), keepdim=True).clamp_min(eps)
        albedo = albedo / albedo.amax(1, keepdim=True).clamp_min(eps)
        return 2 * albedo * rgb.amax(1, keepdim=True).clamp_min(shade_floor) - 1

    @staticmethod
    def plane(x: torch.Tensor) -> torch.Tensor:
        """The least-squares plane a + b·u + c·v through each (N, 1, H, W) map (u, v: centred pixel coordinates,
        orthogonal to the constant and to each other on the grid, so each coefficient is one projection)."""
        h, w = x.shape[-2:]
        v, u = torch.meshgrid(torch.arange(h, dtype=x.dtype, device=x.device) - (h - 1) / 2,
                              torch.arange(w, dtype=x.dtype, device=x.device) - (w - 1) / 2, indexing="ij")
        out = x.mean((2, 3), keepdim=True)
        for basis in (u, v):
            out = out + basis * (x * basis).sum((2, 3), keepdim=True) / (basis * basis).sum()
        return out

    def pose_in_pixels(self, pose: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A pose in image pixels: centre (x, y; pixel centres at 0 .. side - 1), the canonical frame's width
        (size) and the rotation in degrees."""
        side = self.size
        return {"x": (pose["cx"] + 1) * side / 2 - 0.5, "y": (pose["cy"] + 1) * side / 2 - 0.5,
                "size": pose["scale"] * side, "rotation": torch.rad2deg(pose["angle"])}

    @staticmethod
    def affine(pose: dict[str, torch.Tensor]) -> torch.Tensor:
        """(N, 2, 3) sampling grid transforms: image point q -> canonical point (1 / s) R(-angle) (q - c)."""
        cos, sin, s = torch.cos(pose["angle"]), torch.sin(pose["angle"]), pose["scale"]
        a = torch.stack([torch.stack([cos, sin], 1), torch.stack([-sin, cos], 1)], 1) / s[:, None, None]
        c = torch.stack([pose["cx"], pose["cy"]], 1)
        return torch.cat([a, -(a @ c[:, :, None])], 2)

    def layers(self, z: torch.Tensor, labels: torch.Tensor,
               pose: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """Every layer of the composition: background, canonical foreground and mask, their placed versions, the
        pose and the image. ``pose`` (cx, cy, scale, angle as ``pose_params`` returns them) overrides the pose drawn
        from z's pose part — how an edit keeps a scene's place, size and rotation while the labels change."""
        zb, zp, zf, emb = self._split(z, labels)
        pose = self._pose(zp, emb) if pose is None else pose
        code = torch.stack([pose["cx"], pose["cy"], pose["scale"], pose["angle"] / math.pi], 1)
        h = self.fg_fc(torch.cat([zf, emb, code], 1)).view(len(z), self.width, 4, 4)
        for layer in self.fg_net:
            h = layer(h, labels) if isinstance(layer, ConditionalBatchNorm2d) else layer(h)
        look = torch.tanh(h[:, :3])
        mask = torch.sigmoid(h[:, 3:]) * self.window
        if self.appearance == "albedo-shade":
            look = self.one_hue(look, mask, shade_floor=self.shade_floor)
        canon = torch.cat([look, mask], 1)
        grid = F.affine_grid(self.affine(pose), [len(z), 4, self.size, self.size], align_corners=False)
        placed = F.grid_sample(canon, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        fg, mask = placed[:, :3], placed[:, 3:]
        bg = self.bg(zb)
        if self.background in ("grey", "plane"):
            bg = bg.mean(1, keepdim=True)
            if self.background == "plane":
                bg = self.plane(bg)
            bg = bg.expand(-1, 3, -1, -1)
        if self.background_range != (-1.0, 1.0):
            bg = bg.clamp(*self.background_range)
        return {"background": bg, "canonical": canon[:, :3], "canonical_mask": canon[:, 3:], "foreground": fg,
                "mask": mask, "pose": pose, "image": mask * fg + (1 - mask) * bg}

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None, with_mask: bool = False):
        """The image; with ``with_mask`` (image, placed mask) — what the mask discriminator sees, through forward so
        a distributed wrapper's hooks run."""
        out = self.layers(z, labels)
        return (out["image"], out["mask"]) if with_mask else out["image"]


def blur_mask(mask: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """A (N, 1, H, W) mask blurred by a 5 × 5 Gaussian: the domain's ground-truth masks are binary and a placed mask
    is soft over a pixel, so both are seen blurred and edge softness alone does not tell them apart."""
    x = torch.arange(5, dtype=mask.dtype, device=mask.device) - 2
    k = torch.exp(-x ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    mask = F.conv2d(F.pad(mask, (2, 2, 0, 0), mode="replicate"), k.view(1, 1, 1, 5))
    return F.conv2d(F.pad(mask, (0, 0, 2, 2), mode="replicate"), k.view(1, 1, 5, 1))


class MaskDiscriminator(nn.Module):
    """A shape-conditional discriminator on the layered generator's placed mask against the domain's ground-truth
    masks (the shapes data has them): it sees the silhouette alone, in the image frame, so neither texture nor
    colour can answer for the outline, and a pose distribution unlike the domain's is fake too. A hinge loss,
    spectral norm and a projection term (Miyato & Koyama 2018, arXiv:1802.05637) as the hub's other discriminators.

    Why (issue 35): the shipped CGAN draws hearts as beans — the projected D on the guide's features and the robust
    reward both accept them (the reward reads them as hearts in 100 % of samples), the scoring classifier in 54 %.
    This term is ours, not a paper's: LR-GAN's mask is learned from the image loss alone."""

    def __init__(self, n_shapes: int = 6, width: int = 32):
        super().__init__()
        sn, w = nn.utils.parametrizations.spectral_norm, width
        act = lambda: nn.LeakyReLU(0.2, True)  # noqa: E731
        self.net = nn.Sequential(sn(nn.Conv2d(1, w, 3, 1, 1)), act(),
                                 sn(nn.Conv2d(w, 2 * w, 4, 2, 1)), act(),  # 16
                                 sn(nn.Conv2d(2 * w, 4 * w, 4, 2, 1)), act(),  # 8
                                 sn(nn.Conv2d(4 * w, 4 * w, 4, 2, 1)), act(),  # 4
                                 nn.Flatten())
        d = 4 * w * 16
        self.fc = sn(nn.Linear(d, 1))
        self.embed = sn(nn.Embedding(n_shapes, d))

    def forward(self, mask: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
        """(N, 1, 32, 32) masks in [0, 1] and (N,) shape labels -> (N,) logits (real > 0)."""
        h = self.net(blur_mask(mask.float()) * 2 - 1)
        return self.fc(h).squeeze(1) + (self.embed(shape) * h).sum(1)


def mask_d_loss(D, real: torch.Tensor, real_shape: torch.Tensor, fake: torch.Tensor,
                fake_shape: torch.Tensor) -> torch.Tensor:
    """The hinge loss of a ``MaskDiscriminator`` ``D`` (or its distributed wrapper, whose forward it calls): the
    domain's masks real, the generator's placed masks fake."""
    return F.relu(1 - D(real, real_shape).float()).mean() + F.relu(1 + D(fake, fake_shape).float()).mean()


def mask_g_loss(D, fake: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
    """The generator's hinge term from a ``MaskDiscriminator``."""
    return -D(fake, shape).float().mean()


def real_mask_batches(n: int, batch: int, seed: int):
    """``get(step)`` -> (masks (B, 1, 32, 32) float, shape labels (B,)) of the first min(n, 20,000) train items: what
    a ``MaskDiscriminator`` sees as real (the order is a pure function of seed and step, so resuming is exact)."""
    from ...data.dataset import shapes_arrays
    from ...training import infinite_batches

    full = shapes_arrays("train", min(n, 20_000), full=True)
    return infinite_batches((torch.from_numpy(full["masks"]).float()[:, None], torch.from_numpy(full["labels"][:, 0])),
                            batch, seed)
