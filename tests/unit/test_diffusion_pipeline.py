"""The diffusion family on a random test-sized pipeline in the SD 1.x layout: the stock diffusers pipelines through
our service functions, seeds, stored output slices, the Hub loading path offline, and bad input."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from genmodels.families.diffusion import service, tiny_sd


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-sd")
    tiny_sd.build_random_pipeline(root / "pipe", seed=0, controlnet_folder=root / "controlnet")
    return root


@pytest.fixture(scope="module")
def pipe(tiny):
    return service.load_pipeline(str(tiny / "pipe"))


def test_layout_is_sd15(tiny):
    index = json.loads((tiny / "pipe" / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"
    for part in ("unet", "vae", "text_encoder", "tokenizer", "scheduler"):
        assert (tiny / "pipe" / part).is_dir() and part in index
    assert (tiny / "pipe" / "unet" / "diffusion_pytorch_model.safetensors").exists()


@pytest.mark.parametrize("scheduler", service.SCHEDULERS)
def test_same_seed_same_bytes_and_per_image_seeds(pipe, scheduler):
    a = service.txt2img(pipe, "a red striped star", "", 4, 3.0, scheduler, seed=5, n=2)
    b = service.txt2img(pipe, "a red striped star", "", 4, 3.0, scheduler, seed=5, n=2)
    c = service.txt2img(pipe, "a red striped star", "", 4, 3.0, scheduler, seed=6, n=1)
    assert a.shape == (2, 32, 32, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert np.abs(a[1].astype(int) - c[0].astype(int)).max() <= 1  # image i of seed s is seed s + i


# diffusers-style regression slices: the top-left 3x3 of the red channel of image 0 (seed 0, 4 steps, CFG 3).

SLICES = Path(__file__).with_name("diffusion_slices.json")


@pytest.mark.parametrize("scheduler", service.SCHEDULERS)
def test_stored_output_slices(pipe, scheduler):
    out = service.txt2img(pipe, "a blue solid heart on a dark background", "", 4, 3.0, scheduler, seed=0, n=1)
    got = out[0, :3, :3, 0].astype(int)
    stored = json.loads(SLICES.read_text())[scheduler]
    assert np.abs(got - np.array(stored)).max() <= 2, got.tolist()


def test_controlnet_pipeline_runs_and_scale_zero_is_plain_unet(tiny, pipe):
    net = service.load_controlnet(str(tiny / "controlnet"))
    edges, _, cap = service.control_from_test(3)
    a = service.controlnet(pipe, net, edges, cap, steps=3, scale=1.0, seed=1, n=2)
    b = service.controlnet(pipe, net, edges, cap, steps=3, scale=1.0, seed=1, n=2)
    assert a.shape == (2, 32, 32, 3) and np.array_equal(a, b)
    # from_unet zero-initialises the ControlNet's output convs: untrained, it must not change the image
    plain = service.txt2img(pipe, cap, "", 3, 3.0, "DDIM", seed=1, n=2)
    assert np.abs(a.astype(int) - plain.astype(int)).max() <= 1
    with pytest.raises(ValueError, match="32×32"):
        service.controlnet(pipe, net, np.zeros((16, 16), bool), cap, steps=2)


def test_hub_layout_offline_runs_through_the_same_function(tiny, tmp_path):
    """A tiny pipeline saved in the Hub cache layout loads by repo id with HF_HUB_OFFLINE=1."""
    snap = tmp_path / "hub" / "models--genmodels--tiny-sd-test" / "snapshots" / ("0" * 40)
    import shutil

    shutil.copytree(tiny / "pipe", snap)
    (snap.parents[1] / "refs").mkdir()
    (snap.parents[1] / "refs" / "main").write_text("0" * 40)
    code = ("import numpy as np\nfrom genmodels.families.diffusion import service\n"
            "p = service.load_pipeline('genmodels/tiny-sd-test')\n"
            "a = service.txt2img(p, 'a red star', '', 3, 3.0, 'DDIM', 0, 1)\n"
            f"b = service.txt2img(service.load_pipeline({str(tiny / 'pipe')!r}), 'a red star', '', 3, 3.0, 'DDIM', 0, 1)\n"
            "assert np.array_equal(a, b)\n"
            "try:\n    service.load_pipeline('nobody/does-not-exist')\nexcept ValueError as e:\n    print('ERR', e)\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub"), "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "ERR Could not load 'nobody/does-not-exist'" in r.stdout and "offline" in r.stdout


def test_bad_sources_are_clear():
    with pytest.raises(ValueError, match="neither 'embedded'"):
        service.load_pipeline("not a repo id!")


def test_prompt_checks(pipe):
    with pytest.raises(ValueError, match="empty"):
        service.check_prompt(pipe.tokenizer, "   ")
    p, note = service.check_prompt(pipe.tokenizer, "red " * 10_000)
    assert "reads the first 14" in note
    assert service.check_prompt(pipe.tokenizer, "a red star") == ("a red star", "")
    out = service.txt2img(pipe, p, "", 2, 3.0, "DDIM", 0, 1)  # the pipeline truncates; it must not fail
    assert out.shape == (1, 32, 32, 3)


@pytest.mark.parametrize("value,expected", [(0, 1), (-3, 1), (10_000, 100), (20, 20), (7.6, 8)])
def test_steps_are_clamped(value, expected):
    assert service.clamp_steps(value)[0] == expected


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1, 21, "abc", None])
def test_cfg_rejected(value):
    with pytest.raises(ValueError, match="CFG scale"):
        service.check_scale(value)


def test_control_inputs(tmp_path):
    bad = tmp_path / "corrupt.png"
    bad.write_bytes(b"\x89PNG not really")
    with pytest.raises(ValueError, match="not an image this server can read"):
        service.control_from_upload(str(bad))
    with pytest.raises(ValueError, match="between 8 and"):
        service.control_from_upload(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="RGB"):
        service.control_from_upload(np.zeros((40, 40, 5), np.uint8))
    _, img, _ = service.control_from_test(10)
    edges, small = service.control_from_upload(np.kron(img, np.ones((4, 4, 1), np.uint8)))  # 128x128 upload
    assert edges.shape == (32, 32) and small.shape == (32, 32, 3) and edges.any()
    with pytest.raises(ValueError, match="empty"):
        service.control_from_sketch({"background": None, "layers": [np.zeros((64, 64, 4), np.uint8)],
                                     "composite": None})
    sketch = np.zeros((256, 256, 4), np.uint8)
    sketch[60:200, 60:66, 3] = 255
    sketch[60:66, 60:200, 3] = 255
    e = service.control_from_sketch({"background": None, "layers": [sketch], "composite": None})
    assert e.shape == (32, 32) and 10 < e.sum() < 100
    with pytest.raises(ValueError, match="Test item"):
        service.control_from_test(5000)


def test_fold_latent_normalisation():
    torch.manual_seed(0)
    vae = tiny_sd.build_vae(small=True).eval()
    x = torch.rand(16, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        z = vae.encode(x).latent_dist.mean
        before = vae.decode(z).sample
        m, s = z.mean((0, 2, 3)), z.std((0, 2, 3))
        tiny_sd.fold_latent_normalisation(vae, m, s)
        z2 = vae.encode(x).latent_dist.mean
        after = vae.decode(z2).sample
    assert torch.allclose(z2.mean((0, 2, 3)), torch.zeros(4), atol=1e-4)
    assert torch.allclose(z2.std((0, 2, 3)), torch.ones(4), atol=1e-4)
    assert torch.allclose(before, after, atol=1e-4)


def test_previews_report_every_step_and_never_change_the_images(pipe):
    seen = []
    a = service.txt2img(pipe, "a red star", "", 5, 3.0, "DDIM", 4, 2,
                        preview=lambda i, total, imgs: seen.append((i, total, imgs)), preview_every=0.0)
    b = service.txt2img(pipe, "a red star", "", 5, 3.0, "DDIM", 4, 2)
    assert np.array_equal(a, b)
    assert [(i, total) for i, total, _ in seen] == [(1, 5), (2, 5), (3, 5), (4, 5)]  # every step but the last
    decoded = [imgs for _, _, imgs in seen if imgs is not None]
    assert decoded and decoded[0].shape == (2, 32, 32, 3) and decoded[0].dtype == np.uint8
    seen.clear()
    service.txt2img(pipe, "a red star", "", 5, 3.0, "DDIM", 4, 1, preview=lambda *a: seen.append(a[2]),
                    preview_every=3600)
    assert len(seen) == 4 and all(x is None for x in seen)  # progress only: no decode within the interval


def test_txt2img_handler_streams_then_readouts_follow(tiny, monkeypatch):
    from genmodels.families.diffusion import tab

    monkeypatch.setattr(tab, "PREVIEW_SECONDS", 0.0)
    outs = list(tab.diffusion_txt2img("a red striped star", "", 4, 3.0, "DDIM", 2, 5, str(tiny / "pipe"),
                                      progress=lambda *a, **k: None))
    gallery, note, panel = outs[-1]
    assert len(outs) >= 2 and outs[0][1].startswith("Denoising")  # a preview came first
    assert [c for _, c in gallery] == ["seed 5", "seed 6"] and "DDIM, 4 steps" in note
    assert panel == tab.READOUTS_PENDING
    same = service.txt2img(service.load_pipeline(str(tiny / "pipe")), "a red striped star", "", 4, 3.0, "DDIM", 5, 2)
    assert np.array_equal(np.stack([a for a, _ in gallery]), same)
    html = tab.diffusion_txt2img_readouts(gallery, "a red striped star")
    assert "CLIP score" in html and "prompt attributes recognised" in html and "N=2" in html
    with pytest.raises(Exception, match="generate a batch first"):
        tab.diffusion_txt2img_readouts([], "a red striped star")


def test_a_folder_with_an_fp16_text_encoder_still_runs(tiny, tmp_path):
    """Our loader casts only the parts stored in fp16 (as transformers keeps them) to float32 for the CPU."""
    import shutil

    from transformers import CLIPTextModel

    shutil.copytree(tiny / "pipe", tmp_path / "pipe")
    te = tmp_path / "pipe" / "text_encoder"
    CLIPTextModel.from_pretrained(str(te)).half().save_pretrained(str(te))
    p = service.load_pipeline(str(tmp_path / "pipe"))
    assert p.text_encoder.dtype == torch.float32
    assert np.array_equal(service.txt2img(p, "a red star", "", 2, 3.0, "DDIM", 0, 1).shape, (1, 32, 32, 3))
