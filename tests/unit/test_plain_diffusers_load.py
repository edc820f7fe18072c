"""The plain-library path (DESIGN §8): the shipped diffusers folders load with diffusers' own ``from_pretrained`` and
no dtype argument, in a fresh process (nothing of ours imported), and sample. Also: a folder written by our training
save code (fp16 storage) loads the same way."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from genmodels.families.diffusion import tiny_sd

WEIGHTS = Path(tiny_sd.__file__).resolve().parents[2] / "weights"

TXT2IMG = """
import numpy as np, torch
torch.set_num_threads(1)
from diffusers import StableDiffusionPipeline
pipe = StableDiffusionPipeline.from_pretrained({folder!r})
out = pipe("a large red striped star on a light background", num_inference_steps=2,
           generator=torch.Generator().manual_seed(0), output_type="np")
img = out.images
assert img.shape == (1, {size}, {size}, 3), img.shape
assert np.isfinite(img).all()
print("OK", pipe.text_encoder.dtype, pipe.unet.dtype)
"""

CONTROLNET = """
import numpy as np, torch
from PIL import Image, ImageDraw
torch.set_num_threads(1)
from diffusers import ControlNetModel, StableDiffusionControlNetPipeline, StableDiffusionPipeline
controlnet = ControlNetModel.from_pretrained({cfolder!r})
pipe = StableDiffusionPipeline.from_pretrained({folder!r})
run = StableDiffusionControlNetPipeline(**pipe.components, controlnet=controlnet)
edges = Image.new("RGB", ({size}, {size}))
ImageDraw.Draw(edges).rectangle([8, 8, 23, 23], outline=(255, 255, 255))
out = run("a large red striped square on a light background", image=edges, num_inference_steps=2,
          generator=torch.Generator().manual_seed(0), output_type="np")
img = out.images
assert img.shape == (1, {size}, {size}, 3), img.shape
assert np.isfinite(img).all()
# the other documented way: the pipeline class's own from_pretrained with the ControlNet passed in
run2 = StableDiffusionControlNetPipeline.from_pretrained({folder!r}, controlnet=controlnet)
img2 = run2("a large red striped square on a light background", image=edges, num_inference_steps=2,
            generator=torch.Generator().manual_seed(0), output_type="np").images
assert np.allclose(img, img2, atol=1e-5)
print("OK", controlnet.dtype)
"""


def _run(code: str) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "OK" in r.stdout, r.stdout[-2000:]
    return r.stdout


def _need(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path.name} is not trained here")


def test_embedded_pipeline_plain_from_pretrained():
    _need(WEIGHTS / "tiny-sd" / "model_index.json")
    out = _run(TXT2IMG.format(folder=str(WEIGHTS / "tiny-sd"), size=32))
    assert "torch.float32 torch.float32" in out


def test_embedded_controlnet_plain_from_pretrained():
    _need(WEIGHTS / "tiny-sd" / "model_index.json")
    _need(WEIGHTS / "tiny-sd-controlnet-edges" / "config.json")
    out = _run(CONTROLNET.format(folder=str(WEIGHTS / "tiny-sd"), cfolder=str(WEIGHTS / "tiny-sd-controlnet-edges"),
                                 size=32))
    assert "torch.float32" in out


def test_training_save_code_writes_plainly_loadable_folders(tmp_path):
    """``tiny_sd.save_pipeline(fp16=True)`` / ``save_fp16`` are what ``train sd-unet`` / ``train controlnet`` use."""
    import json

    tiny_sd.build_random_pipeline(tmp_path / "pipe", seed=0, controlnet_folder=tmp_path / "cnet", fp16=True)
    te = json.loads((tmp_path / "pipe" / "text_encoder" / "config.json").read_text())
    assert te["dtype"] == "float32"
    unet = json.loads((tmp_path / "pipe" / "unet" / "config.json").read_text())
    assert unet["_class_name"] == "UNet2DConditionModel"
    _run(TXT2IMG.format(folder=str(tmp_path / "pipe"), size=32))
    _run(CONTROLNET.format(folder=str(tmp_path / "pipe"), cfolder=str(tmp_path / "cnet"), size=32))
