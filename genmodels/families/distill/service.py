"""Running the distilled students beside their teacher — no Gradio here (papers: progressive.py).

``compare`` draws, from the same initial noise (image i: seed + i), the classifier-free-guided teacher at N DDIM steps,
a student at n steps (w folded in) and plain DDIM of the teacher at the same n steps, timing each. ``few_step_hub``
runs a Hub SD 1.x pipeline with an LCM-LoRA (``load_lora_weights``) and ``LCMScheduler``, or a Turbo-style
distilled checkpoint with ``EulerAncestralDiscreteScheduler`` at CFG 0, when the weights are in the local cache.
"""
from __future__ import annotations

import json
import threading
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ...loading import serial_load
from ..diffusion import lab
from ..diffusion import service as sd
from . import evaluate as E
from . import progressive as P
from .students import OUT, STUDENT_STEPS, available, load_student, teacher_pipeline  # noqa: F401

TEACHER_STEPS_RANGE = (1, 100)
MAX_IMAGES = 8
_LOCK = threading.Lock()  # one comparison at a time per process (timings are measured on the whole machine)


def check_w(value) -> float:
    """w in the range the students learned (the diffusion tab's scale check, with this range)."""
    return sd.check_scale(value, "guidance weight w", *P.W_RANGE)


def check_student_steps(value) -> int:
    from ...validate import parse_whole

    n = parse_whole(value, min(STUDENT_STEPS), max(STUDENT_STEPS), "Student steps")
    if n not in STUDENT_STEPS:
        raise ValueError(f"Student steps must be one of {', '.join(map(str, STUDENT_STEPS))} (each student was "
                         f"distilled for its own step count), got {value!r}.")
    return n


def _draw(pipe, denoiser, z: torch.Tensor, steps: int) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    out = P.sample(denoiser, z.clone(), steps, pipe.scheduler.alphas_cumprod)
    images = lab.decode(pipe, out)
    return images, time.perf_counter() - t0


def compare(prompt: str, seed: int = 0, teacher_steps: int = 64, student_steps: int = 4, w: float = 3.0,
            n: int = 4, root: str = str(OUT)) -> dict:
    """Teacher (CFG w, N steps), student (n steps) and plain DDIM (CFG w, n steps) from the same noise.
    Times include the text encoder and the VAE decode, as a user waits for them."""
    pipe = teacher_pipeline()
    prompt, note = sd.check_prompt(pipe.tokenizer, prompt)
    from ...validate import parse_whole

    w, student_steps = check_w(w), check_student_steps(student_steps)
    teacher_steps = parse_whole(teacher_steps, *TEACHER_STEPS_RANGE, "Teacher steps")
    if not 1 <= int(n) <= MAX_IMAGES:
        raise ValueError(f"Images must be in 1–{MAX_IMAGES}, got {n}.")
    student = load_student(student_steps, root)
    z = E.initial_noise(int(seed), int(n), E.latent_shape(pipe))
    with _LOCK, torch.no_grad():
        t0 = time.perf_counter()
        cond, _ = lab.encode_text(pipe, [prompt] * int(n))
        uncond, _ = lab.encode_text(pipe, [""])
        text_s = time.perf_counter() - t0
        guided = P.cfg_denoiser(pipe.unet, cond, uncond, w)
        teacher, t_s = _draw(pipe, guided, z, teacher_steps)
        fast, s_s = _draw(pipe, P.student_denoiser(student, cond, w), z, student_steps)
        ddim, d_s = _draw(pipe, guided, z, student_steps)
    return {"prompt": prompt, "note": note, "w": w, "teacher_steps": teacher_steps, "student_steps": student_steps,
            "teacher": teacher, "student": fast, "ddim": ddim,
            "seconds": {"teacher": t_s + text_s, "student": s_s + text_s, "ddim": d_s + text_s}}


def txt2img(prompt: str, seed: int = 0, n: int = 1, steps: int = 4, w: float = 3.0, root: str = str(OUT)) -> np.ndarray:
    """n images (uint8) from the ``steps``-step student; image i from the initial noise of seed + i."""
    pipe = teacher_pipeline()
    prompt, _ = sd.check_prompt(pipe.tokenizer, prompt)
    steps = check_student_steps(steps)
    student = load_student(steps, root)
    z = E.initial_noise(int(seed), int(n), E.latent_shape(pipe))
    with _LOCK, torch.no_grad():
        cond, _ = lab.encode_text(pipe, [prompt] * int(n))
        return _draw(pipe, P.student_denoiser(student, cond, check_w(w)), z, steps)[0]


# ---- stored curves (python -m genmodels bench / evaluate) -------------------------------------------------------

CURVE_FILE = OUT / "curve.json"


def stored_curve() -> list[dict]:
    """Rows {sampler, steps, metric, value, n} of the held-out quality-vs-steps measurement, or [] before it ran."""
    if not CURVE_FILE.exists():
        return []
    return json.loads(CURVE_FILE.read_text())["rows"]


def live_curve(n: int = 64, w: float = 3.0, steps: tuple[int, ...] | None = None) -> list[dict]:
    """The same measurement on the first ``n`` test captions, now: teacher DDIM at 64 steps, plain DDIM and the
    students at their step counts (only students present)."""
    pipe = teacher_pipeline()
    w = check_w(w)
    caps, _ = E.prompts(n)
    rows = []

    def add(sampler, k, images, teacher=None):
        for metric, value in E.score(images, teacher=teacher).items():
            rows.append({"sampler": sampler, "steps": k, "metric": metric, "value": value, "n": n})

    with _LOCK:
        reference = E.draw(pipe, lambda c, u: P.cfg_denoiser(pipe.unet, c, u, w), E.TEACHER_STEPS, caps)
        add("teacher, DDIM (CFG)", E.TEACHER_STEPS, reference)
        for k in steps or available():
            student = load_student(k)
            add("distilled student", k, E.draw(pipe, lambda c, u: P.student_denoiser(student, c, w), k, caps),
                reference)
            add("teacher, DDIM (CFG)", k, E.draw(pipe, lambda c, u: P.cfg_denoiser(pipe.unet, c, u, w), k, caps),
                reference)
    return rows


def stored_metrics() -> dict:
    """The held-out evaluation (``metrics.json``: columns of readouts and a footnote), or {} before it ran."""
    path = OUT / "metrics.json"
    return json.loads(path.read_text()) if path.exists() else {}


# ---- Hub few-step models: LCM-LoRA and Turbo --------------------------------------------------------------------

FEW_STEP_KINDS = ("LCM-LoRA", "Turbo")
HUB_STEPS_RANGE = (1, 8)
HUB_CFG_RANGE = (0.0, 2.0)


@lru_cache(maxsize=2)
@serial_load
def _lcm_pipeline(pipeline: str, lora: str):
    """A pipeline of its own (the shared one is never modified) with the LoRA loaded and fused, on LCMScheduler."""
    from diffusers import LCMScheduler, StableDiffusionPipeline

    try:
        pipe = StableDiffusionPipeline.from_pretrained(pipeline, safety_checker=None, feature_extractor=None,
                                                       requires_safety_checker=False)
    except (OSError, ValueError, EnvironmentError) as e:
        raise sd._load_error(pipeline, e) from None
    pipe.to(torch.float32)
    try:
        pipe.load_lora_weights(lora)
    except (OSError, ValueError, EnvironmentError) as e:
        if Path(lora).exists():
            raise ValueError(f"'{lora}' is not a LoRA in the diffusers layout (pytorch_lora_weights.safetensors): "
                             f"{str(e)[:200]}") from None
        raise ValueError(f"Could not load the LoRA '{lora}': it is not in the local Hugging Face cache and the Hub "
                         f"could not be reached ({type(e).__name__}).") from None
    pipe.fuse_lora()
    pipe.scheduler = LCMScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def few_step_hub(pipeline: str, lora: str, kind: str, prompt: str, steps, cfg, seed: int = 0, n: int = 4) -> dict:
    """n images from a Hub (or local) few-step model: an SD 1.x pipeline + LCM-LoRA on LCMScheduler, or a
    Turbo-style checkpoint on EulerAncestralDiscreteScheduler (trailing timesteps)."""
    from diffusers import EulerAncestralDiscreteScheduler

    from ...validate import model_source, parse_whole

    if kind not in FEW_STEP_KINDS:
        raise ValueError(f"Kind must be one of {', '.join(FEW_STEP_KINDS)}, got {kind!r}.")
    k = parse_whole(steps, *HUB_STEPS_RANGE, "Steps")
    cfg = sd.check_scale(cfg, "guidance", *HUB_CFG_RANGE)
    source = sd.resolve_source(model_source(pipeline, "pipeline"), sd.EMBEDDED_PIPE)
    lora = str(lora or "").strip()
    lora_source = sd.resolve_source(model_source(lora, "LoRA"), sd.EMBEDDED_PIPE) if lora else ""
    ignored = f"The LoRA box is used with LCM-LoRA only ('{lora[:60]}' was not loaded)." if lora and \
        kind != "LCM-LoRA" else ""
    if kind == "LCM-LoRA":
        if not lora:
            raise ValueError("LCM-LoRA needs a LoRA: a Hub id such as latent-consistency/lcm-lora-sdv1-5 or a folder "
                             "with pytorch_lora_weights.safetensors.")
        run = _lcm_pipeline(source, lora_source)
    else:
        base = sd.load_pipeline(source)
        comps = dict(base.components)
        comps["scheduler"] = EulerAncestralDiscreteScheduler.from_config(base.scheduler.config,
                                                                         timestep_spacing="trailing")
        run = type(base)(**comps, requires_safety_checker=False)
        run.set_progress_bar_config(disable=True)
    prompt, note = sd.check_prompt(run.tokenizer, prompt)
    size = sd.image_size(run)
    t0 = time.perf_counter()
    with sd._LOCK, torch.no_grad():
        out = run(prompt=[prompt] * n, num_inference_steps=int(k), guidance_scale=cfg,
                  generator=sd.generators(seed, n), height=size, width=size, output_type="np",
                  callback_on_step_end=sd._budget_step)
    wall = time.perf_counter() - t0
    lines = [f"{kind}, {int(k)} step{'s' if k > 1 else ''}, guidance {cfg:g}: {n} images in {wall:.2f} s "
             f"({type(run.scheduler).__name__})."]
    lines += [x for x in (note, ignored) if x]
    return {"images": sd.to_uint8(out.images), "note": "\n\n".join(lines), "seconds": wall}
