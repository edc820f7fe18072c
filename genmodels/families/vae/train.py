"""Training of the VAE family's embedded models: ``python -m genmodels train vae | cvae | vqvae | vq-prior | vq-dalle``.

Every model uses the shared loop (``genmodels.training``: accelerate, AdamW with warm-up + cosine decay, optional EMA,
resumable ``runs/<model>/ckpt.pt``) and appends what it is for to ``runs/<model>/monitor.jsonl`` every
``monitor_every`` steps: test ELBO bits/dim (VAE, CVAE), the requested class of samples read by the scoring
classifier (CVAE, VQ prior), test PSNR and codebook usage (VQ-VAE), caption attributes of samples (DALL-E-style).
The two priors are fit to the codes the embedded ``vqvae`` gives the train split, so they train after it
(``train all`` orders them so). Model cards are written at the end with held-out numbers (``evaluate.py``).
"""
from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ...data import shapes
from ...data.dataset import shapes_arrays
from ...training import TrainConfig, infinite_batches, train

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
MODELS = ("vae", "cvae", "vqvae", "vq-prior", "vq-dalle")


@dataclass
class VAERecipe:
    steps: int
    batch: int
    lr: float
    config: dict = field(default_factory=dict)
    n_train: int = 60_000
    monitor_every: int = 250
    ema: float | None = None
    warmup: int = 100
    beta: float = 1.0  # weight of the KL term while training (1: the ELBO); the cards report the true ELBO
    adversary: float = 0.0  # CVAE: weight of the latent critic (ConvVAE(adversary=True))


# Sized for ≤ 45 min of a 2-core CPU each and ≤ 8 MB of weights (float32).
RECIPES = {
    "vae": VAERecipe(steps=4000, batch=64, lr=1e-3, ema=0.995, config=dict(latent=64, width=48)),
    # Tried on 2026-12-01 and stopped (docs/experiments/README.md): prior_net (Sohn et al.'s prior network p(z|c)),
    # alone to 750 steps and with sharp_head (likelihood head at log-scale -5, the PixelCNN++ finding) to 1,000: the
    # requested shape stayed at chance while reconstructions were still blobs on grey. The shipped CVAE is N(0, I).
    "cvae": VAERecipe(steps=4000, batch=64, lr=1e-3, ema=0.995, config=dict(latent=64, width=48, n_shapes=6,
                                                                              n_colours=6)),
    "vqvae": VAERecipe(steps=6000, batch=64, lr=1e-3, config=dict(codes=256, dim=32, width=96, downs=2,
                                                                    res_blocks=2)),
    # 200,000 training maps instead of 60,000: with 60,000 the prior over-fitted (2.52 bits per code on train maps, 2.71
    # on test maps) and drew the requested shape 74.7 % of the time; with 200,000: 2.41 on test, 86.4 % (2026-12-01)
    "vq-prior": VAERecipe(steps=16000, batch=64, lr=1e-3, ema=0.995, n_train=200_000, monitor_every=500,
                          config=dict(hidden=64, layers=8, kernel=5, out_hidden=128)),
    "vq-dalle": VAERecipe(steps=5500, batch=64, lr=1e-3, ema=0.995, config=dict(n_embd=128, n_layer=6, n_head=4),
                          warmup=200),
}
CAPTION_DROP = 0.2  # share of captions missing each optional attribute (size / fill / background) while training


def labels_tensor(arr: dict) -> torch.Tensor:
    return torch.from_numpy(arr["labels"][:, :5].astype(np.int64))


def levels(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) uint8 tensor (cast per batch: 60k long images would be 1.5 GB)."""
    return torch.from_numpy(np.require(images, requirements=("C", "W"))).permute(0, 3, 1, 2).contiguous()


def to_float(x_levels: torch.Tensor) -> torch.Tensor:
    return x_levels.float() * (2 / 255) - 1


def to_images(x_levels: torch.Tensor) -> np.ndarray:
    return x_levels.clamp(0, 255).byte().permute(0, 2, 3, 1).cpu().numpy()


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


@torch.no_grad()
def encode_codes(vq, images: np.ndarray, batch: int = 500) -> torch.Tensor:
    vq.eval()
    x = levels(images)
    return torch.cat([vq.encode(to_float(x[i:i + batch])) for i in range(0, len(x), batch)])


@torch.no_grad()
def decode_codes(vq, codes: torch.Tensor, batch: int = 500) -> np.ndarray:
    vq.eval()
    outs = [vq.decode(codes[i:i + batch]).clamp(-1, 1) for i in range(0, len(codes), batch)]
    return to_images(torch.cat(outs).add(1).mul(127.5).round())


def load_vqvae(folder: str | Path | None = None):
    from .vqvae import VQVAE

    path = Path(folder or WEIGHTS / "vqvae")
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"The priors are fit to the embedded VQ-VAE's codes, which are missing ({path}); "
                                f"train it first: `python -m genmodels train vqvae`.")
    return VQVAE.from_pretrained(str(path)).eval().requires_grad_(False)


def train_vae_family(name: str, steps: int | None = None, data: str | None = None, out: str | None = None,
                     run_dir: str | None = None, seed: int = 0, eval_n: int = 2000, vqvae: str | None = None,
                     **overrides) -> dict:
    """Train ``name``; the priors read the codes of the VQ-VAE in ``vqvae`` (default: the embedded one).
    ``overrides`` change the recipe (tests use tiny configs: ``n_train``, ``batch``, ``monitor_every``, ``config``)."""
    if name not in RECIPES:
        raise ValueError(f"unknown VAE-family model {name!r}; choose {', '.join(RECIPES)}")
    if data and name in ("cvae", "vq-prior", "vq-dalle"):
        raise ValueError(f"{name} needs the shapes labels / captions; --data (unlabelled folders) works for vae and "
                         "vqvae only")
    from dataclasses import replace

    recipe = replace(RECIPES[name], **overrides)
    steps = steps or recipe.steps
    torch.manual_seed(seed)
    run = Path(run_dir or f"runs/{name}")
    log = run / "monitor.jsonl"
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
    if name in ("vae", "cvae"):
        model = build(name, **recipe.config)
        cond = name == "cvae"

        def loss_fn(m, b, step):
            xb, lb = b
            args = (lb[:, 0], lb[:, 1]) if cond else ()
            loss, bpd, ce = m.training_loss(xb.long(), *args, beta=recipe.beta, adversary=recipe.adversary)
            logs = {"elbo_bpd": bpd.detach()}
            if recipe.adversary:
                logs["critic_ce"] = ce.detach()
            return loss, logs

        def hook(step, net, wall):
            net = copy.deepcopy(net).cpu().eval()
            with torch.no_grad():
                args = (tlab[:, 0], tlab[:, 1]) if cond else ()
                rec = {"step": step, "wall_min": round(wall / 60, 2),
                       "test_elbo_bpd_256": round(float(net.elbo_bits_per_dim(
                           tx.long(), *args, generator=torch.Generator().manual_seed(0)).mean()), 4)}
                if cond:
                    from .evaluate import cvae_class_accuracy

                    rec.update(cvae_class_accuracy(net, 300, seed=step))
            _log(log, rec)

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
    cfg = TrainConfig(steps=steps, lr=recipe.lr, weight_decay=0.0, warmup=recipe.warmup, ckpt_every=100, seed=seed,
                      ema=recipe.ema, grad_clip=1.0)
    res = train(model, loss_fn, infinite_batches(tensors, recipe.batch, seed), cfg, run, desc=name, hook=hook,
                hook_every=recipe.monitor_every)
    model.load_state_dict(res["state_dict"])
    model = model.cpu().eval()
    dest = Path(out or WEIGHTS / name)
    model.save_pretrained(dest)
    if log.exists():
        (dest / "monitor.jsonl").write_text(log.read_text())
    from .evaluate import write_card

    return write_card(name, model, dest, recipe, res["steps"], res["wall_s"], data, eval_n, vq=vq)
