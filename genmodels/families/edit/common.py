"""What every edit method shares — no Gradio here: the family's own copy of the tiny Stable Diffusion's UNet, text /
image <-> latent, DDIM schedulers built from the pipeline's own scheduler config, classifier-free guidance, masks at
latent resolution and the shapes test items the tab and the evaluation start from.

Song, Meng & Ermon 2020, "Denoising Diffusion Implicit Models", arXiv:2010.02502 (the deterministic sampler every
method here inverts and re-runs); Ho & Salimans 2022, "Classifier-Free Diffusion Guidance", arXiv:2207.12598.

Why a copy of the UNet: Prompt-to-Prompt and DragDiffusion swap the UNet's attention processors
(``unet.set_attn_processor``) while they run. The pipeline ``diffusion.service.load_pipeline`` returns is shared with
the Diffusion and Distilled-sampler tabs; swapping processors on it would change their samples mid-request. The copy
costs 25 MB (6.4 M parameters in float32); the VAE and text encoder are shared (only ever run forward).
"""
from __future__ import annotations

import copy
import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from ...data import shapes
from ...loading import serial_load
from ...validate import InputError, parse_test_index
from ..diffusion import lab
from ..diffusion import service as sd

EMBEDDED = sd.EMBEDDED
OUT = sd.WEIGHTS / "edit"  # metrics.json of `python -m genmodels.families.edit.evaluate`
STEPS_RANGE = (2, 50)
CFG_RANGE = (1.0, 10.0)
LOCK = threading.Lock()  # one edit at a time per process: the methods swap the UNet copy's attention processors


@lru_cache(maxsize=2)
@serial_load
def edit_pipeline(source: str = EMBEDDED):
    """A ``StableDiffusionPipeline`` over the shared pipeline's VAE, text encoder and tokenizer, with its own copy of
    the UNet (frozen: DragDiffusion differentiates through it with respect to the latent only)."""
    from diffusers import StableDiffusionPipeline

    base = sd.load_pipeline(source)
    comps = dict(base.components)
    comps["unet"] = copy.deepcopy(base.unet).eval().requires_grad_(False)
    pipe = StableDiffusionPipeline(**comps, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


# ---- text, images, latents ------------------------------------------------------------------------------------

def encode_text(pipe, texts: list[str]) -> torch.Tensor:
    """The text encoder's token states (len(texts), max tokens, D), as the UNet's cross-attention reads them."""
    return lab.encode_text(pipe, list(texts))[0]


def encode_image(pipe, image: np.ndarray) -> torch.Tensor:
    """One uint8 (H, W, 3) image -> its VAE latent mean (1, C, h, w), scaled as the UNet sees latents."""
    return lab.encode_images(pipe, np.asarray(image)[None])


def decode(pipe, z: torch.Tensor) -> np.ndarray:
    """Latents (N, C, h, w) -> uint8 images (N, H, W, 3)."""
    return lab.decode(pipe, z.detach())


def image_size(pipe) -> int:
    return sd.image_size(pipe)


def tokens(tokenizer, text: str) -> list[str]:
    """The tokens of ``text`` without the start / end tokens, as the tokenizer writes them (e.g. 'red</w>')."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return tokenizer.convert_ids_to_tokens(ids)


def token_limit(tokenizer) -> int:
    """Tokens a prompt may have besides the start and end tokens."""
    return int(tokenizer.model_max_length) - 2


def check_prompt(pipe, prompt, what: str = "prompt", allow_empty: bool = False) -> str:
    """The diffusion tab's prompt check, and refuse (rather than cut) a prompt longer than the text encoder reads:
    an edit aligns tokens by position, so a silently cut prompt would edit something else than what was asked."""
    try:
        prompt, _ = sd.check_prompt(pipe.tokenizer, prompt, what, allow_empty=allow_empty)
    except ValueError as e:
        raise InputError(str(e)) from None
    prompt = " ".join(prompt.split())
    n, limit = len(tokens(pipe.tokenizer, prompt)), token_limit(pipe.tokenizer)
    if n > limit:
        raise InputError(f"The {what} has {n} tokens; the text encoder reads at most {limit}. Shorten it, e.g. "
                         "'a small red striped star on a light background' (9 tokens).")
    return prompt


# ---- DDIM -----------------------------------------------------------------------------------------------------

def ddim(pipe, steps: int):
    """A fresh ``DDIMScheduler`` from the pipeline's own scheduler config (v-prediction, trailing timesteps, no
    clipping), set to ``steps`` steps."""
    from diffusers import DDIMScheduler

    sched = DDIMScheduler.from_config(pipe.scheduler.config)
    sched.set_timesteps(int(steps))
    return sched


def ddim_inverse(pipe, steps: int):
    """The matching ``DDIMInverseScheduler``: its timesteps are the DDIM ones in reverse order."""
    from diffusers import DDIMInverseScheduler

    sched = DDIMInverseScheduler.from_config(pipe.scheduler.config)
    sched.set_timesteps(int(steps))
    return sched


def guided(unet, z: torch.Tensor, t, cond: torch.Tensor, uncond: torch.Tensor | None, cfg: float) -> torch.Tensor:
    """The UNet's prediction with classifier-free guidance ``cfg`` (one batched call; cfg = 1: the conditional
    prediction alone). ``cond`` has one row per latent; ``uncond`` one row (broadcast)."""
    if cfg == 1.0 or uncond is None:
        return unet(z, t, encoder_hidden_states=cond).sample
    n = len(z)
    out = unet(torch.cat([z, z]), t, encoder_hidden_states=torch.cat([uncond.expand(n, -1, -1), cond])).sample
    u, c = out.chunk(2)
    return u + cfg * (c - u)


def initial_noise(pipe, seed: int, n: int = 1) -> torch.Tensor:
    """Initial latents: image i from ``torch.Generator().manual_seed(seed + i)`` (as the other diffusion tabs)."""
    c, s = pipe.unet.config.in_channels, pipe.unet.config.sample_size
    return torch.cat([torch.randn((1, c, s, s), generator=g) for g in sd.generators(int(seed), n)])


# ---- masks ----------------------------------------------------------------------------------------------------

def latent_mask(mask: np.ndarray, latent_side: int) -> torch.Tensor:
    """A pixel mask (H, W) -> (1, 1, h, w) float {0, 1} at latent resolution: a latent cell is editable when any of
    its pixels is (max-pooling, so the edited region covers the whole mask)."""
    m = torch.from_numpy(np.asarray(mask, dtype=np.float32))[None, None]
    f = m.shape[-1] // int(latent_side)
    return torch.nn.functional.max_pool2d(m, f) if f > 1 else m


def check_mask(mask: np.ndarray, latent_side: int, what: str = "mask") -> torch.Tensor:
    """Refuse an empty mask and one that leaves nothing to keep; returns the latent mask."""
    mask = np.asarray(mask, bool)
    if not mask.any():
        raise InputError(f"The {what} is empty: paint over the part of the image to change (or pick 'the item's "
                         "shape').")
    if mask.all():
        raise InputError(f"The {what} covers the whole image, so nothing would be kept: leave some of it unpainted "
                         "(to change everything, use the Diffusion tab's text → image).")
    m = latent_mask(mask, latent_side)
    if bool((m > 0).all()):
        f = mask.shape[0] // latent_side
        raise InputError(f"The {what} touches every {f}×{f}-pixel cell of the {latent_side}×{latent_side} latent, so "
                         "no latent cell would be kept: leave at least one cell unpainted.")
    return m


def dilate(mask: np.ndarray, px: int = 1) -> np.ndarray:
    from scipy import ndimage

    return ndimage.binary_dilation(np.asarray(mask, bool), iterations=int(px)) if px > 0 else np.asarray(mask, bool)


# ---- test items -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Item:
    image: np.ndarray  # uint8 (32, 32, 3)
    caption: str
    mask: np.ndarray | None  # bool (32, 32): the shape's exact mask (None for uploads)
    labels: np.ndarray | None  # LABEL_COLUMNS order (None for uploads)
    name: str


def test_item(index) -> Item:
    """Item ``index`` of the shapes test split: image, caption, exact shape mask, labels."""
    i = parse_test_index(index)
    it = shapes.item("test", i, twin=False)
    lab_ = it.labels
    labels = np.array([lab_[k] for k in shapes.LABEL_COLUMNS], dtype=np.int64)
    return Item(it.image, it.caption, it.mask, labels, f"test item {i}")


def named_attributes(prompt: str) -> dict[str, int]:
    """The shapes attributes a prompt names (shape, colour, fill, background, size), first mention of each."""
    words = prompt.lower().replace(",", " ").split()
    found = {}
    for key, names in (("shape", shapes.SHAPES), ("colour", shapes.COLOUR_NAMES), ("fill", shapes.FILLS),
                       ("background", shapes.BACKGROUNDS), ("size", shapes.SIZES)):
        hit = [names.index(w) for w in words if w in names]
        if hit:
            found[key] = hit[0]
    return found


def swap_word(caption: str, old: str, new: str) -> str:
    """``caption`` with the whole word ``old`` replaced by ``new`` (first occurrence)."""
    words = caption.split()
    if old not in words:
        raise ValueError(f"'{old}' is not a word of '{caption}'")
    words[words.index(old)] = new
    return " ".join(words)
