"""Edit family, Blended latent diffusion (genmodels/families/edit/blended.py) on a random tiny pipeline: outside the
mask the final latent *is* the original latent and the pixels are the original's, the seed decides the rest, and
masks that leave nothing to change or nothing to keep are refused."""
import numpy as np
import pytest
import torch

from genmodels.families.edit import common as C
from genmodels.families.edit.blended import blended
from genmodels.validate import InputError

PROMPT = "a small cyan solid square on a dark background"


@pytest.fixture(scope="module")
def tiny(random_sd_folder):
    return C.edit_pipeline(str(random_sd_folder))


@pytest.fixture(scope="module")
def item():
    return C.test_item(4)


def _run(tiny, item, seed=0, strength=1.0, steps=4):
    mask = C.dilate(item.mask, 1)
    lm = C.check_mask(mask, tiny.unet.config.sample_size)
    return mask, lm, blended(tiny, item.image, mask, lm, PROMPT, steps, 3.0, seed, strength)


@pytest.mark.parametrize("strength", [1.0, 0.5])
def test_outside_the_mask_the_latent_and_the_pixels_are_the_originals(tiny, item, strength):
    mask, lm, res = _run(tiny, item, strength=strength)
    keep = lm[0, 0] == 0
    assert keep.any() and (~keep).any()
    assert torch.equal(res["latent"][0][:, keep], res["source_latent"][0][:, keep])  # exactly, in latent space
    assert np.array_equal(res["result"][~mask], item.image[~mask])  # exactly, in pixels
    assert np.array_equal(res["result"][mask], res["latent_only"][mask])
    assert not torch.equal(res["latent"][0][:, ~keep], res["source_latent"][0][:, ~keep])


def test_same_seed_same_bytes(tiny, item):
    a, b, c = (_run(tiny, item, seed)[2]["result"] for seed in (3, 3, 4))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_the_mask_reaches_the_latent_by_max_pooling():
    m = np.zeros((32, 32), bool)
    m[5, 9] = True  # one pixel -> its 4x4 cell (f = 4) / 2x2 cell (f = 2)
    assert C.latent_mask(m, 8)[0, 0].nonzero().tolist() == [[1, 2]]
    assert C.latent_mask(m, 16)[0, 0].nonzero().tolist() == [[2, 4]]


def test_masks_that_leave_nothing_to_change_or_to_keep_are_refused():
    empty, full = np.zeros((32, 32), bool), np.ones((32, 32), bool)
    with pytest.raises(InputError, match="is empty"):
        C.check_mask(empty, 8)
    with pytest.raises(InputError, match="covers the whole image"):
        C.check_mask(full, 8)
    grid = np.zeros((32, 32), bool)
    grid[1::4, 1::4] = True  # one pixel in every 4x4 cell: every latent cell would be regenerated
    with pytest.raises(InputError, match="every 4×4-pixel cell"):
        C.check_mask(grid, 8)
    grid[:, 16:] = False  # the left half of the cells: accepted
    assert int(C.check_mask(grid, 8).sum()) == 32
