import hashlib
import subprocess
import sys

import numpy as np
import pytest
from scipy.ndimage import binary_dilation

from genmodels.data import shapes


DIGEST = """
import hashlib
from genmodels.data import shapes

def digest(split, n):
    b = shapes.render_batch(split, 0, n, full=True)
    h = hashlib.sha256()
    for k in sorted(b):
        h.update(b[k].tobytes())
    return h.hexdigest()
"""


def test_items_are_identical_across_processes():
    other = subprocess.run([sys.executable, "-c", DIGEST + "print(digest('test', 40))"], capture_output=True,
                           text=True, check=True).stdout.strip()
    scope: dict = {}
    exec(DIGEST, scope)
    assert len(other) == 64 and other == scope["digest"]("test", 40)


def test_batch_renderer_matches_single_items_and_pool():
    one = shapes.render_batch("val", 5, 300)
    pooled = shapes.render_batch("val", 5, 300, workers=2)
    assert np.array_equal(one["images"], pooled["images"]) and np.array_equal(one["labels"], pooled["labels"])
    it = shapes.item("val", 5 + 17)
    assert np.array_equal(one["images"][17], it.image)
    assert one["labels"][17].tolist() == [it.params.shape, it.params.colour, it.params.fill, it.params.background,
                                          it.params.size]


def test_splits_are_disjoint():
    test = {(p.cx, p.cy, p.rotation) for p in (shapes.scene_params("test", i) for i in range(2000))}
    train = {(p.cx, p.cy, p.rotation) for p in (shapes.scene_params("train", i) for i in range(50_000))}
    assert not test & train
    img_hash = lambda a: {hashlib.sha1(x.tobytes()).digest() for x in a}  # noqa: E731
    t = img_hash(shapes.render_batch("test", 0, 2000)["images"])
    assert len(t) == 2000, "test items are all distinct"
    assert not t & img_hash(shapes.render_batch("train", 0, 2000)["images"])


def test_fixed_test_split_size():
    shapes.scene_params("test", shapes.TEST_SPLIT_SIZE - 1)
    with pytest.raises(ValueError, match="test split"):
        shapes.scene_params("test", shapes.TEST_SPLIT_SIZE)
    with pytest.raises(ValueError):
        shapes.scene_params("nope", 0)


def test_every_attribute_value_appears_in_the_test_split():
    labels = shapes.render_batch("test", 0, 2000)["labels"]
    sizes = (len(shapes.SHAPES), len(shapes.COLOUR_NAMES), len(shapes.FILLS), len(shapes.BACKGROUNDS),
             len(shapes.SIZES))
    assert len(shapes.SHAPES) >= 6 and len(shapes.COLOUR_NAMES) >= 6
    for col, k in enumerate(sizes):
        counts = np.bincount(labels[:, col], minlength=k)
        assert len(counts) == k and counts.min() > 2000 / k * 0.7, (shapes.LABEL_COLUMNS[col], counts)


@pytest.mark.parametrize("size", [32, 64])
def test_mask_edges_and_twin(size):
    for i in range(60):
        it = shapes.item("test", i, size)
        assert it.image.shape == it.twin.shape == (size, size, 3) and it.image.dtype == np.uint8
        assert it.mask.shape == it.edges.shape == (size, size) and it.mask.sum() > 10
        # mask is inside the drawn foreground: every mask pixel differs visibly from the bare background
        bg = shapes.render_background(it.params, size)
        diff = np.abs(it.image.astype(float) - bg).max(axis=2)
        assert diff[it.mask].min() > 6, (i, diff[it.mask].min())
        # ... and away from the mask the image is the background (antialiased tips reach <= 3 px beyond it)
        far = ~binary_dilation(it.mask, iterations=3)
        assert diff[far].max() <= 1.0
        # edges are mask pixels on its boundary, and every boundary pixel is an edge
        pad = np.pad(it.mask, 1)
        boundary = it.mask & ~(pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:])
        assert np.array_equal(it.edges, boundary) and it.edges.any() and (it.mask & ~it.edges).any()
        # twin: same scene, other fill; identical outside the mask
        assert not np.array_equal(it.image, it.twin)
        assert np.array_equal(it.image[~it.mask & far], it.twin[~it.mask & far])
        words, twin_words = it.caption.split(), it.twin_caption.split()
        changed = [(a, b) for a, b in zip(words, twin_words) if a != b]
        assert len(words) == len(twin_words) and sorted(changed[0]) == ["solid", "striped"] and len(changed) == 1


def test_striped_items_have_stripes():
    """Inside the mask a striped item has two tones; its solid twin has one (up to colour jitter and AA)."""
    for i in range(40):
        it = shapes.item("test", i)
        inner = it.mask & ~it.edges
        striped, solid = (it.image, it.twin) if it.params.fill == 1 else (it.twin, it.image)
        assert striped[inner].astype(float).std(0).max() > 15
        assert solid[inner].astype(float).std(0).max() < 3


def test_caption_names_every_attribute():
    p = shapes.scene_params("test", 3)
    cap = p.caption()
    assert cap.startswith("a ") and cap.endswith(" background")
    for name in p.names().values():
        assert name in cap
