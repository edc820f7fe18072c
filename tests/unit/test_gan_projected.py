"""The Projected-GAN / classifier-guidance parts of the GAN recipes, and the training deadline of `train all`."""
import math

import pytest
import torch

from genmodels.families.gan.projected import (GUIDE_HEADS, GuideNet, ProjectedDiscriminator, diff_augment,
                                              guide_objective)


def test_diff_augment_is_a_zero_padded_shift_of_the_drawn_offsets():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    assert torch.equal(diff_augment(x, torch.Generator().manual_seed(0), shift=0, cutout=0.0), x)
    g = torch.Generator().manual_seed(1)
    out = diff_augment(x, g, shift=2, cutout=0.0)
    g = torch.Generator().manual_seed(1)
    dx = torch.randint(-2, 3, (2,), generator=g)
    dy = torch.randint(-2, 3, (2,), generator=g)
    for i in range(2):
        expect = torch.zeros_like(x[i])
        sy, sx = int(dy[i]), int(dx[i])
        src = x[i][:, max(0, -sy):8 - max(0, sy), max(0, -sx):8 - max(0, sx)]
        expect[:, max(0, sy):max(0, sy) + src.shape[1], max(0, sx):max(0, sx) + src.shape[2]] = src
        assert torch.equal(out[i], expect)


def test_diff_augment_cutout_zeroes_one_square_and_passes_gradients():
    x = torch.ones(4, 3, 16, 16, requires_grad=True)
    out = diff_augment(x, torch.Generator().manual_seed(0), shift=0, cutout=0.25)
    assert ((out == 0).all(1).flatten(1).sum(1) == 16).all()  # a 4x4 hole per image
    out.sum().backward()
    assert (x.grad.flatten(1).sum(1) == 3 * (256 - 16)).all()


def test_projected_discriminator_shapes_and_projection():
    torch.manual_seed(0)
    guide = GuideNet()
    feats = guide.features(torch.randn(5, 3, 32, 32))
    assert [f.shape[-1] for f in feats] == [16, 8, 4] and [f.shape[1] for f in feats] == list(guide.widths)
    assert set(guide.logits(feats)) == set(GUIDE_HEADS)
    D = ProjectedDiscriminator(guide.widths, n_classes=(6, 6))
    a = D(feats, torch.zeros(5, 2, dtype=torch.long))
    b = D(feats, torch.ones(5, 2, dtype=torch.long))
    assert a.shape == (5,) and not torch.allclose(a, b)
    assert ProjectedDiscriminator(guide.widths)(feats).shape == (5,)


def test_guide_objective_is_cross_entropy_or_catgan():
    logits = {"shape": torch.randn(6, 6), "colour": torch.randn(6, 6)}
    y = torch.stack([torch.arange(6), torch.arange(6).flip(0)], 1)
    ce = torch.nn.functional.cross_entropy
    assert torch.allclose(guide_objective(logits, y), ce(logits["shape"], y[:, 0]) + ce(logits["colour"], y[:, 1]))
    confident = {"shape": torch.eye(6) * 50}  # each image one definite shape, all shapes drawn: the minimum
    assert guide_objective(confident, None).item() == pytest.approx(-math.log(6), abs=1e-4)
    uniform = {"shape": torch.zeros(6, 6)}  # no definite shape: entropy log 6, marginal log 6 -> 0
    assert guide_objective(uniform, None).item() == pytest.approx(0.0, abs=1e-5)
    collapsed = {"shape": torch.zeros(6, 6).index_fill_(1, torch.tensor([0]), 50.0)}  # all one shape
    assert guide_objective(collapsed, None).item() == pytest.approx(0.0, abs=1e-4)


def test_deadline_stops_the_shared_loop_with_a_checkpoint(tmp_path):
    from genmodels import training

    model = torch.nn.Linear(2, 1)
    batches = training.infinite_batches((torch.randn(32, 2),), 8, 0)
    training.set_deadline(0)
    try:
        res = training.train(model, lambda m, b, s: (m(b[0]).pow(2).mean(), {}), batches,
                             training.TrainConfig(steps=50), tmp_path)
    finally:
        training.set_deadline(None)
    assert res["steps"] == 0 and (tmp_path / "ckpt.pt").exists()
    assert not training.out_of_time()


@pytest.mark.parametrize("args, msg", [
    (["train", "all", "--device", "tpu"], "unknown device 'tpu'"),
    (["train", "all", "--steps", "5"], "train all takes only"),
    (["train", "all", "--budget-minutes", "0"], "--budget-minutes must be > 0"),
])
def test_train_all_bad_input_one_line(capsys, args, msg):
    from genmodels.__main__ import main

    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and len(err.splitlines()) == 1


def test_train_device_cuda_without_gpu_one_line(capsys):
    from genmodels.__main__ import main

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    assert main(["train", "all", "--device", "cuda"]) == 2
    assert capsys.readouterr().err.strip() == "error: --device cuda: torch sees no CUDA device on this machine"


def test_missing_guide_checkpoint_one_line(capsys, monkeypatch, tmp_path):
    from genmodels.__main__ import main
    from genmodels.families.gan import projected

    monkeypatch.setattr(projected, "WEIGHTS", tmp_path)
    monkeypatch.setattr(projected, "_GUIDE", None)
    assert main(["train", "cgan", "--steps", "1", "--run-dir", str(tmp_path / "run"),
                 "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "run `python -m genmodels train gan-guide` first" in err


def test_pgd_l2_stays_in_the_ball_and_raises_the_loss():
    import torch.nn.functional as F

    from genmodels.families.gan.projected import pgd_l2

    torch.manual_seed(0)
    net = GuideNet(widths=(8, 8, 16, 16)).eval()
    x = torch.rand(6, 3, 32, 32) * 2 - 1
    y = torch.randint(0, 6, (6, 5))
    adv = pgd_l2(net, x, y, eps=0.5, steps=3)
    assert ((adv - x).flatten(1).norm(dim=1) <= 0.5 + 1e-4).all() and adv.min() >= -1 and adv.max() <= 1

    def loss(z):
        out = net(z)
        return F.cross_entropy(out["shape"], y[:, 0]) + F.cross_entropy(out["colour"], y[:, 1])

    with torch.no_grad():
        assert loss(adv) > loss(x)


def test_guide_card_lists_the_run_and_the_accuracy(tmp_path):
    import json

    from genmodels.families.gan.projected import GuideNet, _save_guide

    acc = {"shape": 0.991, "colour": 1.0}
    card = _save_guide(GuideNet(), tmp_path, {"steps": 600, "wall_s": 168.0}, 128, acc, "# gan-guide-robust",
                       ["- command: `python -m genmodels train gan-guide-robust`"],
                       {"eps_l2": 1.0, "shape_accuracy_under_pgd5_eps": 0.775})
    text = (tmp_path / "README.md").read_text()
    assert "600 at batch 128, 2.8 min" in text and "shape 99.1%, colour 100.0%" in text
    assert "5-step PGD attack at the same eps (N = 1,000): 77.5%" in text
    assert json.loads((tmp_path / "metrics.json").read_text()) == card and card["eps_l2"] == 1.0
    assert (tmp_path / "config.json").exists()
