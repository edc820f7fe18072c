"""The tiny Stable Diffusion's UNet: ``python -m genmodels train sd-unet | sd-unet-f4`` (and the experiments
``sd-unet-guided`` / ``sd-unet-repa``).

v-prediction (Salimans & Ho 2022, arXiv:2202.00512) with min-SNR-5 loss weighting (Hang et al. 2023,
arXiv:2303.09556), 10 % empty captions for classifier-free guidance (Ho & Salimans 2022, arXiv:2207.12598); REPA
(Yu et al. 2024, arXiv:2410.06940) as an option; a conditioning monitor (attribute accuracy of samples, read by the
scoring classifier) every few hundred steps into ``runs/<part>/monitor.jsonl``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ...data import shapes
from ...data.dataset import shapes_arrays
from ...training import TrainConfig, accelerator, infinite_batches, train
from . import tiny_sd
from .common import (PIPE, RUNS, WEIGHTS, attribute_accuracy, caption_of, caption_table, load_part, min_snr_weight,
                     noised_batch, out_folder, text_hidden, text_parts_into, train_latents)


def conditioning_monitor(unet, vae, text_encoder, tokenizer, n: int = 96, steps: int = 20, cfg: float = 3.0,
                         seed: int = 0) -> dict:
    """Attribute accuracy of samples for ``n`` test-split captions (DDIM, ``steps``, CFG ``cfg``)."""
    from diffusers import DDIMScheduler

    from .guidance import denoise

    labels = shapes_arrays("test", shapes.TEST_SPLIT_SIZE)["labels"][:n]
    caps = [caption_of(r) for r in labels]
    cond = text_hidden(text_encoder, tokenizer, caps)
    uncond = text_hidden(text_encoder, tokenizer, [""])
    sched = DDIMScheduler.from_config(tiny_sd.default_scheduler().config)
    g = torch.Generator().manual_seed(seed)
    z = denoise(unet, sched, cond, uncond, steps=steps, cfg=cfg, generator=g)
    with torch.no_grad():
        images = vae.decode(z).sample.clamp(-1, 1)
    acc = attribute_accuracy(images, labels)
    pred_all = np.ones(n, bool)
    from ...scoring.backbones import get_backbone

    pred = get_backbone("shapes").attribute_predictions(images)
    for k in ("shape", "colour", "fill"):
        pred_all &= pred[k] == labels[:, shapes.LABEL_COLUMNS.index(k)]
    return {**acc, "class_colour_fill": float(pred_all.mean())}


def _stash_output(module, inputs, output) -> None:
    module._repa_out = output  # read (and removed) by RepaUNet.forward; a plain function, so deepcopy is safe


class RepaUNet(torch.nn.Module):
    """REPA (Yu et al. 2024, "Representation Alignment for Generation", arXiv:2410.06940): the UNet's mid-block
    hidden states of the *noisy* latent, through a small MLP projector (1×1 convs), are pulled towards a frozen
    encoder's features of the *clean* image by a per-location cosine loss; the paper reports 17.5× faster
    convergence of SiT on ImageNet with DINOv2 targets. Here the frozen encoder is the gan-guide network (a
    separately trained shapes net, never the scoring classifier), its 4×4 stage, the mid block's resolution. At high
    noise the only way to predict the clean image's shape features is to read them from the caption, which is the
    path the plain loss leaves unused (docs/experiments: the caption moved the shape of the clean estimate by ≤ 5
    points). Only the UNet is saved; the projector is a training device."""

    def __init__(self, unet, target_dim: int, hidden: int = 256):
        super().__init__()
        self.unet = unet
        c = unet.config.block_out_channels[-1]
        self.proj = torch.nn.Sequential(torch.nn.Conv2d(c, hidden, 1), torch.nn.SiLU(),
                                        torch.nn.Conv2d(hidden, hidden, 1), torch.nn.SiLU(),
                                        torch.nn.Conv2d(hidden, target_dim, 1))
        unet.mid_block.register_forward_hook(_stash_output)

    def forward(self, *args, **kwargs):
        out = self.unet(*args, **kwargs)
        return out, self.proj(self.unet.mid_block.__dict__.pop("_repa_out"))


def train_sd_unet(steps: int = 6000, batch: int = 64, n_train: int = 60_000, seed: int = 0, out=None,
                  run_dir=None, monitor_every: int = 500, guide_weight: float = 0.0, init: str | None = None,
                  text_time: bool = False, lr: float | None = None, repa: float = 0.0, monitor_n: int = 96) -> dict:
    """The UNet with the v-prediction / min-SNR loss. ``guide_weight`` > 0 adds a reward on the one-step clean
    estimate, as in ReFL (Xu et al. 2023, "ImageReward", arXiv:2304.05977): x0 = sqrt(abar) z_t - sqrt(1-abar) v is
    decoded by the frozen VAE and the frozen *gan-guide* network (never the scoring classifier) must read the
    caption's shape / colour / fill / background in it; the diffusion loss stays as the regulariser. ``init``:
    a pipeline folder whose UNet to start from ("embedded" = the shipped one) instead of a random UNet. ``repa`` > 0
    adds REPA's alignment loss with this weight (``RepaUNet``; the paper's λ is 0.5)."""
    torch.manual_seed(seed)
    folder = out_folder(PIPE, out)
    run = Path(run_dir or RUNS / ("sd-unet-guided" if guide_weight else "sd-unet"))
    text_parts_into(folder)
    vae, text_encoder, tokenizer = load_part("vae", folder), load_part("text_encoder", folder), \
        load_part("tokenizer", folder)
    f4 = vae.config.latent_channels != tiny_sd.LATENT_CHANNELS
    uniq, cap_ids, labels = caption_table(n_train)
    lat = train_latents(vae, folder, n_train)
    hid = text_hidden(text_encoder, tokenizer, uniq + [""])  # the last row: the empty caption (for CFG)
    empty = len(uniq)
    sched = tiny_sd.default_scheduler()
    abar_all = sched.alphas_cumprod.float()
    unet = load_part("unet", folder if init == "embedded" else init) if init else \
        tiny_sd.build_unet(text_time=text_time, latent_channels=vae.config.latent_channels if f4 else None)
    guide = None
    if guide_weight:
        from ..gan.projected import GUIDE_HEADS, load_guide

        guide = load_guide()
        vae.requires_grad_(False)
        attrs = torch.from_numpy(labels[:, [shapes.LABEL_COLUMNS.index(k) for k in GUIDE_HEADS]]).long()
    else:
        attrs = torch.zeros(len(cap_ids), 0, dtype=torch.long)
    net, images = unet, None
    if repa:
        from ..gan.projected import load_guide

        encoder = load_guide().requires_grad_(False)
        images = torch.from_numpy(shapes_arrays("train", n_train)["images"]).permute(0, 3, 1, 2).contiguous()
        # Targets standardised per channel: the guide's maps come after a SiLU, so raw vectors all point one way
        # (cosine 0.91 within 150 steps, before anything was learned); standardised, only what tells images apart
        # is left to align.
        with torch.no_grad():
            f = encoder.features(images[:2048].float().div(127.5).sub(1.0))[-1]
        f_mean, f_std = f.mean((0, 2, 3), keepdim=True), f.std((0, 2, 3), keepdim=True).clamp_min(1e-4)
        net = RepaUNet(unet, encoder.widths[-1])
    index = torch.arange(len(cap_ids))

    def loss_fn(m, b, step):
        z0, cid, y, idx = b
        dev = z0.device
        g = torch.Generator().manual_seed(seed * 7919 + step)
        zt, t, v, abar, cid, drop = noised_batch(z0, cid, empty, abar_all, g)
        out = m(zt, t, encoder_hidden_states=hid.to(dev)[cid])
        if repa:
            out, h = out
        pred = out.sample
        w = min_snr_weight(abar.flatten())
        loss = (w * (pred - v).pow(2).mean((1, 2, 3))).mean()
        logs = {"loss": loss.detach()}
        if repa:
            with torch.no_grad():
                x = images[idx.cpu()].float().div(127.5).sub(1.0).to(dev)
                target = (encoder.to(dev).features(x)[-1] - f_mean.to(dev)) / f_std.to(dev)
            align = -F.cosine_similarity(h, target, dim=1).mean()
            loss = loss + repa * align
            logs["repa_cos"] = -align.detach()
        if guide is not None:
            keep = ~drop  # the reward needs the caption: not on the 10 % unconditional rows
            x0 = abar.sqrt() * zt - (1 - abar).sqrt() * pred
            logits = guide.to(dev)(vae.to(dev).decode(x0[keep]).sample)
            reward = sum(F.cross_entropy(logits[k], y[keep, j]) for j, k in enumerate(GUIDE_HEADS))
            loss = loss + guide_weight * reward
            logs["guide_ce"] = reward.detach()
        return loss, logs

    log = run / "monitor.jsonl"

    def hook(step, net, wall):  # on a CPU copy: the VAE and text encoder stay on the CPU
        import copy

        plain = net.unet if isinstance(net, RepaUNet) else net
        r = conditioning_monitor(copy.deepcopy(plain).cpu().eval(), vae, text_encoder, tokenizer, n=monitor_n)
        r.update(step=step, wall_min=round(wall / 60, 1))
        with open(log, "a") as f:
            f.write(json.dumps(r) + "\n")
        print("monitor", r, flush=True)

    # a fine-tune (``init``) starts at a third of the learning rate with a shorter EMA
    cfg = TrainConfig(steps=steps, lr=lr or (3e-4 if init else 1e-3), weight_decay=0.01, warmup=50 if init else 200,
                      ckpt_every=100, seed=seed, ema=0.995 if init else 0.999)
    res = train(net, loss_fn, infinite_batches((lat, cap_ids, attrs, index), batch, seed), cfg, run, desc="sd-unet",
                hook=hook, hook_every=monitor_every)
    state = res["state_dict"]
    if repa:  # the projector is not part of the model
        state = {k[len("unet."):]: v for k, v in state.items() if k.startswith("unet.")}
    unet.load_state_dict(state)
    unet.eval()
    vae = load_part("vae", folder)  # from disk: the decoder may have been fine-tuned meanwhile (sd-vae-decoder)
    base = folder / "unet" / "train.json"
    previous = json.loads(base.read_text()) if (init and base.exists()) else None
    tiny_sd.save_pipeline(folder, vae, unet, text_encoder, tokenizer, fp16=True)
    metrics = {"steps": res["steps"], "wall_min": round(res["wall_s"] / 60, 1), "batch": batch, "lr": cfg.lr,
               "params_M": round(sum(p.numel() for p in unet.parameters()) / 1e6, 3),
               "device": str(accelerator().device)}
    if text_time:
        metrics["text_time_embedding"] = True
    if guide_weight:
        metrics["guide reward weight (gan-guide, ReFL-style)"] = guide_weight
    if repa:
        metrics["REPA weight (gan-guide 4x4 features, mid block)"] = repa
    if previous is not None:  # a fine-tune: keep the record of the run it started from
        metrics = {"fine-tune": metrics, "base": previous.get("base", previous)}
    base.write_text(json.dumps(metrics, indent=2) + "\n")
    if log.exists():
        (folder / "unet" / ("monitor_guided.jsonl" if guide_weight else "monitor.jsonl")).write_text(log.read_text())
    return metrics


def train_sd_unet_f4(steps: int = 12000, batch: int = 32, seed: int = 0, out=None, run_dir=None, **kw) -> dict:
    """The 8x8 UNet (``tiny_sd.f4_unet_config``) on the f = 4 autoencoder's latents (``train sd-ae``), from scratch
    with REPA (weight 0.5, the paper's λ; gan-guide 4x4 features at the mid block), batch 32, AdamW 5e-4 cosine,
    EMA 0.999; monitor (N = 144 test captions, DDIM 20, CFG 3) every 500 steps."""
    folder = Path(out) if out else WEIGHTS / PIPE
    if not (folder / "vae" / "config.json").exists():
        raise FileNotFoundError(f"no autoencoder in {folder / 'vae'}: run `python -m genmodels train sd-ae` first")
    return train_sd_unet(steps=steps, batch=batch, seed=seed, out=folder, run_dir=run_dir or RUNS / "sd-unet-f4",
                         monitor_every=kw.pop("monitor_every", 500), monitor_n=kw.pop("monitor_n", 144),
                         lr=kw.pop("lr", 5e-4), repa=kw.pop("repa", 0.5), **kw)


