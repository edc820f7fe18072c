"""DragGAN (issue 30) and the shared point-drag loop: the loop moves a rendered blob to its target on a toy problem,
DragGAN optimises only the coarse styles and streams, the Drag sub-tab's handler answers bad input with sentences."""
import gradio as gr
import numpy as np
import pytest
import torch

from genmodels import pointdrag as P
from genmodels.families.gan import drag as DG
from genmodels.families.gan.stylegan import Generator


def blob(centre: torch.Tensor, size: int = 32, sigma: float = 3.0) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing="ij")
    return torch.exp(-((xx - centre[0, 0]) ** 2 + (yy - centre[0, 1]) ** 2) / (2 * sigma ** 2))[None, None]


def test_the_loop_drags_a_blob_to_its_target():
    """Features = a Gaussian blob drawn at the parameter: motion supervision must move the parameter, tracking must
    follow the blob, and the loop stops when the handle is within 1 px of the target."""
    start, target = torch.tensor([[10.0, 12.0]]), torch.tensor([[16.0, 12.0]])
    feats = lambda p: (None, blob(p))  # noqa: E731
    p, hnd, history, used = P.optimise_points(start.clone(), feats, start.clone(), target, 200, 0.3, 3, 3)
    assert (hnd - target).norm() < 1.0 and used < 200
    assert abs(float(p[0, 0]) - 16.0) < 1.5 and abs(float(p[0, 1]) - 12.0) < 1.0
    assert len(history) == used + 1 if used else True
    states = list(P.iterate_points(start.clone(), feats, start.clone(), target, 3, 0.3, 3, 3))
    assert [s["done"] for s in states] == [False, False, False, True] and states[-1]["iteration"] == 3


def test_extra_term_sees_the_tracked_handles():
    seen = []
    start, target = torch.tensor([[10.0, 12.0]]), torch.tensor([[16.0, 12.0]])

    def extra(p, aux, feat, hnd):
        seen.append(hnd.clone())
        return None
    P.optimise_points(start.clone(), lambda p: (None, blob(p)), start.clone(), target, 4, 0.3, 3, 3, extra)
    assert len(seen) == 4 and torch.equal(seen[0], start)


def test_centroid_reduction_and_region():
    mask = np.zeros((32, 32), bool)
    mask[10:16, 10:16] = True
    moved = np.roll(mask, 4, axis=1)
    h, t = np.array([[12.5, 12.5]]), np.array([[20.5, 12.5]])
    assert P.centroid_reduction(mask, moved, h, t) == pytest.approx(0.5)
    assert np.isnan(P.centroid_reduction(mask, np.zeros_like(mask), h, t))
    region = P.drag_region(mask, h, t)
    assert region[mask].all() and region[12, 24] and not region[30, 2]


@pytest.fixture(scope="module")
def tiny_stylegan():
    torch.manual_seed(0)
    return Generator(size=32, style_dim=32, n_mlp=2, channels=[32, 32, 16, 8], n_classes=36).eval()


def test_draggan_moves_only_the_coarse_styles_and_streams(tiny_stylegan):
    G = tiny_stylegan
    ws, image = DG.source_image(G, 3, torch.tensor([5]))
    assert image.shape == (32, 32, 3) and ws.shape == (1, G.num_ws, 32)
    mask = np.zeros((32, 32), bool)
    mask[8:20, 8:20] = True
    h, t = np.array([[14.0, 14.0]]), np.array([[19.0, 14.0]])
    frames = list(DG.drag_stream(G, ws, image, h, t, 6, keep_background=False, rigid=False, every=2))
    assert [f["iteration"] for f in frames[:-1]] == [2, 4, 6][:len(frames) - 1] and frames[-1]["done"]
    assert frames[-1]["image"].shape == (32, 32, 3) and "seconds" in frames[-1]
    r = DG.drag(G, ws, h, t, 5, mask=P.drag_region(mask, h, t), object_mask=mask)
    assert torch.equal(r["ws"][:, DG.LAYERS:], ws[:, DG.LAYERS:])  # the 16- and 32-px styles are the source's
    assert not torch.equal(r["ws"][:, :DG.LAYERS], ws[:, :DG.LAYERS])
    rows = DG.drag_readouts(image, r["edited"], h, t, r["handles"], P.drag_region(mask, h, t), r["seconds"])
    names = [row.metric for row in rows]
    assert names[0] == "tracked handle → target distance (px)" and "time (s)" in names


def test_same_request_same_drag(tiny_stylegan):
    G = tiny_stylegan
    ws, _ = DG.source_image(G, 4, torch.tensor([1]))
    h, t = np.array([[14.0, 14.0]]), np.array([[10.0, 18.0]])
    a, b = DG.drag(G, ws, h, t, 4), DG.drag(G, ws, h, t, 4)
    assert np.array_equal(a["edited"], b["edited"])


@pytest.mark.parametrize("points, msg", [("", "No points"), ("3,4 -> 40,4", "outside the 32×32"),
                                         ("3,4 -> 9,4; 5,5", "needs a target"),
                                         ("3,4 -> 9,4; 5", "needs an x and a y"),
                                         ("3,4 -> 3,4", "same point")])
def test_drag_tab_bad_points(points, msg):
    from genmodels.families.gan import tab

    with pytest.raises(gr.Error, match=msg):
        list(tab.gan_drag(1, "triangle", "blue", 1.0, points, 10, True, True))


def test_drag_tab_clamps_iterations_and_streams():
    from genmodels.families.gan import tab

    out = list(tab.gan_drag(1, "triangle", "blue", 1.0, "15,15 -> 19,15", 100_000, True, True))
    assert len(out) >= 2 and "capped at 300" in out[-1][1]
    assert out[-1][0].shape == (256, 256, 3) and "DragGAN" in out[-1][2]
    with pytest.raises(gr.Error, match="Unknown shape"):
        list(tab.gan_drag(1, "blob", "blue", 1.0, "15,15 -> 19,15", 10, True, True))


def test_clicks_fill_the_points_box_and_stop_at_four_pairs():
    text = P.add_click("", 3, 4)
    assert text == "3,4 ->" and P.points_so_far(text) == ([[3.0, 4.0]], [])
    text = P.add_click(text, 9, 4)
    assert text == "3,4 -> 9,4"
    for k in range(3):
        text = P.add_click(P.add_click(text, k, k), k + 5, k)
    with pytest.raises(gr.Error, match="At most 4 handle → target pairs"):
        P.add_click(text, 1, 1)
    assert P.canvas(np.zeros((32, 32, 3), np.uint8), text, 8).shape == (256, 256, 3)


@pytest.fixture(scope="module")
def tiny_layered():
    from genmodels.families.gan.layered import LayeredGenerator

    torch.manual_seed(0)
    return LayeredGenerator(z_dim=32, width=32, embed_dim=8, bg_width=16, pose_hidden=16).eval()


def test_layered_tracking_is_the_spatial_transformer(tiny_layered):
    """The layered drag tracks a handle by placing its canonical point with the current pose: moving the pose's
    centre by k pixels moves every tracked handle by exactly k pixels; rotating by 90° about the centre turns them."""
    from genmodels.families.gan.attribute_edit import decode, pose_code

    G = tiny_layered
    lat = DG.layered_source(G, 3, torch.tensor([[2, 1]]))
    free = DG.layered_free(G)
    feats = DG.LayeredFeatures(G, lat, free)
    try:
        _, pose = decode(G, lat.code)
        px = G.pose_in_pixels(pose)
        h = torch.tensor([[float(px["x"]), float(px["y"])], [float(px["x"]) + 2, float(px["y"]) - 1]])
        track = feats.tracker(h)
        p0 = lat.code[:, free]
        assert torch.allclose(track(p0), h, atol=1e-4)
        moved = dict(pose, cx=pose["cx"] + 3 * 2 / G.size)  # 3 px to the right
        p1 = pose_code(G, moved)
        assert torch.allclose(track(p1), h + torch.tensor([3.0, 0.0]), atol=1e-3)
        turned = pose_code(G, dict(pose, angle=pose["angle"] + torch.pi / 2))
        rel0, rel1 = h[1] - h[0], track(turned)[1] - track(turned)[0]
        assert torch.allclose(rel1, torch.stack([-rel0[1], rel0[0]]), atol=1e-3)  # y points down: +90° turns x to y
    finally:
        feats.close()


def test_layered_drag_moves_only_the_free_entries(tiny_layered):
    G = tiny_layered
    lat, image = DG.source_image(G, 5, torch.tensor([[0, 3]]))
    assert image.shape == (32, 32, 3)
    h, t = np.array([[16.0, 16.0]]), np.array([[20.0, 16.0]])
    pose = slice(G.z_bg + G.z_fg, None)
    for rigid in (True, False):
        r = DG._run(G, DG.layered_drag_steps(G, lat, h, t, 4, rigid=rigid))
        code = r["latent"].code
        assert not torch.equal(code[:, pose], lat.code[:, pose])
        assert torch.equal(code[:, :G.z_bg], lat.code[:, :G.z_bg])  # the background layer is the source's
        assert torch.equal(code[:, -3:], lat.code[:, -3:])  # one handle: the centre moves, scale and angle stay
        assert torch.equal(code[:, G.z_bg:G.z_bg + G.z_fg], lat.code[:, G.z_bg:G.z_bg + G.z_fg]) == rigid
        assert r["edited"].shape == (32, 32, 3) and r["iterations"] <= 4
    two = DG._run(G, DG.layered_drag_steps(G, lat, np.array([[14.0, 16.0], [18.0, 16.0]]),
                                           np.array([[16.0, 14.0], [16.0, 18.0]]), 4))  # a turn: two handles
    assert not torch.equal(two["latent"].code[:, -2:], lat.code[:, -2:])
    a = DG._run(G, DG.layered_drag_steps(G, lat, h, t, 3))
    b = DG._run(G, DG.layered_drag_steps(G, lat, h, t, 3))
    assert np.array_equal(a["edited"], b["edited"])  # same request, same drag


def test_drag_tab_on_the_layered_cgan_and_bad_generator():
    from genmodels.families.gan import tab

    out = list(tab.gan_drag(1, "triangle", "blue", 1.0, "15,15 -> 19,15", 6, True, True, "cgan"))
    assert out[-1][0].shape == (256, 256, 3) and "spatial transformer" in out[-1][1] and "DragGAN" in out[-1][2]
    with pytest.raises(gr.Error, match="Unknown drag generator"):
        list(tab.gan_drag(1, "triangle", "blue", 1.0, "15,15 -> 19,15", 6, True, True, "pix2pix"))
