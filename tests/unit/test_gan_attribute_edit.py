"""Age-cGAN-style attribute edit (issue 30): the encoder trains on the generator's samples (the layered CGAN, or
the BigGAN) and writes loadable weights, identity-preserving optimisation lowers its objective from the encoder's
start, the edit changes only the asked condition (on the layered CGAN: at the registered pose), the registration
recovers a known canonical shape, and the ground-truth masks of the evaluation are the same scene re-rendered."""
import numpy as np
import pytest
import torch

from genmodels.data import shapes
from genmodels.data.dataset import test_split as split_arrays, to_tensor
from genmodels.families.gan import attribute_edit as AE
from genmodels.families.gan.projected import load_guide
from genmodels.families.gan.service import load_generator


@pytest.fixture(scope="module", params=["cgan", "biggan"])
def encoder(tmp_path_factory, request):
    d = tmp_path_factory.mktemp(f"enc-{request.param}")
    res = AE.train_gan_encoder(steps=3, batch=8, out=str(d / "w"), run_dir=str(d / "r"), tiny=True,
                               generator=request.param)
    assert res["steps"] == 3 and (d / "w" / "model.safetensors").exists() and (d / "w" / "monitor.jsonl").exists()
    enc = AE.load_encoder(d / "w")
    assert enc.generator == request.param
    enc.folder = d / "w"
    return enc


def test_ip_lo_lowers_its_objective_and_the_edit_changes_only_the_condition(encoder):
    torch.manual_seed(0)
    G, guide = load_generator(encoder.generator), load_guide()
    split = split_arrays()
    x = to_tensor(split["images"][:4])
    y = torch.from_numpy(split["labels"][:4, :2].copy()).long()
    out = AE.invert(G, encoder, guide, x, y, iterations=15)
    before = AE.recon_loss(guide, out["initial"], x).sum()
    after = AE.recon_loss(guide, out["reconstruction"], x).sum()
    assert after < before
    n = G.z_bg + G.z_fg if AE.is_layered(G) else G.z_dim
    assert out["z"].shape == (4, AE.code_dim(G)) and out["z"][:, :n].abs().max() <= AE.Z_LIMIT
    e = AE.edit(G, encoder, guide, x, y, "colour", 3, iterations=0)
    code = AE.clamp_code(G, encoder(x))
    with torch.no_grad():
        want = AE.render(G, code, AE.changed(y, "colour", 3)).clamp(-1, 1)
    torch.testing.assert_close(e["edited"], want)
    if AE.is_layered(G):  # a colour edit draws at the very pose the code says
        _, pose = AE.decode(G, code)
        kept = AE.edited_pose(G, code, y, AE.changed(y, "colour", 3))
        for k in pose:
            torch.testing.assert_close(kept[k], pose[k])


def test_pose_codes_round_trip_and_registration_moves_the_pose_by_the_domain_pose():
    from genmodels.families.gan.layered import LayeredGenerator

    G = LayeredGenerator(z_dim=32, width=32, bg_width=16, pose_hidden=16).eval()
    pose = {"cx": torch.tensor([0.3, -0.5]), "cy": torch.tensor([0.0, 0.6]), "scale": torch.tensor([0.5, 0.9]),
            "angle": torch.tensor([0.4, -2.5])}
    code = torch.cat([torch.randn(2, G.z_bg + G.z_fg), AE.pose_code(G, pose)], 1)
    z, back = AE.decode(G, code)
    for k in pose:
        torch.testing.assert_close(back[k], pose[k], atol=1e-4, rtol=1e-4)
    assert z.shape == (2, G.z_dim) and (z[:, G.z_bg:G.z_bg + G.z_pose] == 0).all()
    # class 0 drawn at radius 0.4, class 1 at 0.2 and rotated 30° in the canonical frame, both centred:
    reg = {"radius": np.array([0.4, 0.2, 0.3, 0.3, 0.3, 0.3]), "rotation": np.array([0.0, 30.0, 0, 0, 0, 0]),
           "offset": np.zeros((6, 2))}
    y, y_new = torch.tensor([[0, 1], [0, 2]]), torch.tensor([[1, 1], [1, 2]])
    new = AE.edited_pose(G, code, y, y_new, reg)
    torch.testing.assert_close(new["scale"], pose["scale"] * 2)
    torch.testing.assert_close(new["angle"], pose["angle"] - np.deg2rad(30.0))
    torch.testing.assert_close(new["cx"], pose["cx"]) and torch.testing.assert_close(new["cy"], pose["cy"])
    # an offset circumcentre: the edited shape's circumcentre lands where the source's was
    reg["offset"] = np.array([[0.2, 0.0]] + [[0.0, -0.1]] * 5)
    new = AE.edited_pose(G, code, y, y_new, reg)
    src = torch.stack([pose["cx"] + pose["scale"] * 0.2 * torch.cos(pose["angle"]),
                       pose["cy"] + pose["scale"] * 0.2 * torch.sin(pose["angle"])], 1)
    dst = torch.stack([new["cx"] + new["scale"] * 0.1 * torch.sin(new["angle"]),
                       new["cy"] - new["scale"] * 0.1 * torch.cos(new["angle"])], 1)
    torch.testing.assert_close(dst, src)


def test_canonical_registration_recovers_a_drawn_shape():
    """A stand-in generator whose canonical mask is the domain's triangle at radius 0.35, rotated 20°, off centre:
    the registration names that radius and rotation and finds the circumcentre."""

    class Stub:
        z_dim = 4

        def layers(self, z, y):
            masks = []
            for k in y[:, 0].tolist():
                r, t = (0.35, 20.0) if k == 2 else (0.3, 0.0)
                m, _ = AE._domain_mask(k, r, t, (0.55, 0.45), 32)
                masks.append(torch.from_numpy(m.astype(np.float32))[None])
            return {"canonical_mask": torch.stack(masks)}

    reg = AE.canonical_registration(Stub(), n=2)
    assert reg["iou"][2] > 0.95 and abs(reg["radius"][2] - 0.35) <= 0.011
    assert min(abs(reg["rotation"][2] - 20.0), abs(reg["rotation"][2] - 140.0)) <= 2.0  # a triangle: 120° symmetric
    assert reg["radius"][0] == pytest.approx(0.3, abs=0.011)


def test_changed_and_scripted_edits():
    y = torch.tensor([[1, 2], [3, 4]])
    assert AE.changed(y, "shape", 5).tolist() == [[5, 2], [5, 4]]
    assert AE.changed(y, "colour", 0).tolist() == [[1, 0], [3, 0]]
    with pytest.raises(ValueError, match="colour or shape"):
        AE.changed(y, "size", 1)
    edits = AE.scripted_edits(40)
    labels = split_arrays()["labels"]
    assert [a for _, a, _ in edits[:4]] == ["colour", "shape", "colour", "shape"]
    for i, a, v in edits:
        assert v != labels[i, 1 if a == "colour" else 0] and 0 <= v < 6


def test_target_masks_are_the_same_scene():
    src = shapes.item("test", 5, twin=False)
    same = AE.target_mask("test", 5, "colour", (src.params.colour + 1) % 6)
    assert np.array_equal(same, src.mask) and AE.mask_iou(same, src.mask) == 1.0
    other = AE.target_mask("test", 5, "shape", (src.params.shape + 1) % 6)
    assert not np.array_equal(other, src.mask)
    cy, cx = (np.argwhere(m).mean(0) for m in (src.mask, other))
    assert np.abs(cy - cx).max() < 2.5  # same centre (shapes' centroids differ a little from the circumcentre)
    assert AE.mask_iou(np.zeros((4, 4), bool), np.zeros((4, 4), bool)) == 0.0


def test_edit_image_validates_and_reads_uploads(encoder, monkeypatch):
    monkeypatch.setattr(AE, "load_encoder", lambda folder=None: encoder)
    img = split_arrays()["images"][2]
    with pytest.raises(ValueError, match="Unknown colour 'purple'"):
        AE.edit_image(img, "colour", "purple")
    with pytest.raises(ValueError, match="Unknown attribute"):
        AE.edit_image(img, "size", "small")
    r = AE.edit_image(img, "shape", "heart", None, iterations=2)
    assert r["read"] and r["edited"].shape == (32, 32, 3)
    assert [row["metric"] for row in r["rows"]][:3] == ["new shape recognised (heart)", "colour kept ("
                                                        + r["source_attributes"].split()[0] + ")",
                                                        "mask IoU, edited vs source"]


def test_evaluation_scores_the_scripted_edits_and_writes_the_card(encoder, monkeypatch):
    monkeypatch.setattr(AE, "load_encoder", lambda folder=None: encoder)
    res = AE.evaluate(n=4, iterations=1, batch=2, out=str(encoder.folder / "edit.json"))
    assert res["n"] == 4 and set(res["colour edits"]) == {"new recognised", "other kept", "IoU with ground truth",
                                                          "IoU with source"}
    for k in ("new attribute recognised", "other attribute kept", "mask IoU with the source"):
        assert 0.0 <= res[k] <= 1.0
    card = (encoder.folder / "README.md").read_text()
    assert "arXiv:1702.01983" in card and "train gan-encoder --steps 3" in card and "attribute_edit --n 4" in card
