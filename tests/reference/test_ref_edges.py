"""Edge F1 and low-pass PSNR against independent references: brute-force Chebyshev matching, skimage's Canny and
skimage's PSNR."""
import numpy as np
import pytest

from genmodels.scoring import edges


def _brute_prf(d, r, tol):
    """Precision / recall / F1 by explicit search of every pixel's neighbourhood."""
    def near(a, b):
        hits = 0
        for y, x in zip(*np.nonzero(a)):
            ys, xs = np.nonzero(b)
            hits += bool(len(ys)) and bool((np.maximum(abs(ys - y), abs(xs - x)) <= tol).any())
        return hits
    p = near(d, r) / d.sum() if d.sum() else 0.0
    rc = near(r, d) / r.sum() if r.sum() else 0.0
    return p, rc, (2 * p * rc / (p + rc) if p + rc else 0.0)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("tol", [0, 1, 2])
def test_edge_prf_matches_brute_force(seed, tol):
    rng = np.random.default_rng(seed)
    d, r = rng.random((24, 24)) < 0.08, rng.random((24, 24)) < 0.06
    assert np.allclose(edges.edge_prf(d, r, tol), _brute_prf(d, r, tol))


def test_edge_prf_cases():
    r = np.zeros((16, 16), bool)
    r[4, 2:12] = True
    assert edges.edge_prf(r, r) == (1.0, 1.0, 1.0)
    shifted = np.roll(r, 1, axis=0)
    assert edges.edge_prf(shifted, r, 1)[2] == 1.0 and edges.edge_prf(shifted, r, 0)[2] == 0.0
    assert edges.edge_prf(np.zeros_like(r), r) == (0.0, 0.0, 0.0)


def test_detector_is_documented_canny():
    from skimage.color import rgb2gray
    from skimage.feature import canny

    from genmodels.data import shapes

    img = shapes.item("test", 7).image
    ref = canny(rgb2gray(img), sigma=1.0, low_threshold=0.05, high_threshold=0.15)
    assert np.array_equal(edges.detect_edges(img), ref)


def test_real_images_reach_the_ceiling():
    from genmodels.data import shapes

    items = [shapes.item("test", i) for i in range(60)]
    f1 = edges.edge_f1(np.stack([it.image for it in items]), np.stack([it.edges for it in items]))
    assert f1.mean() > 0.85  # the detector agrees with the exact geometry on real images


def test_low_pass_psnr_matches_skimage():
    from skimage.metrics import peak_signal_noise_ratio

    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 256, (3, 32, 32, 3)).astype(np.uint8), rng.integers(0, 256, (3, 32, 32, 3)).astype(np.uint8)
    got = edges.low_pass_psnr(a, b, 8)
    la, lb = edges.low_pass(a, 8), edges.low_pass(b, 8)
    ref = [peak_signal_noise_ratio(x, y, data_range=255) for x, y in zip(la, lb)]
    assert np.allclose(got, ref)
    # the filter keeps constants and the image mean, and removes a 2-pixel checkerboard entirely
    const = np.full((1, 32, 32, 3), 77.0)
    assert np.allclose(edges.low_pass(const, 8), const)
    checker = (np.indices((32, 32)).sum(0) % 2 * 255.0)[None, ..., None].repeat(3, -1)
    assert np.allclose(edges.low_pass(checker, 2), 127.5)
