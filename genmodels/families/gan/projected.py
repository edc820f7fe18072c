"""Fast-converging GAN training on a frozen, separately trained shapes network (the "guide").

- Projected GAN: Sauer, Chitta, Müller, Geiger 2021, "Projected GANs Converge Faster", arXiv:2111.01007 — the
  discriminator works on the frozen multi-scale features of a pretrained network instead of on pixels.
- Classifier guidance for the generator: Sauer, Schwarz, Geiger 2022, "StyleGAN-XL", arXiv:2202.00273 — G is also
  rewarded when a frozen pretrained classifier recognises the requested class in its (augmented) output.
- For unconditional G: the CatGAN generator objective (Springenberg 2015, arXiv:1511.06390) on the guide's shape
  softmax — low entropy per image, high entropy of the batch mean (tried for DCGAN: it collapsed; not shipped).
- DiffAugment: Zhao, Liu, Lin, Zhu, Han 2020, "Differentiable Augmentation for Data-Efficient GAN Training",
  arXiv:2006.10738 — the same differentiable translation / cutout on real and fake images before D and the guide.

What differs: the pretrained network is ours, trained on the shapes domain (ImageNet networks cannot be downloaded
here). It is deliberately **not** the scoring backbone: a different architecture (residual, strided, GroupNorm,
SiLU), its own seed and its own augmentations, so that the scoring classifier that grades the generators never
took part in training them. Projected GAN's random cross-channel / cross-scale mixing is left out; each scale gets
a small spectral-norm head with projection conditioning (Miyato & Koyama 2018, arXiv:1802.05637).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin

from ...data import shapes

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
GUIDE_HEADS = {"shape": len(shapes.SHAPES), "colour": len(shapes.COLOUR_NAMES), "fill": len(shapes.FILLS),
               "background": len(shapes.BACKGROUNDS)}
SN = nn.utils.parametrizations.spectral_norm


class _Res(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.n1 = nn.GroupNorm(8, cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.n2 = nn.GroupNorm(8, cout)
        self.skip = nn.Conv2d(cin, cout, 1, stride, bias=False) if (cin != cout or stride != 1) else nn.Identity()

    def forward(self, x):
        h = F.silu(self.n1(self.c1(x)))
        return F.silu(self.n2(self.c2(h)) + self.skip(x))


class GuideNet(nn.Module, PyTorchModelHubMixin):
    """Images (N, 3, 32, 32) in [-1, 1] -> logits per attribute; ``features`` gives maps at 16², 8², 4²
    (a single convolution at full resolution keeps its forward + backward cheap: it runs on every GAN step)."""

    def __init__(self, widths: tuple[int, ...] = (32, 64, 96, 128)):
        super().__init__()
        w = list(widths)
        self.widths = tuple(w[1:])
        self.stem = nn.Sequential(nn.Conv2d(3, w[0], 3, 1, 1), nn.SiLU())
        self.stages = nn.ModuleList([_Res(w[0], w[1], 2), _Res(w[1], w[2], 2), _Res(w[2], w[3], 2)])
        self.heads = nn.ModuleDict({k: nn.Linear(w[3], n) for k, n in GUIDE_HEADS.items()})

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = self.stem(x)
        out = []
        for s in self.stages:
            h = s(h)
            out.append(h)
        return out

    def logits(self, feats: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        f = feats[-1].mean(dim=(2, 3))
        return {k: head(f) for k, head in self.heads.items()}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.logits(self.features(x))


def diff_augment(x: torch.Tensor, gen: torch.Generator | None = None, shift: int = 4, cutout: float = 0.25):
    """DiffAugment's translation (zero-padded shift of up to ``shift`` px, reflect-free) and cutout (a square of
    ``cutout`` × side zeroed), differentiable w.r.t. x, one draw per image."""
    n, _, h, w = x.shape
    dev = x.device
    dx = torch.randint(-shift, shift + 1, (n,), generator=gen).to(dev)
    dy = torch.randint(-shift, shift + 1, (n,), generator=gen).to(dev)
    ys = torch.arange(h, device=dev)[None, :, None] - dy[:, None, None]
    xs = torch.arange(w, device=dev)[None, None, :] - dx[:, None, None]
    valid = ((ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)).to(x.dtype)
    idx = ys.clamp(0, h - 1) * w + xs.clamp(0, w - 1)
    flat = x.flatten(2)
    out = torch.gather(flat, 2, idx.flatten(1)[:, None, :].expand(-1, x.shape[1], -1)).view_as(x) * valid[:, None]
    if cutout:
        s = int(h * cutout)
        cy = torch.randint(0, h - s + 1, (n,), generator=gen).to(dev)
        cx = torch.randint(0, w - s + 1, (n,), generator=gen).to(dev)
        yy = torch.arange(h, device=dev)[None, :, None]
        xx = torch.arange(w, device=dev)[None, None, :]
        hole = ((yy >= cy[:, None, None]) & (yy < cy[:, None, None] + s) &
                (xx >= cx[:, None, None]) & (xx < cx[:, None, None] + s))
        out = out * (~hole).to(x.dtype)[:, None]
    return out


class ProjectedDiscriminator(nn.Module):
    """Heads on the guide's frozen feature maps; each returns a patch logit map averaged to one logit, plus a
    projection term <embed(y), pooled features> per condition."""

    def __init__(self, feat_channels: tuple[int, ...], n_classes: tuple[int, ...] = (), width: int = 64):
        super().__init__()
        self.heads = nn.ModuleList()
        self.proj = nn.ModuleList()
        self.n_classes = tuple(n_classes)
        for c in feat_channels:
            self.heads.append(nn.Sequential(SN(nn.Conv2d(c, width, 3, 1, 1)), nn.LeakyReLU(0.2),
                                            SN(nn.Conv2d(width, width, 3, 1, 1)), nn.LeakyReLU(0.2)))
            self.proj.append(nn.ModuleList(SN(nn.Embedding(k, width)) for k in self.n_classes))
        self.out = nn.ModuleList(SN(nn.Conv2d(width, 1, 1)) for _ in feat_channels)

    def forward(self, feats: list[torch.Tensor], labels: torch.Tensor | None = None) -> torch.Tensor:
        total = 0
        for f, head, out, proj in zip(feats, self.heads, self.out, self.proj):
            h = head(f)
            logit = out(h).mean(dim=(1, 2, 3))
            pooled = h.mean(dim=(2, 3))
            for i, e in enumerate(proj):
                logit = logit + (e(labels[:, i]) * pooled).sum(1)
            total = total + logit
        return total


def guide_objective(logits: dict[str, torch.Tensor], labels: torch.Tensor | None) -> torch.Tensor:
    """G's guidance term from the guide's logits of its (augmented) samples. With labels (N, >= 2): cross-entropy of
    the requested shape and colour (classifier guidance). Without: CatGAN's generator objective on the shape
    softmax, H[p(y|x)] averaged over the batch minus H[mean_x p(y|x)] (>= -log K; -log K when every image is one
    definite shape and the batch draws all shapes equally)."""
    if labels is not None:
        return F.cross_entropy(logits["shape"].float(), labels[:, 0]) + \
            F.cross_entropy(logits["colour"].float(), labels[:, 1])
    p = logits["shape"].float().softmax(1)
    entropy = -(p * p.clamp_min(1e-8).log()).sum(1).mean()
    marginal = p.mean(0)
    return entropy + (marginal * marginal.clamp_min(1e-8).log()).sum()


# ---- the guide network's own training ---------------------------------------------------------------------------

GUIDE_SEED = 20_261_130  # not the scoring classifier's seed


def train_guide(steps: int = 1500, batch: int = 128, n_train: int = 60_000, seed: int = GUIDE_SEED,
                out: str | None = None, run_dir: str = "runs/gan-guide") -> dict:
    """``python -m genmodels train gan-guide``: the frozen network the GAN recipes lean on (own seed, own
    architecture; train-split items offset by 5,000,000 from the scoring backbone's)."""
    from ...data.dataset import shapes_arrays, to_tensor
    from ...scoring.train import classifier_accuracy
    from ...training import TrainConfig, infinite_batches, is_main_process, train

    torch.manual_seed(seed)
    arr = shapes_arrays("train", n_train, start=5_000_000)
    images, labels = to_tensor(arr["images"]), torch.from_numpy(arr["labels"])
    model = GuideNet()

    def loss_fn(m, b, step):
        x, y = b
        g = torch.Generator().manual_seed(seed + step)
        x = diff_augment(x, g, shift=3, cutout=0.0)
        x = x + torch.rand(len(x), 1, 1, 1, generator=g) * 0.1 * torch.randn(x.shape, generator=g)
        logits = m(x)
        losses = {k: F.cross_entropy(logits[k], y[:, j]) for j, k in enumerate(GUIDE_HEADS)}
        return sum(losses.values()), losses

    cfg = TrainConfig(steps=steps, lr=2e-3, warmup=100, ckpt_every=250, seed=seed)
    res = train(model, loss_fn, infinite_batches((images, labels), batch, seed), cfg, run_dir, desc="gan-guide")
    if not is_main_process():  # accelerate launch: rank 0 alone evaluates and writes the weights and card
        return {}
    model.load_state_dict(res["state_dict"])
    test = shapes_arrays("test", shapes.TEST_SPLIT_SIZE)
    acc = classifier_accuracy(model, to_tensor(test["images"]), torch.from_numpy(test["labels"]), heads=GUIDE_HEADS)
    return _save_guide(model, Path(out or WEIGHTS / "gan-guide"), res, batch, acc,
                       "# gan-guide\n\nA frozen shapes network the GAN recipes train against (Projected GAN features, "
                       "classifier\nguidance; see `genmodels/families/gan/projected.py`). It never grades anything: "
                       "the scoring backbone\n(`shapes-classifier`, another architecture and seed) does.",
                       ["- command: `python -m genmodels train gan-guide`", f"- data: {n_train:,} train-split items "
                        "from index 5,000,000, translation + noise augmentation"])


def _save_guide(model: GuideNet, out: Path, res: dict, batch: int, acc: dict, intro: str, lines: list[str],
                extra: dict | None = None) -> dict:
    """Save a guide network with its card (README.md + metrics.json); returns the metrics."""
    model.save_pretrained(out)
    card = {"steps": res["steps"], "wall_min": round(res["wall_s"] / 60, 1), **(extra or {}), "test_accuracy": acc,
            "n_params": sum(p.numel() for p in model.parameters())}
    lines = [*lines, f"- steps: {res['steps']:,} at batch {batch}, {card['wall_min']} min on "
             f"{torch.get_num_threads()} CPU threads", f"- parameters: {card['n_params']:,}",
             "- test accuracy (N = 2,000): " + ", ".join(f"{k} {v:.1%}" for k, v in acc.items())]
    if "shape_accuracy_under_pgd5_eps" in card:
        lines.append(f"- shape accuracy under a 5-step PGD attack at the same eps (N = 1,000): "
                     f"{card['shape_accuracy_under_pgd5_eps']:.1%}")
    (out / "README.md").write_text(intro + "\n\n" + "\n".join(lines) + "\n")
    (out / "metrics.json").write_text(json.dumps(card, indent=2))
    return card


def pgd_l2(model: GuideNet, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int,
           heads: tuple[str, ...] = ("shape", "colour")) -> torch.Tensor:
    """L2 projected gradient ascent on the summed cross-entropy of ``heads`` (Madry et al. 2018, arXiv:1706.06083):
    ``steps`` normalised-gradient steps of 2.5 eps / steps, projected onto the eps-ball and onto [-1, 1]."""
    alpha = 2.5 * eps / steps
    delta = torch.zeros_like(x, requires_grad=True)
    for _ in range(steps):
        logits = model(x + delta)
        loss = sum(F.cross_entropy(logits[k], y[:, list(GUIDE_HEADS).index(k)]) for k in heads)
        (grad,) = torch.autograd.grad(loss, delta)
        g = grad / grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
        d = delta.detach() + alpha * g
        d = d * (eps / d.flatten(1).norm(dim=1).clamp_min(eps).view(-1, 1, 1, 1))
        delta = ((x + d).clamp(-1, 1) - x).requires_grad_(True)
    return (x + delta).detach()


def train_robust_guide(steps: int = 600, batch: int = 128, n_train: int = 60_000, eps: float = 1.0,
                       pgd_steps: int = 2, seed: int = GUIDE_SEED + 1, out: str | None = None,
                       run_dir: str = "runs/gan-guide-robust") -> dict:
    """``python -m genmodels train gan-guide-robust``: the gan-guide adversarially fine-tuned (L2 PGD, eps in [-1, 1]
    pixel units) so that its input gradients are perceptually aligned: the gradient towards "square" draws corners
    rather than texture a standard classifier also calls square (Santurkar et al. 2019, "Image Synthesis with a
    Single (Robust) Classifier", arXiv:1906.09453; Kawar et al. 2022, robust classifier guidance,
    arXiv:2208.08664). The GAN recipes use it only for G's classifier-guidance term; D keeps the standard guide's
    features. Each batch is half clean, half adversarial (own seed; never the scoring backbone)."""
    from ...data.dataset import shapes_arrays, to_tensor
    from ...scoring.train import classifier_accuracy
    from ...training import TrainConfig, infinite_batches, is_main_process, train

    torch.manual_seed(seed)
    arr = shapes_arrays("train", n_train, start=5_000_000)
    images, labels = to_tensor(arr["images"]), torch.from_numpy(arr["labels"])
    model = GuideNet.from_pretrained(str(WEIGHTS / "gan-guide"))

    def loss_fn(m, b, step):
        x, y = b
        g = torch.Generator().manual_seed(seed + step)
        x = diff_augment(x, g, shift=3, cutout=0.0)
        half = len(x) // 2
        m.eval()  # GroupNorm only: eval / train differ in nothing but keep the attack deterministic
        adv = pgd_l2(m, x[half:], y[half:], eps, pgd_steps)
        m.train()
        logits = m(torch.cat([x[:half], adv]))
        losses = {k: F.cross_entropy(logits[k], y[:, j]) for j, k in enumerate(GUIDE_HEADS)}
        return sum(losses.values()), losses

    cfg = TrainConfig(steps=steps, lr=1e-3, warmup=50, ckpt_every=100, seed=seed)
    res = train(model, loss_fn, infinite_batches((images, labels), batch, seed), cfg, run_dir,
                desc="gan-guide-robust")
    if not is_main_process():  # accelerate launch: rank 0 alone evaluates and writes the weights and card
        return {}
    model.load_state_dict(res["state_dict"])
    model.eval()
    test = shapes_arrays("test", shapes.TEST_SPLIT_SIZE)
    xt, yt = to_tensor(test["images"]), torch.from_numpy(test["labels"])
    acc = classifier_accuracy(model, xt, yt, heads=GUIDE_HEADS)
    adv = torch.cat([pgd_l2(model, xt[i:i + 500], yt[i:i + 500], eps, 5) for i in range(0, 1000, 500)])
    with torch.no_grad():
        robust = float((model(adv)["shape"].argmax(1) == yt[:1000, 0]).float().mean())
    return _save_guide(model, Path(out or WEIGHTS / "gan-guide-robust"), res, batch, acc,
                       "# gan-guide-robust\n\nThe gan-guide fine-tuned adversarially (L2 PGD) so that its gradients "
                       "draw shapes: the\nreward network of the conditional GANs' classifier-guidance term "
                       "(`genmodels/families/gan/projected.py`).\nIt never grades anything: the scoring backbone does.",
                       ["- command: `python -m genmodels train gan-guide-robust` (from `gan-guide`)",
                        f"- attack: L2 eps {eps} (pixels in [-1, 1]), {pgd_steps} PGD steps; half of each batch "
                        "adversarial"],
                       {"eps_l2": eps, "pgd_steps": pgd_steps, "shape_accuracy_under_pgd5_eps": round(robust, 4)})


_GUIDE: GuideNet | None = None


def load_guide(folder: str | Path | None = None) -> GuideNet:
    global _GUIDE
    if folder is None and _GUIDE is not None:
        return _GUIDE
    path = Path(folder or WEIGHTS / "gan-guide")
    if not (path / "model.safetensors").exists():
        raise FileNotFoundError(f"no guide network at {path}; run `python -m genmodels train gan-guide` first")
    g = GuideNet.from_pretrained(str(path)).eval().requires_grad_(False)
    if folder is None:
        _GUIDE = g
    return g


if __name__ == "__main__":  # pragma: no cover
    t = time.time()
    print(train_guide(), f"{(time.time() - t) / 60:.1f} min")
