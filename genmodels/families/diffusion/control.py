"""ControlNet training on exact edge maps: ``python -m genmodels train controlnet``.

Zhang, Rao, Agrawala 2023, "Adding Conditional Control to Text-to-Image Diffusion Models", arXiv:2302.05543: a
trainable copy of the UNet's encoder (``ControlNetModel.from_unet``) with zero-initialised output convolutions, the
UNet frozen. The conditioning embedding downsamples the 32x32 edge map to the latent's size.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ...data.dataset import shapes_arrays
from ...training import TrainConfig, accelerator, infinite_batches, train
from . import tiny_sd
from .common import (noised_batch, PIPE, RUNS, attribute_accuracy, caption_of, caption_table, load_part, min_snr_weight,
                     out_folder, text_hidden, train_latents)


def control_image(edges: np.ndarray) -> torch.Tensor:
    """Edge maps (N, H, W) bool -> ControlNet conditioning (N, 3, H, W) in [0, 1], as SD ControlNets take it."""
    e = torch.from_numpy(np.asarray(edges, dtype=np.float32))
    return e[:, None].expand(-1, 3, -1, -1).contiguous()


def build_controlnet(unet, small: bool = False):
    from diffusers import ControlNetModel

    # one stride-2 conv per entry after the first: 32x32 edges -> the latent's size (16x16: two entries, 8x8: three)
    steps = int(np.log2(tiny_sd.IMAGE_SIZE // unet.config.sample_size))
    chans = (8, 16, 32, 64) if small else (16, 32, 64, 96)
    return ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=chans[:steps + 1])


@torch.no_grad()
def control_monitor(unet, net, vae, text_encoder, tokenizer, n: int = 96, steps: int = 20, cfg: float = 3.0,
                    seed: int = 0) -> dict:
    """Edge F1 (the scoring module's Canny vs the exact edge map) and attribute accuracy of ControlNet samples for
    the first ``n`` test items, each given its own caption and edge map (DDIM ``steps``, CFG ``cfg``)."""
    from diffusers import DDIMScheduler

    from ...data import shapes
    from ...data.dataset import to_uint8
    from ...scoring.edges import edge_f1
    from .guidance import denoise

    arr = shapes_arrays("test", shapes.TEST_SPLIT_SIZE, full=True)
    labels, edges = arr["labels"][:n], arr["edges"][:n]
    cond = text_hidden(text_encoder, tokenizer, [caption_of(r) for r in labels])
    uncond = text_hidden(text_encoder, tokenizer, [""])
    ctrl = control_image(edges)
    sched = DDIMScheduler.from_config(tiny_sd.default_scheduler().config)

    def control(x, t, hidden):
        c = torch.cat([ctrl] * (len(x) // len(ctrl)))
        return net(x, t, encoder_hidden_states=hidden, controlnet_cond=c, return_dict=False)

    z = denoise(unet, sched, cond, uncond, steps=steps, cfg=cfg, generator=torch.Generator().manual_seed(seed),
                control=control)
    images = vae.decode(z).sample.clamp(-1, 1)
    return {"edge_f1": round(float(edge_f1(to_uint8(images), edges).mean()), 4),
            **{k: round(v, 4) for k, v in attribute_accuracy(images, labels).items()}}


def train_controlnet(steps: int = 2400, batch: int = 32, n_train: int = 60_000, seed: int = 0, out=None,
                     run_dir=None, pipe=None, lr: float = 1e-3, monitor_every: int = 250,
                     monitor_n: int = 96) -> dict:
    """ControlNet (Zhang et al. 2023) on exact edge maps, the UNet frozen; 10 % empty captions so it also works
    without a prompt; zero-initialised output convs (``from_unet``) so training starts from the plain UNet.
    ``pipe``: the pipeline folder whose UNet it controls (default: the embedded one)."""
    torch.manual_seed(seed)
    folder = Path(pipe) if pipe else out_folder(PIPE, None)
    vae, text_encoder, tokenizer, unet = (load_part(p, folder) for p in ("vae", "text_encoder", "tokenizer", "unet"))
    unet.requires_grad_(False)
    uniq, cap_ids, _ = caption_table(n_train)
    lat = train_latents(vae, folder, n_train)
    edges = control_image(shapes_arrays("train", n_train, full=True)["edges"])
    hid = text_hidden(text_encoder, tokenizer, uniq + [""])
    empty = len(uniq)
    sched = tiny_sd.default_scheduler()
    abar_all = sched.alphas_cumprod.float()
    net = build_controlnet(unet)

    def loss_fn(m, b, step):
        z0, cid, ctrl = b
        dev = z0.device
        unet.to(dev)
        g = torch.Generator().manual_seed(seed * 7919 + step)
        zt, t, v, abar, cid, drop = noised_batch(z0, cid, empty, abar_all, g)
        states = hid.to(dev)[cid]
        down, mid = m(zt, t, encoder_hidden_states=states, controlnet_cond=ctrl, return_dict=False)
        pred = unet(zt, t, encoder_hidden_states=states, down_block_additional_residuals=down,
                    mid_block_additional_residual=mid).sample
        loss = (min_snr_weight(abar.flatten()) * (pred - v).pow(2).mean((1, 2, 3))).mean()
        return loss, {"loss": loss.detach()}

    run = Path(run_dir or RUNS / "controlnet")
    log = run / "monitor.jsonl"

    def hook(step, ema, wall):
        import copy

        r = {"step": step, "wall_min": round(wall / 60, 1),
             **control_monitor(unet.cpu(), copy.deepcopy(ema).cpu().eval(), vae, text_encoder, tokenizer,
                               n=monitor_n)}
        with open(log, "a") as f:
            f.write(json.dumps(r) + "\n")
        print("monitor", r, flush=True)

    cfg = TrainConfig(steps=steps, lr=lr, weight_decay=0.01, warmup=100, ckpt_every=100, seed=seed, ema=0.999)
    res = train(net, loss_fn, infinite_batches((lat, cap_ids, edges), batch, seed), cfg, run, desc="controlnet",
                hook=hook, hook_every=monitor_every)
    net.load_state_dict(res["state_dict"])
    dest = out_folder("tiny-sd-controlnet-edges", out)
    tiny_sd.save_fp16(net, dest)
    metrics = {"steps": res["steps"], "wall_min": round(res["wall_s"] / 60, 1), "batch": batch, "lr": lr,
               "params_M": round(sum(p.numel() for p in net.parameters()) / 1e6, 3),
               "device": str(accelerator().device)}
    (dest / "train.json").write_text(json.dumps(metrics, indent=2) + "\n")
    if log.exists():
        (dest / "monitor.jsonl").write_text(log.read_text())
    return metrics

