"""Training of the embedded pix2pix and CycleGAN models (and of either on a user's folder).

- pix2pix (Isola et al. 2017, arXiv:1611.07004): G minimises the conditional GAN loss + λ·L1 (λ = 100); D is a
  PatchGAN on (input, image) pairs; the paper's Adam(2e-4, β1 = 0.5) and its halving of D's objective.
- CycleGAN (Zhu et al. 2017, arXiv:1703.10593): least-squares GAN (Mao et al. 2017, arXiv:1611.04076) for both
  directions, cycle loss λ = 10, identity loss 0.5·λ, a history pool of 50 generated images for each D
  (Shrivastava et al. 2017, arXiv:1612.07828), Adam(2e-4, β1 = 0.5), linear decay over the second half.

What differs from the paper for our CPU budget: 32×32 images, batches of 16–32 (batch norm in pix2pix's nets, as the
paper's batch > 1 runs), narrower networks (``RECIPES``), and a 2-layer PatchGAN (the 3-layer one sees 70×70 patches,
more than a 32×32 image). Every ``monitor_every`` steps the held-out numbers the acceptance asks for are appended to
``run_dir/monitor.jsonl``: shape recognised and edge F1 (pix2pix); target-fill accuracy, shape / colour kept, SSIM vs
the twin and cycle PSNR (CycleGAN) — scoring classifier, which never took part in training.
"""
from __future__ import annotations

import copy
import json
import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ...checkpoints import safe_load
from ...training import is_main_process
from .models import RECIPES, CycleGAN, build_cyclegan, build_pix2pix

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"


class ImagePool:
    """The reference's history buffer: with probability 1/2 a generated image is swapped for an older one."""

    def __init__(self, size: int, seed: int = 0):
        self.size, self.items = size, []
        self.rng = random.Random(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for im in images.detach():
            if len(self.items) < self.size:
                self.items.append(im.clone())
                out.append(im)
            elif self.rng.random() < 0.5:
                j = self.rng.randrange(self.size)
                out.append(self.items[j].clone())
                self.items[j] = im.clone()
            else:
                out.append(im)
        return torch.stack(out)


def _save_ckpt(path: Path, nets: dict, opts: dict, step: int, wall: float, extra: dict | None = None) -> None:
    if not is_main_process():  # several ranks: rank 0 alone writes the (identical) state
        return
    st = {f"net.{k}": v.state_dict() for k, v in nets.items()}
    st.update({f"opt.{k}": v.state_dict() for k, v in opts.items()})
    st.update(step=torch.tensor(step), wall=torch.tensor(wall), **(extra or {}))
    tmp = path.with_suffix(".tmp")
    torch.save(st, tmp)
    tmp.replace(path)


def _load_ckpt(path: Path, nets: dict, opts: dict) -> tuple[int, float]:
    if not path.exists():
        return 0, 0.0
    st = safe_load(path)
    for k, v in nets.items():
        v.load_state_dict(st[f"net.{k}"])
    for k, v in opts.items():
        v.load_state_dict(st[f"opt.{k}"])
    return int(st["step"]), float(st["wall"])


def _log(run: Path, rec: dict) -> None:
    with open(run / "monitor.jsonl", "a") as f:
        f.write(json.dumps(rec) + "\n")


def _gan_loss(logits: torch.Tensor, real: bool, kind: str) -> torch.Tensor:
    if kind == "lsgan":
        return F.mse_loss(logits, torch.full_like(logits, 1.0 if real else 0.0))
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, 1.0 if real else 0.0))


# ---------------------------------------------------------------------------------------------------- pix2pix
def train_pix2pix(steps: int | None = None, data: str | None = None, out: str | None = None,
                  run_dir: str | None = None, seed: int = 0, eval_n: int = 1000) -> dict:
    from accelerate.utils import set_seed

    from ...training import accelerator, infinite_batches, out_of_time
    from .data import PIX2PIX_IN, paired_folder, shapes_paired

    recipe = RECIPES["pix2pix"]
    steps = steps or recipe.steps
    set_seed(seed)
    acc = accelerator()
    if data:
        x, y = paired_folder(data)
        input_nc = 3
    else:
        d = shapes_paired("train", recipe.n_train)
        x, y, input_nc = d["x"], d["y"], PIX2PIX_IN
    G, D = build_pix2pix(recipe, input_nc)
    opt_g = torch.optim.Adam(G.parameters(), lr=recipe.lr, betas=recipe.betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=recipe.lr, betas=recipe.betas)
    run = Path(run_dir or "runs/pix2pix")
    run.mkdir(parents=True, exist_ok=True)
    ckpt = run / "ckpt.pt"
    step, wall = _load_ckpt(ckpt, {"G": G, "D": D}, {"G": opt_g, "D": opt_d})
    if step:
        acc.print(f"resuming pix2pix from step {step} ({wall / 60:.1f} min so far)")
    G, D, opt_g, opt_d = acc.prepare(G, D, opt_g, opt_d)
    get = infinite_batches((x, y), recipe.batch, seed)
    bar = tqdm(total=steps, initial=step, desc="pix2pix")
    logs = {}
    while step < steps and not out_of_time():
        t0 = time.perf_counter()
        xb, yb = (t.to(acc.device) for t in get(step))
        fake = G(xb)
        # D: real pairs vs fake pairs, objective halved (the paper slows D relative to G this way)
        d_loss = 0.5 * (_gan_loss(D(torch.cat([xb, fake.detach()], 1)), False, "vanilla")
                        + _gan_loss(D(torch.cat([xb, yb], 1)), True, "vanilla"))
        opt_d.zero_grad(set_to_none=True)
        acc.backward(d_loss)
        opt_d.step()
        g_gan = _gan_loss(D(torch.cat([xb, fake], 1)), True, "vanilla")
        g_l1 = F.l1_loss(fake, yb)
        g_loss = g_gan + recipe.l1 * g_l1
        opt_g.zero_grad(set_to_none=True)
        acc.backward(g_loss)
        opt_g.step()
        step += 1
        wall += time.perf_counter() - t0
        bar.update(1)
        logs = {"d": float(d_loss), "g_gan": float(g_gan), "l1": float(g_l1)}
        if step % 50 == 0:
            bar.set_postfix({k: f"{v:.3f}" for k, v in logs.items()})
        if step % 200 == 0 or step == steps:
            _save_ckpt(ckpt, {"G": acc.unwrap_model(G), "D": acc.unwrap_model(D)}, {"G": opt_g, "D": opt_d},
                       step, wall)
        if recipe.monitor_every and step % recipe.monitor_every == 0 and not data and acc.is_main_process:
            from .evaluate import evaluate_pix2pix

            net = copy.deepcopy(acc.unwrap_model(G)).cpu().eval()
            _log(run, {"step": step, "wall_min": round(wall / 60, 2), **logs,
                       **evaluate_pix2pix(net, recipe.monitor_n, quick=True)})
            G.train()
    bar.close()
    _save_ckpt(ckpt, {"G": acc.unwrap_model(G), "D": acc.unwrap_model(D)}, {"G": opt_g, "D": opt_d}, step, wall)
    if not acc.is_main_process:  # accelerate launch: rank 0 alone evaluates and writes the weights and card
        return {}
    G = acc.unwrap_model(G).cpu().eval()
    out = Path(out or WEIGHTS / "pix2pix")
    (G.half() if recipe.save_half else G).save_pretrained(out)
    G.float()
    from .evaluate import write_card

    return write_card("pix2pix", out, run, recipe, steps=step, wall_s=wall, data=data, eval_n=eval_n)


# --------------------------------------------------------------------------------------------------- CycleGAN
def _linear_decay(step: int, steps: int) -> float:
    """The reference's schedule: constant for the first half, then linear to 0."""
    half = steps // 2
    return 1.0 if step < half else max(0.0, 1.0 - (step - half) / max(1, steps - half))


def _cyclegan_d_loss(D_A, D_B, a, b, fake_a, fake_b) -> torch.Tensor:
    """Both LSGAN discriminators on real images vs (pooled) fakes, each objective halved as in the reference."""
    return 0.5 * (_gan_loss(D_B(b), True, "lsgan") + _gan_loss(D_B(fake_b), False, "lsgan")) \
        + 0.5 * (_gan_loss(D_A(a), True, "lsgan") + _gan_loss(D_A(fake_a), False, "lsgan"))


def _init_from_embedded(run: Path, G_AB, G_BA) -> tuple[int, float]:
    """Start a new stage from the committed generators (stored in float16, loaded into float32 parameters) when
    the run's checkpoint is gone: the step count and wall time continue from the shipped monitor, whose history is
    copied into the run so the card keeps the whole curve. The discriminators and optimiser states are not shipped
    and start afresh (see ``d_warmup``)."""
    src = WEIGHTS / "cyclegan"
    if not (src / "G_A" / "model.safetensors").exists():
        raise FileNotFoundError(f"no embedded CycleGAN in {src} to start from")
    from ...training import continue_from_card

    pair = CycleGAN.load(src)
    G_AB.load_state_dict(pair.G_AB.float().state_dict())
    G_BA.load_state_dict(pair.G_BA.float().state_dict())
    return continue_from_card(src, run)


def train_cyclegan(steps: int | None = None, data: str | None = None, out: str | None = None,
                   run_dir: str | None = None, seed: int = 0, eval_n: int = 1000, init: str | None = None,
                   lr: float | None = None, d_warmup: int = 0) -> dict:
    """``init="embedded"`` (no checkpoint in ``run_dir``): continue from the shipped generators to ``steps`` with a
    peak learning rate ``lr`` decaying linearly to 0 over the stage, after ``d_warmup`` steps that train only the
    fresh discriminators against the frozen generators."""
    from accelerate.utils import set_seed

    from ...training import accelerator, infinite_batches, out_of_time
    from .data import shapes_unpaired, unpaired_folder

    recipe = RECIPES["cyclegan"]
    steps = steps or recipe.steps
    set_seed(seed)
    acc = accelerator()
    A, B = unpaired_folder(data) if data else shapes_unpaired(recipe.n_train)
    G_AB, G_BA, D_A, D_B = build_cyclegan(recipe)
    opt_g = torch.optim.Adam(list(G_AB.parameters()) + list(G_BA.parameters()), lr=recipe.lr, betas=recipe.betas)
    opt_d = torch.optim.Adam(list(D_A.parameters()) + list(D_B.parameters()), lr=recipe.lr, betas=recipe.betas)
    run = Path(run_dir or "runs/cyclegan")
    run.mkdir(parents=True, exist_ok=True)
    ckpt = run / "ckpt.pt"
    nets = {"G_AB": G_AB, "G_BA": G_BA, "D_A": D_A, "D_B": D_B}
    step, wall = _load_ckpt(ckpt, nets, {"G": opt_g, "D": opt_d})
    staged = init == "embedded" and not step
    if init not in (None, "embedded"):
        raise ValueError(f"init must be 'embedded' or empty, got {init!r}")
    if staged:
        step, wall = _init_from_embedded(run, G_AB, G_BA)
        if step >= steps:
            raise ValueError(f"the embedded CycleGAN is already at step {step}; ask for more --steps")
    # The schedulers step with the adversarial updates: their count s starts at this sitting's first such step.
    start = max(step, recipe.warmup_identity)
    if staged:  # this stage alone: lr (default the recipe's) linearly to 0
        for o in (opt_g, opt_d):
            for grp in o.param_groups:
                grp["lr"] = grp["initial_lr"] = lr or recipe.lr
        stage_len = steps - start
        sched = [torch.optim.lr_scheduler.LambdaLR(o, lambda s: max(0.0, 1.0 - s / stage_len)) for o in (opt_g, opt_d)]
    else:
        sched = [torch.optim.lr_scheduler.LambdaLR(o, lambda s: _linear_decay(start + s, steps))
                 for o in (opt_g, opt_d)]
    if step:
        acc.print(f"resuming cyclegan from step {step} ({wall / 60:.1f} min so far)")
    G_AB, G_BA, D_A, D_B, opt_g, opt_d = acc.prepare(G_AB, G_BA, D_A, D_B, opt_g, opt_d)
    get_a = infinite_batches((A,), recipe.batch, seed)
    get_b = infinite_batches((B,), recipe.batch, seed + 1)
    pool_a, pool_b = ImagePool(recipe.pool, seed), ImagePool(recipe.pool, seed + 1)
    lam, lam_id = recipe.cycle, recipe.cycle * recipe.identity
    if staged and d_warmup:  # fresh discriminators catch up with the trained generators first
        for i in tqdm(range(d_warmup), desc="cyclegan D warm-up"):
            t0 = time.perf_counter()
            (a,), (b,) = get_a(step + i), get_b(step + i)
            a, b = a.to(acc.device), b.to(acc.device)
            with torch.no_grad():
                fb, fa = pool_b.query(G_AB(a)), pool_a.query(G_BA(b))
            d_loss = _cyclegan_d_loss(D_A, D_B, a, b, fa, fb)
            opt_d.zero_grad(set_to_none=True)
            acc.backward(d_loss)
            opt_d.step()
            wall += time.perf_counter() - t0
        acc.print(f"D warm-up: {d_warmup} steps, last D loss {float(d_loss):.3f}")
    bar = tqdm(total=steps, initial=step, desc="cyclegan")
    logs = {}
    while step < steps and not out_of_time():
        t0 = time.perf_counter()
        (a,), (b,) = get_a(step), get_b(step)
        a, b = a.to(acc.device), b.to(acc.device)
        if step < recipe.warmup_identity:  # reproduce the input (both generators, both domains), no adversary
            g_loss = sum(F.l1_loss(G(x), x) for G in (G_AB, G_BA) for x in (a, b))
            opt_g.zero_grad(set_to_none=True)
            acc.backward(g_loss)
            opt_g.step()
            step += 1
            wall += time.perf_counter() - t0
            bar.update(1)
            logs = {"warmup_l1": float(g_loss) / 4}
            if step % 50 == 0:
                bar.set_postfix({k: f"{v:.3f}" for k, v in logs.items()})
            if step % 200 == 0:
                _save_ckpt(ckpt, {k: acc.unwrap_model(v) for k, v in nets.items()}, {"G": opt_g, "D": opt_d}, step,
                           wall)
            continue
        # G: adversarial (LSGAN) + cycle + identity, both directions
        fake_b, fake_a = G_AB(a), G_BA(b)
        rec_a, rec_b = G_BA(fake_b), G_AB(fake_a)
        g_adv = _gan_loss(D_B(fake_b), True, "lsgan") + _gan_loss(D_A(fake_a), True, "lsgan")
        cyc_a, cyc_b = F.l1_loss(rec_a, a), F.l1_loss(rec_b, b)
        g_cyc = cyc_a + cyc_b
        lam_b = next((v for start_b, v in reversed(recipe.cycle_b) if step >= start_b), lam)
        g_id = F.l1_loss(G_AB(b), b) + F.l1_loss(G_BA(a), a) if lam_id else torch.zeros(())
        g_loss = g_adv + lam * cyc_a + lam_b * cyc_b + lam_id * g_id
        opt_g.zero_grad(set_to_none=True)
        acc.backward(g_loss)
        opt_g.step()
        # D: real vs pooled fakes, halved
        fb, fa = pool_b.query(fake_b), pool_a.query(fake_a)
        d_loss = _cyclegan_d_loss(D_A, D_B, a, b, fa, fb)
        opt_d.zero_grad(set_to_none=True)
        acc.backward(d_loss)
        opt_d.step()
        for s in sched:
            s.step()
        step += 1
        wall += time.perf_counter() - t0
        bar.update(1)
        logs = {"d": float(d_loss), "g_adv": float(g_adv), "cycle": float(g_cyc), "identity": float(g_id)}
        if step % 50 == 0:
            bar.set_postfix({k: f"{v:.3f}" for k, v in logs.items()})
        if step % 200 == 0 or step == steps:
            _save_ckpt(ckpt, {k: acc.unwrap_model(v) for k, v in nets.items()}, {"G": opt_g, "D": opt_d}, step, wall)
        if recipe.monitor_every and step % recipe.monitor_every == 0 and not data and acc.is_main_process:
            from .evaluate import evaluate_cyclegan

            pair = CycleGAN(copy.deepcopy(acc.unwrap_model(G_AB)).cpu(), copy.deepcopy(acc.unwrap_model(G_BA)).cpu())
            _log(run, {"step": step, "wall_min": round(wall / 60, 2), **logs,
                       **evaluate_cyclegan(pair, recipe.monitor_n, quick=True)})
            G_AB.train(), G_BA.train()
    bar.close()
    _save_ckpt(ckpt, {k: acc.unwrap_model(v) for k, v in nets.items()}, {"G": opt_g, "D": opt_d}, step, wall)
    if not acc.is_main_process:  # accelerate launch: rank 0 alone evaluates and writes the weights and card
        return {}
    pair = CycleGAN(acc.unwrap_model(G_AB).cpu(), acc.unwrap_model(G_BA).cpu())
    out = Path(out or WEIGHTS / "cyclegan")
    pair.save(out, recipe, half=recipe.save_half)
    from .evaluate import write_card

    return write_card("cyclegan", out, run, recipe, steps=step, wall_s=wall, data=data, eval_n=eval_n)
