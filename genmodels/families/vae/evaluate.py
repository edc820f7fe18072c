"""Held-out numbers of the VAE family (monitors while training, model cards after), all read by the scoring module.

- VAE / CVAE: test ELBO bits/dim (single-sample, an upper bound on NLL) vs the PNG size of the same images;
  reconstruction PSNR / SSIM of the posterior mean; FID_domain of prior samples with its train-vs-test floor;
  CVAE: requested shape and colour of samples recognised by the scoring classifier.
- VQ-VAE: reconstruction PSNR / SSIM (/ LPIPS where its weights exist), codebook usage and perplexity on the test
  split.
- Code prior: requested shape of decoded prior samples; DALL-E-style: shape / colour / fill (and background, size) of
  samples for test-split captions.
- Every shape the classifier reads is reported beside the outline reader's (``scoring.readout.read_shapes``: the
  shape from the object's outline, no CNN), with the shares of objects in pieces and of samples with no object found.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ...data import shapes
from ...data.dataset import shapes_arrays

ATTRS = ("shape", "colour", "fill", "background")


def _predict(images: np.ndarray) -> dict[str, np.ndarray]:
    from ...scoring.backbones import get_backbone

    return get_backbone("shapes").attribute_predictions(images)


def _outline(images: np.ndarray, requested, suffix: str) -> dict:
    """Shape by outline, objects in pieces, no object found (``scoring.readout.read_shapes``; ``requested`` None:
    the outline against the classifier's reading), each key followed by ``suffix``."""
    from ...scoring.readout import read_shapes

    return {f"{k}{suffix}": v for k, v in read_shapes(images, requested).as_dict(classifier=False).items()}


def _fid_with_floor(images: np.ndarray) -> dict:
    from ...scoring.readout import score_sets

    def fid(x):
        return {r.metric: r.value for r in score_sets(x, "shapes-test", metrics=["fid"], n_boot=10)}["FID"]

    return {"FID_domain": round(fid(images), 2),
            "FID floor (train vs test, same N)": round(fid(shapes_arrays("train", len(images))["images"]), 2)}


# ------------------------------------------------------------------------------------------------ VAE / CVAE
def balanced_labels(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Shapes in turn, colours drawn at random (seeded)."""
    g = torch.Generator().manual_seed(seed)
    return torch.arange(n) % len(shapes.SHAPES), torch.randint(0, len(shapes.COLOUR_NAMES), (n,), generator=g)


@torch.no_grad()
def cvae_samples(model, n: int, seed: int = 0, batch: int = 500) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
    from .recipes import to_images

    s, c = balanced_labels(n, seed)
    g = torch.Generator().manual_seed(seed)
    x = torch.cat([model.sample(len(sb), sb, cb, g) for sb, cb in zip(s.split(batch), c.split(batch))])
    return to_images(x), s, c


def cvae_class_accuracy(model, n: int = 300, seed: int = 0) -> dict:
    images, s, c = cvae_samples(model, n, seed)
    p = _predict(images)
    return {f"shape_acc_{n}": round(float((p["shape"] == s.numpy()).mean()), 4),
            f"colour_acc_{n}": round(float((p["colour"] == c.numpy()).mean()), 4)}


@torch.no_grad()
def label_swap_rate(model, x_levels: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of test reconstructions whose shape label was replaced (shape + 1..5) that the scoring classifier reads
    as the new shape: whether the decoder takes the shape from the label."""
    from .recipes import to_images

    new = (labels[:, 0] + 1 + torch.arange(len(labels)) % 5) % 6
    mu, _ = model.encode(x_levels, labels[:, 0], labels[:, 1])
    imgs = to_images(model.decode_latents(mu, new, labels[:, 1]))
    return float((_predict(imgs)["shape"] == new.numpy()).mean())


@torch.no_grad()
def vae_metrics(model, n: int = 2000, batch: int = 250) -> dict:
    from ...scoring.pixel import psnr, ssim
    from .recipes import labels_tensor, levels, to_images
    from ..autoregressive.pixelcnn import png_bits_per_dim

    arr = shapes_arrays("test", n)
    x, lab = levels(arr["images"]).long(), labels_tensor(arr)
    cond = model.conditional
    bpd, recs = [], []
    g = torch.Generator().manual_seed(0)
    for i in range(0, n, batch):
        args = (lab[i:i + batch, 0], lab[i:i + batch, 1]) if cond else ()
        bpd.append(model.elbo_bits_per_dim(x[i:i + batch], *args, generator=g))
        recs.append(model.reconstruct(x[i:i + batch], *args))
    rec = to_images(torch.cat(recs))
    m = {"test ELBO bits/dim (upper bound on NLL)": round(float(torch.cat(bpd).mean()), 4),
         "PNG bits/dim of the same images": round(png_bits_per_dim(arr["images"]), 4)}
    m["ELBO / PNG"] = round(m["test ELBO bits/dim (upper bound on NLL)"] / m["PNG bits/dim of the same images"], 4)
    m["reconstruction PSNR (dB)"] = round(psnr(rec, arr["images"]), 3)
    m["reconstruction SSIM"] = round(float(np.mean([ssim(a, b) for a, b in zip(rec, arr["images"])])), 4)
    if cond:
        images, s, c = cvae_samples(model, n, seed=12345)
        p = _predict(images)
        m[f"requested shape recognised (N = {n})"] = round(float((p["shape"] == s.numpy()).mean()), 4)
        m.update(_outline(images, s, f" (N = {n})"))
        m[f"requested colour recognised (N = {n})"] = round(float((p["colour"] == c.numpy()).mean()), 4)
        m[f"label swap: a reconstruction's new shape recognised (N = {n})"] = round(label_swap_rate(model, x, lab), 4)
    else:
        images = to_images(model.sample(n, generator=torch.Generator().manual_seed(12345)))
        m.update(_outline(images, None, f" (N = {n})"))
    m.update(_fid_with_floor(images))
    return m


# ------------------------------------------------------------------------------------------------ VQ-VAE
def reconstruction_shape_accuracy(rec: np.ndarray, n: int) -> dict:
    """The scoring classifier's shape reading of the first ``n`` test items' reconstructions, overall and per size:
    what the code priors can reach at most (a prior's samples are decoded by the same decoder)."""
    test = shapes_arrays("test", n)
    ok = _predict(rec)["shape"] == test["labels"][:, 0]
    sizes = test["labels"][:, 4]
    return {"recon_shape_acc": round(float(ok.mean()), 4),
            **{f"recon_shape_acc_{name}": round(float(ok[sizes == z].mean()), 4)
               for z, name in enumerate(shapes.SIZES) if (sizes == z).any()}}


@torch.no_grad()
def vqvae_metrics(model, n: int = 2000, lpips_net: str | None = "alex") -> dict:
    from ...scoring.pixel import psnr, ssim
    from .recipes import decode_codes, encode_codes
    from .vqvae import codebook_stats

    images = shapes_arrays("test", n)["images"]
    idx = encode_codes(model, images)
    rec = decode_codes(model, idx)
    st = codebook_stats(idx, model.codes)
    m = {"psnr": round(psnr(rec, images), 3), **reconstruction_shape_accuracy(rec, n),
         "ssim": round(float(np.mean([ssim(a, b) for a, b in zip(rec, images)])), 4),
         "codebook_usage": round(st["usage"], 4), "perplexity": round(st["perplexity"], 1)}
    if lpips_net:
        try:
            from ...scoring.perceptual import lpips

            m[f"lpips_{lpips_net}"] = round(float(np.mean(lpips(rec, images, lpips_net))), 4)
        except Exception as e:  # LPIPS weights are not cached offline
            m["lpips"] = f"unavailable ({type(e).__name__})"
    return m


# ------------------------------------------------------------------------------------------------ priors
@torch.no_grad()
def prior_samples(prior, vq, n: int, seed: int = 0, batch: int = 200, temperature: float = 1.0,
                  guidance: float = 1.0):
    from .priors import iter_prior
    from .recipes import decode_codes

    y = torch.arange(n) % len(shapes.SHAPES)
    g = torch.Generator().manual_seed(seed)
    codes = []
    for yb in y.split(batch):
        for _, x in iter_prior(prior, len(yb), vq.grid, yb, g, temperature, guidance):
            pass
        codes.append(x[:, 0])
    codes = torch.cat(codes)
    return decode_codes(vq, codes), y.numpy(), codes


def rejection_readings(prior, vq, n: int, k: int, guidance: float, seed: int = 12345) -> dict:
    """The VQ prior's samples at ``guidance``, each the first of ``k`` candidates the rejection network accepts
    (``reject.py``, VQ-VAE-2 §3.3): requested shape by the scoring classifier and by outline, FID_domain. ``n`` is
    rounded down to a multiple of the six shapes, so every request's k candidates share its label."""
    from .reject import ACCEPT, best_of

    n = n - n % len(shapes.SHAPES)
    pool, y, _ = prior_samples(prior, vq, n * k, seed=seed, guidance=guidance)  # row j·n + i: request i's j-th try
    pool = pool.reshape(k, n, *pool.shape[1:]).swapaxes(0, 1).reshape(n * k, *pool.shape[1:])
    images = best_of(pool, y[:n], None, k, threshold=ACCEPT)[0]
    tag = f"guidance {guidance:g}, first of {k} with p ≥ {ACCEPT:g} by gan-guide-robust (N = {n})"
    m = {f"requested shape recognised, {tag}": round(float((_predict(images)["shape"] == y[:n]).mean()), 4)}
    m.update(_outline(images, y[:n], f", {tag}"))
    m[f"FID_domain, {tag}"] = _fid_with_floor(images)["FID_domain"]
    return m


MONITOR_GUIDANCE = (1.0, 3.0)  # the monitors read samples without and with classifier-free guidance


def prior_class_accuracy(prior, vq, n: int = 120, seed: int = 0) -> dict:
    out = {}
    for s in MONITOR_GUIDANCE:
        images, y, _ = prior_samples(prior, vq, n, seed, guidance=s)
        out[f"shape_acc_{n}_g{s:g}"] = round(float((_predict(images)["shape"] == y).mean()), 4)
    return out


@torch.no_grad()
def dalle_samples(model, vq, labels: torch.Tensor, seed: int = 0, batch: int = 200, temperature: float = 1.0,
                  top_k: int = 0, guidance: float = 1.0, rerank: int = 1) -> np.ndarray:
    """One sample per caption of the label rows; ``rerank`` = k > 1: the best of k candidates by the generators'
    CLIP (``rerank.py``, DALL-E §2.5)."""
    from ...data.captions import caption_of
    from .priors import caption_tokens, dalle_sample
    from .recipes import decode_codes

    g = torch.Generator().manual_seed(seed)
    text = caption_tokens(labels).repeat_interleave(rerank, 0)
    codes = torch.cat([dalle_sample(model, t, g, temperature, top_k, guidance) for t in text.split(batch)])
    images = decode_codes(vq, codes)
    if rerank == 1:
        return images
    from .rerank import best_of

    return best_of(images, [caption_of(row) for row in labels.tolist()], rerank)[0]


def dalle_attribute_accuracy(model, vq, n: int = 120, seed: int = 0, start: int = 0) -> dict:
    """Samples for the captions of test items ``start ..``; share whose attributes the scoring classifier reads."""
    from .recipes import labels_tensor

    lab = labels_tensor(shapes_arrays("test", n, start=start))
    out = {}
    for s in MONITOR_GUIDANCE:
        p = _predict(dalle_samples(model, vq, lab, seed, guidance=s))
        hits = {k: p[k] == lab[:, c].numpy() for c, k in enumerate(ATTRS)}
        out.update({f"{k}_acc_{n}_g{s:g}": round(float(v.mean()), 4) for k, v in hits.items()})
        out[f"shape_colour_fill_{n}_g{s:g}"] = round(float((hits["shape"] & hits["colour"] & hits["fill"]).mean()), 4)
    return out


def caption_readings(images: np.ndarray, lab: torch.Tensor, tag: str) -> dict:
    """Samples for the captions of label rows ``lab``: each attribute the scoring classifier reads, shape by outline,
    and all of shape, colour and fill, keys tagged with the settings ``tag``."""
    n = len(lab)
    p = _predict(images)
    hits = {a: p[a] == lab[:, c].numpy() for c, a in enumerate(ATTRS)}
    m = {f"{a} recognised, {tag} (N = {n} test captions)": round(float(v.mean()), 4) for a, v in hits.items()}
    m.update(_outline(images, lab[:, 0], f", {tag} (N = {n} test captions)"))
    m[f"shape, colour and fill all recognised, {tag}"] = \
        round(float((hits["shape"] & hits["colour"] & hits["fill"]).mean()), 4)
    return m


# ------------------------------------------------------------------------------------------------ cards
PAPERS = {"vae": "VAE (Kingma & Welling 2013, arXiv:1312.6114) with a discretized-logistic decoder",
          "cvae": "CVAE (Sohn, Lee, Yan 2015) conditioned on shape and colour, trained as a CVAE-GAN (Bao et al. 2017, "
                  "arXiv:1703.10155): a conditional DCGAN generator as the decoder (the likelihood's mean, one "
                  "calibrated discretized-logistic scale per colour channel), a discriminator and a classifier beside "
                  "the ELBO",
          "vqvae": "VQ-VAE (van den Oord, Vinyals, Kavukcuoglu 2017, arXiv:1711.00937), EMA codebook, "
                   "dead-code restarts",
          "vq-prior": "Class-conditional Gated PixelCNN prior over the vqvae codes (van den Oord et al. 2016 / 2017)",
          "vq-dalle": "DALL-E-style transformer (Ramesh et al. 2021, arXiv:2102.12092) over [caption ; vqvae codes], "
                      "transformers' GPT2LMHeadModel"}


OUTLINE_NOTE = ("*Shape by outline*: the shape named from the object's outline alone (`genmodels/scoring/outline.py`, "
                "no CNN; 100 % on the 2,000 real test items), beside the scoring classifier's reading — a CNN can "
                "name textures a person would not; for an unconditional model, the share whose outline names the "
                "shape the classifier reads. *Objects in pieces*: samples whose object falls apart (real items: "
                "0 %). *No object found*: samples the reader cannot segment (counted as not read).")


def card_metrics(name: str, model, eval_n: int = 2000, vq=None) -> dict:
    t0 = time.perf_counter()
    if name in ("vae", "cvae"):
        m = vae_metrics(model, eval_n)
    elif name == "vqvae":
        m = vqvae_metrics(model, eval_n)
    elif name == "vq-prior":
        from .priors import DEFAULT_GUIDANCE

        m = {}
        for s in sorted({1.0, DEFAULT_GUIDANCE["vq-prior"]}):
            images, y, _ = prior_samples(model, vq, eval_n, seed=12345, guidance=s)
            m[f"requested shape recognised, guidance {s:g} (N = {eval_n})"] = \
                round(float((_predict(images)["shape"] == y).mean()), 4)
            m.update(_outline(images, y, f", guidance {s:g} (N = {eval_n})"))
        m.update(_fid_with_floor(images))  # at the default guidance (the larger scale)
        from .reject import DEFAULT_BEST_OF

        k = DEFAULT_BEST_OF["VQ-VAE + PixelCNN prior"]
        if k > 1:  # the hub's default: rejection sampling (N ≤ 1,002: k candidates each)
            m.update(rejection_readings(model, vq, min(eval_n, 1002), k, DEFAULT_GUIDANCE["vq-prior"]))
    else:
        n = min(eval_n, 1000)
        from .recipes import labels_tensor

        from .priors import DEFAULT_GUIDANCE

        lab = labels_tensor(shapes_arrays("test", n))
        m = {}
        for s in sorted({1.0, DEFAULT_GUIDANCE["vq-dalle"]}):
            images = dalle_samples(model, vq, lab, seed=12345, guidance=s)
            m.update(caption_readings(images, lab, f"guidance {s:g}"))
        m.update(_fid_with_floor(images))  # at the default guidance, no reranking
        from .rerank import DEFAULT_RERANK, RERANK_CLIP

        if (RERANK_CLIP / "model.safetensors").exists():  # the hub's default: best of k by the generators' CLIP
            s, k = DEFAULT_GUIDANCE["vq-dalle"], DEFAULT_RERANK
            images = dalle_samples(model, vq, lab, seed=12345, guidance=s, rerank=k)
            tag = f"guidance {s:g}, best of {k} by gen-clip"
            m.update(caption_readings(images, lab, tag))
            m[f"FID_domain, {tag}"] = _fid_with_floor(images)["FID_domain"]
    m["eval seconds"] = round(time.perf_counter() - t0, 1)
    return m


def write_card(name: str, model, dest: Path, recipe, steps: int, wall_s: float, data: str | None,
               eval_n: int = 2000, vq=None, stage: str | None = None, recipe_ref: str | None = None) -> dict:
    metrics = card_metrics(name, model, eval_n, vq) if data is None else {}
    params = sum(p.numel() for p in model.parameters())
    size = sum(f.stat().st_size for f in dest.glob("*.safetensors")) / 2 ** 20
    rows = "\n".join(f"| {k} | {v} |" for k, v in metrics.items())
    (dest / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    monitor = ""
    mon = dest / "monitor.jsonl"
    if mon.exists():
        recs = [json.loads(line) for line in mon.read_text().splitlines() if line.strip()]
        if recs:
            keys = list(recs[-1])
            monitor = ("\n## Monitor during training (`monitor.jsonl`)\n\n| " + " | ".join(keys) + " |\n|"
                       + "---|" * len(keys) + "\n" + "\n".join("| " + " | ".join(str(r.get(k, "")) for k in keys)
                                                            + " |" for r in recs) + "\n")
    after = "" if name not in ("vq-prior", "vq-dalle") else \
        " (after `python -m genmodels train vqvae`: it is fit to that model's codes)"
    stage_line = f"\n- **Stage:** {stage}" if stage else ""
    (dest / "README.md").write_text(f"""---
license: apache-2.0
tags: [genmodels, vae, shapes]
---
# {name}

{PAPERS[name]}; {params:,} parameters, {size:.1f} MB (safetensors).

- **Reproduce:** `python -m genmodels train {name}`{after} (resumable; checkpoints in `runs/{name}/`)
- **Data:** {f'user folder {data}' if data else f'{recipe.n_train:,} rendered items of the shapes train split (32x32)'}
- **Recipe:** `{json.dumps(asdict(recipe))}` ({recipe_ref or f'`RECIPES["{name}"]` in `genmodels/families/vae/recipes.py`'}){stage_line}
- **Wall time:** {wall_s / 60:.1f} min of training loop, {steps} steps, {torch.get_num_threads()} threads, the only
  training job on the machine
- **Trained:** {time.strftime('%Y-%m-%d')}

## Held-out (shapes test split, scoring module, shapes backbone)

| metric | value |
|---|---|
{rows}

{OUTLINE_NOTE if any(k.startswith("shape by outline") for k in metrics) else ""}
{monitor}""")
    return metrics
