"""A few real training steps of each GAN recipe: runs, checkpoints, resumes, writes weights + a model card."""
import json

import pytest
import torch

from genmodels.families.gan import service
from genmodels.families.gan import train as gan_train
from genmodels.families.gan.dcgan import DCGANDiscriminator, DCGANGenerator
from genmodels.families.gan.layered import LayeredGenerator
from genmodels.families.gan.recipes import RECIPES, GANRecipe

pytestmark = pytest.mark.slow


@pytest.fixture()
def tiny_models(monkeypatch):
    def build(kind, conditional=None, generator="dcgan"):
        n = (6, 6) if kind == "cgan" else ()
        looks = {"background": "grey", "appearance": "albedo-shade"} if generator == "layered-albedo" else {}
        G = LayeredGenerator(width=32, bg_width=16, pose_hidden=16, **looks) if generator.startswith("layered") \
            else DCGANGenerator(width=32, n_classes=n)
        return G, DCGANDiscriminator(width=8, n_classes=n, aux_classifier=bool(n))
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
    G = service.load_generator(kind, str(out))
    layered = RECIPES[kind].generator.startswith("layered")
    assert type(G).__name__ == ("LayeredGenerator" if layered else "DCGANGenerator")


def test_the_cgan_is_layered_and_the_onepass_variant_is_not(tmp_path, tiny_models):
    """RECIPES["cgan"] trains the layered generator with a grey background and an albedo × shade appearance (its
    card says so); VARIANTS["cgan-layered-rgb"] the layered one before it; VARIANTS["cgan-onepass"], the CGAN before
    that (where the CVAE-GAN's decoder starts), the one-pass DCGAN generator."""
    for variant, cls, look in ((None, LayeredGenerator, "albedo-shade"), ("cgan-layered-rgb", LayeredGenerator, "rgb"),
                               ("cgan-onepass", DCGANGenerator, None)):
        out, run = tmp_path / f"w-{variant}", tmp_path / f"run-{variant}"
        gan_train.train_gan("cgan", steps=2, n_train=256, out=str(out), run_dir=str(run), eval_n=40, variant=variant)
        G = service.load_generator("cgan", str(out))
        assert type(G) is cls and getattr(G, "appearance", None) == look
        assert ("layered generator (LR-GAN" in (out / "README.md").read_text()) == (cls is LayeredGenerator)


def test_standing_stats_are_the_mean_batch_statistics():
    """BigGAN's standing statistics: after recalibration each BN's running mean is the average over the passes of
    the batch means of its input, whatever the (garbage) statistics were before."""
    torch.manual_seed(0)
    G = DCGANGenerator(width=32, n_classes=(6, 6), conditional_bn=True)
    bn = G.fc[1]
    bn.running_mean.fill_(123.0)
    seen = []
    hook = bn.register_forward_hook(lambda m, inp, out: seen.append(inp[0].mean(0)))
    gan_train.standing_stats("cgan", G, n_batches=3, batch=16)
    hook.remove()
    assert not G.training and bn.momentum == 0.1
    torch.testing.assert_close(bn.running_mean, torch.stack(seen).mean(0), rtol=1e-5, atol=1e-6)
    gan_train.standing_stats("stylegan", torch.nn.Linear(2, 2))  # no batch norm: a no-op


def test_bf16_setting():
    assert gan_train.use_bf16(True) is True and gan_train.use_bf16(False) is False
    assert gan_train.use_bf16("auto", "cuda") is True
    assert isinstance(gan_train.use_bf16("auto", "cpu"), bool)


def test_mismatched_labels_always_differ():
    y = torch.stack([torch.arange(600) % 6, (torch.arange(600) // 6) % 6, torch.zeros(600, dtype=torch.long),
                     torch.zeros(600, dtype=torch.long), torch.ones(600, dtype=torch.long)], 1)
    y0 = y.clone()
    w = gan_train.mismatched(y, torch.Generator().manual_seed(0))
    assert torch.equal(y, y0)  # the batch's own labels are left alone (the D step still needs them)
    differs = w[:, :2] != y[:, :2]
    assert differs.any(1).all() and (w[:, 2:] == y[:, 2:]).all()
    assert ((w[:, :2] >= 0) & (w[:, :2] < 6)).all()
    assert 0.5 < differs[:, 0].float().mean() < 0.9 and 0.3 < differs[:, 1].float().mean() < 0.7


def test_reward_network_replaces_the_guide_in_g_term_from_reward_from(tmp_path, tiny_models, monkeypatch):
    """The CGAN recipe switches G's classifier-guidance term to the robust reward net at ``reward_from``."""
    import dataclasses

    from genmodels.families.gan import projected

    calls = []
    real = projected.load_guide

    def spy(folder=None):
        g = real(folder)
        if folder is not None and "robust" in str(folder):
            g.register_forward_hook(lambda *a: calls.append(1))
        return g

    monkeypatch.setattr(projected, "load_guide", spy)
    monkeypatch.setitem(gan_train.RECIPES, "cgan", dataclasses.replace(gan_train.RECIPES["cgan"], reward_from=2,
                                                                       monitor_every=0))
    gan_train.train_gan("cgan", steps=4, n_train=256, out=str(tmp_path / "w"), run_dir=str(tmp_path / "r"),
                        eval_n=40)
    assert len(calls) == 2  # steps 2 and 3 (0-based), not 0 and 1


def test_continue_from_the_embedded_generator_with_a_d_warm_up(tmp_path, tiny_models, monkeypatch):
    """init='embedded' without a checkpoint: G and its EMA start from the shipped weights, the step count and
    monitor history carry on, D trains alone for d_warmup steps first (G unchanged meanwhile)."""
    monkeypatch.setitem(gan_train.RECIPES, "dcgan", GANRecipe(batch=8, monitor_every=2))
    shipped = tmp_path / "weights" / "dcgan"
    gan_train.train_gan("dcgan", steps=2, n_train=64, out=str(shipped), run_dir=str(tmp_path / "run0"), eval_n=40)
    monkeypatch.setattr(gan_train, "WEIGHTS", tmp_path / "weights")
    start = DCGANGenerator.from_pretrained(str(shipped)).state_dict()
    d_steps, g_steps = [], []
    real_backward = torch.Tensor.backward

    def count(self, *a, **k):
        (g_steps if d_steps and len(d_steps) >= 3 else d_steps).append(1)
        return real_backward(self, *a, **k)

    monkeypatch.setattr(torch.Tensor, "backward", count)  # accelerate's backward calls Tensor.backward
    run = tmp_path / "run1"
    gan_train.train_gan("dcgan", steps=4, n_train=64, out=str(tmp_path / "w"), run_dir=str(run), eval_n=40,
                        init="embedded", d_warmup=3)
    assert len(d_steps) == 3 and len(g_steps) == 2 * 2  # 3 D-only steps, then 2 steps of D + G
    recs = [json.loads(line) for line in (run / "monitor.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs] == [2, 4]
    G = DCGANGenerator.from_pretrained(str(tmp_path / "w"))
    assert any(not torch.equal(G.state_dict()[k], v) for k, v in start.items() if v.is_floating_point())
    with pytest.raises(ValueError, match="already at step 2"):
        gan_train.train_gan("dcgan", steps=2, n_train=64, out=str(tmp_path / "w2"), run_dir=str(tmp_path / "run2"),
                            eval_n=40, init="embedded")


def test_guide_stages_set_the_weight_of_gs_guidance_term(tmp_path, tiny_models, monkeypatch):
    """``guide_stages`` ((from_step, weight), ...) replace guide_weight from their step on (StyleGAN: 2 from 5,000)."""
    import dataclasses

    from genmodels.families.gan import projected

    seen, original = [], projected.guide_objective

    def spy(logits, labels):
        seen.append(1)
        return original(logits, labels)

    monkeypatch.setattr(projected, "guide_objective", spy)
    losses = []
    real_backward = torch.Tensor.backward

    def record(self, *a, **k):
        losses.append(float(self))
        return real_backward(self, *a, **k)

    monkeypatch.setattr(torch.Tensor, "backward", record)
    monkeypatch.setitem(gan_train.RECIPES, "cgan", dataclasses.replace(gan_train.RECIPES["cgan"], monitor_every=0,
                                                                       reward=None, guide_stages=((2, 1000.0),)))
    gan_train.train_gan("cgan", steps=4, n_train=256, out=str(tmp_path / "w"), run_dir=str(tmp_path / "r"),
                        eval_n=40)
    g_losses = losses[1::2]  # D, G, D, G, ...
    assert len(seen) == 4 and len(g_losses) == 4
    assert max(g_losses[:2]) < 100 < min(g_losses[2:])  # weight 1 at steps 0-1, 1000 from step 2


def test_ema_update_is_the_ramped_exponential_average_and_copies_buffers():
    """training.ema_update, the one EMA step every trainer uses: parameters move by (1 - d) towards the model with
    d = min(decay, (1 + step) / (10 + step)); batch-norm statistics are copied."""
    from genmodels.training import ema_update

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    ema = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    model[1].running_mean.fill_(0.7)
    before = [p.clone() for p in ema.parameters()]
    ema_update(ema, model, 0.999, step=0)  # d = 0.1 at step 0
    for b, e, m in zip(before, ema.parameters(), model.parameters()):
        assert torch.allclose(e, 0.1 * b + 0.9 * m)
    assert torch.equal(ema[1].running_mean, model[1].running_mean)
    before = [p.clone() for p in ema.parameters()]
    ema_update(ema, model, 0.5)  # no ramp: d = decay
    for b, e, m in zip(before, ema.parameters(), model.parameters()):
        assert torch.allclose(e, 0.5 * b + 0.5 * m)


def test_the_mask_discriminator_stage_trains_checkpoints_and_resumes(tmp_path, tiny_models, monkeypatch):
    """VARIANTS["cgan-mask-d"]: a layered CGAN with the mask D beside its discriminators — its D and optimiser are
    checkpointed and resumed; the monitor reads the samples with the shipped looks; on a one-pass G it refuses."""
    out, run = tmp_path / "w", tmp_path / "run"
    gan_train.train_gan("cgan", steps=2, n_train=256, out=str(out), run_dir=str(run), eval_n=40, variant="cgan-mask-d")
    st = torch.load(run / "ckpt.pt", weights_only=True)
    assert "D_mask" in st and int(st["step"]) == 2
    gan_train.train_gan("cgan", steps=3, n_train=256, out=str(out), run_dir=str(run), eval_n=40, variant="cgan-mask-d",
                        reproduce="`train cgan`, then `train cgan-mask-d`")
    st2 = torch.load(run / "ckpt.pt", weights_only=True)
    assert int(st2["step"]) == 3 and any(not torch.equal(st["D_mask"][k], st2["D_mask"][k]) for k in st["D_mask"])
    card = (out / "README.md").read_text()
    assert "MaskDiscriminator" in card and 'VARIANTS["cgan-mask-d"]' in card and "`train cgan`, then" in card
    G = service.load_generator("cgan", str(out))
    assert G.background == "plane" and G.background_range[0] > -1
    from dataclasses import replace

    monkeypatch.setitem(gan_train.VARIANTS, "cgan-onepass-mask", replace(gan_train.VARIANTS["cgan-onepass"], mask_d=1.0))
    with pytest.raises(ValueError, match="mask_d needs a layered generator"):
        gan_train.train_gan("cgan", steps=1, n_train=256, out=str(tmp_path / "w2"), run_dir=str(tmp_path / "r2"),
                            eval_n=40, variant="cgan-onepass-mask")
