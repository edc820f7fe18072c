"""Priors over VQ-VAE codes: a class-conditional Gated PixelCNN and a DALL-E-style text-to-codes transformer.

- Code prior: van den Oord et al. 2017 (VQ-VAE, arXiv:1711.00937) fit a PixelCNN over the code map; here the
  autoregressive family's ``GatedPixelCNN`` (van den Oord et al. 2016, arXiv:1606.05328) with ``channels=1,
  levels=K`` and the shape class added in every layer — the same implementation, imported, not copied.
- Text to codes: Ramesh et al. 2021, "Zero-Shot Text-to-Image Generation" (DALL-E), arXiv:2102.12092 — one
  decoder-only transformer over [caption tokens ; image codes], trained to predict each code from the caption and the
  codes before it, sampled with temperature and top-k. The transformer is transformers' ``GPT2LMHeadModel`` (the
  field's implementation, with its KV cache). Departures, for a 32x32 domain with a fixed caption grammar: a
  word-level tokenizer (the caption vocabulary is 24 words) instead of BPE; only the image tokens are in the loss
  (DALL-E weighted text 1/8: our captions are drawn uniformly, there is nothing to learn about them); the caption's
  optional attributes (size, fill, background) are dropped at random while training so shorter captions ("a red
  star") also mean something; image positions may only emit codes (text logits masked).
"""
from __future__ import annotations


import torch

from ...data import shapes
from ...limits import check_deadline
from ...threads import THREADED_BATCH, OneThread
from ..autoregressive.pixelcnn import GatedPixelCNN

# The caption tokenizer lives in genmodels/data/captions.py (shared with the GAN family's StackGAN); re-exported here.
from ...data.captions import (MAX_CAPTION_CHARS, NULL_CAPTION, PAD, SYNONYMS, TEXT_LEN, WORDS,  # noqa: E402,F401
                              caption_of, caption_tokens, pad_tokens, tokenize, vocab_size)

# ------------------------------------------------------------------------------------------------ guidance
# Classifier-free guidance (Ho & Salimans 2022, arXiv:2207.12598), as Make-A-Scene used it for a transformer over
# image tokens (Gafni et al. 2022, arXiv:2203.13131): both priors are trained with the condition dropped now and then
# (a "no class" label for the code prior, the caption reduced to "a" for the transformer) and sample from
# logits_uncond + s · (logits_cond - logits_uncond). Without it the code prior's samples were colour blobs (shape
# recognised 26-36 % after 3,000 steps, docs/models.md).
NULL_CLASS = len(shapes.SHAPES)  # the code prior's "no class" label
# The tab's and the cards' default scales. vq-dalle: 2.5 with best of 8 (rerank.py), chosen on 500 *train* captions
# (all three attributes 74.4 / 75.8 / 71.8 % plain and 80.8 / 78.8 / 83.4 % best of 8 at 1.5 / 2 / 2.5;
# docs/experiments/vq-dalle-rerank-sweep-train.json); 3 after the 10,000-step stage read below 1 and 2.
DEFAULT_GUIDANCE = {"vq-prior": 3.0, "vq-dalle": 2.5}
COND_DROP = 0.1  # share of training examples whose condition is dropped


def guided_logits(logits: torch.Tensor, scale: float) -> torch.Tensor:
    """(2N, ...) logits of [conditional ; unconditional] rows -> (N, ...) guided logits."""
    c, u = logits.chunk(2)
    return u + scale * (c - u)


def _gumbel_pick(logits: torch.Tensor, generator) -> torch.Tensor:
    u = torch.rand(logits.shape, generator=generator).to(logits.device)  # Gumbel-max: seeded on any device
    return (logits - torch.log(-torch.log(u.clamp(1e-20, 1.0)))).argmax(1)


# ------------------------------------------------------------------------------------------------ code prior
@torch.no_grad()
def iter_prior(prior, n: int, grid: int, y: torch.Tensor, generator: torch.Generator | None = None,
               temperature: float = 1.0, guidance: float = 1.0):
    """Sample an n x grid x grid code map from the class-conditional prior in raster order; yields (position, codes
    (n, 1, grid, grid)) after each code. ``guidance`` != 1 needs a prior trained with the null class. With guidance 1
    it draws exactly what the autoregressive family's ``iter_sample`` draws (same noise order)."""
    if not temperature > 0:
        raise ValueError(f"Temperature must be > 0, got {temperature}.")
    guided = guidance != 1.0
    if guided and prior.n_classes <= NULL_CLASS:
        raise ValueError("this prior was trained without the null class: guidance must be 1")
    dev = next(prior.parameters()).device
    x = torch.zeros(n, 1, grid, grid, dtype=torch.long, device=dev)
    y = y.to(dev)
    yy = torch.cat([y, torch.full_like(y, NULL_CLASS)]) if guided else y
    for p in range(grid * grid):
        check_deadline("sampling")
        i, j = divmod(p, grid)
        with OneThread(len(yy) < THREADED_BATCH):  # genmodels/threads.py
            logits = prior(torch.cat([x, x]) if guided else x, yy)[:, :, 0, i, j]
        if guided:
            logits = guided_logits(logits, guidance)
        x[:, 0, i, j] = _gumbel_pick(logits / temperature, generator)
        yield p, x


def code_prior(codes: int, n_classes: int = len(shapes.SHAPES) + 1, hidden: int = 64, layers: int = 8,
               kernel: int = 5, out_hidden: int = 128) -> GatedPixelCNN:
    """The class-conditional Gated PixelCNN over a code map (one categorical channel with ``codes`` levels); class
    ``NULL_CLASS`` (the last) is "no class", for classifier-free guidance."""
    return GatedPixelCNN(channels=1, levels=codes, hidden=hidden, layers=layers, kernel=kernel,
                         n_classes=n_classes, out_hidden=out_hidden)


# ------------------------------------------------------------------------------------------------ DALL-E-style
def dalle_config(codes: int, grid: int, n_embd: int = 128, n_layer: int = 6, n_head: int = 4):
    """A GPT-2 config over text words + one image-start token + the codebook: [text (TEXT_LEN) ; BOS ; codes]."""
    from transformers import GPT2Config

    cfg = GPT2Config(vocab_size=vocab_size() + 1 + codes, n_positions=TEXT_LEN + 1 + grid * grid, n_embd=n_embd,
                     n_layer=n_layer, n_head=n_head, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                     bos_token_id=vocab_size(), eos_token_id=vocab_size(), pad_token_id=PAD)
    cfg.genmodels = {"codes": codes, "grid": grid, "text_len": TEXT_LEN, "words": list(WORDS)}
    return cfg


def build_dalle(codes: int, grid: int, **kw):
    from transformers import GPT2LMHeadModel

    return GPT2LMHeadModel(dalle_config(codes, grid, **kw))


def _layout(model) -> tuple[int, int, int]:
    g = model.config.genmodels
    return g["codes"], g["grid"], vocab_size() + 1  # codes, grid, offset of code 0 in the vocabulary


def dalle_inputs(text: torch.Tensor, codes: torch.Tensor, model) -> torch.Tensor:
    """(N, TEXT_LEN) caption tokens + (N, h, w) codes -> (N, TEXT_LEN + 1 + h*w) input ids."""
    _, _, off = _layout(model)
    bos = torch.full((len(text), 1), vocab_size(), dtype=torch.long, device=text.device)
    return torch.cat([text, bos, codes.flatten(1) + off], 1)


def dalle_loss(model, text: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of every image code given the caption and the codes before it, over the codebook only (nats)."""
    k, _, off = _layout(model)
    ids = dalle_inputs(text, codes, model)
    mask = (ids != PAD).long()
    logits = model(input_ids=ids, attention_mask=mask).logits[:, TEXT_LEN:-1, off:off + k]
    return torch.nn.functional.cross_entropy(logits.reshape(-1, k), codes.flatten())


@torch.no_grad()
def dalle_iter(model, text: torch.Tensor, generator: torch.Generator | None = None, temperature: float = 1.0,
               top_k: int = 0, guidance: float = 1.0):
    """Sample codes token by token with the KV cache; yields (tokens done, codes so far (N, h*w)) after each token.
    ``top_k`` = 0 samples from the whole codebook; ``guidance`` != 1 runs the NULL_CAPTION rows beside (classifier-free
    guidance; top-k then applies to the guided logits)."""
    k, grid, off = _layout(model)
    if not temperature > 0:
        raise ValueError(f"Temperature must be > 0, got {temperature}.")
    if not 0 <= int(top_k) <= k:
        raise ValueError(f"top-k must be between 0 (off) and {k}, got {top_k}.")
    dev = next(model.parameters()).device
    n = len(text)
    guided = guidance != 1.0
    if guided:
        text = torch.cat([text, torch.tensor([NULL_CAPTION] * n, dtype=torch.long)])
    rows = len(text)
    ids = torch.cat([text.to(dev), torch.full((rows, 1), vocab_size(), dtype=torch.long, device=dev)], 1)
    mask = (ids != PAD).long()
    small = rows < THREADED_BATCH  # one intra-op thread per step (genmodels/threads.py): a busy server's case
    with OneThread(small):
        out = model(input_ids=ids, attention_mask=mask, use_cache=True)
    past, codes = out.cache, torch.zeros(n, grid * grid, dtype=torch.long, device=dev)
    for t in range(grid * grid):
        check_deadline("sampling")
        logits = out.logits[:, -1, off:off + k].float()
        if guided:
            logits = guided_logits(logits, guidance)
        logits = logits / temperature
        if top_k:
            kth = logits.topk(int(top_k), 1).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        nxt = _gumbel_pick(logits, generator)
        codes[:, t] = nxt
        yield t + 1, codes
        if t + 1 < grid * grid:
            mask = torch.cat([mask, torch.ones(rows, 1, dtype=torch.long, device=dev)], 1)
            step = (torch.cat([nxt, nxt]) if guided else nxt) + off
            with OneThread(small):
                out = model(input_ids=step[:, None], attention_mask=mask, cache=past, use_cache=True)
            past = out.cache


def dalle_sample(model, text: torch.Tensor, generator=None, temperature: float = 1.0, top_k: int = 0,
                 guidance: float = 1.0) -> torch.Tensor:
    """(N, TEXT_LEN) caption tokens -> (N, grid, grid) codes."""
    _, grid, _ = _layout(model)
    codes = None
    for _, codes in dalle_iter(model, text, generator, temperature, top_k, guidance):
        pass
    return codes.view(len(text), grid, grid)
