"""Training of the autoregressive family's embedded models: ``python -m genmodels train pixelcnn | gated-pixelcnn |
pixelcnnpp``.

All three are class-conditional on the shape (6 classes) and trained by maximum likelihood on the shapes train split
(or, unconditionally, on a user's folder with ``--data``) with the shared loop (``genmodels.training``: accelerate,
AdamW with warm-up + cosine decay, EMA, resumable ``runs/<model>/ckpt.pt``). Every ``monitor_every`` steps the EMA
model's test bits/dim (N = 256) and, for PixelCNN++, the requested-shape rate of a few cached samples read by the
scoring classifier are appended to ``runs/<model>/monitor.jsonl``.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ...data import shapes
from ...data.dataset import shapes_arrays
from ...training import (TrainConfig, begin_stage, infinite_batches, is_main_process, offset_hook, stage_offset,
                         stage_sentence, train)
from .pixelcnn import png_bits_per_dim
from .service import guidance_for

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
N_CLASSES = len(shapes.SHAPES)


@dataclass
class ARRecipe:
    steps: int
    batch: int
    lr: float
    config: dict
    n_train: int = 60_000
    monitor_every: int = 250
    ema: float = 0.999
    null_p: float = 0.0  # share of labels replaced by "no class" while training (classifier-free guidance)
    init_from_embedded: bool = False  # continue from the committed weights (when there are any) instead of scratch
    monitor_n: int = 0  # cached samples per monitor pass (0: one per class)


# Sized for ≤ 45 min of a 2-core CPU each and ≤ 8 MB of weights (float32).
RECIPES = {
    "pixelcnn": ARRecipe(steps=1200, batch=16, lr=2e-3, ema=0.995, monitor_every=400,
                         config=dict(hidden=48, blocks=5, out_hidden=96)),
    "gated-pixelcnn": ARRecipe(steps=1000, batch=16, lr=2e-3, ema=0.995, monitor_every=500,
                               config=dict(hidden=36, layers=6, kernel=5, out_hidden=96)),
    # anchored means + no dropout (the data are unlimited): 2.96 vs 5.84 test bits/dim after 300 steps (pixelcnnpp.py)
    # Stage 2 of PixelCNN++: continues the committed weights (stage 1: this config without the null class, 3,600
    # steps at lr 2e-3 from scratch) with 10 % of labels dropped to "no class" — the training of classifier-free
    # guidance (Ho & Salimans 2022, arXiv:2207.12598), its null row starting at zero (= the unconditional network).
    # lr 5e-4: a warm restart at stage 1's 2e-3 undid it (test bits/dim 1.28 -> 1.76 in 1,500 steps). Planned for
    # 8,000 steps, stopped at 3,000: bits/dim still falling, requested shape flat at chance with and without
    # guidance (docs/experiments/README.md, "PixelCNN++ with classifier-free guidance").
    "pixelcnnpp": ARRecipe(steps=3000, batch=16, lr=5e-4, ema=0.995, monitor_every=500, null_p=0.1,
                           init_from_embedded=True, monitor_n=48,
                           config=dict(filters=40, resnets=1, mix=6, dropout=0.0, anchored=True, null_class=True)),
}


def build(name: str, conditional: bool = True, **overrides):
    from .pixelcnn import GatedPixelCNN, PixelCNN
    from .pixelcnnpp import PixelCNNpp

    cfg = {**RECIPES[name].config, **overrides, "n_classes": N_CLASSES if conditional else 0}
    if not conditional:
        cfg.pop("null_class", None)
    cls = {"pixelcnn": PixelCNN, "gated-pixelcnn": GatedPixelCNN, "pixelcnnpp": PixelCNNpp}[name]
    return cls(**cfg)


def levels(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) long levels."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).long()


def bits_per_dim(model, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """(N,) negative log-likelihood in bits per sub-pixel, whichever output the model has."""
    from .pixelcnn import nll_bits_per_dim
    from .pixelcnnpp import PixelCNNpp, bits_per_dim as mix_bpd

    out = model(x, y)
    return mix_bpd(out, x, model.mix, model.anchors(x)) if isinstance(model, PixelCNNpp) else nll_bits_per_dim(out, x)


@torch.no_grad()
def test_bits_per_dim(model, n: int = 2000, batch: int = 100) -> float:
    model.eval()
    arr = shapes_arrays("test", n)
    x, y = levels(arr["images"]), torch.from_numpy(arr["labels"][:, 0]).long()
    cond = model.n_classes > 0
    return float(torch.cat([bits_per_dim(model, x[i:i + batch], y[i:i + batch] if cond else None)
                            for i in range(0, n, batch)]).mean())


def fast_sample(model, n: int, y: torch.Tensor | None, generator: torch.Generator, size: int = 32, **kw):
    """Samples through the model's cached sampler (the same draws as the naive one, in a fraction of the time)."""
    from .cached import for_model

    return for_model(model, size).sample(n, y, generator, **kw)


def balanced_samples(model, n: int, seed: int = 0, batch: int = 100,
                     guidance: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """n class-conditional samples (classes in turn) as uint8 (N, H, W, 3), with the classes asked for;
    ``guidance``: classifier-free guidance weight (PixelCNN++ trained with a null class)."""
    model.eval()
    y = torch.arange(n) % N_CLASSES
    gen = torch.Generator().manual_seed(seed)
    kw = {"guidance": guidance} if guidance else {}
    x = torch.cat([fast_sample(model, len(yb), yb, gen, **kw) for yb in y.split(batch)])
    return x.permute(0, 2, 3, 1).byte().numpy(), y.numpy()


def class_accuracy(model, n: int, seed: int = 0, guidance: float = 0.0) -> float:
    """Share of n class-conditional samples (classes in turn) whose shape the scoring classifier reads as asked."""
    from ...scoring.backbones import get_backbone

    images, y = balanced_samples(model, n, seed, guidance=guidance)
    return float((get_backbone("shapes").attribute_predictions(images)["shape"] == y).mean())


def init_from_embedded(model, src: Path) -> bool:
    """Load the committed weights in ``src`` into ``model`` (a stage that continues them). A class embedding with
    one row fewer (weights trained without the null class) gets a zero "no class" row: the block then adds nothing,
    as the unconditional network does. Returns False (and leaves the model as it is) when there are none."""
    from safetensors.torch import load_file

    f, cfg = src / "model.safetensors", src / "config.json"
    if not (f.exists() and cfg.exists()):
        print(f"no committed weights in {src}: training from scratch", flush=True)
        return False
    theirs, ours = json.loads(cfg.read_text()), dict(model._hub_mixin_config)  # the init arguments (hub mixin)
    differ = sorted(k for k in set(theirs) | set(ours) if k != "null_class" and theirs.get(k) != ours.get(k))
    if differ:
        print(f"the committed weights in {src} differ from this recipe in {', '.join(differ)}: training from scratch",
              flush=True)
        return False
    state, own = load_file(str(f)), model.state_dict()
    for k, v in state.items():
        if k in own and k.endswith("embed.weight") and v.shape[0] + 1 == own[k].shape[0]:
            state[k] = torch.cat([v, torch.zeros_like(v[:1])])
    model.load_state_dict(state)
    print(f"initialised from the committed weights in {src}", flush=True)
    return True


def train_ar(name: str, steps: int | None = None, data: str | None = None, out: str | None = None,
             run_dir: str | None = None, seed: int = 0, eval_n: int = 2000) -> dict:
    import copy

    if name not in RECIPES:
        raise ValueError(f"unknown autoregressive model {name!r}; choose {', '.join(RECIPES)}")
    recipe = RECIPES[name]
    steps = steps or recipe.steps
    torch.manual_seed(seed)
    if data:
        from ...data.dataset import FolderDataset

        ds = FolderDataset(data)
        x = ((ds.images + 1) * 127.5).round().long()
        y = torch.zeros(len(x), dtype=torch.long)
    else:
        arr = shapes_arrays("train", recipe.n_train)
        x, y = levels(arr["images"]), torch.from_numpy(arr["labels"][:, 0]).long()
    conditional = data is None
    model = build(name, conditional)
    run = Path(run_dir or f"runs/{name}")
    log = run / "monitor.jsonl"
    test = shapes_arrays("test", 256)
    tx, ty = levels(test["images"]), torch.from_numpy(test["labels"][:, 0]).long()

    def loss_fn(m, b, step):
        xb, yb = b
        if conditional and recipe.null_p:  # classifier-free guidance: sometimes "no class" (label n_classes)
            yb = torch.where(torch.rand(len(yb), device=yb.device) < recipe.null_p, N_CLASSES, yb)
        bpd = bits_per_dim(m, xb, yb if conditional else None).mean()
        return bpd, {"bpd": bpd.detach()}

    def hook(step, net, wall):
        net = copy.deepcopy(net).cpu().eval()
        with torch.no_grad():
            rec = {"step": step, "wall_min": round(wall / 60, 2),
                   "test_bpd_256": round(float(bits_per_dim(net, tx, ty if conditional else None).mean()), 4)}
        if conditional:  # naive samplers: one sample per class (3,072 full passes each)
            n = recipe.monitor_n or N_CLASSES
            rec[f"class_acc_{n}"] = class_accuracy(net, n, seed=step)
            w = guidance_for(net)
            if w:
                rec[f"class_acc_{n}_w{w:g}"] = class_accuracy(net, n, seed=step, guidance=w)
        with open(log, "a") as f:
            f.write(json.dumps(rec) + "\n")
        print("monitor", rec, flush=True)

    if (recipe.init_from_embedded and conditional and not (run / "ckpt.pt").exists()
            and not (run / "stage.json").exists() and init_from_embedded(model, WEIGHTS / name)):
        begin_stage(WEIGHTS / name, run)  # the new card keeps the whole curve: history copied, steps continued
    offset = stage_offset(run)
    cfg = TrainConfig(steps=steps, lr=recipe.lr, weight_decay=0.0, warmup=100, ckpt_every=100, seed=seed,
                      ema=recipe.ema, grad_clip=1.0)
    res = train(model, loss_fn, infinite_batches((x, y), recipe.batch, seed), cfg, run, desc=name,
                hook=offset_hook(hook, offset), hook_every=recipe.monitor_every)
    if not is_main_process():  # accelerate launch: rank 0 alone evaluates and writes the weights and card
        return {}
    model.load_state_dict(res["state_dict"])
    model = model.cpu().eval()  # accelerate moved it to the GPU, if there was one; cards are computed on the CPU
    dest = Path(out or WEIGHTS / name)
    model.save_pretrained(dest)
    if log.exists():
        (dest / "monitor.jsonl").write_text(log.read_text())
    note = stage_sentence(offset, res["steps"], f"python -m genmodels train {name} --steps {res['steps']}",
                          WEIGHTS.parents[1])
    return write_card(name, model, dest, recipe, res["steps"], res["wall_s"], data, eval_n, stage=note)


def card_metrics(model, eval_n: int = 2000, n_samples: int | None = None, seed: int = 12345,
                 n_guided: int | None = None) -> dict:
    """Held-out numbers for a model card: test bits/dim vs PNG, requested shape recognised and FID (scoring
    module, shapes backbone, against the test split; with its train-vs-test floor at the same N) of ``n_samples``
    class-balanced samples, and sampling time per 32x32 image (naive vs cached)."""
    from ...scoring.backbones import get_backbone
    from ...scoring.readout import score_sets
    from .pixelcnnpp import PixelCNNpp

    model.eval()
    n_samples = n_samples or min(300, eval_n)  # the cached samplers make 300 samples cheap
    n_guided = n_guided or min(1200, eval_n)  # a guided model is judged at the N ≥ 1,000
    t0 = time.perf_counter()
    m: dict = {"test bits/dim": round(test_bits_per_dim(model, eval_n), 4),
               "PNG bits/dim of the same images": round(png_bits_per_dim(shapes_arrays("test", eval_n)["images"]), 4)}
    m["bits/dim / PNG"] = round(m["test bits/dim"] / m["PNG bits/dim of the same images"], 4)
    w = guidance_for(model)
    if w:  # the unguided draw beside the hub's default (guided) one, which the FID below is of
        images, y = balanced_samples(model, n_guided, seed)
        pred = get_backbone("shapes").attribute_predictions(images)
        m[f"requested shape recognised, no guidance (N = {n_guided})"] = round(float((pred["shape"] == y).mean()), 4)
        n_samples = n_guided
    images, y = balanced_samples(model, n_samples, seed, guidance=w)
    pred = get_backbone("shapes").attribute_predictions(images)
    at = f", guidance w = {w:g}" if w else ""
    m[f"requested shape recognised{at} (N = {n_samples})"] = round(float((pred["shape"] == y).mean()), 4)
    fid = {r.metric: r.value for r in score_sets(images, "shapes-test", metrics=["fid"], n_boot=10)}["FID"]
    floor = {r.metric: r.value for r in score_sets(shapes_arrays("train", n_samples)["images"], "shapes-test",
                                                   metrics=["fid"], n_boot=10)}["FID"]
    m["FID_domain"], m["FID floor (train vs test, same N)"] = round(fid, 2), round(floor, 2)
    sp = speed(model)
    m["s per image, naive"], m["s per image, cached"] = round(sp["naive_s"], 2), round(sp["cached_s"], 3)
    m["cached speed-up"] = round(sp["ratio"], 2)
    if isinstance(model, PixelCNNpp):
        m["cached sampler plan build (s, once per model)"] = round(sp["build_s"], 2)
    m["eval seconds"] = round(time.perf_counter() - t0, 1)
    return m


def write_card(name: str, model, dest: Path, recipe: ARRecipe, steps: int, wall_s: float, data: str | None,
               eval_n: int = 2000, stage: str | None = None) -> dict:
    papers = {"pixelcnn": "PixelCNN (van den Oord, Kalchbrenner, Kavukcuoglu 2016, arXiv:1601.06759)",
              "gated-pixelcnn": "Gated PixelCNN (van den Oord et al. 2016, arXiv:1606.05328)",
              "pixelcnnpp": "PixelCNN++ (Salimans, Karpathy, Chen, Kingma 2017, arXiv:1701.05517)"}
    metrics = card_metrics(model, eval_n) if data is None else {}
    params = sum(p.numel() for p in model.parameters())
    rows = "\n".join(f"| {k} | {v} |" for k, v in metrics.items())
    stage_line = f"\n- **Stage:** {stage}" if stage else ""
    (dest / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (dest / "README.md").write_text(f"""---
license: apache-2.0
tags: [genmodels, autoregressive, shapes]
---
# {name}

{papers[name]}, class-conditional on the shape; {params:,} parameters ({params * 4 / 2**20:.1f} MB float32).

- **Reproduce:** `python -m genmodels train {name}` (resumable; checkpoints in `runs/{name}/`)
- **Data:** {f'user folder {data}' if data else f'{recipe.n_train:,} rendered items of the shapes train split (32x32)'}
- **Recipe:** {json.dumps(asdict(recipe))}
- **Wall time:** {wall_s / 60:.1f} min of training loop, {steps} steps, {torch.get_num_threads()} threads, one
  training job on the machine{stage_line}
- **Trained:** {time.strftime('%Y-%m-%d')}

## Held-out (shapes test split, N = {eval_n})

| metric | value |
|---|---|
{rows}
""")
    return metrics


def speed(model, size: int = 32, y: int = 0) -> dict:
    """Seconds to sample one size² image naively (one full pass per pixel, or per sub-pixel) and with the cache
    (built once per model and size, like the tab's, and timed apart)."""
    from .cached import for_model
    from .pixelcnn import sample
    from .pixelcnnpp import PixelCNNpp, sample_naive

    yy = torch.tensor([y]) if model.n_classes else None
    t0 = time.perf_counter()
    sampler = for_model(model, size)
    build = time.perf_counter() - t0
    naive_fn = sample_naive if isinstance(model, PixelCNNpp) else sample
    t0 = time.perf_counter()
    naive_fn(model, 1, size, yy, torch.Generator().manual_seed(0))
    naive = time.perf_counter() - t0
    t0 = time.perf_counter()
    sampler.sample(1, yy, torch.Generator().manual_seed(0))
    cached = time.perf_counter() - t0
    return {"naive_s": naive, "cached_s": cached, "ratio": naive / cached, "build_s": build}

