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


def tiny_g(**looks):
    torch.manual_seed(0)
    return LayeredGenerator(z_dim=32, width=32, bg_width=16, pose_hidden=16, **looks).eval()


ALBEDO = {"background": "grey", "appearance": "albedo-shade"}


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


@pytest.mark.parametrize("looks", [{}, ALBEDO])
def test_the_image_is_the_composition_of_its_layers_and_the_pose_stays_in_range(looks):
    G = tiny_g(**looks)
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


@pytest.mark.parametrize("looks", [{}, ALBEDO])
def test_each_noise_part_and_each_label_reach_the_image_and_seeds_repeat(looks):
    G = tiny_g(**looks)
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
    with pytest.raises(ValueError, match="background must be"):
        LayeredGenerator(background="noise")
    with pytest.raises(ValueError, match="appearance must be"):
        LayeredGenerator(appearance="paint")
    G, _ = gan_train.build("cgan", generator="layered")
    assert isinstance(G, LayeredGenerator) and (G.background, G.appearance) == ("rgb", "rgb")
    G, _ = gan_train.build("cgan", generator="layered-albedo")
    assert (G.background, G.appearance) == ("plane", "albedo-shade")
    with pytest.raises(ValueError, match="unknown CGAN generator"):
        gan_train.build("cgan", generator="painted")


def test_grey_background_and_albedo_shade_appearance():
    """background="grey": every background pixel is one grey level (the mean of the RGB background's channels);
    appearance="albedo-shade": every canonical pixel is one colour a sample times a shade in [0, 1], so all of an
    object's pixels (the stripes' dark ones too) keep its hue — their RGB are proportional to the albedo's. Both
    looks have the RGB generator's parameters, so one loads the other's weights."""
    G = tiny_g(**ALBEDO)
    gan_train.standing_stats("cgan", G, n_batches=2, batch=16)
    rgb = tiny_g()
    rgb.load_state_dict(G.state_dict())
    rgb.eval()
    z, y = torch.randn(5, 32), torch.randint(0, 6, (5, 2))
    out, ref = G.layers(z, y), rgb.layers(z, y)
    bg = out["background"]
    torch.testing.assert_close(bg, ref["background"].mean(1, keepdim=True).expand_as(bg))
    torch.testing.assert_close(out["canonical_mask"], ref["canonical_mask"])
    look = ((out["canonical"] + 1) / 2).flatten(2)  # (N, 3, HW) = albedo (N, 3, 1) * shade (N, 1, HW)
    brightest = look.gather(2, look.sum(1, keepdim=True).argmax(2, keepdim=True).expand(-1, 3, -1))
    ratio = look / brightest.clamp_min(1e-6)
    torch.testing.assert_close(ratio, ratio[:, :1].expand_as(ratio), atol=1e-4, rtol=1e-3)
    assert look.min() >= 0 and look.max() <= 1


def test_one_hue_against_numpy():
    """albedo = mask-weighted mean colour over its largest channel; shade = each pixel's largest channel."""
    rng = np.random.default_rng(0)
    look, mask = rng.uniform(-1, 1, (2, 3, 8, 8)), rng.uniform(0, 1, (2, 1, 8, 8))
    rgb = (look + 1) / 2
    albedo = (rgb * mask).sum((2, 3)) / mask.sum((2, 3))
    albedo /= albedo.max(1, keepdims=True)
    want = 2 * albedo[:, :, None, None] * rgb.max(1, keepdims=True) - 1
    got = LayeredGenerator.one_hue(torch.tensor(look), torch.tensor(mask))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6, atol=1e-9)


def test_pose_in_pixels():
    G = tiny_g()
    pose = {"cx": torch.tensor([-1.0, 0.0, 0.5]), "cy": torch.tensor([1.0, 0.0, -0.5]),
            "scale": torch.tensor([1.0, 0.5, 0.25]), "angle": torch.tensor([math.pi / 2, 0.0, -math.pi])}
    px = G.pose_in_pixels(pose)
    torch.testing.assert_close(px["x"], torch.tensor([-0.5, 15.5, 23.5]))
    torch.testing.assert_close(px["y"], torch.tensor([31.5, 15.5, 7.5]))
    torch.testing.assert_close(px["size"], torch.tensor([32.0, 16.0, 8.0]))
    torch.testing.assert_close(px["rotation"], torch.tensor([90.0, 0.0, -180.0]))


@pytest.mark.parametrize("looks", [{}, ALBEDO])
def test_a_layered_cgan_folder_loads_as_one(tmp_path, looks):
    from genmodels.families.gan import service

    G = tiny_g(**looks)
    G.save_pretrained(tmp_path / "layered")
    loaded = service.load_generator("cgan", str(tmp_path / "layered"))
    assert isinstance(loaded, LayeredGenerator)
    assert (loaded.background, loaded.appearance) == (G.background, G.appearance)
    z, y = torch.randn(2, 32), torch.tensor([[0, 1], [3, 4]])
    torch.testing.assert_close(loaded(z, y), G(z, y))


def test_plane_background_is_the_least_squares_plane_in_the_domain_tones():
    """background="plane": the grey background replaced by its least-squares plane (numpy lstsq on 1, x, y), then
    clamped to [background_min, background_max]; the parameters are the RGB generator's."""
    from genmodels.families.gan.layered import LayeredGenerator as LG

    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 1, 32, 32))
    yy, xx = np.mgrid[0:32, 0:32]
    A = np.stack([np.ones(1024), xx.ravel(), yy.ravel()], 1)
    want = np.stack([A @ np.linalg.lstsq(A, m.ravel(), rcond=None)[0] for m in x[:, 0]]).reshape(3, 1, 32, 32)
    np.testing.assert_allclose(LG.plane(torch.from_numpy(x)).numpy(), want, atol=1e-9)
    G = tiny_g(background="plane", appearance="albedo-shade", background_min=-0.5, background_max=0.4)
    grey = tiny_g(**ALBEDO)
    grey.load_state_dict(G.state_dict())
    z, y = torch.randn(4, 32), torch.randint(0, 6, (4, 2))
    bg, ref = G.layers(z, y)["background"], grey.layers(z, y)["background"]
    torch.testing.assert_close(bg, LG.plane(ref[:, :1]).clamp(-0.5, 0.4).expand_as(bg))
    assert bg.min() >= -0.5 and bg.max() <= 0.4
    for lo, hi in ((0.5, 0.4), (-1.5, 0.0)):
        with pytest.raises(ValueError, match="background_min"):
            LayeredGenerator(background_min=lo, background_max=hi)
    with pytest.raises(ValueError, match="shade_floor"):
        LayeredGenerator(shade_floor=1.0)
    assert G.with_looks(**ALBEDO).background == "grey" and not G.with_looks().training


def test_the_mask_discriminator_sees_the_silhouette_and_the_label():
    """MaskDiscriminator: (N, 1, 32, 32) masks + shape labels -> (N,) logits; the label enters (projection), the
    gradient reaches the mask; blur_mask keeps a constant map and the mass of a blob."""
    from genmodels.families.gan.layered import MaskDiscriminator, blur_mask

    torch.manual_seed(0)
    D = MaskDiscriminator(n_shapes=6, width=8).eval()  # spectral norm: no power iteration between the calls
    m = torch.zeros(2, 1, 32, 32)
    m[:, :, 10:20, 8:24] = 1
    m.requires_grad_(True)
    a, b = D(m, torch.tensor([0, 0])), D(m, torch.tensor([0, 5]))
    assert a.shape == (2,) and torch.isclose(a[0], b[0]) and not torch.isclose(a[1], b[1])
    (g,) = torch.autograd.grad(a.sum(), m)
    assert g.abs().sum() > 0
    torch.testing.assert_close(blur_mask(torch.full((1, 1, 32, 32), 0.7)), torch.full((1, 1, 32, 32), 0.7))
    torch.testing.assert_close(blur_mask(m.detach()).sum(), m.detach().sum(), rtol=1e-5, atol=1e-4)
