"""The shared shape reading (scoring.readout.read_shapes): the scoring classifier's shape beside the outline reader's,
against outline.py and ground truth on real test items; bad input refused with a reason; and the splats test of
issue 35 — on ReFL-style splats the classifier names the asked shape and the outline does not.

Splats used (docs: genmodels/scoring/splats.py):
- ``docs/experiments/sd-unet-guided-samples.png``: 24 samples of a real ReFL-style fine-tune (the f = 2 tiny SD with
  the gan-guide reward, docs/experiments/README.md "sd-unet-guided"); rows circle … heart, 4 conditions each, every
  32 x 32 tile enlarged 2x nearest — so the tiles are the exact samples. Measured: classifier 19 / 24, outline 6 / 24,
  12 / 24 in pieces.
- ``splats.adversarial_splats``: 48 blob unions optimised white-box against the scoring classifier (40 Adam steps).
  Measured: classifier 48 / 48, outline 14 / 48 (chance 8), 4 in pieces.
"""
from pathlib import Path

import numpy as np
import pytest
import torch

from genmodels.data import shapes
from genmodels.scoring import outline, readout

REFL_GRID = Path(__file__).resolve().parents[2] / "docs" / "experiments" / "sd-unet-guided-samples.png"


@pytest.fixture(scope="module")
def real():
    from genmodels.data.dataset import shapes_arrays

    return shapes_arrays("test", 300)


@pytest.fixture(scope="module")
def reading(real):
    return readout.read_shapes(real["images"], real["labels"])


def test_real_items_read_by_both(real, reading):
    ref = outline.outline_accuracy(real["images"], real["labels"])
    s = reading.summary()
    assert s["n"] == 300 and s["outline"] == ref["accuracy"] == 1.0  # outline.py: 2,000 / 2,000 on the test split
    assert s["classifier"] >= 0.99, s
    assert s["pieces"] == ref["multi_piece"] == 0.0 and s["no_object"] == ref["no_object"] == 0.0
    np.testing.assert_array_equal(reading.outline, outline.read_outlines(real["images"])["shape"])
    assert reading.backbone.startswith("shapes-classifier@") and reading.reader.startswith("outline reader@")


def test_float_tensors_read_like_uint8(real, reading):
    x = torch.from_numpy(real["images"][:60]).permute(0, 3, 1, 2).float().div(127.5).sub(1)
    r = readout.read_shapes(x, torch.from_numpy(real["labels"][:60, 0]))
    np.testing.assert_array_equal(r.outline, reading.outline[:60])
    np.testing.assert_array_equal(r.classifier, reading.classifier[:60])


def test_unconditional_compares_the_outline_with_the_classifier(real, reading):
    r = readout.read_shapes(real["images"][:100])
    assert r.requested is None and r.summary()["classifier"] is None
    assert r.summary()["outline"] == pytest.approx(float((reading.outline[:100] == reading.classifier[:100]).mean()))
    d = r.as_dict()
    assert list(d) == [readout.SHAPE_OUTLINE_UNCONDITIONAL, readout.IN_PIECES, readout.NO_OBJECT]
    assert readout.SHAPE_CLASSIFIER not in [x.metric for x in r.readouts()]


def test_dict_and_readouts(reading):
    d = reading.as_dict()
    assert list(d) == ["requested shape recognised", "shape by outline", "objects in pieces", "no object found"]
    assert d["shape by outline"] == 1.0 and d["objects in pieces"] == 0.0
    assert list(reading.as_dict(classifier=False)) == ["shape by outline", "objects in pieces", "no object found"]
    rs = {r.metric: r for r in reading.readouts()}
    assert [r.higher_is_better for r in rs.values()] == [True, True, False, False]
    assert rs["shape by outline"].n == 300 and rs["shape by outline"].interval == (1.0, 1.0)
    assert rs["shape by outline"].backbone == reading.reader and not rs["shape by outline"].warning
    assert "outline reader@" in str(rs["objects in pieces"]) and "N=300" in str(rs["objects in pieces"])
    assert readout.known_direction("shape by outline") is True
    assert readout.known_direction("objects in pieces, guidance 3 (N = 2000)") is False
    assert readout.known_direction("requested shape recognised (N = 2000)") is True
    assert readout.known_direction("shape by outliner") is None and readout.known_direction("ELBO") is None


def test_no_object_counts_as_not_read_and_is_said(real):
    grey = np.stack([np.full((32, 32, 3), v, np.uint8) for v in (30, 128, 220)])
    images = np.concatenate([real["images"][:17], grey])
    r = readout.read_shapes(images, real["labels"][:20, 0])
    assert r.summary()["no_object_count"] == 3 and r.summary()["outline"] == pytest.approx(17 / 20)
    assert list(r.reasons[17:]) == ["no object found: no saturated pixel (a grey, black or white image)"] * 3
    assert (r.reasons[:17] == "").all()
    rs = {x.metric: x for x in r.readouts()}
    assert rs["no object found"].value == pytest.approx(3 / 20)
    assert rs["shape by outline"].warning == "3 of 20 images: no object found (counted as not read)"


def test_one_image_reader_refuses_with_a_reason(real):
    assert outline.read_outline(real["images"][0])["shape"] == shapes.SHAPES[real["labels"][0, 0]]
    with pytest.raises(outline.NoObjectFound, match="^no object found: no saturated pixel"):
        outline.read_outline(np.full((32, 32, 3), 128, np.uint8))
    speck = np.full((32, 32, 3), 128, np.uint8)
    speck[10:12, 10:12] = (220, 40, 40)
    with pytest.raises(outline.NoObjectFound, match="largest coloured area has 4 px"):
        outline.read_outline(speck)
    with pytest.raises(ValueError, match="one image"):
        outline.read_outline(real["images"][:2])


@pytest.mark.parametrize("bad, match", [
    (np.zeros((2, 32, 32, 3), np.float32) + 0.5, "float images must be \\(N, 3, H, W\\).*channels-last"),
    (np.full((2, 3, 32, 32), 200.0), "float images must be in \\[-1, 1\\], got values in \\[200, 200\\]"),
    (np.full((2, 3, 32, 32), np.nan), "NaN"),
    (np.zeros((2, 32, 32), np.uint8), "greyscale"),
    (np.zeros((2, 32, 32, 4), np.uint8), "RGBA"),
    (np.zeros((2, 8, 8, 3), np.uint8), "16 to 256 px a side, got 8x8 \\(too small"),
    (np.zeros((1, 300, 300, 3), np.uint8), "resize it down"),
    (np.full((2, 32, 32, 3), 300, np.int16), "values in \\[0, 255\\]"),
    (np.zeros(3, np.uint8), "got shape \\(3,\\)"),
])
def test_bad_images_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        outline.read_outlines(bad)


def test_bad_types_and_labels_are_refused(real):
    with pytest.raises(TypeError, match="dtype bool"):
        outline.read_outlines(np.zeros((2, 32, 32, 3), bool))
    with pytest.raises(TypeError, match="numpy array or torch tensor"):
        outline.read_outlines([[0, 0, 0]])
    with pytest.raises(ValueError, match="one shape label per image: 5 images"):
        readout.read_shapes(real["images"][:5], real["labels"][:4])
    with pytest.raises(ValueError, match="integers in \\[0, 6\\)"):
        readout.read_shapes(real["images"][:2], np.array([0, 6]))
    with pytest.raises(ValueError, match="no images"):
        readout.read_shapes(np.zeros((0, 32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="no images"):
        outline.outline_accuracy(np.zeros((0, 32, 32, 3), np.uint8), np.zeros(0, int))


def test_other_sizes_are_read_natively():
    # measured on 120 items: 16 / 24 / 48 / 64 / 96 px -> 98.3 / 100 / 100 / 100 / 100 %
    for size in (24, 64):
        images = np.stack([shapes.item("test", i, size=size, twin=False).image for i in range(24)])
        y = [shapes.scene_params("test", i).shape for i in range(24)]
        r = outline.read_outlines(images)
        assert (r["shape"] == y).mean() >= 0.95 and (r["pieces"] == 1).all(), (size, r["shape"], y)


def _refl_samples():
    from PIL import Image

    a = np.asarray(Image.open(REFL_GRID).convert("RGB"))
    assert a.shape == (384, 256, 3) and (a[0::2, 0::2] == a[1::2, 1::2]).all()  # 2x nearest: exact tiles
    images = a[::2, ::2].reshape(6, 32, 4, 32, 3).transpose(0, 2, 1, 3, 4).reshape(24, 32, 32, 3)
    return images, np.repeat(np.arange(6), 4)


def test_refl_samples_fool_the_classifier_not_the_outline():
    images, requested = _refl_samples()
    s = readout.read_shapes(images, requested).summary()
    # measured: classifier 19 / 24 (0.79), outline 6 / 24 (0.25), in pieces 12 / 24
    assert s["classifier"] >= 0.7 and s["outline"] <= 0.35, s
    assert s["classifier"] - s["outline"] >= 0.4 and s["pieces"] >= 0.3, s


@pytest.mark.slow
def test_adversarial_splats_fool_the_classifier_not_the_outline():
    from genmodels.scoring.splats import adversarial_splats

    torch.manual_seed(0)
    sp = adversarial_splats(per_class=8, blobs=8, steps=40, seed=0)
    assert sp["images"].shape == (48, 32, 32, 3) and sp["images"].dtype == np.uint8
    s = readout.read_shapes(sp["images"], sp["requested"]).summary()
    # measured: classifier 48 / 48, outline 14 / 48 (0.29; chance 0.17), 4 in pieces, no object 0
    assert s["classifier"] >= 0.9 and s["outline"] <= 0.45 and s["no_object"] == 0.0, s
