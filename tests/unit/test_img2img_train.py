"""pix2pix / CycleGAN training on tiny configs: runs, resumes, monitors, saves loadable weights; user folders in the
reference layouts; the shapes inputs."""
import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image

from genmodels.families.img2img import train as T
from genmodels.families.img2img.data import (PIX2PIX_IN, paired_folder, pix2pix_input, shapes_unpaired,
                                             unpaired_folder)

pytestmark = pytest.mark.slow


@pytest.fixture()
def tiny(monkeypatch):
    monkeypatch.setitem(T.RECIPES, "pix2pix", dataclasses.replace(T.RECIPES["pix2pix"], n_train=64, batch=8,
                                                                    monitor_every=2, monitor_n=16))
    monkeypatch.setitem(T.RECIPES, "cyclegan", dataclasses.replace(T.RECIPES["cyclegan"], n_train=64, batch=4, ngf=8,
                                                                     n_blocks=2, monitor_every=2, monitor_n=16,
                                                                     warmup_identity=1))


def test_pix2pix_input_planes():
    e = np.zeros((2, 32, 32), bool)
    e[:, 5, 5] = True
    x = pix2pix_input(e, [[1, 0, 2], [5, 1, 0]])
    assert x.shape == (2, PIX2PIX_IN, 32, 32) and x.min() == -1 and x.max() == 1
    assert x[0, 0, 5, 5] == 1 and x[0, 0, 0, 0] == -1
    assert x[0, 2 + 1, 0, 0] == 1 and x[1, 2 + 5, 0, 0] == 1  # colour one-hot after the edge and fill planes
    with pytest.raises(ValueError, match="colour index out of range"):
        pix2pix_input(e, [[6, 0, 0], [0, 0, 0]])


def test_cyclegan_domains_are_unpaired_and_pure():
    from genmodels.data.dataset import shapes_arrays

    a, b = shapes_unpaired(64)
    assert len(a) and len(b)
    la, lb = shapes_arrays("train", 64)["labels"], shapes_arrays("train", 64, start=64)["labels"]
    assert len(a) == (la[:, 2] == 0).sum() and len(b) == (lb[:, 2] == 1).sum()


def test_pix2pix_trains_resumes_and_saves(tiny, tmp_path):
    out, run = tmp_path / "w", tmp_path / "run"
    T.train_pix2pix(steps=2, out=str(out), run_dir=str(run), eval_n=16)
    T.train_pix2pix(steps=4, out=str(out), run_dir=str(run), eval_n=16)
    recs = [json.loads(line) for line in (run / "monitor.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs] == [2, 4] and {"shape recognised", "edge F1", "SSIM"} <= set(recs[0])
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0 <= metrics["shape recognised"] <= 1 and "PD (shapes)" in metrics
    card = (out / "README.md").read_text()
    assert "python -m genmodels train pix2pix --steps 4" in card and "arXiv:1611.07004" in card
    from genmodels.families.img2img.networks import UnetGenerator

    G = UnetGenerator.from_pretrained(out)
    assert G(torch.zeros(1, PIX2PIX_IN, 32, 32)).shape == (1, 3, 32, 32)


def test_cyclegan_trains_resumes_and_saves(tiny, tmp_path):
    out, run = tmp_path / "w", tmp_path / "run"
    T.train_cyclegan(steps=2, out=str(out), run_dir=str(run), eval_n=16)
    T.train_cyclegan(steps=4, out=str(out), run_dir=str(run), eval_n=16)
    recs = [json.loads(line) for line in (run / "monitor.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs] == [2, 4] and "A→B cycle PSNR" in recs[-1]
    pair = T.CycleGAN.load(out)
    x = torch.zeros(1, 3, 32, 32)
    assert pair.translate(x, "AB").shape == x.shape and pair.translate(x, "BA").shape == x.shape
    with pytest.raises(ValueError):
        pair.translate(x, "AC")


def test_cyclegan_resnet_generators_train_too(tiny, monkeypatch, tmp_path):
    monkeypatch.setitem(T.RECIPES, "cyclegan", dataclasses.replace(T.RECIPES["cyclegan"], net_g="resnet",
                                                                     save_half=False))
    T.train_cyclegan(steps=2, out=str(tmp_path / "w"), run_dir=str(tmp_path / "run"), eval_n=16)
    pair = T.CycleGAN.load(tmp_path / "w")
    from genmodels.families.img2img.networks import ResnetGenerator

    assert isinstance(pair.G_AB, ResnetGenerator) and pair.G_AB.model[1].weight.dtype == torch.float32


def test_image_pool_mixes_history():
    pool = T.ImagePool(4, seed=0)
    first = pool.query(torch.arange(4.0).view(4, 1))
    assert first.flatten().tolist() == [0, 1, 2, 3]
    later = pool.query(torch.full((64, 1), 9.0))
    assert (later != 9).any() and (later == 9).any()
    assert T.ImagePool(0).query(first) is first


def _write(folder, name, rgb, size=(20, 20)):
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, rgb).save(folder / name)


def test_user_folders_in_the_reference_layouts(tmp_path, tiny):
    paired = tmp_path / "paired"
    for i in range(3):
        _write(paired / "A", f"{i}.png", (10 * i, 0, 0))
        _write(paired / "B", f"{i}.png", (0, 10 * i, 0))
    _write(paired / "A", "only_in_A.png", (0, 0, 0))
    a, b = paired_folder(paired)
    assert a.shape == b.shape == (3, 3, 32, 32)
    ab = tmp_path / "ab" / "train"
    ab.mkdir(parents=True)
    side = np.zeros((16, 32, 3), np.uint8)
    side[:, 16:] = 255
    Image.fromarray(side).save(ab / "1.jpg")
    a, b = paired_folder(tmp_path / "ab")
    assert a.mean() < -0.9 and b.mean() > 0.9
    unpaired = tmp_path / "unpaired"
    for i in range(2):
        _write(unpaired / "trainA", f"{i}.png", (200, 0, 0))
    _write(unpaired / "trainB", "x.png", (0, 0, 200))
    a, b = unpaired_folder(unpaired)
    assert len(a) == 2 and len(b) == 1
    with pytest.raises(ValueError, match="trainA"):
        unpaired_folder(paired)
    with pytest.raises(ValueError, match="share no file names"):
        (tmp_path / "bad" / "A").mkdir(parents=True)
        _write(tmp_path / "bad" / "A", "1.png", (0, 0, 0))
        _write(tmp_path / "bad" / "B", "2.png", (0, 0, 0))
        paired_folder(tmp_path / "bad")
    T.train_cyclegan(steps=2, data=str(unpaired), out=str(tmp_path / "cg"), run_dir=str(tmp_path / "cg-run"))
    T.train_pix2pix(steps=2, data=str(paired), out=str(tmp_path / "p2p"), run_dir=str(tmp_path / "p2p-run"))
    assert (tmp_path / "cg" / "G_A" / "model.safetensors").exists()
    assert (tmp_path / "p2p" / "model.safetensors").exists()


def test_cyclegan_stage_continues_the_shipped_generators(tiny, monkeypatch, tmp_path):
    """init='embedded' when the run's checkpoint is gone: the shipped generators, step count and monitor history
    carry on; fresh discriminators are warmed up first; asking for no more steps than shipped is refused."""
    shipped = tmp_path / "weights" / "cyclegan"
    T.train_cyclegan(steps=2, out=str(shipped), run_dir=str(tmp_path / "run0"), eval_n=16)
    monkeypatch.setattr(T, "WEIGHTS", tmp_path / "weights")
    seen = {}
    real_init = T._init_from_embedded

    def spy(run, G_AB, G_BA):
        out = real_init(run, G_AB, G_BA)
        seen["G_AB"] = {k: v.clone() for k, v in G_AB.state_dict().items()}
        return out

    monkeypatch.setattr(T, "_init_from_embedded", spy)
    run = tmp_path / "run1"
    T.train_cyclegan(steps=4, out=str(tmp_path / "w"), run_dir=str(run), eval_n=16, init="embedded", lr=1e-4,
                     d_warmup=2)
    start = T.CycleGAN.load(shipped).G_AB.float().state_dict()
    assert all(torch.equal(seen["G_AB"][k], v.float()) for k, v in start.items())
    recs = [json.loads(line) for line in (run / "monitor.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs] == [2, 4]
    with pytest.raises(ValueError, match="already at step 2"):
        T.train_cyclegan(steps=2, out=str(tmp_path / "w2"), run_dir=str(tmp_path / "run2"), eval_n=16,
                         init="embedded")
