"""The shapes domain's caption grammar and its word-level tokenizer, shared by every caption-conditioned model
that trains its own text encoder (the VAE family's DALL-E-style prior, the GAN family's StackGAN).

Captions follow ``shapes.SceneParams.caption``: "a small red striped star on a light background". The vocabulary is
the grammar's 24 words (plus a few synonyms); unknown words are ignored and reported, a caption with no known
attribute word is refused. ``caption_tokens`` can drop the optional attributes (size, fill, background) at random
and replace whole captions by ``NULL_CAPTION`` (classifier-free guidance training).
"""
from __future__ import annotations

import re

import torch

from . import shapes

PAD = 0
WORDS = ("a", "on", "background") + shapes.SIZES + shapes.COLOUR_NAMES + shapes.FILLS + shapes.SHAPES + \
    shapes.BACKGROUNDS
TEXT_LEN = 10  # "a large blue striped heart on a dark background" is 9 words
MAX_CAPTION_CHARS = 200
SYNONYMS = {"an": "a", "big": "large", "tiny": "small", "little": "small", "striping": "striped", "stripy": "striped", "stripes": "striped", "plain": "solid",
            "circles": "circle", "squares": "square", "triangles": "triangle", "stars": "star",
            "crosses": "cross", "hearts": "heart", "backdrop": "background"}


def vocab_size() -> int:
    return len(WORDS) + 1


def tokenize(caption: str) -> tuple[list[int], list[str], bool]:
    """Caption -> (token ids, unknown words that were ignored, whether it was truncated to TEXT_LEN words).
    Raises ValueError for an empty caption or one with no known word."""
    if caption is None or not str(caption).strip():
        raise ValueError("The caption is empty; try e.g. 'a large blue striped heart on a dark background'.")
    text = str(caption)[:MAX_CAPTION_CHARS].lower()
    words = [SYNONYMS.get(w, w) for w in re.findall(r"[a-z]+", text)]
    known = [w for w in words if w in WORDS]
    unknown = sorted({w for w in words if w not in WORDS})
    if not [w for w in known if w not in ("a", "on", "background")]:
        raise ValueError("The caption names no shape, colour, fill, size or background this model knows "
                         f"(ignored: {', '.join(unknown) or 'everything'}); known words: "
                         f"{', '.join(WORDS[3:])}.")
    truncated = len(known) > TEXT_LEN or len(str(caption)) > MAX_CAPTION_CHARS
    return [WORDS.index(w) + 1 for w in known[:TEXT_LEN]], unknown, truncated


def pad_tokens(ids: list[int]) -> list[int]:
    return ids + [PAD] * (TEXT_LEN - len(ids))


def caption_of(labels, keep: dict | None = None) -> str:
    """The domain's caption grammar from a label row (shape, colour, fill, background, size); ``keep`` may switch
    off the optional attributes (size / fill / background) for caption dropout."""
    keep = keep or {}
    s, c, f, b, z = (int(v) for v in labels[:5])
    parts = ["a"]
    if keep.get("size", True):
        parts.append(shapes.SIZES[z])
    parts.append(shapes.COLOUR_NAMES[c])
    if keep.get("fill", True):
        parts.append(shapes.FILLS[f])
    parts.append(shapes.SHAPES[s])
    if keep.get("background", True):
        parts += ["on", "a", shapes.BACKGROUNDS[b], "background"]
    return " ".join(parts)


def caption_tokens(labels: torch.Tensor, drop: float = 0.0, generator: torch.Generator | None = None,
                   null: float = 0.0) -> torch.Tensor:
    """(N, >=5) label rows -> (N, TEXT_LEN) padded caption tokens, each optional attribute dropped with prob ``drop``
    and the whole caption replaced by NULL_CAPTION with prob ``null`` (classifier-free guidance training)."""
    out = []
    for row in labels.tolist():
        if null and bool(torch.rand((), generator=generator) < null):
            out.append(list(NULL_CAPTION))
            continue
        keep = {k: bool(torch.rand((), generator=generator) >= drop) for k in ("size", "fill", "background")} \
            if drop else None
        out.append(pad_tokens(tokenize(caption_of(row, keep))[0]))
    return torch.tensor(out, dtype=torch.long)



NULL_CAPTION = [WORDS.index("a") + 1] + [PAD] * (TEXT_LEN - 1)  # not all padding: a fully masked row gives NaNs
