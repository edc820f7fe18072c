"""Training and held-out evaluation of the domain backbones (``python -m genmodels train shapes-classifier`` and
``python -m genmodels train shapes-clip``). See ``domain_nets.py`` for the papers.

Both train on rendered items of the train split (cached), are evaluated on the fixed 2,000-item test split, and are
saved with ``save_pretrained`` (config + safetensors) plus a model card holding the command, data, wall time and
held-out numbers. The CLIP loss differs from CLIP's in one respect: captions repeat within a batch (the domain has
648 distinct captions), so the targets are all pairs with equal captions, not only the diagonal.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..data import shapes
from ..data.dataset import shapes_arrays, to_tensor
from ..training import TrainConfig, infinite_batches, is_main_process, train
from .clip_models import _as_tensor
from .domain_nets import HEADS, ShapesClassifier, build_clip_model, clip_pixel_values, load_tokenizer, write_tokenizer

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"


def _captions(split: str, start: int, n: int) -> list[str]:
    return [shapes.scene_params(split, i).caption() for i in range(start, start + n)]


def _noise_aug(x: torch.Tensor, step: int) -> torch.Tensor:
    """Mild robustness augmentation: per-image Gaussian noise of a random level up to 0.06."""
    g = torch.Generator().manual_seed(step)
    sigma = torch.rand(len(x), 1, 1, 1, generator=g) * 0.06
    return x + sigma * torch.randn(x.shape, generator=g)


@torch.no_grad()
def classifier_accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor,
                        batch: int = 500, heads=HEADS) -> dict[str, float]:
    """Test accuracy of each head of an attribute classifier whose heads are the first label columns, in order."""
    model.eval()
    preds = {k: [] for k in heads}
    for i in range(0, len(images), batch):
        out = model(images[i:i + batch])
        for k in heads:
            preds[k].append(out[k].argmax(1))
    return {k: float((torch.cat(preds[k]) == labels[:, j]).float().mean()) for j, k in enumerate(heads)}


def train_classifier(out: Path | None = None, steps: int = 3000, batch: int = 128, n_train: int = 100_000,
                     seed: int = 0, run_dir: str = "runs/shapes-classifier") -> dict:
    out = Path(out or WEIGHTS / "shapes-classifier")
    torch.manual_seed(seed)
    arr = shapes_arrays("train", n_train)
    images, labels = to_tensor(arr["images"]), torch.from_numpy(arr["labels"])
    model = ShapesClassifier()

    def loss_fn(m, b, step):
        x, y = b
        logits = m(_noise_aug(x, step))
        losses = {k: F.cross_entropy(logits[k], y[:, j]) for j, k in enumerate(HEADS)}
        return sum(losses.values()), losses

    cfg = TrainConfig(steps=steps, lr=2e-3, weight_decay=5e-4, warmup=100, seed=seed)
    res = train(model, loss_fn, infinite_batches((images, labels), batch, seed), cfg, run_dir, desc="classifier")
    if not is_main_process():  # accelerate launch: rank 0 alone evaluates and writes the weights and card
        return {}
    model.load_state_dict(res["state_dict"])
    test = shapes_arrays("test", shapes.TEST_SPLIT_SIZE)
    acc = classifier_accuracy(model, to_tensor(test["images"]), torch.from_numpy(test["labels"]))
    model.save_pretrained(out)
    _model_card(out, "shapes-classifier", (
        f"Attribute classifier of the shapes domain (VGG-style CNN, {sum(p.numel() for p in model.parameters()):,} "
        "parameters). Its 256-d penultimate features are the domain backbone of FID / KID / precision-recall / PD; "
        "its shape softmax serves IS."), f"python -m genmodels train shapes-classifier --steps {steps}",
        f"{n_train:,} rendered items of the train split (32x32), mild Gaussian-noise augmentation; batch {batch}, "
        f"{steps} AdamW steps, lr 2e-3 cosine", res["wall_s"],
        {f"test accuracy ({k})": v for k, v in acc.items()})
    return acc


@torch.no_grad()
def clip_retrieval_top1(model, tokenizer, images: torch.Tensor, captions: list[str], n_candidates: int = 100,
                        seed: int = 0) -> float:
    """Image -> caption top-1 among the true caption and ``n_candidates - 1`` captions of other random items;
    correct when the chosen caption's text equals the true one (captions repeat, so a twin text counts)."""
    model.eval()
    uniq = sorted(set(captions))
    tok = tokenizer(uniq, padding=True, return_tensors="pt")
    t = F.normalize(_as_tensor(model.get_text_features(**tok)), dim=-1)
    img = torch.cat([F.normalize(_as_tensor(model.get_image_features(pixel_values=clip_pixel_values(images[i:i + 500]))),
                                 dim=-1) for i in range(0, len(images), 500)])
    sims = img @ t.T  # (N, unique captions)
    cap_idx = torch.tensor([uniq.index(c) for c in captions])
    rng = np.random.default_rng(seed)
    correct = 0
    for i in range(len(images)):
        others = rng.choice(np.delete(np.arange(len(images)), i), n_candidates - 1, replace=False)
        cand = torch.cat([cap_idx[i:i + 1], cap_idx[torch.from_numpy(others)]])
        correct += int(cand[sims[i, cand].argmax()] == cap_idx[i])
    return correct / len(images)


SCORING_CLIP_NOTE = "It serves the CLIP score of the scoring module; no generator is trained against it."
GEN_CLIP_NOTE = ("The generators' CLIP: it reranks the DALL-E-style prior's samples (Ramesh et al. 2021, "
                 "arXiv:2102.12092, §2.5). Trained apart from the scoring module's shapes-clip (its own seed and train "
                 "items), which grades what it picks.")


def train_clip(out: Path | None = None, steps: int = 4000, batch: int = 256, n_train: int = 100_000, seed: int = 0,
               run_dir: str | None = None, start: int = 0, name: str = "shapes-clip",
               note: str = SCORING_CLIP_NOTE) -> dict:
    """A tiny CLIP on train items ``start .. start + n_train``; ``name`` / ``note``: its folder and card."""
    out = Path(out or WEIGHTS / name)
    run_dir = run_dir or f"runs/{name}"
    torch.manual_seed(seed)
    write_tokenizer(out)
    tokenizer = load_tokenizer(out)
    arr = shapes_arrays("train", n_train, start=start)
    images = to_tensor(arr["images"])
    caps = _captions("train", start, n_train)
    uniq = sorted(set(caps))
    cap_ids = torch.tensor([uniq.index(c) for c in caps])
    all_tokens = tokenizer(uniq, padding="max_length", max_length=16, return_tensors="pt")["input_ids"]
    model = build_clip_model(len(tokenizer))

    def loss_fn(m, b, step):
        x, cid = b
        ids = all_tokens[cid]
        o = m(input_ids=ids, attention_mask=(ids != tokenizer.pad_token_id) | (ids == tokenizer.eos_token_id),
              pixel_values=clip_pixel_values(_noise_aug(x, step)))
        same = (cid[:, None] == cid[None, :]).float()
        target = same / same.sum(1, keepdim=True)
        li = -(target * F.log_softmax(o.logits_per_image, 1)).sum(1).mean()
        lt = -(target * F.log_softmax(o.logits_per_text, 1)).sum(1).mean()
        return (li + lt) / 2, {"loss": (li + lt) / 2, "scale": m.logit_scale.exp()}

    cfg = TrainConfig(steps=steps, lr=1e-3, weight_decay=0.05, warmup=200, seed=seed)
    res = train(model, loss_fn, infinite_batches((images, cap_ids), batch, seed), cfg, run_dir, desc="clip")
    if not is_main_process():  # accelerate launch: rank 0 alone evaluates and writes the weights and card
        return {}
    model.load_state_dict(res["state_dict"])
    test = shapes_arrays("test", shapes.TEST_SPLIT_SIZE)
    top1 = clip_retrieval_top1(model, tokenizer, to_tensor(test["images"]), _captions("test", 0, 2000))
    model.save_pretrained(out)
    _model_card(out, name, (
        f"A tiny CLIP pair (transformers CLIPModel: ViT 32x32/patch 8, 4 layers; text transformer 2 layers; "
        f"{sum(p.numel() for p in model.parameters()):,} parameters) trained contrastively on shapes captions. "
        f"{note}"),
        f"python -m genmodels train {name} --steps {steps}",
        f"{n_train:,} rendered items of the train split (items {start:,}–{start + n_train - 1:,}) with their "
        f"captions; batch {batch}, {steps} AdamW steps, lr 1e-3 cosine, seed {seed}; targets = all pairs with equal "
        "captions", res["wall_s"], {"test image→caption top-1 among 100 candidates": top1})
    return {"top1@100": top1}


def train_gen_clip(steps: int = 3000, **kw) -> dict:  # the shipped gen-clip's 3,000 steps
    """``python -m genmodels train gen-clip``: the generators' CLIP (DALL-E reranking), apart from the scoring one."""
    kw = {"seed": 1, "start": 100_000, "name": "gen-clip", "note": GEN_CLIP_NOTE, **kw}
    return train_clip(steps=steps, **kw)


def _model_card(folder: Path, name: str, what: str, command: str, data: str, wall_s: float, metrics: dict) -> None:
    rows = "\n".join(f"| {k} | {v:.4f} |" for k, v in metrics.items())
    (folder / "README.md").write_text(f"""---
license: apache-2.0
tags: [genmodels, shapes]
---
# {name}

{what}

- **Reproduce:** `{command}` (resumable; checkpoints in `runs/{name}/`)
- **Data:** {data}
- **Wall time:** {wall_s / 60:.1f} min on {_machine()}
- **Trained:** {time.strftime('%Y-%m-%d')}

## Held-out metrics (fixed 2,000-item test split)

| metric | value |
|---|---|
{rows}
""")
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2))


def _machine() -> str:
    import os

    return "a GPU" if torch.cuda.is_available() else f"{os.cpu_count()} CPU cores"
