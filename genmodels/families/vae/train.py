"""Training of the VAE family's embedded models: ``python -m genmodels train vae | cvae | vqvae | vq-prior | vq-dalle``.

The CVAE trains as a CVAE-GAN in its own loop (``cvae_gan_train.py``: a discriminator beside the ELBO). The others use the
shared loop (``genmodels.training``: accelerate, AdamW with warm-up + cosine decay, optional EMA,
resumable ``runs/<model>/ckpt.pt``) and appends what it is for to ``runs/<model>/monitor.jsonl`` every
``monitor_every`` steps: test ELBO bits/dim (VAE), the requested class of samples read by the scoring
classifier (VQ prior), test PSNR and codebook usage (VQ-VAE), caption attributes of samples (DALL-E-style).
The two priors are fit to the codes the embedded ``vqvae`` gives the train split, so they train after it
(``train all`` orders them so). Model cards are written at the end with held-out numbers (``evaluate.py``).
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import torch

from ...data.dataset import shapes_arrays
from ...training import (NO_STAGE, TrainConfig, begin_stage, infinite_batches, is_main_process, offset_hook,
                         stage_sentence, train)
from .recipes import CAPTION_DROP, RECIPES, encode_codes, labels_tensor, levels, to_float, to_images

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
MODELS = ("vae", "cvae", "vqvae", "vq-prior", "vq-dalle")


def build(name: str, codes: int | None = None, grid: int = 8, **overrides):
    """A fresh model of ``name``'s recipe; the priors need the VQ-VAE's codebook size and code-map side."""
    from .priors import build_dalle, code_prior
    from .vae import ConvVAE
    from .vqvae import VQVAE

    cfg = {**RECIPES[name].config, **overrides}
    if name == "vqvae" and codes is not None:  # ``codes`` is a named parameter: a config's "codes" lands here
        cfg["codes"] = codes
    codes = codes if codes is not None else RECIPES["vqvae"].config["codes"]
    if name in ("vae", "cvae"):
        return ConvVAE(**cfg)
    if name == "vqvae":
        return VQVAE(**cfg)
    return code_prior(codes, **cfg) if name == "vq-prior" else build_dalle(codes, grid, **cfg)


def _log(path: Path, rec: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(rec) + "\n")
    print("monitor", rec, flush=True)


def load_vqvae(folder: str | Path | None = None):
    from .vqvae import VQVAE

    path = Path(folder or WEIGHTS / "vqvae")
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"The priors are fit to the embedded VQ-VAE's codes, which are missing ({path}); "
                                f"train it first: `python -m genmodels train vqvae`.")
    return VQVAE.from_pretrained(str(path)).eval().requires_grad_(False)


def train_vae_family(name: str, steps: int | None = None, data: str | None = None, out: str | None = None,
                     run_dir: str | None = None, seed: int = 0, eval_n: int = 2000, vqvae: str | None = None,
                     init: str | None = None, **overrides) -> dict:
    """Train ``name``; the priors read the codes of the VQ-VAE in ``vqvae`` (default: the embedded one).
    ``overrides`` change the recipe (tests use tiny configs: ``n_train``, ``batch``, ``monitor_every``, ``config``).
    ``init`` = a weights folder (or "embedded": ``genmodels/weights/<name>``): a further stage on top of those weights
    (fresh optimiser and schedule of ``steps``); the folder's monitor history is kept and the new lines continue its
    step count and wall time (``training.continue_from_card``)."""
    if name not in RECIPES:
        raise ValueError(f"unknown VAE-family model {name!r}; choose {', '.join(RECIPES)}")
    if data and name in ("cvae", "vq-prior", "vq-dalle"):
        raise ValueError(f"{name} needs the shapes labels / captions; --data (unlabelled folders) works for vae and "
                         "vqvae only")
    if name == "cvae":  # the CVAE-GAN has a discriminator and its own loop (cvae_gan_train.py)
        if init:
            raise ValueError("the CVAE has no further stage; it resumes from runs/cvae/ckpt.pt")
        from .cvae_gan_train import train_cvae_gan

        return train_cvae_gan(steps, out=out, run_dir=run_dir, seed=seed, eval_n=eval_n, **overrides)
    from dataclasses import replace

    recipe = replace(RECIPES[name], **overrides)
    steps = steps or recipe.steps
    torch.manual_seed(seed)
    run = Path(run_dir or f"runs/{name}{'-stage' if init else ''}")
    log = run / "monitor.jsonl"
    src = Path(WEIGHTS / name if init == "embedded" else init) if init else None
    offset = NO_STAGE
    if src is not None:
        if not (src / "model.safetensors").exists() and not (run / "stage.json").exists():
            raise FileNotFoundError(f"no {name} weights in {src} to continue from")
        offset = begin_stage(src, run)
    if data:
        from ...data.dataset import FolderDataset

        x = ((FolderDataset(data).images + 1) * 127.5).round().byte()
        lab = torch.zeros(len(x), 5, dtype=torch.long)
    else:
        arr = shapes_arrays("train", recipe.n_train)
        x, lab = levels(arr["images"]), labels_tensor(arr)
    test = shapes_arrays("test", 256)
    tx, tlab = levels(test["images"]), labels_tensor(test)
    vq = None
    if name == "vae":
        model = build(name, **recipe.config)

        def loss_fn(m, b, step):
            loss, bpd, _ = m.training_loss(b[0].long(), beta=recipe.beta)
            return loss, {"elbo_bpd": bpd.detach()}

        def hook(step, net, wall):
            net = copy.deepcopy(net).cpu().eval()
            with torch.no_grad():
                bpd = net.elbo_bits_per_dim(tx.long(), generator=torch.Generator().manual_seed(0)).mean()
            _log(log, {"step": step, "wall_min": round(wall / 60, 2), "test_elbo_bpd_256": round(float(bpd), 4)})

        tensors = (x, lab)
    elif name == "vqvae":
        model = build(name, **recipe.config)

        def loss_fn(m, b, step):
            return m.loss(to_float(b[0]))

        def hook(step, net, wall):
            from .evaluate import vqvae_metrics

            net = copy.deepcopy(net).cpu().eval()
            _log(log, {"step": step, "wall_min": round(wall / 60, 2), **vqvae_metrics(net, 256, lpips_net=None)})

        tensors = (x,)
    else:
        vq = load_vqvae(vqvae)
        print(f"encoding {len(x):,} train images with the embedded VQ-VAE ...", flush=True)
        codes = encode_codes(vq, to_images(x.long()))
        model = build(name, vq.codes, vq.grid, **recipe.config)
        if name == "vq-prior":
            def loss_fn(m, b, step):
                from ..autoregressive.pixelcnn import nll_bits_per_dim

                from .priors import COND_DROP, NULL_CLASS

                cb, lb = b
                g = torch.Generator().manual_seed(seed * 7919 + step)
                y = torch.where(torch.rand(len(lb), generator=g) < COND_DROP, NULL_CLASS, lb[:, 0]).to(cb.device)
                nll = nll_bits_per_dim(m(cb[:, None], y), cb[:, None]).mean()
                return nll, {"bits_per_code": nll.detach()}

            test_codes = encode_codes(vq, to_images(tx.long()))

            def hook(step, net, wall):
                from ..autoregressive.pixelcnn import nll_bits_per_dim

                from .evaluate import prior_class_accuracy

                net = copy.deepcopy(net).cpu().eval()
                with torch.no_grad():  # held-out bits per code: a gap to the training loss is overfitting
                    bpc = nll_bits_per_dim(net(test_codes[:, None], tlab[:, 0]), test_codes[:, None]).mean()
                _log(log, {"step": step, "wall_min": round(wall / 60, 2), "test_bits_per_code_256": round(float(bpc), 4),
                           **prior_class_accuracy(net, vq, 120, seed=step)})
        else:
            from .priors import COND_DROP, caption_tokens, dalle_loss

            def loss_fn(m, b, step):
                cb, lb = b
                text = caption_tokens(lb, CAPTION_DROP, torch.Generator().manual_seed(seed * 7919 + step), COND_DROP)
                loss = dalle_loss(m, text.to(cb.device), cb)
                return loss, {"nats_per_code": loss.detach()}

            def hook(step, net, wall):
                from .evaluate import dalle_attribute_accuracy

                net = copy.deepcopy(net).cpu().eval()
                _log(log, {"step": step, "wall_min": round(wall / 60, 2),
                           **dalle_attribute_accuracy(net, vq, 120, seed=step)})
        tensors = (codes, lab)
    if src is not None and not (run / "ckpt.pt").exists():
        model.load_state_dict(type(model).from_pretrained(str(src)).state_dict())
    hook = offset_hook(hook, offset)
    cfg = TrainConfig(steps=steps, lr=recipe.lr, weight_decay=0.0, warmup=recipe.warmup, ckpt_every=100, seed=seed,
                      ema=recipe.ema, grad_clip=1.0)
    res = train(model, loss_fn, infinite_batches(tensors, recipe.batch, seed), cfg, run, desc=name, hook=hook,
                hook_every=recipe.monitor_every)
    if not is_main_process():  # accelerate launch: rank 0 alone evaluates and writes the weights and card
        return {}
    model.load_state_dict(res["state_dict"])
    model = model.cpu().eval()
    dest = Path(out or WEIGHTS / name)
    model.save_pretrained(dest)
    if log.exists():
        (dest / "monitor.jsonl").write_text(log.read_text())
    from .evaluate import write_card

    stage_note = None if src is None else stage_sentence(
        offset, res["steps"], f"python -m genmodels train {name}-stage --steps {res['steps']}", WEIGHTS.parents[1])
    return write_card(name, model, dest, recipe, res["steps"], res["wall_s"], data, eval_n, vq=vq, stage=stage_note)
