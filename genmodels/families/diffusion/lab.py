"""The guidance lab and the DDPM trajectory on top of ``guidance.denoise`` — no Gradio here.

``lab_sample`` draws images with one guidance knob set (CFG, classifier, CLIP, ILVR or semantic reference-image
guidance, see guidance.py for the papers); ``measure`` draws N images per knob value and measures what the knob is
for (class accuracy, caption accuracy + FID, CLIP score, low-pass similarity), with the shared scoring module and
the shapes classifier. Curves of the embedded model are stored in ``weights/tiny-sd/guidance_curves.json``.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from ...data import shapes
from ...data.dataset import shapes_arrays, to_tensor
from ...loading import serial_load
from . import guidance, service

GUIDES = ("CFG", "classifier", "CLIP", "ILVR", "reference (SDG)")
CURVE_VALUES = {"CFG": [1.0, 2.0, 3.0, 5.0, 7.5], "classifier": [0.0, 1.0, 3.0, 10.0, 30.0],
                "CLIP": [0.0, 1.0, 3.0, 10.0, 30.0], "ILVR": [32, 16, 8, 4, 2],
                "reference (SDG)": [0.0, 1.0, 3.0, 10.0, 30.0]}
CURVES_FILE = service.EMBEDDED_PIPE / "guidance_curves.json"
WEIGHTS = service.WEIGHTS


@lru_cache(maxsize=2)
@serial_load
def load_noisy(kind: str):
    """The embedded noise-aware latent nets: 'classifier' or 'clip'."""
    from .nets import NoisyLatentEncoder

    folder = WEIGHTS / {"classifier": "sd-noisy-classifier", "clip": "sd-noisy-clip"}[kind]
    if not (folder / "config.json").exists():
        raise FileNotFoundError(f"The noisy {kind} is not trained yet (`python -m genmodels train noisy-{kind}`).")
    return NoisyLatentEncoder.from_pretrained(str(folder)).eval().requires_grad_(False)


def encode_text(pipe, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Hidden states (for the UNet) and pooled outputs (for the noisy CLIP) of ``texts``."""
    tok = pipe.tokenizer(texts, padding="max_length", max_length=pipe.tokenizer.model_max_length, truncation=True,
                         return_tensors="pt")
    with torch.no_grad():
        out = pipe.text_encoder(input_ids=tok["input_ids"])
    return out.last_hidden_state, out.pooler_output


def encode_images(pipe, images: np.ndarray) -> torch.Tensor:
    with torch.no_grad():
        return pipe.vae.encode(to_tensor(images)).latent_dist.mean * pipe.vae.config.scaling_factor


def decode(pipe, z: torch.Tensor) -> np.ndarray:
    return service.decode_preview(pipe, z)


def _initial(pipe, seed: int, n: int) -> torch.Tensor:
    c, s = pipe.unet.config.in_channels, pipe.unet.config.sample_size
    return torch.cat([torch.randn((1, c, s, s), generator=g) for g in service.generators(seed, n)])


def lab_sample(pipe, guide: str, value: float, prompts: list[str], *, seed: int = 0, steps: int = 20,
               cfg: float = 3.0, scheduler: str = "DDIM", target_class: int | None = None,
               reference: np.ndarray | None = None, ilvr_range: tuple[float, float] = (0.0, 1.0),
               callback=None) -> np.ndarray:
    """One batch (len(prompts) images) with guide ``guide`` at ``value`` (scale, or the ILVR factor N in pixels)."""
    if guide not in GUIDES:
        raise ValueError(f"Unknown guidance {guide!r}; choose one of {', '.join(GUIDES)}.")
    n = len(prompts)
    cond, pooled = encode_text(pipe, prompts)
    uncond, _ = encode_text(pipe, [""])
    guides, ilvr = (), None
    if guide == "CFG":
        cfg = float(value)
    elif guide == "classifier":
        if target_class is None:
            raise ValueError("Classifier guidance needs a target shape.")
        guides = (guidance.classifier_guide(load_noisy("classifier"), torch.full((n,), int(target_class)),
                                            float(value)),)
    elif guide == "CLIP":
        clip = load_noisy("clip")
        with torch.no_grad():
            emb = clip.embed_text(pooled)
        guides = (guidance.clip_guide(clip, emb, float(value)),)
    else:
        if reference is None:
            raise ValueError(f"{guide} needs a reference image.")
        ref = encode_images(pipe, reference[None] if reference.ndim == 3 else reference)
        if guide == "ILVR":
            factor = max(1, int(value) // int(pipe.vae_scale_factor))  # pixel factor -> latent factor
            ilvr = guidance.ILVR(ref, factor=factor, start=ilvr_range[0], stop=ilvr_range[1], noise_seed=seed)
        else:
            clip = load_noisy("clip")
            with torch.no_grad():
                emb = clip.embed_image(ref, torch.zeros(len(ref), dtype=torch.long))
            guides = (guidance.semantic_guide(clip, emb, float(value)),)
    sched = service.make_scheduler(pipe, scheduler)
    z = guidance.denoise(pipe.unet, sched, cond, uncond, steps=steps, cfg=cfg, latents=_initial(pipe, seed, n),
                         guides=guides, ilvr=ilvr, callback=callback)
    return decode(pipe, z)


def trajectory(pipe, prompt: str, *, steps: int = 50, cfg: float = 3.0, seed: int = 0, frames: int = 10):
    """DDPM ancestral sampling of one image; returns (x_t frames, predicted-x0 frames, their timesteps)."""
    from diffusers import DDPMScheduler

    cond, _ = encode_text(pipe, [prompt])
    uncond, _ = encode_text(pipe, [""])
    sched = DDPMScheduler.from_config(pipe.scheduler.config)
    keep = set(np.linspace(0, steps - 1, frames).round().astype(int).tolist())
    xs, x0s, ts = [], [], []

    def cb(s: guidance.Step):
        if s.i in keep:
            xs.append(s.latents.clone())
            x0s.append(s.x0.clone())
            ts.append(s.t)

    g = torch.Generator().manual_seed(seed)
    guidance.denoise(pipe.unet, sched, cond, uncond, steps=steps, cfg=cfg, latents=_initial(pipe, seed, 1),
                     generator=g, callback=cb)
    return decode(pipe, torch.cat(xs)), decode(pipe, torch.cat(x0s)), ts


# ---- measured effects -------------------------------------------------------------------------------------------

def test_prompts(n: int, start: int = 0) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Captions, labels and images of test items start .. start+n-1."""
    arr = shapes_arrays("test", shapes.TEST_SPLIT_SIZE)
    idx = np.arange(start, start + n) % shapes.TEST_SPLIT_SIZE
    from .common import caption_of

    labels = arr["labels"][idx]
    return [caption_of(r) for r in labels], labels, arr["images"][idx]


def attribute_hits(images: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    from ...scoring.backbones import get_backbone

    pred = get_backbone("shapes").attribute_predictions(images)
    hits = {k: pred[k] == labels[:, shapes.LABEL_COLUMNS.index(k)] for k in ("shape", "colour", "fill", "background")}
    hits["class+colour+fill"] = hits["shape"] & hits["colour"] & hits["fill"]
    return hits


def measure(pipe, guide: str, values, n: int = 200, *, seed: int = 0, steps: int = 20, cfg: float = 3.0,
            batch: int = 100, progress=None) -> list[dict]:
    """Rows {guide, value, metric, score, n} of the metric each guide is meant to move.

    CFG: caption accuracy (class, colour and fill all recognised) and FID vs the test split; classifier: share of
    images recognised as the target shape (targets cycle through the 6 shapes, prompts say only colour / fill /
    background — "a ... object"); CLIP: CLIP score of the scoring module's CLIP (a different network from the
    guiding one); ILVR / reference: low-pass PSNR at 8 px between output and reference (test images), and for the
    reference guide the shape agreement with the reference."""
    from ...scoring.edges import low_pass_psnr
    from ...scoring.readout import score_clip, score_sets

    rows = []
    caps, labels, refs = test_prompts(n)
    for j, v in enumerate(values):
        if progress:
            progress(j / len(values), f"{guide} = {v}")
        outs = []
        for b in range(0, n, batch):
            sl = slice(b, min(n, b + batch))
            kw = {}
            p = caps[sl]
            if guide == "classifier":
                kw["target_class"] = None
                p = [c.replace(shapes.SHAPES[int(r[0])], "object") for c, r in zip(p, labels[sl])]
            if guide in ("ILVR", "reference (SDG)"):
                kw["reference"] = refs[sl]
            if guide == "classifier":
                outs.append(_classifier_batch(pipe, float(v), p, labels[sl], seed + b, steps, cfg))
            else:
                outs.append(lab_sample(pipe, guide, v, p, seed=seed + b, steps=steps, cfg=cfg, **kw))
        imgs = np.concatenate(outs)
        hits = attribute_hits(imgs, labels)
        if guide == "CFG":
            rows.append(_row(guide, v, "caption accuracy (class+colour+fill)", hits["class+colour+fill"].mean(), n))
            for k in ("shape", "colour", "fill"):
                rows.append(_row(guide, v, f"{k} recognised", hits[k].mean(), n))
            fid = [r for r in score_sets(imgs, "shapes-test", metrics=["fid"], n_boot=10) if r.metric == "FID"][0]
            rows.append(_row(guide, v, "FID (shapes backbone)", fid.value, n))
        elif guide == "classifier":
            rows.append(_row(guide, v, "target shape recognised", hits["shape"].mean(), n))
        elif guide == "CLIP":
            rows.append(_row(guide, v, "CLIP score (scoring module)", score_clip(imgs, caps).value, n))
            rows.append(_row(guide, v, "caption accuracy (class+colour+fill)", hits["class+colour+fill"].mean(), n))
        else:
            rows.append(_row(guide, v, "low-pass PSNR at 8 px (dB)", float(np.mean(low_pass_psnr(imgs, refs, 8))), n))
            if guide == "reference (SDG)":
                from ...scoring.backbones import get_backbone

                pr = get_backbone("shapes").attribute_predictions(imgs)
                rows.append(_row(guide, v, "reference shape recognised",
                                 float((pr["shape"] == labels[:, 0]).mean()), n))
    return rows


def _classifier_batch(pipe, scale, prompts, labels, seed, steps, cfg):
    """Classifier guidance toward each item's own shape (the prompt names no shape)."""
    n = len(prompts)
    cond, _ = encode_text(pipe, prompts)
    uncond, _ = encode_text(pipe, [""])
    g = guidance.classifier_guide(load_noisy("classifier"), torch.from_numpy(labels[:, 0].astype(np.int64)), scale)
    z = guidance.denoise(pipe.unet, service.make_scheduler(pipe, "DDIM"), cond, uncond, steps=steps, cfg=cfg,
                         latents=_initial(pipe, seed, n), guides=(g,))
    return decode(pipe, z)


def _row(guide, value, metric, score, n) -> dict:
    return {"guide": guide, "value": float(value), "metric": metric, "score": float(score), "n": int(n)}
