"""Training of the guidance nets on noisy latents: ``python -m genmodels train noisy-classifier | noisy-clip``.

The noise-aware classifier of ADM (Dhariwal & Nichol 2021, arXiv:2105.05233) and the noised CLIP image tower of
GLIDE (Nichol et al. 2021, arXiv:2112.10741) over the pipeline's latents; the networks are in ``nets.py``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ...data import shapes
from ...data.dataset import shapes_arrays, to_tensor
from ...training import TrainConfig, infinite_batches, train
from . import tiny_sd
from .text import soft_clip_loss
from .common import (PIPE, RUNS, caption_of, caption_table, encode_latents, load_part, out_folder,
                     text_parts_into, tokenize, train_latents, write_card)


def _noised(sched, z0: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    t = torch.randint(0, sched.config.num_train_timesteps, (len(z0),), generator=g)
    abar = sched.alphas_cumprod.float()[t].view(-1, 1, 1, 1)
    return abar.sqrt() * z0 + (1 - abar).sqrt() * torch.randn(z0.shape, generator=g), t


@torch.no_grad()
def noisy_accuracy(net, sched, z0: torch.Tensor, labels: np.ndarray, timesteps=(0, 250, 500, 750, 999),
                   seed: int = 0) -> dict:
    """Per-head accuracy of the noisy classifier on test latents noised to each of ``timesteps``."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for t in timesteps:
        abar = sched.alphas_cumprod.float()[t]
        zt = abar.sqrt() * z0 + (1 - abar).sqrt() * torch.randn(z0.shape, generator=g)
        logits = net.logits(zt, torch.full((len(z0),), t))
        for k, v in logits.items():
            out[f"{k}_acc_t{t}"] = round(float((v.argmax(1).numpy() == labels[:, shapes.LABEL_COLUMNS.index(k)]
                                                ).mean()), 4)
    return out


def train_noisy_classifier(steps: int = 6000, batch: int = 128, n_train: int = 60_000, seed: int = 0, out=None,
                           run_dir=None, pipe=None) -> dict:
    """``pipe``: the pipeline folder whose latents it reads (default: the embedded one)."""
    from .nets import HEADS, NoisyLatentEncoder

    torch.manual_seed(seed)
    folder = Path(pipe) if pipe else out_folder(PIPE, None)
    vae = load_part("vae", folder)
    lat = train_latents(vae, folder, n_train)
    y = torch.from_numpy(shapes_arrays("train", n_train)["labels"][:, :4].astype(np.int64))
    sched = tiny_sd.default_scheduler()
    net = NoisyLatentEncoder(in_channels=vae.config.latent_channels, heads=HEADS)

    def loss_fn(m, b, step):
        z0, yy = b
        zt, t = _noised(sched, z0, torch.Generator().manual_seed(seed * 7919 + step))
        logits = m.logits(zt, t)
        losses = {k: F.cross_entropy(v, yy[:, shapes.LABEL_COLUMNS.index(k)]) for k, v in logits.items()}
        loss = sum(losses.values())
        return loss, {k: v.detach() for k, v in losses.items()}

    run = Path(run_dir or RUNS / "noisy-classifier")
    log = run / "monitor.jsonl"
    held = shapes_arrays("test", 500)
    z_held = encode_latents(vae, to_tensor(held["images"]))

    def hook(step, ema, wall):
        r = {"step": step, "wall_min": round(wall / 60, 1),
             **noisy_accuracy(ema.eval(), sched, z_held, held["labels"], timesteps=(0, 500))}
        with open(log, "a") as f:
            f.write(json.dumps(r) + "\n")
        print("monitor", r, flush=True)

    cfg = TrainConfig(steps=steps, lr=2e-3, weight_decay=0.01, warmup=100, seed=seed, ema=0.999)
    res = train(net, loss_fn, infinite_batches((lat, y), batch, seed), cfg, run, desc="noisy-classifier",
                hook=hook, hook_every=250)
    net.load_state_dict(res["state_dict"])
    net.eval()
    dest = out_folder("sd-noisy-classifier", out)
    tiny_sd.save_fp16(net, dest)
    test = shapes_arrays("test", shapes.TEST_SPLIT_SIZE)
    acc = noisy_accuracy(net, sched, encode_latents(vae, to_tensor(test["images"])), test["labels"])
    metrics = {"steps": steps, "wall_min": round(res["wall_s"] / 60, 1),
               "params_M": round(sum(p.numel() for p in net.parameters()) / 1e6, 3), **acc}
    write_card(dest, "sd-noisy-classifier: p(shape, colour, fill, background | z_t, t) on the tiny SD's latents",
          "Trained by `python -m genmodels train noisy-classifier` (ADM-style classifier guidance, Dhariwal & Nichol "
          f"2021) on VAE latents of {n_train:,} train items noised at t ~ U[0, 1000) with the pipeline's schedule; "
          "accuracy on the 2,000-item test split at fixed t.", metrics)
    if log.exists():
        (dest / "monitor.jsonl").write_text(log.read_text())
    return metrics


def train_noisy_clip(steps: int = 2000, batch: int = 256, n_train: int = 60_000, seed: int = 0, out=None,
                     run_dir=None, pipe=None) -> dict:
    """``pipe``: the pipeline folder whose latents and text encoder it uses (default: the embedded one)."""
    from .nets import NoisyLatentEncoder

    torch.manual_seed(seed)
    folder = Path(pipe) if pipe else out_folder(PIPE, None)
    text_parts_into(folder)
    vae, text_encoder, tokenizer = load_part("vae", folder), load_part("text_encoder", folder), \
        load_part("tokenizer", folder)
    lat = train_latents(vae, folder, n_train)
    uniq, cap_ids, _ = caption_table(n_train)
    with torch.no_grad():
        pooled = text_encoder(input_ids=tokenize(tokenizer, uniq)).pooler_output
    sched = tiny_sd.default_scheduler()
    net = NoisyLatentEncoder(in_channels=vae.config.latent_channels, proj_dim=tiny_sd.TEXT_DIM,
                             text_dim=tiny_sd.TEXT_DIM)

    def loss_fn(m, b, step):
        z0, cid = b
        zt, t = _noised(sched, z0, torch.Generator().manual_seed(seed * 7919 + step))
        loss = soft_clip_loss(m.embed_image(zt, t), m.embed_text(pooled[cid]), m.logit_scale.exp(), cid)
        return loss, {"loss": loss.detach()}

    cfg = TrainConfig(steps=steps, lr=2e-3, weight_decay=0.01, warmup=100, seed=seed, ema=0.999)
    res = train(net, loss_fn, infinite_batches((lat, cap_ids), batch, seed), cfg, run_dir or RUNS / "noisy-clip",
                desc="noisy-clip")
    net.load_state_dict(res["state_dict"])
    net.eval()
    dest = out_folder("sd-noisy-clip", out)
    tiny_sd.save_fp16(net, dest)
    test = shapes_arrays("test", 1000)
    tcaps = sorted({caption_of(r) for r in test["labels"]})
    truth = torch.tensor([tcaps.index(caption_of(r)) for r in test["labels"]])
    z0 = encode_latents(vae, to_tensor(test["images"]))
    with torch.no_grad():
        txt = net.embed_text(text_encoder(input_ids=tokenize(tokenizer, tcaps)).pooler_output)
        top1 = {f"retrieval_top1_t{t}": round(float(((net.embed_image(
            sched.alphas_cumprod[t].sqrt() * z0 + (1 - sched.alphas_cumprod[t]).sqrt() * torch.randn(
                z0.shape, generator=torch.Generator().manual_seed(t)), torch.full((len(z0),), t)) @ txt.T
        ).argmax(1) == truth).float().mean()), 4) for t in (0, 250, 500, 750)}
    metrics = {"steps": steps, "wall_min": round(res["wall_s"] / 60, 1),
               "params_M": round(sum(p.numel() for p in net.parameters()) / 1e6, 3), **top1}
    write_card(dest, "sd-noisy-clip: a noise-aware CLIP image tower on the tiny SD's latents",
          "Trained by `python -m genmodels train noisy-clip` (GLIDE-style noised CLIP, Nichol et al. 2021) against "
          "the pipeline's frozen text encoder (pooled output + a linear projection trained here), latents noised at "
          f"t ~ U[0, 1000); {n_train:,} train items. Caption retrieval top-1 among the test split's distinct "
          "captions at fixed t. Not the scoring module's CLIP.", metrics)
    return metrics

