"""The layered (LR-GAN) CGAN generator (issue 35): the spatial transformer places the canonical layer where the pose
says (checked against the forward map q = c + s R(angle) p computed in numpy), the image is the paper's composition
m ⊙ f + (1 − m) ⊙ b, every noise part and label reaches the image, seeds repeat, and the trainer builds it."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from genmodels.families.gan import train as gan_train
from genmodels.families.gan.layered import LayeredGenerator


def tiny_g():
    torch.manual_seed(0)
    return LayeredGenerator(z_dim=32, width=32, bg_width=16, pose_hidden=16).eval()


def _pixel(norm: float, n: int = 32) -> float:
    """Normalised coordinate (align_corners=False) -> pixel index."""
    return ((norm + 1) * n - 1) / 2


@pytest.mark.parametrize("cx,cy,scale,angle", [(0.0, 0.0, 1.0, 0.0), (0.4, -0.3, 0.6, 0.0),
                                               (-0.2, 0.25, 0.8, math.pi / 2), (0.1, 0.1, 0.5, 2.0)])
def test_the_transform_places_a_canonical_point_where_the_forward_map_says(cx, cy, scale, angle):
    # a Gaussian marker at canonical point p, sampled on a 128² canonical grid so interpolation is smooth
    p = np.array([0.35, -0.2])
    n = 128
    ys, xs = np.meshgrid((2 * np.arange(n) + 1) / n - 1, (2 * np.arange(n) + 1) / n - 1, indexing="ij")
    blob = np.exp(-((xs - p[0]) ** 2 + (ys - p[1]) ** 2) / (2 * 0.03 ** 2))
    canon = torch.tensor(blob, dtype=torch.float32)[None, None]
    pose = {k: torch.tensor([v], dtype=torch.float32) for k, v in
            {"cx": cx, "cy": cy, "scale": scale, "angle": angle}.items()}
    grid = F.affine_grid(LayeredGenerator.affine(pose), [1, 1, 32, 32], align_corners=False)
    placed = F.grid_sample(canon, grid, align_corners=False)[0, 0].numpy()
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    q = np.array([cx, cy]) + scale * rot @ p
    iy, ix = np.mgrid[:32, :32]
    w = placed / placed.sum()
    assert abs((w * ix).sum() - _pixel(q[0])) < 0.35 and abs((w * iy).sum() - _pixel(q[1])) < 0.35


def test_identity_pose_is_the_canonical_layer():
    canon = torch.rand(2, 4, 32, 32)
    pose = {"cx": torch.zeros(2), "cy": torch.zeros(2), "scale": torch.ones(2), "angle": torch.zeros(2)}
    grid = F.affine_grid(LayeredGenerator.affine(pose), [2, 4, 32, 32], align_corners=False)
    torch.testing.assert_close(F.grid_sample(canon, grid, align_corners=False), canon)


def test_the_image_is_the_composition_of_its_layers_and_the_pose_stays_in_range():
    G = tiny_g()
    gan_train.standing_stats("cgan", G, n_batches=2, batch=16)
    z, y = torch.randn(6, 32), torch.tensor([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [5, 0]])
    out = G.layers(z, y)
    torch.testing.assert_close(out["image"], out["mask"] * out["foreground"] + (1 - out["mask"]) * out["background"])
    torch.testing.assert_close(G(z, y), out["image"])
    assert out["image"].shape == (6, 3, 32, 32) and out["image"].abs().max() <= 1
    assert out["mask"].min() >= 0 and out["mask"].max() <= 1
    pose = G.pose_params(z, y)
    assert pose["cx"].abs().max() <= G.max_shift and pose["cy"].abs().max() <= G.max_shift
    assert G.min_scale <= pose["scale"].min() and pose["scale"].max() <= G.max_scale
    assert pose["angle"].abs().max() <= math.pi
    for k in pose:
        torch.testing.assert_close(pose[k], out["pose"][k])


def test_each_noise_part_and_each_label_reach_the_image_and_seeds_repeat():
    G = tiny_g()
    gan_train.standing_stats("cgan", G, n_batches=2, batch=16)
    z, y = torch.randn(1, 32), torch.tensor([[1, 2]])
    base = G(z, y)
    torch.testing.assert_close(G(z.clone(), y.clone()), base)
    parts = {"background": slice(0, 8), "pose": slice(8, 16), "foreground": slice(16, 32)}
    for name, sl in parts.items():
        z2 = z.clone()
        z2[:, sl] += 1.0
        assert (G(z2, y) - base).abs().max() > 1e-4, f"{name} noise has no effect"
    z3 = z.clone()
    z3[:, parts["background"]] += 1.0
    # the background noise changes the background layer only: the placed foreground and mask stay
    a, b = G.layers(z, y), G.layers(z3, y)
    torch.testing.assert_close(a["mask"], b["mask"])
    assert (a["background"] - b["background"]).abs().max() > 1e-4
    assert (G(z, torch.tensor([[4, 2]])) - base).abs().max() > 1e-4
    assert (G(z, torch.tensor([[1, 5]])) - base).abs().max() > 1e-4


def test_bad_inputs_and_the_trainer_builds_it():
    G = tiny_g()
    with pytest.raises(ValueError, match="labels of shape"):
        G(torch.randn(2, 32))
    with pytest.raises(ValueError, match="z must be"):
        G(torch.randn(2, 31), torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="conditional"):
        LayeredGenerator(n_classes=())
    G, _ = gan_train.build("cgan", generator="layered")
    assert isinstance(G, LayeredGenerator)
    with pytest.raises(ValueError, match="unknown CGAN generator"):
        gan_train.build("cgan", generator="painted")


def test_a_layered_cgan_folder_loads_as_one(tmp_path):
    from genmodels.families.gan import service

    G = tiny_g()
    G.save_pretrained(tmp_path / "layered")
    loaded = service.load_generator("cgan", str(tmp_path / "layered"))
    assert isinstance(loaded, LayeredGenerator)
    z, y = torch.randn(2, 32), torch.tensor([[0, 1], [3, 4]])
    torch.testing.assert_close(loaded(z, y), G(z, y))
