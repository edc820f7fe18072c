"""Training of the StackGAN (``python -m genmodels train stackgan``): the caption encoder first, then both stages
together, each with its own matching-aware discriminator on the recipe that works for every conditional GAN here;
the model itself, its sampler and its evaluation are in ``stackgan.py`` (Zhang et al. 2017, arXiv:1612.03242).
"""
from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ...data import captions
from .stackgan import (ATTRS, N_ATTR, WEIGHTS, CaptionEncoder, StackGANGenerator, attribute_rates, build_discriminators,
                       evaluate, generate, kl_loss, random_labels, standing_stats, up32)

@dataclass
class StackGANRecipe:
    lr: float = 2e-4
    betas: tuple[float, float] = (0.0, 0.999)
    batch: int = 32
    kl: float = 2.0  # λ of the conditioning-augmentation KL (the paper's config)
    mismatch: float = 0.5  # matching-aware D: weight of real images with a mismatched caption
    guide_weight: float = 1.0  # the guide's cross-entropy of the caption's shape / colour / fill / background
    reward: str = "gan-guide-robust"
    reward_from: int = 1200
    # ((from_step, weight), ...): later weights of the guide term. From step 2,000 the weight is 2 (the BigGAN /
    # StyleGAN stage): stage II's shape stalled at 58-62 % over steps 1,400-1,800 (N = 300) while colour and fill
    # were at 98-100 %.
    guide_stages: tuple[tuple[int, float], ...] = ((2000, 2.0),)
    mode_seeking: float = 1.0  # stage I (Mao et al. 2019)
    ema: float = 0.999
    monitor_every: int = 200
    text_steps: int = 300  # caption-encoder pre-training steps (batch 256)


STACKGAN = StackGANRecipe()


def train_caption_encoder(enc: CaptionEncoder, steps: int = 300, batch: int = 256, seed: int = 0) -> float:
    """Train the caption encoder to name the five attributes of random captions of the grammar; returns its accuracy
    on 1,000 fresh captions (all five attributes right)."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(enc.parameters(), lr=3e-3)
    enc.train()
    for _ in range(steps):
        y = random_labels(batch, gen)
        logits = enc.attribute_logits(enc(captions.caption_tokens(y)))
        loss = sum(F.cross_entropy(lg, y[:, i]) for i, lg in enumerate(logits))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    enc.eval()
    with torch.no_grad():
        y = random_labels(1000, torch.Generator().manual_seed(seed + 1))
        logits = enc.attribute_logits(enc(captions.caption_tokens(y)))
        ok = torch.stack([lg.argmax(1) == y[:, i] for i, lg in enumerate(logits)], 1).all(1)
    return float(ok.float().mean())


def mismatched_attrs(y: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
    """Rows where shape, colour and / or fill differ from ``y``: the matching-aware D's wrong captions
    (``train.mismatched`` over the first three attributes)."""
    from .train import mismatched

    return mismatched(y, gen, N_ATTR[:3])


def guide_attrs_objective(logits: dict[str, torch.Tensor], y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the caption's shape, colour, fill and background under the guide (heads of projected.py)."""
    return sum(F.cross_entropy(logits[k].float(), y[:, i]) for i, k in enumerate(ATTRS[:4]))


def _monitor(G_ema, run: Path, step: int, wall: float, n: int = 300) -> dict:
    G = copy.deepcopy(G_ema).cpu()
    standing_stats(G)
    labels = random_labels(n, torch.Generator().manual_seed(7))
    one, two = generate(G, labels, seed=7)
    rec = {"step": step, "wall_min": round(wall / 60, 2)}
    for name, imgs in (("stage1", one), ("stage2", two)):
        rec.update({f"{name}_{k}": round(v, 4) for k, v in attribute_rates(imgs, labels).items()})
    with open(run / "monitor.jsonl", "a") as f:
        f.write(json.dumps(rec) + "\n")
    return rec


def train_stackgan(steps: int = 6400, n_train: int = 100_000, seed: int = 0, out: str | None = None,
                   run_dir: str | None = None, eval_n: int = 2000, tiny: bool = False) -> dict:
    """``python -m genmodels train stackgan``: caption encoder, then both stages together; resumable from
    ``run_dir/ckpt.pt`` (tensors only)."""
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm

    from ...checkpoints import safe_load
    from ...data.dataset import shapes_arrays, to_tensor
    from ...training import accelerator, ema_update, infinite_batches, out_of_time
    from .projected import diff_augment, load_guide
    from .train import mode_seeking_loss, use_bf16

    r = STACKGAN
    set_seed(seed)
    acc = accelerator()
    dev = acc.device
    guide = load_guide().to(dev)
    reward = load_guide(WEIGHTS / r.reward).to(dev) if r.reward else None
    out = Path(out or WEIGHTS / "stackgan")
    run = Path(run_dir or "runs/stackgan")
    run.mkdir(parents=True, exist_ok=True)
    arr = shapes_arrays("train", n_train)
    images, labels = to_tensor(arr["images"]), torch.from_numpy(arr["labels"][:, :5]).long()
    kw = dict(text_dim=32, c_dim=16, z_dim=16, channels1=(32, 16, 8), channels2=(16, 8, 8)) if tiny else {}
    G = StackGANGenerator(**kw)
    D = build_discriminators(guide.widths)
    ckpt = run / "ckpt.pt"
    step, wall, text_acc = 0, 0.0, None
    if not ckpt.exists():
        t0 = time.perf_counter()
        text_acc = train_caption_encoder(G.text, 20 if tiny else r.text_steps, seed=seed)
        wall += time.perf_counter() - t0
        acc.print(f"caption encoder: all five attributes named on {text_acc:.1%} of 1,000 fresh captions")
    G.text.requires_grad_(False)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    g_params = [p for n, p in G.named_parameters() if not n.startswith("text.")]
    opt_g = torch.optim.Adam(g_params, lr=r.lr, betas=r.betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=r.lr, betas=r.betas)
    if ckpt.exists():
        st = safe_load(ckpt)
        for m, k in ((G, "G"), (D, "D"), (G_ema, "G_ema"), (opt_g, "opt_g"), (opt_d, "opt_d")):
            m.load_state_dict(st[k])
        step, wall, text_acc = int(st["step"]), float(st["wall"]), float(st["text_acc"])
        acc.print(f"resuming stackgan from step {step} ({wall / 60:.1f} min so far)")
    G.to(dev)
    D.to(dev)
    G_ema.to(dev)
    amp = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_bf16("auto", dev.type))
    get = infinite_batches((images, labels), r.batch, seed)
    gen = torch.Generator().manual_seed(seed + step)

    def view(img):
        aug = diff_augment(up32(img), gen)
        return aug, guide.features(aug)

    def d_out(stage, img, y, seen):
        aug, feats = seen
        pix = aug if stage == 2 else F.avg_pool2d(aug, 2)  # stage I's pixel D works at 16x16
        return [D[f"proj{stage}"](feats, y), D[f"pix{stage}"](pix, y)]

    def hinge(outs, sign):  # sign +1: "real" target, -1: "fake" target (D); the mean of each D's hinge
        return sum(F.relu(1 - sign * o.float()).mean() for o in outs)

    def save():
        st = {"G": G.state_dict(), "D": D.state_dict(), "G_ema": G_ema.state_dict(), "opt_g": opt_g.state_dict(),
              "opt_d": opt_d.state_dict(), "step": torch.tensor(step), "wall": torch.tensor(wall),
              "text_acc": torch.tensor(text_acc)}
        torch.save(st, run / "ckpt.tmp")
        (run / "ckpt.tmp").replace(ckpt)

    bar = tqdm(total=steps, initial=step, desc="stackgan")
    while step < steps and not out_of_time():
        t0 = time.perf_counter()
        x2, y = (t.to(dev) for t in get(step))
        x1 = F.avg_pool2d(x2, 2)  # the 16x16 real images stage I's D compares with
        tokens = captions.caption_tokens(y.cpu()).to(dev)
        z = torch.randn(len(y), G.z_dim, generator=gen).to(dev)
        with amp:
            with torch.no_grad():
                f1, f2 = G(tokens, z, gen)
            y_bad = mismatched_attrs(y.cpu(), gen).to(dev)
            d_loss = 0
            for stage, real, fake in ((1, x1, f1), (2, x2, f2)):
                real_seen = view(real)
                d_loss = d_loss + hinge(d_out(stage, fake, y, view(fake)), -1) + \
                    hinge(d_out(stage, real, y, real_seen), 1) + \
                    r.mismatch * hinge(d_out(stage, real, y_bad, real_seen), -1)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        # G step: both halves of the batch ask for the same captions (mode seeking on stage I)
        half = len(y) // 2
        y = torch.cat([y[:half], y[:half]])
        tokens = torch.cat([tokens[:half], tokens[:half]])
        z = torch.randn(len(y), G.z_dim, generator=gen).to(dev)
        judge = reward if (reward is not None and step >= r.reward_from) else guide
        with amp:
            emb = G.text(tokens)
            f1, (mu1, lv1) = G.stage1(emb, z, gen)
            f2, (mu2, lv2) = G.stage2(f1.detach(), emb, gen)
            g_loss = r.kl * (kl_loss(mu1, lv1) + kl_loss(mu2, lv2))
            for stage, fake in ((1, f1), (2, f2)):
                seen = view(fake)
                g_loss = g_loss - sum(o.float().mean() for o in d_out(stage, fake, y, seen))
                logits = judge.logits(seen[1]) if judge is guide else judge(seen[0])
                weight = next((w for start, w in reversed(r.guide_stages) if step >= start), r.guide_weight)
                g_loss = g_loss + weight * guide_attrs_objective(logits, y)
            if r.mode_seeking:
                g_loss = g_loss + r.mode_seeking * mode_seeking_loss(f1[:half], f1[half:2 * half], z[:half],
                                                                     z[half:2 * half])
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        ema_update(G_ema, G, r.ema, step)
        step += 1
        wall += time.perf_counter() - t0
        bar.update(1)
        if step % 50 == 0:
            bar.set_postfix(d=f"{float(d_loss):.3f}", g=f"{float(g_loss):.3f}")
        if step % 200 == 0 or step == steps:
            save()
        if r.monitor_every and step % r.monitor_every == 0 and not tiny:
            _monitor(G_ema, run, step, wall)
    bar.close()
    save()
    G_ema = G_ema.cpu()
    standing_stats(G_ema)
    G_ema.save_pretrained(out)
    if (run / "monitor.jsonl").exists():
        (out / "monitor.jsonl").write_text((run / "monitor.jsonl").read_text())
    return write_card(G_ema, out, steps=step, wall_s=wall, n_train=n_train, text_acc=text_acc, n_eval=eval_n)


def write_card(G, out: Path, steps: int, wall_s: float, n_train: int, text_acc: float | None,
               n_eval: int = 2000) -> dict:
    res = evaluate(G, n_eval)
    res.update({"steps": steps, "wall_min": round(wall_s / 60, 1), "caption encoder accuracy": text_acc,
                "recipe": asdict(STACKGAN)})
    (out / "metrics.json").write_text(json.dumps(res, indent=2, default=float))
    stages = [k for k in res if k.startswith("stage")]
    keys = ["shape recognised", "colour recognised", "fill recognised", "all three recognised", "shape by outline",
            "objects in pieces", "FID", "KID", "precision", "recall"]
    table = ["| | " + " | ".join(stages) + " |", "|---|" + "---|" * len(stages)]
    for k in keys:
        cells = [f"{res[s].get(k, float('nan')):.3f}" if k not in ("FID",) else f"{res[s].get(k):.1f}" for s in stages]
        table.append(f"| {k} | " + " | ".join(cells) + " |")
    size_mb = (out / "model.safetensors").stat().st_size / 1e6
    stages = "".join(f", {w:g} from step {start:,}" for start, w in STACKGAN.guide_stages)
    text = f"""---
library_name: genmodels
tags: [gan, stackgan, text-to-image, shapes]
---
# StackGAN (shapes, 16×16 → 32×32)

Text → image in two stages (Zhang et al. 2017, arXiv:1612.03242), trained on the bundled procedural shapes domain.
`genmodels/families/gan/stackgan.py` says what is kept from the paper and what differs.

- **Reproduce:** `python -m genmodels train stackgan --steps {steps}` (resumable; checkpoints in `runs/stackgan/`)
- **Trained:** {steps:,} steps at batch {STACKGAN.batch}, {wall_s / 60:.0f} min of wall time on CPU (2 threads), one
  job on the machine; {n_train:,} training images; caption encoder first ({STACKGAN.text_steps} steps, all five
  attributes named on {100 * (text_acc or 0):.1f} % of fresh captions), then frozen.
- **Recipe:** `STACKGAN` in `stackgan.py`: hinge loss, Adam(0, 0.999) at {STACKGAN.lr}, conditioning-augmentation KL
  weight {STACKGAN.kl}, matching-aware D ({STACKGAN.mismatch}), the guide's term for shape / colour / fill /
  background (weight {STACKGAN.guide_weight}{stages}; `{STACKGAN.reward}` from step {STACKGAN.reward_from:,}), mode seeking
  on stage I ({STACKGAN.mode_seeking}), EMA {STACKGAN.ema} with standing statistics.
- **Size:** {size_mb:.1f} MB (safetensors).

## Held-out evaluation (captions of the first {res['n']:,} test items, one sample each; scoring module)

{chr(10).join(table)}

FID / KID / precision / recall: domain backbone against the 2,000-item test split; stage I is up-sampled to 32×32
(bilinear) to be scored. *Shape by outline*: the object's outline alone names the shape (no CNN).
`monitor.jsonl`: both stages' attribute rates (N = 300) every {STACKGAN.monitor_every} steps.
"""
    (out / "README.md").write_text(text)
    return res


