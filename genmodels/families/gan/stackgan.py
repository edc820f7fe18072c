"""StackGAN: text → image in two stages, for 32×32 shapes.

Zhang, Xu, Li, Zhang, Wang, Huang, Metaxas 2017, "StackGAN: Text to Photo-realistic Image Synthesis with Stacked
Generative Adversarial Networks", arXiv:1612.03242. What is kept from the paper:

- A **caption encoder** trained before the GAN and frozen while it trains (the paper's char-CNN-RNN of Reed et al.
  2016; here a word-level bidirectional GRU over the domain's caption grammar, ``data/captions.py``, trained to name
  the caption's five attributes — every caption of the grammar is one point of its embedding).
- **Conditioning augmentation** (§3.2): the text embedding φ_t gives μ(φ_t), σ(φ_t); c = μ + σ ⊙ ε with ε ~ N(0, I);
  G also minimises KL(N(μ, σ²) ‖ N(0, I)) with weight λ = 2 (the paper's released config for birds / flowers); each
  stage has its own augmentation (stage II draws its own c).
- **Stage I** draws a 16×16 image from [c, z]; **stage II** re-reads the stage-I image through a down-sampling
  encoder, joins it with the text (c spatially replicated), refines it with residual blocks and up-samples to 32×32
  (no z: stage I's sample carries the randomness). Stage II is trained on stage I's output with stage I's gradient
  stopped (the paper trains stage II with stage I fixed); both stages train in one run here (as StackGAN-v2, Zhang et
  al. 2017, arXiv:1710.10916), one discriminator per stage, each **matching-aware** (real images with a mismatched
  caption count as fake, Reed et al. 2016, arXiv:1605.05396).

What differs, for a CPU budget (documented in the model card): G's blocks are BigGAN-style residual up-blocks whose
batch norms are conditioned on c (``biggan.GBlock``) instead of concatenating c once at the input; D conditions on
the caption's attributes by projection (Miyato & Koyama 2018) — a full caption of the grammar and its five
attributes are the same information — and is the recipe that works for every conditional GAN here: projected heads
on the frozen guide network's features beside a pixel D (both stages; stage I's 16×16 image is up-sampled for the
guide), DiffAugment, hinge loss, the guide's classifier term for shape / colour / fill / background (the robust guide
from ``STACKGAN.reward_from``; ``stackgan_train.py``), mode seeking on stage I, an EMA of G with standing statistics.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin

from ...data import captions, shapes
from .biggan import SN, GBlock

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
ATTRS = ("shape", "colour", "fill", "background", "size")
N_ATTR = (len(shapes.SHAPES), len(shapes.COLOUR_NAMES), len(shapes.FILLS), len(shapes.BACKGROUNDS),
          len(shapes.SIZES))


class CaptionEncoder(nn.Module):
    """Caption tokens (N, TEXT_LEN) → embedding φ_t (N, dim): word embeddings, a bidirectional GRU, the mean over the
    caption's words; ``heads`` name the five attributes (its training objective)."""

    def __init__(self, vocab: int, dim: int = 128, word_dim: int = 64):
        super().__init__()
        self.words = nn.Embedding(vocab, word_dim, padding_idx=captions.PAD)
        self.gru = nn.GRU(word_dim, word_dim, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * word_dim, dim)
        self.heads = nn.ModuleList(nn.Linear(dim, k) for k in N_ATTR)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        mask = (tokens != captions.PAD).float()[..., None]
        h, _ = self.gru(self.words(tokens))
        return self.out((h * mask).sum(1) / mask.sum(1).clamp_min(1))

    def attribute_logits(self, emb: torch.Tensor) -> list[torch.Tensor]:
        return [head(emb) for head in self.heads]


class CondAugment(nn.Module):
    """Conditioning augmentation: φ_t → (c, μ, log σ²) with c = μ + σ ε; ``sample=False`` gives c = μ."""

    def __init__(self, text_dim: int, c_dim: int):
        super().__init__()
        self.fc = nn.Linear(text_dim, 2 * c_dim)

    def forward(self, emb: torch.Tensor, generator: torch.Generator | None = None, sample: bool = True):
        mu, logvar = F.leaky_relu(self.fc(emb), 0.2).chunk(2, dim=1)
        if not sample:
            return mu, mu, logvar
        eps = torch.randn(mu.shape, generator=generator).to(mu.device)
        return mu + (0.5 * logvar).exp() * eps, mu, logvar


def kl_loss(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, I)) averaged over the elements, as the paper's code computes it."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).mean()


class _Res(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(SN(nn.Conv2d(ch, ch, 3, 1, 1)), nn.BatchNorm2d(ch), nn.ReLU(),
                                  SN(nn.Conv2d(ch, ch, 3, 1, 1)), nn.BatchNorm2d(ch))

    def forward(self, x):
        return F.relu(x + self.body(x))


class StackGANGenerator(nn.Module, PyTorchModelHubMixin):
    """Tokens + z → (stage-I 16×16, stage-II 32×32) images in [-1, 1]; the caption encoder is part of the model (and
    frozen while the GAN trains)."""

    def __init__(self, vocab: int = captions.vocab_size(), text_dim: int = 128, c_dim: int = 64, z_dim: int = 64,
                 channels1: tuple[int, ...] = (192, 128, 64), channels2: tuple[int, ...] = (96, 64, 32)):
        super().__init__()
        self.z_dim, self.c_dim, self.channels1, self.channels2 = z_dim, c_dim, tuple(channels1), tuple(channels2)
        self.text = CaptionEncoder(vocab, text_dim)
        # stage I: [c, z] -> 4x4 -> ... -> 16x16, batch norms conditioned on [c, z]
        self.ca1 = CondAugment(text_dim, c_dim)
        cond1 = c_dim + z_dim
        self.fc1 = SN(nn.Linear(cond1, 4 * 4 * channels1[0]))
        self.blocks1 = nn.ModuleList(GBlock(a, b, cond1) for a, b in zip(channels1[:-1], channels1[1:]))
        self.out1 = nn.Sequential(nn.BatchNorm2d(channels1[-1]), nn.ReLU(), SN(nn.Conv2d(channels1[-1], 3, 3, 1, 1)),
                                  nn.Tanh())
        # stage II: 16x16 image -> 8x8 features, joined with c, residual blocks, up to 32x32
        self.ca2 = CondAugment(text_dim, c_dim)
        w = channels2[0]
        self.down2 = nn.Sequential(SN(nn.Conv2d(3, w // 2, 3, 1, 1)), nn.ReLU(),
                                   SN(nn.Conv2d(w // 2, w, 4, 2, 1)), nn.BatchNorm2d(w), nn.ReLU())
        self.joint2 = nn.Sequential(SN(nn.Conv2d(w + c_dim, w, 3, 1, 1)), nn.BatchNorm2d(w), nn.ReLU())
        self.res2 = nn.Sequential(_Res(w), _Res(w))
        self.blocks2 = nn.ModuleList(GBlock(a, b, c_dim) for a, b in zip(channels2[:-1], channels2[1:]))
        self.out2 = nn.Sequential(nn.BatchNorm2d(channels2[-1]), nn.ReLU(), SN(nn.Conv2d(channels2[-1], 3, 3, 1, 1)),
                                  nn.Tanh())

    @property
    def conditional(self) -> bool:
        return True

    def stage1(self, emb: torch.Tensor, z: torch.Tensor, generator=None, sample: bool = True):
        c, mu, logvar = self.ca1(emb, generator, sample)
        cond = torch.cat([c, z], 1)
        h = self.fc1(cond).view(len(z), self.channels1[0], 4, 4)
        for block in self.blocks1:
            h = block(h, cond)
        return self.out1(h), (mu, logvar)

    def stage2(self, img1: torch.Tensor, emb: torch.Tensor, generator=None, sample: bool = True):
        c, mu, logvar = self.ca2(emb, generator, sample)
        h = self.down2(img1)
        h = self.joint2(torch.cat([h, c[:, :, None, None].expand(-1, -1, *h.shape[2:])], 1))
        h = self.res2(h)
        for block in self.blocks2:
            h = block(h, c)
        return self.out2(h), (mu, logvar)

    def forward(self, tokens: torch.Tensor, z: torch.Tensor, generator: torch.Generator | None = None,
                sample_c: bool = True):
        """(stage-I image, stage-II image); stage II sees stage I's image with the gradient stopped."""
        emb = self.text(tokens)
        img1, _ = self.stage1(emb, z, generator, sample_c)
        img2, _ = self.stage2(img1.detach(), emb, generator, sample_c)
        return img1, img2


def build_discriminators(guide_widths: tuple[int, ...]) -> nn.ModuleDict:
    """One D per stage: projected heads on the guide's features + a pixel D, both conditioned on the five
    attributes by projection."""
    from .biggan import BigGANDiscriminator
    from .projected import ProjectedDiscriminator

    return nn.ModuleDict({
        "proj1": ProjectedDiscriminator(guide_widths, n_classes=N_ATTR),
        "pix1": BigGANDiscriminator(channels=(64, 128, 128), n_classes=N_ATTR),
        "proj2": ProjectedDiscriminator(guide_widths, n_classes=N_ATTR),
        "pix2": BigGANDiscriminator(channels=(64, 128, 128, 128), n_classes=N_ATTR)})


def up32(img: torch.Tensor) -> torch.Tensor:
    """A stage-I 16×16 image at 32×32 (bilinear): what the guide, the scoring module and the tab see of it."""
    return img if img.shape[-1] == 32 else F.interpolate(img, size=(32, 32), mode="bilinear", align_corners=False)


# ------------------------------------------------------------------------------------------------ sampling
def random_labels(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """(n, 5) attribute rows drawn uniformly (shape, colour, fill, background, size)."""
    return torch.stack([torch.randint(k, (n,), generator=generator) for k in N_ATTR], 1)


@torch.no_grad()
def standing_stats(G: StackGANGenerator, n_batches: int = 16, batch: int = 64, seed: int = 0) -> None:
    """BigGAN's standing statistics for the EMA generator's batch norms (see gan/train.py)."""
    from .train import recompute_bn

    gen = torch.Generator().manual_seed(seed)

    def one(i):
        y = random_labels(batch, gen)
        G(captions.caption_tokens(y), torch.randn(batch, G.z_dim, generator=gen), gen)

    recompute_bn(G, one, n_batches)


@torch.no_grad()
def generate(G: StackGANGenerator, labels: torch.Tensor, seed: int = 0, batch: int = 250,
             tokens: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(stage I at 32×32, stage II) for label rows (or ``tokens``); z and ε from ``seed`` (row i: the same draw in
    any batch size is not promised, the same call is)."""
    G.eval()
    tokens = captions.caption_tokens(labels) if tokens is None else tokens
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(len(tokens), G.z_dim, generator=gen)
    one, two = [], []
    for i in range(0, len(tokens), batch):
        a, b = G(tokens[i:i + batch], z[i:i + batch], gen)
        one.append(up32(a).clamp(-1, 1))
        two.append(b.clamp(-1, 1))
    return torch.cat(one), torch.cat(two)


def attribute_rates(images: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Shares of images whose shape, colour and fill the scoring classifier reads as the caption asked, and of
    images with all three right."""
    from ...scoring.backbones import get_backbone

    pred = get_backbone("shapes").attribute_predictions(images)
    hits = [pred[k] == labels[:, i].numpy() for i, k in enumerate(ATTRS[:3])]
    out = {k: float(h.mean()) for k, h in zip(ATTRS[:3], hits)}
    out["all three"] = float((hits[0] & hits[1] & hits[2]).mean())
    return out


# ------------------------------------------------------------------------------------------------ evaluation
def evaluate(G: StackGANGenerator, n: int = 2000, seed: int = 12345) -> dict:
    """Held-out: the captions of the first n test items; both stages' attribute rates (scoring classifier), shape by
    outline and FID / KID / precision / recall against the test split (stage I up-sampled to 32×32)."""
    from ...data.dataset import shapes_arrays
    from ...scoring.readout import read_shapes, score_sets

    labels = torch.from_numpy(shapes_arrays("test", n)["labels"][:, :5]).long()
    one, two = generate(G, labels, seed=seed)
    res = {"n": n}
    for name, imgs in (("stage I (16×16, up-sampled)", one), ("stage II (32×32)", two)):
        row = {f"{k} recognised": v for k, v in attribute_rates(imgs, labels).items()}
        row.update({r.metric: r.value for r in score_sets(imgs, "shapes-test", n_boot=10)})
        reading = read_shapes(imgs, labels[:, 0]).summary()
        row["shape by outline"], row["objects in pieces"] = reading["outline"], reading["pieces"]
        res[name] = row
    return res


# ------------------------------------------------------------------------------------------------ the tab's use
def parse_caption(caption: str, seed: int = 0) -> tuple[torch.Tensor, list[str]]:
    """A user's caption → one (5,) attribute row and notes: words the model does not know (ignored), attributes
    named twice (the first kept), attributes not named (drawn at random from ``seed``, and said). Raises ValueError
    for an empty caption or one with no known attribute word (``captions.tokenize``)."""
    ids, unknown, truncated = captions.tokenize(caption)
    words = [captions.WORDS[i - 1] for i in ids]
    vocab = (shapes.SHAPES, shapes.COLOUR_NAMES, shapes.FILLS, shapes.BACKGROUNDS, shapes.SIZES)
    row, notes = [None] * 5, []
    for w in words:
        for a, names in enumerate(vocab):
            if w in names:
                if row[a] is None:
                    row[a] = names.index(w)
                elif names[row[a]] != w:
                    notes.append(f"More than one {ATTRS[a]} named: '{names[row[a]]}' used, '{w}' ignored.")
    if unknown:
        notes.append(f"Ignored words the model does not know: {', '.join(unknown)}.")
    if truncated:
        notes.append(f"The caption was cut to its first {captions.TEXT_LEN} known words.")
    gen = torch.Generator().manual_seed(int(seed))
    drawn = []
    for a, names in enumerate(vocab):
        if row[a] is None:
            row[a] = int(torch.randint(len(names), (), generator=gen))
            drawn.append(f"{ATTRS[a]} {names[row[a]]}")
    if drawn:
        notes.append("Not in the caption, drawn at random (seed " + str(int(seed)) + "): " + ", ".join(drawn) + ".")
    return torch.tensor(row, dtype=torch.long), notes


def text_to_image(G: StackGANGenerator, caption: str, seed: int, n: int) -> dict:
    """n samples of one caption: image i uses z from seed + i (NVlabs' convention), so a seed always draws the same
    image. Returns both stages (uint8, stage I at its native 16×16), the caption the model read, notes, and what the
    scoring classifier reads in each stage."""
    from ...data.dataset import to_uint8

    row, notes = parse_caption(caption, seed)
    full = captions.caption_of(row.tolist())
    tokens = captions.caption_tokens(row[None])
    G.eval()
    one, two = [], []
    t0 = time.perf_counter()
    with torch.no_grad():
        for i in range(n):
            gen = torch.Generator().manual_seed(int(seed) + i)
            z = torch.randn(1, G.z_dim, generator=gen)
            a, b = G(tokens, z, gen)
            one.append(a.clamp(-1, 1))
            two.append(b.clamp(-1, 1))
    seconds = time.perf_counter() - t0
    one, two = torch.cat(one), torch.cat(two)
    labels = row[None].expand(n, -1)
    reading = {"stage I": attribute_rates(up32(one), labels), "stage II": attribute_rates(two, labels)}
    return {"stage1": to_uint8(one), "stage2": to_uint8(two), "caption": full, "notes": notes, "labels": row,
            "reading": reading, "seconds": seconds}
