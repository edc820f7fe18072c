"""Where the distilled students and their teacher live, and how they load (no sampling, no scoring here): the one
module that service, evaluate and train all import (papers: progressive.py)."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from ...loading import serial_load
from ..diffusion import service as sd
from .lora import LORA_WEIGHTS, read_lora_student

OUT = Path(__file__).resolve().parents[2] / "weights" / "distill"
# The students' teacher is the embedded tiny Stable Diffusion (f = 4, 8x8x8 latents): they denoise its latents and
# run with its VAE and text encoder.
TEACHER = sd.EMBEDDED_PIPE
STUDENT_STEPS = (32, 16, 8, 4, 2, 1)  # the students: 64 -> 32 -> ... -> 1 (each halves)
SHIPPED = (8, 4, 2, 1)  # the students shipped in weights/distill, each a LoRA on the teacher (lora.py)


def teacher_pipeline():
    """The students' teacher pipeline (its VAE and text encoder run the students too)."""
    return sd.load_pipeline(str(TEACHER))


def student_folder(steps, root: Path = OUT) -> Path:
    """The folder of the ``steps``-step student, or of the guided stage-1 student for ``"w"``."""
    return Path(root) / ("student-w" if steps == "w" else f"student-{int(steps)}")


def read_student(folder: Path):
    """A student UNet from its folder, run in float32: a LoRA on the teacher (``pytorch_lora_weights.safetensors``,
    lora.py) or a whole UNet (``save_pretrained``, fp16; the training run's full students)."""
    from diffusers import UNet2DConditionModel

    folder = Path(folder)
    if (folder / LORA_WEIGHTS).exists():
        info = json.loads((folder / "distill.json").read_text()) if (folder / "distill.json").exists() else {}
        base = info.get("base_pipeline", sd.EMBEDDED)
        return read_lora_student(folder, (sd.load_pipeline(base) if base != sd.EMBEDDED else teacher_pipeline()).unet)
    return UNet2DConditionModel.from_pretrained(str(folder)).float().eval()


def available(root: Path = OUT) -> list[int]:
    """Step counts of the students present, most steps first."""
    return [n for n in STUDENT_STEPS if (student_folder(n, root) / "config.json").exists()]


@lru_cache(maxsize=8)
@serial_load
def load_student(steps: int, root: str = str(OUT)):
    if int(steps) not in STUDENT_STEPS:
        raise ValueError(f"There is no {steps}-step student: students have {', '.join(map(str, STUDENT_STEPS))} "
                         "steps.")
    folder = student_folder(steps, Path(root))
    if not (folder / "config.json").exists():
        raise FileNotFoundError(f"The {steps}-step student is not trained here: `python -m genmodels train distill` "
                                f"makes it (stages 64 → 32 → … → {steps}; resumable).")
    return read_student(folder)
