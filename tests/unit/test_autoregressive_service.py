"""Autoregressive service: streaming (seeded, cached == naive), completion, likelihood maps, input checks."""
import numpy as np
import pytest
import torch

from genmodels.families.autoregressive import service
from genmodels.families.autoregressive.pixelcnn import GatedPixelCNN, PixelCNN
from genmodels.families.autoregressive.pixelcnnpp import PixelCNNpp


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("ar")
    pp, gated, plain = root / "pixelcnnpp", root / "gated", root / "pixelcnn"
    PixelCNNpp(filters=4, resnets=1, mix=2, n_classes=6).save_pretrained(pp)
    PixelCNNpp(filters=4, resnets=1, mix=2, n_classes=6, null_class=True).save_pretrained(root / "pixelcnnpp-cfg")
    GatedPixelCNN(hidden=6, layers=2, kernel=3, out_hidden=12, n_classes=6).save_pretrained(gated)
    PixelCNN(hidden=6, blocks=1, out_hidden=12, n_classes=6).save_pretrained(plain)
    return {"pixelcnnpp": str(pp), "gated-pixelcnn": str(gated), "pixelcnn": str(plain),
            "pixelcnnpp-cfg": str(root / "pixelcnnpp-cfg")}


def _first(gen, k):
    out = []
    for item in gen:
        out.append(item)
        if len(out) == k:
            gen.close()
            break
    return out


def test_stream_is_seeded_and_the_cached_sampler_draws_what_the_naive_one_draws(folders):
    f = folders["pixelcnnpp"]
    a = _first(service.stream("pixelcnnpp", 2, 7, "star", "cached", folder=f), 40)
    b = _first(service.stream("pixelcnnpp", 2, 7, "star", "cached", folder=f), 40)
    c = _first(service.stream("pixelcnnpp", 2, 7, "star", "naive", folder=f), 40)
    assert [t for t, _, _ in a] == list(range(40))
    assert np.array_equal(a[-1][1], b[-1][1]) and np.array_equal(a[-1][1], c[-1][1])
    assert a[-1][1].shape == (2, 32, 32, 3) and a[-1][1].dtype == np.uint8
    assert not np.array_equal(a[0][1], a[-1][1])  # the picture changes while it streams


@pytest.mark.parametrize("key", ["pixelcnn", "gated-pixelcnn", "pixelcnnpp"])
def test_every_model_streams_through_its_cached_sampler(folders, key):
    """The tab's generator: cached for every model, a picture per pixel, seeded, the naive sampler's draws; a
    completion streams only the pixels it draws; closing the generator ends it."""
    from genmodels.families.autoregressive.cached import for_model

    f = folders[key]
    model = service.load(key, f)
    assert service.has_cache(model)
    assert type(service.cached_sampler(key, f)) is type(for_model(model))  # built once, reused
    assert service.cached_sampler(key, f) is service.cached_sampler(key, f)
    gen = service.stream(key, 2, 5, "heart", "cached", folder=f)
    cached = [(t, img.copy()) for t, img, _ in _first(gen, 30)]
    with pytest.raises(StopIteration):  # closed: no more work
        next(gen)
    naive = [(t, img.copy()) for t, img, _ in _first(service.stream(key, 2, 5, "heart", "naive", folder=f), 30)]
    assert [t for t, _ in cached] == [t for t, _ in naive] == list(range(30))
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(cached, naive))
    assert not np.array_equal(cached[0][1], cached[-1][1])  # the picture fills while it streams
    img = np.random.default_rng(1).integers(0, 256, (1, 32, 32, 3), dtype=np.uint8)
    done = _first(service.stream(key, 1, 4, "any", "cached", x=img, start=600, folder=f), 3)
    assert [t for t, _, _ in done] == [600, 601, 602]
    assert np.array_equal(done[-1][1].reshape(1, -1, 3)[:, :600], img.reshape(1, -1, 3)[:, :600])


def test_completion_keeps_the_given_rows(folders):
    img = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    occluded, start = service.occlude(img, 16)
    assert start == 512 and (occluded[16:] == 0).all()
    t, out, _ = _first(service.stream("gated-pixelcnn", 1, 3, "any", "naive", x=np.stack([occluded]), start=start,
                                      folder=folders["gated-pixelcnn"]), 5)[-1]
    assert t == start + 4 and np.array_equal(out[0, :16], img[:16])
    for bad in (0, 32, -3):
        with pytest.raises(ValueError, match="rows"):
            service.occlude(img, bad)


def test_likelihood_matches_the_model_and_reports_the_png_baseline(folders):
    from genmodels.families.autoregressive.train import bits_per_dim

    img = np.zeros((32, 32, 3), np.uint8)
    img[8:24, 8:24] = (200, 30, 30)
    for key in ("pixelcnnpp", "gated-pixelcnn"):
        r = service.likelihood(key, img, "square", folder=folders[key])
        model = service.load(key, folders[key])
        x = torch.from_numpy(img[None]).permute(0, 3, 1, 2).long()
        ref = float(bits_per_dim(model, x, torch.tensor([1])))
        assert abs(r["bits_per_dim"] - ref) < 1e-4 and r["class"] == "square"
        assert r["nll_map"].shape == (32, 32) and r["png_bits_per_dim"] > 0
        assert service.heat_map(r["nll_map"]).shape == (256, 256, 3)
    square = service.likelihood("pixelcnnpp", img, "square", folder=folders["pixelcnnpp"])
    best = service.likelihood("pixelcnnpp", img, "any", folder=folders["pixelcnnpp"])  # max over the classes
    assert best["bits_per_dim"] <= square["bits_per_dim"] + 1e-9


def test_bad_names_and_missing_weights_are_clear(tmp_path):
    with pytest.raises(ValueError, match="Unknown model"):
        service.model_key("PixelRNN")
    with pytest.raises(FileNotFoundError, match="train them"):
        service.load("pixelcnn", str(tmp_path))


def test_guided_stream_is_the_default_and_draws_alike_cached_and_naive(folders):
    f = folders["pixelcnnpp-cfg"]  # trained with a null class: guided by default
    assert service.guidance_for(service.load("pixelcnnpp", f)) == service.DEFAULT_GUIDANCE
    a = _first(service.stream("pixelcnnpp", 2, 7, "star", "cached", folder=f), 60)
    b = _first(service.stream("pixelcnnpp", 2, 7, "star", "naive", folder=f, guidance=service.DEFAULT_GUIDANCE), 60)
    c = _first(service.stream("pixelcnnpp", 2, 7, "star", "cached", folder=f, guidance=0.0), 60)
    assert np.array_equal(a[-1][1], b[-1][1]) and not np.array_equal(a[-1][1], c[-1][1])


def test_guidance_runs_only_where_a_null_class_was_trained(folders):
    m = service.load("pixelcnn", folders["pixelcnn"])
    assert service.guidance_for(m) == 0.0 and service.guidance_for(m, 1.5) == 1.5
    with pytest.raises(ValueError, match=r"applies to PixelCNN\+\+"):
        _first(service.stream("pixelcnn", 1, 0, "star", "cached", folder=folders["pixelcnn"], guidance=2.0), 1)
    assert not service.load("pixelcnnpp", folders["pixelcnnpp"]).null_class  # trained without one: the reason
    with pytest.raises(ValueError, match="null class"):
        _first(service.stream("pixelcnnpp", 1, 0, "star", "cached", folder=folders["pixelcnnpp"], guidance=2.0), 1)
