"""Helpers every tiny-SD training command shares: where runs go, model cards, VAE round trips and the scoring
classifier's reading of attributes (Rombach et al. 2022, arXiv:2112.10752, is the model they serve)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ...checkpoints import safe_load
from ...data import shapes
from ...data.dataset import shapes_arrays, to_tensor
from . import tiny_sd

RUNS = Path("runs")
WEIGHTS = tiny_sd.WEIGHTS
PIPE = tiny_sd.PIPE


def write_card(folder: Path, title: str, body: str, metrics: dict) -> None:
    """``metrics.json`` + a ``README.md`` model card with the metrics as a table."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    rows = "\n".join(f"| {k} | {v} |" for k, v in metrics.items())
    (folder / "README.md").write_text(f"# {title}\n\n{body}\n\n| measure | value |\n|---|---|\n{rows}\n")


@torch.no_grad()
def latent_stats(vae, images: torch.Tensor, batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    z = torch.cat([vae.encode(images[i:i + batch]).latent_dist.mean for i in range(0, len(images), batch)])
    return z.mean((0, 2, 3)), z.std((0, 2, 3))


@torch.no_grad()
def reconstruct(vae, images: torch.Tensor, batch: int = 256) -> torch.Tensor:
    return torch.cat([vae.decode(vae.encode(images[i:i + batch]).latent_dist.mean).sample
                      for i in range(0, len(images), batch)])


def attribute_accuracy(images, labels: np.ndarray) -> dict[str, float]:
    """Share of images whose attributes the domain classifier reads as ``labels`` (columns of LABEL_COLUMNS)."""
    from ...scoring.backbones import get_backbone

    pred = get_backbone("shapes").attribute_predictions(images)
    return {k: float((pred[k] == labels[:, shapes.LABEL_COLUMNS.index(k)]).mean())
            for k in ("shape", "colour", "fill", "background")}


def out_folder(part: str, out) -> Path:
    return Path(out) if out else WEIGHTS / part


def caption_of(labels_row) -> str:
    s, c, f, b, z = (int(v) for v in labels_row[:5])
    return (f"a {shapes.SIZES[z]} {shapes.COLOUR_NAMES[c]} {shapes.FILLS[f]} {shapes.SHAPES[s]} "
            f"on a {shapes.BACKGROUNDS[b]} background")


def tokenize(tokenizer, texts: list[str]) -> torch.Tensor:
    return tokenizer(texts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                     return_tensors="pt")["input_ids"]


def caption_table(n_train: int) -> tuple[list[str], torch.Tensor, np.ndarray]:
    """The unique captions of the first ``n_train`` train items, each item's caption index, and the labels."""
    labels = shapes_arrays("train", n_train)["labels"]
    caps = [caption_of(r) for r in labels]
    uniq = sorted(set(caps))
    index = {c: i for i, c in enumerate(uniq)}
    return uniq, torch.tensor([index[c] for c in caps]), labels


def load_part(part: str, folder=None):
    """One part of the embedded (or given) pipeline folder: vae, text_encoder, tokenizer, unet, scheduler."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    root = Path(folder) if folder else WEIGHTS / PIPE
    cls = {"vae": AutoencoderKL, "text_encoder": CLIPTextModel, "tokenizer": CLIPTokenizer,
           "unet": UNet2DConditionModel, "scheduler": DDPMScheduler}[part]
    obj = cls.from_pretrained(str(root / part))
    return obj.float().eval() if hasattr(obj, "eval") else obj  # stored in fp16; train / run in float32


@torch.no_grad()
def encode_latents(vae, images: torch.Tensor, batch: int = 512) -> torch.Tensor:
    return torch.cat([vae.encode(images[i:i + batch]).latent_dist.mean for i in range(0, len(images), batch)])


@torch.no_grad()
def text_hidden(text_encoder, tokenizer, texts: list[str]) -> torch.Tensor:
    return text_encoder(input_ids=tokenize(tokenizer, texts)).last_hidden_state


def cached(path: Path, make):
    if path.exists():
        return safe_load(path)
    value = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(value, path)
    return value


def train_latents(vae, folder, n_train: int) -> torch.Tensor:
    """VAE latent means of the first ``n_train`` train items, cached per *encoder* weights (rounded to fp16, so a
    decoder fine-tune or an fp16 save does not invalidate the cache)."""
    import hashlib

    from ...data.dataset import cache_dir

    h = hashlib.sha1()
    for name, t in sorted({**dict(vae.encoder.state_dict()), **{f"q.{k}": v for k, v in
                                                                vae.quant_conv.state_dict().items()}}.items()):
        h.update(name.encode())
        h.update(t.detach().half().numpy().tobytes())
    return cached(cache_dir() / "sd-latents" / f"{h.hexdigest()[:16]}-{n_train}.pt",
                   lambda: encode_latents(vae, to_tensor(shapes_arrays("train", n_train)["images"])))


def min_snr_weight(abar: torch.Tensor, gamma: float = 5.0) -> torch.Tensor:
    """Min-SNR-gamma weights for a v-prediction loss: min(SNR, gamma) / (SNR + 1)."""
    snr = abar / (1 - abar)
    return snr.clamp(max=gamma) / (snr + 1)


def text_parts_into(folder: Path) -> None:
    """A new pipeline folder (the f = 4 one) takes the shipped caption encoder and tokenizer as they are."""
    import shutil

    for part in ("text_encoder", "tokenizer"):
        if not (folder / part).exists() and (WEIGHTS / PIPE / part).exists():
            shutil.copytree(WEIGHTS / PIPE / part, folder / part)


def noised_batch(z0: torch.Tensor, cid: torch.Tensor, empty: int, abar_all: torch.Tensor, g: torch.Generator,
                 drop_rate: float = 0.1):
    """One v-prediction training batch: captions dropped to ``empty`` with ``drop_rate`` (for classifier-free
    guidance), t ~ U[0, T), z_t = sqrt(abar) z0 + sqrt(1 - abar) eps and the target v = sqrt(abar) eps -
    sqrt(1 - abar) z0 (Salimans & Ho 2022). Returns (z_t, t, v, abar, caption ids, dropped)."""
    dev = z0.device
    drop = (torch.rand(len(cid), generator=g) < drop_rate).to(dev)
    cid = torch.where(drop, torch.full_like(cid, empty), cid)
    t = torch.randint(0, len(abar_all), (len(z0),), generator=g).to(dev)
    noise = torch.randn(z0.shape, generator=g).to(dev)
    abar = abar_all.to(dev)[t].view(-1, 1, 1, 1)
    zt = abar.sqrt() * z0 + (1 - abar).sqrt() * noise
    return zt, t, abar.sqrt() * noise - (1 - abar).sqrt() * z0, abar, cid, drop
