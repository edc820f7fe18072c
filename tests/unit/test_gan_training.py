"""A few real training steps of each GAN recipe: runs, checkpoints, resumes, writes weights + a model card."""
import json

import pytest
import torch

from genmodels.families.gan import train as gan_train
from genmodels.families.gan.dcgan import DCGANDiscriminator, DCGANGenerator

pytestmark = pytest.mark.slow


@pytest.fixture()
def tiny_models(monkeypatch):
    def build(kind, conditional=None):
        n = (6, 6) if kind == "cgan" else ()
        return DCGANGenerator(width=32, n_classes=n), DCGANDiscriminator(width=8, n_classes=n,
                                                                           aux_classifier=bool(n))
    monkeypatch.setattr(gan_train, "build", build)


@pytest.mark.parametrize("kind", ["dcgan", "cgan"])
def test_train_resume_and_card(tmp_path, tiny_models, kind):
    out, run = tmp_path / "w", tmp_path / "run"
    gan_train.train_gan(kind, steps=2, n_train=256, out=str(out), run_dir=str(run), eval_n=40)
    assert int(torch.load(run / "ckpt.pt", weights_only=True)["step"]) == 2
    metrics = gan_train.train_gan(kind, steps=3, n_train=256, out=str(out), run_dir=str(run), eval_n=40)
    assert int(torch.load(run / "ckpt.pt", weights_only=True)["step"]) == 3
    assert (out / "model.safetensors").exists() and "python -m genmodels train" in (out / "README.md").read_text()
    assert json.loads((out / "metrics.json").read_text())["FID"] == pytest.approx(metrics["FID"])
    if kind == "cgan":
        assert 0 <= metrics["requested shape recognised"] <= 1
    DCGANGenerator.from_pretrained(str(out))
