"""Age-cGAN-style attribute edit (issue 30): the encoder trains on BigGAN samples and writes loadable weights,
identity-preserving optimisation lowers its objective from the encoder's start, the edit changes only the asked
condition, and the ground-truth masks of the evaluation are the same scene re-rendered."""
import numpy as np
import pytest
import torch

from genmodels.data import shapes
from genmodels.data.dataset import test_split as split_arrays, to_tensor
from genmodels.families.gan import attribute_edit as AE
from genmodels.families.gan.projected import load_guide
from genmodels.families.gan.service import load_generator


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    d = tmp_path_factory.mktemp("enc")
    res = AE.train_gan_encoder(steps=3, batch=8, out=str(d / "w"), run_dir=str(d / "r"), tiny=True)
    assert res["steps"] == 3 and (d / "w" / "model.safetensors").exists() and (d / "w" / "monitor.jsonl").exists()
    enc = AE.load_encoder(d / "w")
    enc.folder = d / "w"
    return enc


def test_ip_lo_lowers_its_objective_and_the_edit_changes_only_the_condition(encoder):
    torch.manual_seed(0)
    G, guide = load_generator("biggan"), load_guide()
    split = split_arrays()
    x = to_tensor(split["images"][:4])
    y = torch.from_numpy(split["labels"][:4, :2]).long()
    out = AE.invert(G, encoder, guide, x, y, iterations=15)
    before = AE.recon_loss(guide, out["initial"], x).sum()
    after = AE.recon_loss(guide, out["reconstruction"], x).sum()
    assert after < before
    assert out["z"].abs().max() <= AE.Z_LIMIT
    e = AE.edit(G, encoder, guide, x, y, "colour", 3, iterations=0)
    with torch.no_grad():
        want = G(e["z0"].clamp(-AE.Z_LIMIT, AE.Z_LIMIT), AE.changed(y, "colour", 3)).clamp(-1, 1)
    torch.testing.assert_close(e["edited"], want)


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
