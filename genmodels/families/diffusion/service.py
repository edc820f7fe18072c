"""Loading and running the tiny Stable Diffusion (or any SD 1.x pipeline) — no Gradio here.

The embedded pipeline and a Hub id go through the same ``load_pipeline`` -> ``txt2img`` / ``controlnet``
functions: ``StableDiffusionPipeline.from_pretrained`` on ``genmodels/weights/tiny-sd`` or on a repo id
(``runwayml/stable-diffusion-v1-5`` when it is cached or downloadable). Every sampler takes a seed; image i of a
request uses ``torch.Generator().manual_seed(seed + i)``, so a seed gives the same image in any batch size.
"""
from __future__ import annotations

import math
import os
import re
import threading
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ...data import shapes
from ...limits import check_deadline, check_image_header
from ...loading import serial_load

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
EMBEDDED = "embedded"
EMBEDDED_PIPE = WEIGHTS / "tiny-sd"
EMBEDDED_CONTROLNET = WEIGHTS / "tiny-sd-controlnet-edges"
SCHEDULERS = ("DDIM", "DDPM", "Euler", "DPM-Solver++")
STEPS_RANGE = (1, 100)
CFG_RANGE = (0.0, 20.0)
CONTROL_SCALE_RANGE = (0.0, 2.0)
MAX_UPLOAD_SIDE = 4096
_LOCK = threading.Lock()  # diffusers pipelines are not thread-safe; one request at a time per process


def _hub_id(source: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,96}", source))


def _load_error(source: str, e: Exception) -> ValueError:
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    why = "the Hub is offline here (HF_HUB_OFFLINE)" if offline else "it is not in the local Hugging Face cache " \
        "and the Hub could not be reached (or the repo does not exist)"
    return ValueError(f"Could not load '{source}': {why}. Use 'embedded' for the built-in tiny Stable Diffusion "
                      f"({type(e).__name__}).")


def resolve_source(source: str | None, embedded: Path) -> str:
    source = (source or "").strip() or EMBEDDED
    if source == EMBEDDED:
        if not (embedded / ("model_index.json" if embedded == EMBEDDED_PIPE else "config.json")).exists():
            raise FileNotFoundError(f"The embedded weights are missing ({embedded.name}); train them with "
                                    "`python -m genmodels train sd-ae|sd-text|sd-unet|controlnet`.")
        return str(embedded)
    if Path(source).exists():
        return str(Path(source).resolve())
    if not _hub_id(source):
        raise ValueError(f"'{source[:80]}' is neither 'embedded', a local folder, nor a Hub id like owner/name.")
    return source


@lru_cache(maxsize=4)
@serial_load
def load_pipeline(source: str = EMBEDDED):
    """A ``StableDiffusionPipeline`` from 'embedded', a local folder in the SD 1.x layout, or a Hub repo id."""
    from diffusers import StableDiffusionPipeline

    path = resolve_source(source, EMBEDDED_PIPE)
    try:
        pipe = StableDiffusionPipeline.from_pretrained(path, safety_checker=None, feature_extractor=None,
                                                       requires_safety_checker=False)
    except (OSError, ValueError, EnvironmentError) as e:
        if Path(path).exists():
            raise ValueError(f"'{source}' is not a Stable Diffusion pipeline folder: {e}") from None
        raise _load_error(source, e) from None
    pipe.set_progress_bar_config(disable=True)
    # The embedded folder loads as float32 as it is (diffusers upcasts fp16-stored UNet / VAE weights; the text
    # encoder is stored in float32). Another folder or Hub repo may store its text encoder in fp16, which
    # transformers keeps: cast such parts to float32 for the CPU (only those: casting is a no-op for the rest).
    for part in pipe.components.values():
        if isinstance(part, torch.nn.Module) and any(p.dtype != torch.float32 for p in part.parameters()):
            part.to(torch.float32)
    return pipe


@lru_cache(maxsize=4)
@serial_load
def load_controlnet(source: str = EMBEDDED):
    """A ``ControlNetModel`` from 'embedded', a folder, or a Hub id (e.g. lllyasviel/sd-controlnet-canny)."""
    from diffusers import ControlNetModel

    path = resolve_source(source, EMBEDDED_CONTROLNET)
    try:
        return ControlNetModel.from_pretrained(path).eval()  # diffusers loads fp16-stored weights as float32
    except (OSError, ValueError, EnvironmentError) as e:
        if Path(path).exists():
            raise ValueError(f"'{source}' is not a ControlNet folder: {e}") from None
        raise _load_error(source, e) from None


def make_scheduler(pipe, name: str):
    """A fresh scheduler of the picked kind, configured from the pipeline's own (schedulers are stateful)."""
    from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler

    cls = {"DDIM": DDIMScheduler, "DDPM": DDPMScheduler, "Euler": EulerDiscreteScheduler,
           "DPM-Solver++": DPMSolverMultistepScheduler}.get(name)
    if cls is None:
        raise ValueError(f"Unknown scheduler {name!r}; choose one of {', '.join(SCHEDULERS)}.")
    kw = {"algorithm_type": "dpmsolver++"} if name == "DPM-Solver++" else {}
    return cls.from_config(pipe.scheduler.config, **kw)


def image_size(pipe) -> int:
    return int(pipe.unet.config.sample_size) * int(pipe.vae_scale_factor)


# ---- input checks -----------------------------------------------------------------------------------------------

def check_prompt(tokenizer, prompt, what: str = "prompt", allow_empty: bool = False) -> tuple[str, str]:
    """The prompt as the text encoder will see it, and a note when it was truncated to the tokenizer's length."""
    prompt = "" if prompt is None else str(prompt)
    if not prompt.strip():
        if allow_empty:
            return "", ""
        raise ValueError(f"The {what} is empty: describe the image, e.g. 'a small red striped star on a light "
                         "background'.")
    limit = int(tokenizer.model_max_length)
    ids = tokenizer(prompt, truncation=False, add_special_tokens=True)["input_ids"]
    if len(ids) <= limit:
        return prompt, ""
    kept = tokenizer.decode(ids[1:limit - 1], skip_special_tokens=True)
    return prompt, (f"The {what} has {len(ids) - 2} tokens; the text encoder reads the first {limit - 2} "
                    f"(kept: '{kept[:120]}').")


def clamp_steps(value) -> tuple[int, str]:
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"Steps must be a whole number, got {value!r}.") from None
    if not math.isfinite(f):
        raise ValueError(f"Steps must be a whole number, got {value!r}.")
    lo, hi = STEPS_RANGE
    n = int(round(f))
    if n < lo:
        return lo, f"Steps were raised to {lo} (range {lo}–{hi})."
    if n > hi:
        return hi, f"Steps were capped at {hi} (range {lo}–{hi})."
    return n, ""


def check_scale(value, name: str = "CFG scale", lo: float = CFG_RANGE[0], hi: float = CFG_RANGE[1]) -> float:
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"The {name} must be a number in [{lo}, {hi}], got {value!r}.") from None
    if not math.isfinite(f) or not lo <= f <= hi:
        raise ValueError(f"The {name} must be a number in [{lo}, {hi}], got {value!r}.")
    return f


def runner(pipe, scheduler: str, controlnet=None):
    """The stock ``StableDiffusionPipeline`` (or ``StableDiffusionControlNetPipeline`` with ``controlnet``) over
    ``pipe``'s loaded parts with a fresh scheduler of the picked kind — no weights are copied."""
    from diffusers import StableDiffusionControlNetPipeline, StableDiffusionPipeline

    comps = {k: v for k, v in pipe.components.items() if k != "image_encoder" or controlnet is None}
    comps["scheduler"] = make_scheduler(pipe, scheduler)
    if controlnet is None:
        run = StableDiffusionPipeline(**comps, requires_safety_checker=False)
    else:
        run = StableDiffusionControlNetPipeline(**comps, controlnet=controlnet, requires_safety_checker=False)
    run.set_progress_bar_config(disable=True)
    return run


def _budget_step(pipe, i, t, tensors):
    """A pipeline step callback: stop at the request's time budget (limits.Deadline)."""
    check_deadline("denoising")
    return tensors


def generators(seed: int, n: int) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(seed + i) for i in range(n)]


def to_uint8(images: np.ndarray) -> np.ndarray:
    """A pipeline's ``output_type="np"`` images (N, H, W, 3) in [0, 1] -> uint8."""
    return (np.clip(images, 0, 1) * 255).round().astype(np.uint8)


def decode_preview(pipe, latents: torch.Tensor) -> np.ndarray:
    from ...data.dataset import to_uint8 as nchw_to_uint8

    with torch.no_grad():
        return nchw_to_uint8(pipe.vae.decode(latents / pipe.vae.config.scaling_factor).sample)


PREVIEW_COST_SHARE = 0.05  # streamed previews may take at most this share of a request's time


def txt2img(pipe, prompt: str, negative: str = "", steps: int = 20, cfg: float = 3.0, scheduler: str = "DDIM",
            seed: int = 0, n: int = 1, preview=None, preview_every: float = 1.0) -> np.ndarray:
    """``n`` images (uint8 N, H, W, 3) from the stock ``StableDiffusionPipeline`` call.

    ``preview(step, total, images)`` is called after every step but the last (a cheap progress report). ``images``
    is None, or the decoded intermediate latents: at most once every ``preview_every`` seconds, and only while
    decoding stays within ``PREVIEW_COST_SHARE`` of the time (a VAE decode costs about a third of a CFG UNet step
    on the embedded model; decoding every fifth step was ~5 % of a 20-step request). Previews never change the
    images: the same seed gives the same bytes with or without them."""
    size = image_size(pipe)
    kw = {"callback_on_step_end": _budget_step}
    if preview is not None:
        clock = {"last": time.perf_counter(), "cost": 0.0}

        def on_step(p, i, t, tensors):
            check_deadline("denoising")
            if i + 1 < steps:
                now = time.perf_counter()
                images = None
                if now - clock["last"] >= max(preview_every, clock["cost"] / PREVIEW_COST_SHARE):
                    images = decode_preview(pipe, tensors["latents"])
                    done = time.perf_counter()
                    clock.update(last=done, cost=done - now)
                preview(i + 1, steps, images)
            return tensors

        kw = {"callback_on_step_end": on_step, "callback_on_step_end_tensor_inputs": ["latents"]}
    run = runner(pipe, scheduler)
    with _LOCK, torch.no_grad():
        out = run(prompt=[prompt] * n, negative_prompt=[negative] * n if negative else None,
                  num_inference_steps=steps, guidance_scale=cfg, generator=generators(seed, n), height=size,
                  width=size, output_type="np", **kw)
    return to_uint8(out.images)


def controlnet(pipe, net, control: np.ndarray, prompt: str, negative: str = "", steps: int = 20, cfg: float = 3.0,
               scale: float = 1.0, scheduler: str = "DDIM", seed: int = 0, n: int = 1) -> np.ndarray:
    """Images through the stock ``StableDiffusionControlNetPipeline``; ``control`` is a bool / [0, 1] map (H, W)
    at the pipeline's image size."""
    size = image_size(pipe)
    c = torch.from_numpy(np.asarray(control, dtype=np.float32))
    if c.shape != (size, size):
        raise ValueError(f"The control map must be {size}×{size}, got {tuple(c.shape)}.")
    image = c[None, None].expand(n, 3, size, size).contiguous()
    run = runner(pipe, scheduler, controlnet=net)
    with _LOCK, torch.no_grad():
        out = run(prompt=[prompt] * n, negative_prompt=[negative] * n if negative else None, image=image,
                  num_inference_steps=steps, guidance_scale=cfg, controlnet_conditioning_scale=scale,
                  generator=generators(seed, n), height=size, width=size, output_type="np",
                  callback_on_step_end=_budget_step)
    return to_uint8(out.images)


# ---- control maps -----------------------------------------------------------------------------------------------

def control_from_test(index: int, size: int = 32) -> tuple[np.ndarray, np.ndarray, str]:
    """(exact edge map, image, caption) of test-split item ``index``."""
    if not 0 <= index < shapes.TEST_SPLIT_SIZE:
        raise ValueError(f"Test item must be in 0–{shapes.TEST_SPLIT_SIZE - 1}, got {index}.")
    it = shapes.item("test", index, size=size, twin=False)
    return it.edges, it.image, it.caption


def _as_rgb(image) -> np.ndarray:
    from PIL import Image

    if image is None:
        raise ValueError("No image given.")
    if isinstance(image, (str, Path)):
        check_image_header(image, "uploaded image")  # size from the header, before decoding
        try:
            with Image.open(image) as im:
                im.load()
                image = im.copy()
        except Exception:
            raise ValueError("The uploaded file is not a readable image.") from None
    if isinstance(image, np.ndarray):
        a = image
        if a.ndim == 2:
            a = np.stack([a] * 3, -1)
        if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
            raise ValueError(f"Expected an RGB / RGBA / grayscale image, got an array of shape {a.shape}.")
        image = Image.fromarray(a.astype(np.uint8) if a.dtype != np.uint8 else a)
    if not isinstance(image, Image.Image):
        raise ValueError(f"Expected an image, got {type(image).__name__}.")
    if min(image.size) < 8 or max(image.size) > MAX_UPLOAD_SIDE:
        raise ValueError(f"The image must be between 8 and {MAX_UPLOAD_SIDE} pixels per side, got "
                         f"{image.size[0]}×{image.size[1]}.")
    if image.mode not in ("RGB", "RGBA", "L", "LA", "P", "I", "I;16", "F", "CMYK", "YCbCr"):
        raise ValueError(f"Unsupported image mode {image.mode}.")
    bg = Image.new("RGB", image.size, (0, 0, 0))
    if image.mode in ("RGBA", "LA", "P"):
        rgba = image.convert("RGBA")
        bg.paste(rgba, mask=rgba.getchannel("A"))
        return np.asarray(bg)
    return np.asarray(image.convert("RGB"))


def _resize(a: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    h, w = a.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    im = Image.fromarray(a[top:top + side, left:left + side])
    return np.asarray(im.resize((size, size), Image.Resampling.BOX))


def control_from_upload(image, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """An uploaded image -> (edge map from the documented Canny detector, the resized image). Centre-cropped."""
    from ...scoring.edges import detect_edges

    small = _resize(_as_rgb(image), size)
    return detect_edges(small), small


def control_from_sketch(value, size: int = 32) -> np.ndarray:
    """A sketchpad value (gr.ImageEditor dict or an image) -> a bool edge map: strokes are the edges."""
    if isinstance(value, dict):
        comp = value.get("composite")
        layers = [l for l in (value.get("layers") or []) if l is not None]
        src = comp if comp is not None else (layers[0] if layers else None)
        if src is None:
            raise ValueError("The sketchpad is empty: draw the outline of a shape.")
        a = _load_any(src)
    else:
        a = _load_any(value)
    if a.ndim == 2:
        a = a[..., None]
    a = a.astype(np.float32) / 255
    alpha = a[..., 3] if a.shape[2] == 4 else np.ones(a.shape[:2], np.float32)
    lum = a[..., :3].mean(-1) if a.shape[2] >= 3 else a[..., 0]
    lum = alpha * lum + (1 - alpha)  # transparent = white paper
    ink = 1 - lum if np.median(lum) > 0.5 else lum  # dark strokes on white, or light strokes on black
    if ink.max() <= 0.05:
        raise ValueError("The sketchpad is empty: draw the outline of a shape.")
    from PIL import Image

    h, w = ink.shape
    side = min(h, w)
    ink = ink[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
    small = np.asarray(Image.fromarray((ink * 255).astype(np.uint8)).resize((size, size), Image.Resampling.BOX))
    edges = small > 255 * 0.15
    if edges.sum() < 4:
        raise ValueError("The sketch is too faint or too small: draw bigger, bolder strokes.")
    return edges


def _load_any(x) -> np.ndarray:
    from PIL import Image

    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, Image.Image):
        return np.asarray(x)
    if isinstance(x, (str, Path)):
        try:
            with Image.open(x) as im:
                return np.asarray(im.convert("RGBA"))
        except Exception:
            raise ValueError("The sketch is not a readable image.") from None
    raise ValueError(f"Unsupported sketch value of type {type(x).__name__}.")
