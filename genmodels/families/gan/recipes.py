"""Training recipes and label helpers of the GAN family, shared by ``train.py`` and ``evaluate.py``: the
hyper-parameters of each embedded model (``RECIPES``; ``VARIANTS`` for experiments), the sizes of the CPU-sized
networks, and the condition tensors a kind's G / D take from shapes labels.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from ...data import shapes

N_SHAPES, N_COLOURS = len(shapes.SHAPES), len(shapes.COLOUR_NAMES)


@dataclass
class GANRecipe:
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    batch: int = 64
    r1_gamma: float = 0.0
    r1_every: int = 8
    mixing: float = 0.0
    ema: float = 0.999
    aux_weight: float = 0.0  # AC-GAN auxiliary classification loss (CGAN only)
    lr_d: float | None = None  # two time-scale update rule (Heusel et al. 2017, arXiv:1706.08500) when set
    loss: str = "logistic"  # "logistic" (non-saturating) or "hinge" (Lim & Ye 2017; SNGAN / SAGAN / BigGAN)
    # bfloat16 autocast where the CPU has native bf16 (1.3-1.7x faster on an AVX512-BF16 EPYC; weights and optimiser
    # stay float32). Without it bf16 is emulated and ~40x slower (measured on an AVX2-only EPYC), so "auto" = off.
    bf16: bool | str = "auto"
    # Matching-aware D (Reed et al. 2016, GAN-INT-CLS, arXiv:1605.05396): real images with mismatched labels count
    # as fake with this weight, so D must learn image-label consistency before G draws realistic images. Without
    # it both conditional models ignored the shape label (CGAN: shape recognised 14 % at step 4,000, chance 17 %,
    # colour 98 %): while fakes are blobs, "blob = fake" is all D needs and shape never pays.
    mismatch: float = 0.0
    monitor_every: int = 1000  # log requested shape / colour recognised (N=300) to run_dir/monitor.jsonl
    # Projected GAN (projected.py): D works on the frozen guide network's multi-scale features of DiffAugmented
    # images; no R1 (its heads are spectrally normalised, as in the paper).
    projected: bool = False
    # StyleGAN-XL-style classifier guidance: G also minimises, with this weight, the guide's cross-entropy of the
    # requested shape and colour (conditional kinds) or the CatGAN entropy objective (unconditional: collapsed DCGAN).
    guide_weight: float = 0.0
    # The network G's guidance term asks (a weights folder under genmodels/weights); None = the guide itself. A
    # robust (adversarially trained) one answers "square" only for corners a person would call square.
    reward: str | None = None
    reward_from: int = 0  # the step from which ``reward`` replaces the guide in G's term (the shipped run's switch)
    guide_stages: tuple[tuple[int, float], ...] = ()  # ((from_step, guide_weight), ...): later weights of G's term
    ortho: float = 0.0  # BigGAN's orthogonal regularisation of G's weights (β; the paper: 1e-4)
    mode_seeking: float = 0.0  # weight of the mode-seeking term (Mao et al. 2019) on pairs of same-label samples
    lr_stages: tuple[tuple[int, float], ...] = ()  # ((from_step, factor), ...): G's and D's learning rates × factor
    generator: str = "dcgan"  # CGAN's G: "dcgan" (one pass), "layered" / "layered-albedo" (LR-GAN, layered.py)
    # A layered G trained with RGB layers may be shipped drawing with other looks (layered.py: the parameters are the
    # same): ((name, value), ...) given to the saved generator's constructor, e.g. (("background", "grey"),).
    ship_looks: tuple[tuple[str, str], ...] = ()
    # A layered G only: weight of G's term from layered.MaskDiscriminator, a shape-conditional D on the placed mask
    # against the domain's ground-truth masks (0: no such D).
    mask_d: float = 0.0


# aux_weight > 0 turns on AC-GAN heads for CGAN; measured worse here after 1,000 steps (requested shape / colour
# recognised 19 % / 22 %, vs 20 % / 81 % without, N=300): G learns to fool the real-trained heads. Off by default.
# CGAN: SAGAN / BigGAN settings (hinge loss, TTUR, beta1 = 0) with class-conditional batch norm in G.
# Batches are small (32 / 16) and G narrow because the budget is CPU time: on an AVX2-only 2-core machine in float32
# a CGAN step at batch 64 with a 256-wide G took 1.34 s (two jobs side by side), so more, cheaper updates win.
# Since 2026-11-30 CGAN and StyleGAN train on the Projected-GAN + classifier-guidance recipe of projected.py (hinge,
# Adam(β1 = 0), batch 64 / 32, monitor every 200 steps). The plain pixel-D settings remain for --data and DCGAN.
_PLAIN = {"dcgan": GANRecipe(batch=32),
          "cgan": GANRecipe(lr=2e-4, lr_d=4e-4, betas=(0.0, 0.9), loss="hinge", batch=32, mismatch=0.5),
          # EMA half-life ~350 steps = 5.5k images, StyleGAN2's 10 kimg scaled to batch 16 as in its small-batch
          # configs; with 0.999 the EMA G at step 2,500 was a blur of the fast-moving early G.
          "stylegan": GANRecipe(lr=2e-3, betas=(0.0, 0.99), batch=16, r1_gamma=0.05, mixing=0.9, ema=0.998,
                                mismatch=0.5)}
# DCGAN stays on the pixel-D recipe: on the guide recipe (CGAN's settings without labels, CatGAN objective, 1,200
# steps) it collapsed to magenta blobs on dark backgrounds (recall 0.006, confident shape 75 %;
# docs/experiments/README.md).
RECIPES = {"dcgan": _PLAIN["dcgan"],
           # From step 4,200 G's guidance term asks the adversarially trained gan-guide-robust instead of the guide:
           # with the standard guide CGAN drew rounded blobs it called squares (scoring classifier: squares 4 %,
           # shape 77.6 % at 4,200); with the robust one squares rose to 94-100 % within 1,800 steps
           # (docs/experiments/README.md, "robust reward").
           "cgan": GANRecipe(lr=2e-4, betas=(0.0, 0.99), loss="hinge", batch=64, mismatch=0.5, projected=True,
                             guide_weight=1.0, monitor_every=200, reward="gan-guide-robust", reward_from=4200),
           # StyleGAN: the same switch to gan-guide-robust, from its 2,800-step checkpoint (shape 58.5 -> 80.3 %).
           # From step 5,000 the robust reward's weight is 2: squares were the class left behind (22-35 %, the other
           # five 69-100 %); shape 80.3 -> 91.7 % held-out at 9,000 (docs/models.md).
           "stylegan": GANRecipe(lr=2e-3, betas=(0.0, 0.99), loss="hinge", batch=32, mixing=0.9, ema=0.998,
                                 mismatch=0.5, projected=True, guide_weight=1.0, monitor_every=200,
                                 reward="gan-guide-robust", reward_from=2800, guide_stages=((5000, 2.0),))}
# BigGAN-style (biggan.py): the paper's hinge loss, Adam(0, 0.999), orthogonal regularisation 1e-4 and EMA, on the
# recipe that works for every conditional GAN here (projected heads on the frozen guide + the pixel D, DiffAugment,
# matching-aware D, the guide's classifier term with the robust guide from the start of its second part), plus the
# mode-seeking term (issue: one pose per class in CGAN / StyleGAN; recall 0.03-0.13).
# From step 2,600 the robust reward's weight is 2 (StyleGAN's stage): squares were the class left behind (43-69 % at
# steps 2,000-2,400, the other five 85-100 %; shape 87-91 %).
RECIPES["biggan"] = GANRecipe(lr=2e-4, betas=(0.0, 0.999), loss="hinge", batch=64, mismatch=0.5, projected=True,
                              guide_weight=1.0, monitor_every=200, reward="gan-guide-robust", reward_from=1500,
                              guide_stages=((2600, 2.0),), ortho=1e-4, mode_seeking=1.0)
# Tried 2026-12-06: both learning rates halved from step 3,800 (lr_stages=((3800, 0.5),)) against the oscillation of
# the requested shape (80-92 % from step 2,000, classes trading places): 84.7 / 83.3 / 81.7 % at 4,000 / 4,200 / 4,400
# (N = 300; 89.7 % at 3,800), triangles and hearts now the classes left behind — no gain, stopped, not shipped.
# Experiment (not the shipped recipe until its monitor says so): DCGAN with the Projected-GAN D on the gan-guide's
# features beside the pixel D, but no guidance term for G (the CatGAN term collapsed it, above). Projected GAN
# (Sauer et al. 2021, arXiv:2111.01007) reports up to 40x faster convergence; for CGAN this D alone took shape to
# 63 % in 1,000 steps (docs/experiments).
VARIANTS = {"dcgan-projected": GANRecipe(lr=2e-4, betas=(0.0, 0.99), loss="hinge", batch=64, projected=True,
                                         monitor_every=200)}
# the same, plus CatGAN's objective (confident and balanced shapes) read by the robust guide, which answers only to
# shapes a person would name (the CGAN square fix); resumed from the run above
VARIANTS["dcgan-projected-robust"] = replace(VARIANTS["dcgan-projected"], guide_weight=0.3, reward="gan-guide-robust")
# Issue 35 (one pose a class: CGAN recall 0.026 at N = 2,000): a stage on the committed CGAN measuring what the guide
# reward costs in spread — its weight 1 -> 0.3 once the class is learned, plus BigGAN's mode-seeking term (Mao et al.
# 2019, arXiv:1903.05628) on same-label pairs; outline, pieces, precision and recall logged beside the classifier.
VARIANTS["cgan-diverse"] = replace(RECIPES["cgan"], guide_weight=0.3, mode_seeking=1.0)
# Issue 35, second approach — shipped 2026-12-07: what the guide reward costs is the pose, so give the pose its own
# output. The CGAN's generator is layered (LR-GAN, Yang et al. 2017, arXiv:1703.01560; layered.py), trained from
# scratch on the CGAN recipe with BigGAN's reward schedule (robust reward from 1,500, weight 2 from 2,600) and the
# mode-seeking term on same-label pairs. Monitor (N = 300) at step 2,800 against the one-pass CGAN's: shape 98 %,
# shape by outline 70 %, recall 0.71 (docs/models.md). The one-pass recipe stays as "cgan-onepass": its weights
# (weights/cgan-onepass) are where the CVAE-GAN's decoder starts.
VARIANTS["cgan-onepass"] = RECIPES["cgan"]
RECIPES["cgan"] = replace(RECIPES["cgan"], generator="layered", mode_seeking=1.0, reward_from=1500,
                          guide_stages=((2600, 2.0),))
# The layered generator's looks that draw one hue an object over a grey background (layered.py): the shipped CGAN's,
# ``build("cgan", generator="layered-albedo")`` and the CVAE's "layered-albedo-gan" decoder.
# The background is a grey plane kept inside the domain's tones (shapes.BACKGROUND_TONES, 0-255).
ONE_HUE_LOOKS = {"background": "plane", "appearance": "albedo-shade",
                 "background_min": 2 * shapes.BACKGROUND_TONES[0] / 255 - 1,
                 "background_max": 2 * shapes.BACKGROUND_TONES[1] / 255 - 1}
# Issue 35, third step (2026-12-07, second sitting): the layered CGAN above drew 21.8 % of its objects in pieces, 45 %
# on dark backgrounds against 1.5 % on light ones. Recomposing its own layers (N = 600) measured why: its canonical
# masks fall apart in 0.5 % of samples, but its backgrounds carry colour (made grey: pieces 20.3 -> 10.3 %) and its
# dark stripes lose their hue (the object redrawn as one colour times its own brightness, over the grey background:
# 2.7 %, outline 91.7 -> 100 %). So the CGAN is trained with RGB layers as above and shipped drawing with
# layered.py's grey background and one-hue appearance (same parameters). Held-out (N = 2,000): pieces 21.8 -> 1.55 %,
# outline 91.0 -> 100 %, classifier 94.95 -> 91.1 % (hearts: the classifier no longer reads the bean-shaped hearts
# from their texture), recall 0.428 -> 0.388, FID 123.9 -> 127.0. Tried and measured worse (docs/experiments,
# twenty-second session): trained from scratch with a separate albedo (an MLP, then a table per label) the colours
# did not come (recognised 54 / 21 / 67 % at steps 1,000 / 800 / 600 against 99 % with RGB layers); fine-tuned with
# the looks on from step 5,000, hearts fell further (classifier 88.9 %, recall 0.41, FID 134.5 at step 5,200).
VARIANTS["cgan-layered-rgb"] = RECIPES["cgan"]
RECIPES["cgan"] = replace(RECIPES["cgan"], ship_looks=tuple(ONE_HUE_LOOKS.items()))
# Issue 35, the hearts (2026-12-07, third sitting): the shipped CGAN draws hearts as beans (scoring classifier 54 % on
# hearts, every other class 100 %) and nothing in its recipe objects: the robust reward reads the beans as hearts. A
# stage on the committed generator with layered.MaskDiscriminator beside its discriminators: the placed mask against
# the domain's ground-truth masks of the requested shape.
VARIANTS["cgan-mask-d"] = replace(RECIPES["cgan"], mask_d=1.0)
# Width of the DCGAN / CGAN generator's first feature map (halved at each upsampling).
DCGAN_WIDTH = 128
# Condition G's batch norms on the labels (BigGAN-style) on top of the input concatenation. With the old logistic /
# Adam(0.5) recipe it measured no better on shape (15 % / 18 % at steps 1,000 / 1,500 vs 20 % / 12 % without; N=300);
# kept on with the BigGAN-style recipe it belongs to.
CGAN_CONDITIONAL_BN = True
# Channels per resolution (4, 8, 16, 32) of the CPU-sized StyleGAN: wide where it is cheap, narrow at 32 px.
STYLEGAN_CHANNELS = [256, 128, 64, 32]
# Channels at 4, 8, 16, 32 px of the CPU-sized BigGAN-style generator (one residual block per resolution).
BIGGAN_CHANNELS = (256, 128, 64, 32)


def balanced_labels(n: int, seed: int = 0) -> torch.Tensor:
    """(n, 5) label rows with shape and colour cycling through every combination (other columns 0)."""
    k = len(shapes.SHAPES) * len(shapes.COLOUR_NAMES)
    idx = torch.arange(n) % k
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    idx = idx[perm]
    out = torch.zeros(n, 5, dtype=torch.long)
    out[:, 0], out[:, 1] = idx // len(shapes.COLOUR_NAMES), idx % len(shapes.COLOUR_NAMES)
    return out


def labels_for(kind: str, labels: torch.Tensor) -> torch.Tensor | None:
    """Condition tensor a kind's G / D take, from (N, 5) shapes labels: (N, 2) for CGAN, (N,) class×colour index for
    conditional StyleGAN, None for unconditional models."""
    if kind in ("cgan", "biggan"):
        return labels[:, :2]
    if kind == "stylegan":
        return labels[:, 0] * N_COLOURS + labels[:, 1]
    return None
