"""Training of the Edit family's one trained part: ``python -m genmodels train diffae`` — the Diffusion Autoencoder's
semantic encoder against the tiny Stable Diffusion's frozen UNet, then its linear classifiers (``diffae.py`` has the
model, the paper and the departures). Monitor every ``monitor_every`` steps: a colour swap of held-out items (new
colour recognised, others kept, mask IoU, reconstruction PSNR) and how well linear classifiers read each attribute
from z_sem."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ...data.dataset import to_tensor
from ..diffusion import tiny_sd
from .diffae import ATTRIBUTES, BASE_CAPTION, WEIGHTS, SemanticEncoder, edit_batch, edit_scores, fit_directions


def train_diffae(steps: int = 3000, batch: int = 64, lr: float = 1e-3, n_train: int = 60_000, seed: int = 0,
                 out: str | None = None, run_dir: str | None = None, monitor_every: int = 250, monitor_n: int = 50,
                 n_directions: int = 5000, eval_n: int = 200, config: dict | None = None, ema: float = 0.995,
                 align: float = 0.1) -> dict:
    """``python -m genmodels train diffae``: the semantic encoder against the frozen UNet, then the linear classifiers.
    Every ``monitor_every`` steps: classifiers fit on ``n_directions`` train items' z_sem, and a colour swap of
    ``monitor_n`` test items (new colour recognised, others kept, mask IoU, reconstruction PSNR) into monitor.jsonl."""
    from ...data.dataset import shapes_arrays
    from ...training import TrainConfig, infinite_batches, is_main_process, train
    from ..diffusion.common import caption_table, load_part, min_snr_weight, text_hidden, train_latents
    from .common import edit_pipeline

    torch.manual_seed(seed)
    folder = tiny_sd.WEIGHTS / tiny_sd.PIPE
    pipe = edit_pipeline()
    unet = pipe.unet  # the family's frozen copy
    vae = load_part("vae", folder)
    arr = shapes_arrays("train", n_train)
    lat = train_latents(vae, folder, n_train)
    x = torch.from_numpy(np.ascontiguousarray(arr["images"])).permute(0, 3, 1, 2).contiguous()  # uint8
    enc = SemanticEncoder(**{"trunk": "guide", **(config or {})})
    if enc.trunk is not None:
        from ..gan.projected import WEIGHTS as GAN_WEIGHTS, load_guide

        enc.trunk.load_state_dict(load_guide(GAN_WEIGHTS / "gan-guide").state_dict())
    with torch.no_grad():
        enc.base.copy_(text_hidden(pipe.text_encoder, pipe.tokenizer, [BASE_CAPTION])[0, :enc.tokens])
    abar_all = tiny_sd.default_scheduler().alphas_cumprod.float()
    uniq, cap_ids, _ = caption_table(n_train)
    with torch.no_grad():  # the caption states each item's semantic states are pulled toward (``align`` > 0)
        cap_states = torch.cat([text_hidden(pipe.text_encoder, pipe.tokenizer, uniq[i:i + 256])[:, :enc.tokens]
                                for i in range(0, len(uniq), 256)]) if align else None
    test = shapes_arrays("test", max(monitor_n, eval_n))
    run = Path(run_dir or "runs/diffae")
    log = run / "monitor.jsonl"

    def loss_fn(m, b, step):
        z0, xb, cb = b
        g = torch.Generator().manual_seed(seed * 7919 + step)
        t = torch.randint(0, len(abar_all), (len(z0),), generator=g)
        noise = torch.randn(z0.shape, generator=g)
        abar = abar_all[t].view(-1, 1, 1, 1)
        zt = abar.sqrt() * z0 + (1 - abar).sqrt() * noise
        v = abar.sqrt() * noise - (1 - abar).sqrt() * z0
        states = m(xb.float().div(127.5).sub(1))
        pred = unet(zt, t, encoder_hidden_states=states).sample
        loss = (min_snr_weight(abar.flatten()) * (pred - v).pow(2).mean((1, 2, 3))).mean()
        logs = {"loss": loss.detach()}
        if align:
            aux = (states - cap_states[cb]).pow(2).mean()
            loss = loss + align * aux
            logs["align"] = aux.detach()
        return loss, logs

    def directions_of(net) -> dict:
        idx = slice(0, n_directions)
        with torch.no_grad():
            z = torch.cat([net.encode(to_tensor(arr["images"][i:i + 500]))
                           for i in range(0, n_directions, 500)]).numpy()
        return fit_directions(z, arr["labels"][idx])

    def hook(step, net, wall):
        import copy

        net = copy.deepcopy(net).cpu().eval()
        dirs = directions_of(net)
        res = edit_batch(pipe, net, dirs, test["images"][:monitor_n], test["labels"][:monitor_n], 20)
        rec = {"step": step, "wall_min": round(wall / 60, 2),
               **{f"colour_swap_{k}_{monitor_n}": round(v, 4) for k, v in
                  edit_scores(test["images"][:monitor_n], test["labels"][:monitor_n], res).items()},
               **{f"zsem_{a}_train_acc": round(dirs["attributes"][a]["train_accuracy"], 3) for a in ATTRIBUTES}}
        with open(log, "a") as f:
            f.write(json.dumps(rec) + "\n")
        print("monitor", rec, flush=True)

    run.mkdir(parents=True, exist_ok=True)
    cfg = TrainConfig(steps=steps, lr=lr, weight_decay=0.0, warmup=100, ckpt_every=100, seed=seed, ema=ema,
                      grad_clip=1.0)
    res = train(enc, loss_fn, infinite_batches((lat, x, cap_ids), batch, seed), cfg, run, desc="diffae", hook=hook,
                hook_every=monitor_every, params=[p for p in enc.parameters() if p.requires_grad])
    if not is_main_process():
        return {}
    enc.load_state_dict(res["state_dict"])
    enc.eval()
    dest = Path(out or WEIGHTS)
    enc.save_pretrained(dest)
    dirs = directions_of(enc)
    (dest / "directions.json").write_text(json.dumps(dirs))
    if log.exists():
        (dest / "monitor.jsonl").write_text(log.read_text())
    ev = edit_batch(pipe, enc, dirs, test["images"][:eval_n], test["labels"][:eval_n], 20)
    metrics = {"colour swap, N": eval_n, **{f"colour swap: {k}": round(v, 4) for k, v in
                                             edit_scores(test["images"][:eval_n], test["labels"][:eval_n],
                                                         ev).items()},
               **{f"z_sem linear classifier train accuracy: {a}": round(dirs["attributes"][a]["train_accuracy"], 4)
                  for a in ATTRIBUTES},
               "steps": res["steps"], "wall_min": round(res["wall_s"] / 60, 1)}
    (dest / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    params = sum(p.numel() for p in enc.parameters())
    trainable = sum(p.numel() for n, p in enc.named_parameters() if not n.startswith("trunk."))
    rows = "\n".join(f"| {k} | {v} |" for k, v in metrics.items())
    (dest / "README.md").write_text(f"""---
license: apache-2.0
tags: [genmodels, diffusion-autoencoder, shapes]
---
# edit-diffae: the semantic encoder of a Diffusion Autoencoder over the tiny Stable Diffusion

Preechakul et al. 2022 (arXiv:2111.15640) with the tiny Stable Diffusion's UNet as the frozen decoder
(`genmodels/families/edit/diffae.py` explains the departures); {params:,} parameters, of which
{params - trainable:,} a frozen copy of the GAN family's `gan-guide` network (the trunk) and {trainable:,} trained.

- **Reproduce:** `python -m genmodels train diffae` (resumable; checkpoints in `runs/diffae/`)
- **Recipe:** {steps} steps planned, batch {batch}, lr {lr:g}, EMA {ema:g}, {n_train:,} train items; the UNet's own
  v-prediction loss with min-SNR-5 weights + {align:g} x squared distance of the states to the item caption's text
  states, gradients to the encoder only; linear classifiers on {n_directions:,}
  train items' z_sem (`directions.json`)
- **Wall time:** {res['wall_s'] / 60:.1f} min, {res['steps']} steps, {torch.get_num_threads()} threads

## Held-out (test items 0-{eval_n - 1}: colour moved three colours on, from x_T, DDIM 20 steps, scoring classifier)

The Edit tab's default re-runs 0.75 of the steps instead of all of them; its numbers (the acceptance run) are in
`genmodels/weights/edit/metrics.json` (`python -m genmodels.families.edit.evaluate --n 200 --only diffae`).

| metric | value |
|---|---|
{rows}
""")
    return metrics
