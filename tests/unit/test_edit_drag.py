"""Edit family, DragDiffusion (genmodels/families/edit/drag.py): bilinear feature sampling, point tracking, the
motion-supervision loop on a random tiny pipeline (deterministic, stops when the handles arrive), reference-latent
control, and the points a person types or clicks (service.parse_points)."""
import numpy as np
import pytest
import torch

from genmodels.families.edit import common as C
from genmodels.families.edit import drag as D
from genmodels.families.edit.service import format_points, parse_points
from genmodels.validate import InputError


@pytest.fixture(scope="module")
def tiny(random_sd_folder):
    return C.edit_pipeline(str(random_sd_folder))


def test_bilinear_sampling_is_exact_on_a_linear_map():
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    feat = torch.stack([xx, yy, 2 * xx - yy])[None]
    pts = torch.tensor([[3.0, 4.0], [10.25, 7.5], [31.0, 0.0]])
    got = D.sample_at(feat, pts)
    want = torch.stack([pts[:, 0], pts[:, 1], 2 * pts[:, 0] - pts[:, 1]], 1)
    assert torch.allclose(got, want, atol=1e-4)


def test_point_tracking_finds_the_feature_that_moved():
    g = torch.Generator().manual_seed(0)
    feat = torch.rand(1, 6, 32, 32, generator=g)
    f0 = feat[0, :, 10, 12].clone()[None]  # the handle's features at (x 12, y 10)
    feat[0, :, 11, 14] = f0[0]  # ... now 2 px right, 1 px down
    feat[0, :, 10, 12] = torch.rand(6, generator=g)  # and gone from where it was
    got = D.track(feat, f0, torch.tensor([[12.0, 10.0]]), r=3)
    assert got.tolist() == [[14.0, 11.0]]
    far = D.track(feat, f0, torch.tensor([[20.0, 20.0]]), r=3)  # out of reach: the best match within r
    assert (far - torch.tensor([[20.0, 20.0]])).abs().max() <= 3


def test_drag_is_deterministic_and_moves_the_latent(tiny):
    item = C.test_item(1)
    h, t = np.array([[14.0, 14.0]]), np.array([[19.0, 14.0]])
    a = D.drag(tiny, item.image, item.caption, h, t, steps=4, inversion=0.5, iterations=3)
    b = D.drag(tiny, item.image, item.caption, h, t, steps=4, inversion=0.5, iterations=3)
    assert a["iterations"] == 3 and len(a["history"]) == 3
    assert np.array_equal(a["edited"], b["edited"]) and np.array_equal(a["handles"], b["handles"])
    assert not np.array_equal(a["edited"], a["reconstruction"])


def test_no_iteration_when_the_handles_are_already_there(tiny):
    item = C.test_item(1)
    res = D.drag(tiny, item.image, item.caption, np.array([[14.0, 14.0]]), np.array([[14.5, 14.0]]), steps=4,
                 inversion=0.5, iterations=5)
    assert res["iterations"] == 0
    assert np.abs(res["edited"].astype(int) - res["reconstruction"].astype(int)).max() <= 1  # the same path


def test_the_mask_term_holds_the_latent_outside_the_region(tiny):
    item = C.test_item(1)
    h, t = np.array([[14.0, 14.0]]), np.array([[20.0, 14.0]])
    region = np.zeros((32, 32), bool)
    region[8:22, 8:26] = True
    feats = D.Features(tiny.unet, 32)
    cond = C.encode_text(tiny, [item.caption])
    sched = C.ddim(tiny, 4)
    z_t = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    keep = 1 - C.latent_mask(region, 16)
    try:
        z_free = D.optimise(feats, z_t, sched.timesteps[2], cond, sched, torch.tensor(h, dtype=torch.float32),
                            torch.tensor(t, dtype=torch.float32), 4)[0]
        z_held = D.optimise(feats, z_t, sched.timesteps[2], cond, sched, torch.tensor(h, dtype=torch.float32),
                            torch.tensor(t, dtype=torch.float32), 4, keep=keep)[0]
    finally:
        feats.close()
    out = keep[0, 0] > 0
    assert (z_held - z_t)[..., out].abs().mean() < (z_free - z_t)[..., out].abs().mean()
    assert not tiny.unet.up_blocks[0]._forward_hooks  # the feature hooks are removed


def test_reference_control_gives_the_edited_row_the_references_keys_and_values():
    k = torch.arange(24.0).view(2, 3, 4)
    layer = type("L", (), {"place": "up"})()
    k2, v2 = D.ReferenceControl().self_kv(k, k + 100, layer)
    assert torch.equal(k2[1], k[0]) and torch.equal(v2[1], k[0] + 100) and torch.equal(k2[0], k[0])
    layer.place = "down"
    assert torch.equal(D.ReferenceControl().self_kv(k, k, layer)[0], k)


def test_points_parse_and_print():
    h, t = parse_points("10,9 -> 15,9; 3, 4 -> 3,10")
    assert h.tolist() == [[10, 9], [3, 4]] and t.tolist() == [[15, 9], [3, 10]]
    assert parse_points(format_points(h, t))[0].tolist() == h.tolist()
    assert format_points([[1, 2], [5, 6]], [[3, 4]]) == "1,2 -> 3,4; 5,6 ->"


@pytest.mark.parametrize("text, words", [
    ("", "No points"),
    ("10,9 -> 40,3", r"\(40, 3\) is outside the 32×32 image"),
    ("-1,9 -> 5,3", "outside the 32×32 image"),
    ("10,9 -> 15,9; 4,4", "needs a target"),
    ("10,9 -> 15", "needs an x and a y"),
    ("10,9 -> 10,9", "same point"),
    ("nan,9 -> 10,9", "finite"),
    ("; ".join(["1,1 -> 2,2"] * 5), "At most 4"),
])
def test_bad_points_are_refused_with_a_sentence(text, words):
    with pytest.raises(InputError, match=words):
        parse_points(text)


def test_points_are_drawn_on_the_enlarged_image():
    img = np.zeros((32, 32, 3), np.uint8)
    pic = D.draw_points(img, [[2, 3]], [[20, 3]], scale=8)
    assert pic.shape == (256, 256, 3)
    assert tuple(pic[3 * 8 + 4, 2 * 8 + 4]) == (235, 40, 40) and tuple(pic[3 * 8 + 4, 20 * 8 + 4]) == (40, 90, 255)
