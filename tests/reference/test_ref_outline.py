"""The outline reader (no CNN) against ground truth: real test items, exact masks, analytic moments of a square,
skimage's regionprops, and constructed failure cases (blurred blobs, cut objects, empty backgrounds)."""
import json

import numpy as np
import pytest
from scipy import ndimage as ndi

from genmodels.data import shapes
from genmodels.scoring import outline


@pytest.fixture(scope="module")
def real():
    from genmodels.data.dataset import shapes_arrays

    return shapes_arrays("test", 500)


def _paint(mask_or_alpha, bg=100.0, colour=(220, 40, 40)):
    a = np.asarray(mask_or_alpha, np.float64)[..., None]
    bg = np.broadcast_to(np.asarray(bg, np.float64), a.shape[:2] + (3,)) if np.ndim(bg) < 3 else bg
    return np.clip(np.rint(bg * (1 - a) + np.asarray(colour, np.float64) * a), 0, 255).astype(np.uint8)


def test_reads_real_test_items(real):
    # measured on test items 0-1999: 100.0 % (every class 100 %), no multi-piece, no miss; margin to 97 %
    r = outline.outline_accuracy(real["images"], real["labels"])
    assert r["n"] == 500 and r["accuracy"] >= 0.97, r
    assert min(r["per_class"].values()) >= 0.9, r
    assert r["multi_piece"] <= 0.01 and r["no_object"] == 0.0, r


def test_segmentation_matches_exact_masks():
    ious = []
    for i in range(0, 400, 5):
        it = shapes.item("test", i, twin=False)
        _, mask, pieces, _ = outline.segment(it.image)
        ious.append((mask & it.mask).sum() / (mask | it.mask).sum())
        assert pieces == 1
    assert np.mean(ious) >= 0.95 and np.min(ious) >= 0.8, (np.mean(ious), np.min(ious))


def test_blurred_blob_is_not_a_pointed_shape():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:32, 0:32]
    images = []
    for i in range(40):
        r = rng.uniform(5, 10)
        cy, cx = rng.uniform(r + 2, 30 - r, 2)
        alpha = ndi.gaussian_filter(((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r).astype(float), rng.uniform(1, 2.5))
        images.append(_paint(alpha, shapes.render_background(shapes.scene_params("test", i))))
    triangle = shapes.SHAPES.index("triangle")
    read = outline.read_outlines(np.stack(images))["shape"]
    pointed = np.isin(read, [shapes.SHAPES.index(s) for s in ("triangle", "star", "cross")])
    assert pointed.mean() <= 0.2, read
    assert outline.outline_accuracy(np.stack(images), np.full(len(images), triangle))["accuracy"] <= 0.2


def test_cut_objects_report_pieces(real):
    images = []
    for i in range(30):
        p = shapes.scene_params("test", i)
        img = real["images"][i].astype(np.float64)
        band = slice(int(round(p.cx * 32)) - 1, int(round(p.cx * 32)) + 2)  # 3 columns through the centre
        img[:, band] = shapes.render_background(p)[:, band]
        images.append(np.rint(img).astype(np.uint8))
    r = outline.read_outlines(np.stack(images))
    assert (r["pieces"] >= 2).all(), r["pieces"]
    assert outline.outline_accuracy(np.stack(images), real["labels"][:30])["multi_piece"] == 1.0
    two = np.zeros((32, 32), bool)
    two[4:12, 4:12] = two[20:28, 18:28] = True
    assert outline.read_outlines(_paint(two))["pieces"][0] == 2


def test_empty_backgrounds_have_no_object():
    flat = [np.full((32, 32, 3), v, np.uint8) for v in (20, 128, 230)]
    grads = [np.rint(shapes.render_background(shapes.scene_params("test", i))).astype(np.uint8) for i in range(20)]
    r = outline.read_outlines(np.stack(flat + grads))
    assert (r["shape"] == -1).all() and (r["pieces"] == 0).all() and (r["mask_area"] == 0).all()
    assert np.isnan(r["descriptor"]).all() and np.isnan(r["distance"]).all()
    assert outline.outline_accuracy(np.stack(flat), np.zeros(3, int))["no_object"] == 1.0


def test_square_descriptors_match_independent_values():
    from skimage.measure import regionprops

    n = 12
    mask = np.zeros((32, 32), bool)
    mask[9:9 + n, 7:7 + n] = True
    r = outline.read_outlines(_paint(mask))
    d = dict(zip(outline.DESCRIPTORS, r["descriptor"][0]))
    assert r["mask_area"][0] == n * n and r["pieces"][0] == 1 and r["holes"][0] == 0
    assert r["shape"][0] == shapes.SHAPES.index("square")
    rp = regionprops(mask.astype(np.uint8))[0]
    assert d["solidity"] == pytest.approx(rp.solidity, abs=0.01) and d["solidity"] == pytest.approx(1.0, abs=1e-9)
    assert d["extent"] == pytest.approx(1.0) and d["eccentricity"] == pytest.approx(0.0, abs=1e-6)
    # Hu's first invariant of an n x n pixel square: eta20 + eta02 = 2 (n^2 - 1) / (12 n^2)
    assert d["hu1"] == pytest.approx(-np.log10((n * n - 1) / (6 * n * n)), abs=1e-9)
    assert d["circularity"] == pytest.approx(4 * np.pi * n * n / rp.perimeter ** 2)
    assert d["poly_solidity"] == pytest.approx(1.0, abs=0.01) and d["rectangularity"] == pytest.approx(1.0, abs=0.01)
    harmonics = [d[f"fourier{k}"] for k in range(1, 7)]
    assert np.argmax(harmonics) == 3 and max(harmonics[:3] + harmonics[4:]) < 0.2 * harmonics[3]


def test_filled_holes_are_counted():
    yy, xx = np.mgrid[0:32, 0:32]
    rr = np.hypot(yy - 15.5, xx - 15.5)
    r = outline.read_outlines(_paint((rr <= 10) & (rr >= 5), bg=30.0, colour=(40, 175, 60)))
    assert r["holes"][0] == 1 and r["pieces"][0] == 1 and r["shape"][0] == shapes.SHAPES.index("circle")


def test_shipped_params_and_refit(tmp_path, real):
    shipped = json.loads(outline.PARAMS_PATH.read_text())
    assert shipped["split"] == "train" and shipped["n_train"] == 3000
    assert shipped["descriptors"] == list(outline.DESCRIPTORS) and shipped["shapes"] == list(shapes.SHAPES)
    path = tmp_path / "reader.json"
    params = outline.fit_outline_reader(n_train=180, path=path)
    assert json.loads(path.read_text()) == params and params["n_train"] == 180
    assert outline.outline_accuracy(real["images"][:150], real["labels"][:150], params_path=path)["accuracy"] >= 0.9
