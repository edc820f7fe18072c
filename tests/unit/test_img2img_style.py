"""Gatys style transfer: the style distance (scoring module, a different network from the optimised one) falls, the
run streams, bad settings are refused."""
import numpy as np
import pytest
import torch

from genmodels.families.img2img.style import RandomMultiScaleNet, feature_net, transfer, vgg19_weights
from genmodels.scoring.perceptual import style_distance
from genmodels.scoring.style import gram_matrix


def _photos(size=48):
    from PIL import Image
    from skimage import data

    def sq(a):
        a = np.stack([a] * 3, -1) if a.ndim == 2 else a
        return np.asarray(Image.fromarray(a).resize((size, size), Image.Resampling.BICUBIC))

    return sq(data.astronaut()), sq(data.brick())


def test_style_distance_falls_and_the_run_streams():
    content, style = _photos()
    steps = list(transfer(content, style, iterations=40, style_weight=1e6, every=10))
    assert [s.iteration for s in steps] == [10, 20, 30, 40]
    assert all(s.image.shape == content.shape and s.image.dtype == np.uint8 for s in steps)
    before = style_distance(content[None], style[None])[0]
    after = style_distance(steps[-1].image[None], style[None])[0]
    assert after < before / 5, (before, after)


def test_same_seed_same_result():
    content, style = _photos(32)
    a = list(transfer(content, style, iterations=10, every=10, seed=3))[-1].image
    b = list(transfer(content, style, iterations=10, every=10, seed=3))[-1].image
    assert np.array_equal(a, b)


def test_random_network_is_fixed_and_uses_the_scoring_gram():
    x = torch.rand(1, 3, 32, 32)
    f1, f2 = RandomMultiScaleNet()(x), RandomMultiScaleNet()(x)
    assert all(torch.equal(a, b) for a, b in zip(f1, f2)) and len(f1) == 4
    g = gram_matrix(f1[0])
    assert g.shape == (1, f1[0].shape[1], f1[0].shape[1])


@pytest.mark.parametrize("kwargs, match", [({"style_weight": float("nan")}, "style weight"),
                                           ({"content_weight": -1.0}, "content weight"),
                                           ({"style_weight": 0.0, "content_weight": 0.0}, "both be 0"),
                                           ({"iterations": 0}, "iterations")])
def test_bad_settings_are_refused(kwargs, match):
    content, style = _photos(32)
    with pytest.raises(ValueError, match=match):
        next(transfer(content, style, **kwargs))


def test_vgg19_without_cached_weights_says_so():
    if vgg19_weights() is not None:
        pytest.skip("VGG-19 weights are cached on this machine")
    with pytest.raises(ValueError, match="not cached"):
        feature_net("vgg19")
    assert isinstance(feature_net("auto"), RandomMultiScaleNet)
