"""The scoring module end to end on the shipped domain backbones (readouts, fallbacks, pair and CLIP metrics)."""
import numpy as np
import pytest

from genmodels.data import shapes
from genmodels.data.dataset import shapes_arrays
from genmodels.scoring import score_clip, score_pairs, score_sets
from genmodels.scoring.backbones import BackboneUnavailable, get_backbone, resolve_backbone


@pytest.fixture(scope="module")
def test_imgs():
    return shapes_arrays("test", 400)["images"]


@pytest.fixture(autouse=True)
def _empty_torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("GENMODELS_INCEPTION_WEIGHTS", raising=False)


def test_readouts_name_backbone_n_interval(test_imgs):
    train = shapes_arrays("train", 300)["images"]
    rs = {r.metric: r for r in score_sets(train, test_imgs, n_boot=10)}
    assert set(rs) == {"FID", "KID", "IS", "precision", "recall"}
    for r in rs.values():
        assert r.backbone.startswith("shapes-classifier@") and r.n == 300
        assert r.interval is not None and r.interval[0] <= r.interval[1] and r.interval_kind
    assert rs["FID"].n_ref == 400 and rs["FID"].higher_is_better is False and rs["IS"].higher_is_better is True
    assert "small N" in rs["FID"].warning and "subsets of 300" in rs["KID"].warning
    assert 0.5 < rs["precision"].value <= 1 and 0.5 < rs["recall"].value <= 1
    assert 4.0 < rs["IS"].value <= 6.0  # 6 balanced, confidently classified shape classes
    assert "FID" in str(rs["FID"]) and "N=300 vs 400" in str(rs["FID"])


def test_fid_of_a_set_with_itself_is_zero_and_shifted_sets_score_worse(test_imgs):
    same = {r.metric: r.value for r in score_sets(test_imgs, test_imgs, metrics=["fid", "precision", "recall"],
                                                  n_boot=2)}
    assert abs(same["FID"]) < 1e-6 and same["precision"] == 1.0 and same["recall"] == 1.0
    dark = (test_imgs.astype(np.int16) // 2).astype(np.uint8)
    worse = score_sets(dark, test_imgs, metrics=["fid"], n_boot=2)[0].value
    assert worse > 1.0


def test_reference_split_is_cached_and_matches_images(test_imgs):
    full = shapes_arrays("test", shapes.TEST_SPLIT_SIZE)["images"]
    a = score_sets(test_imgs, "shapes-test", metrics=["fid"], n_boot=2)[0]
    b = score_sets(test_imgs, full, metrics=["fid"], n_boot=2)[0]
    assert a.n_ref == 2000 and a.value == pytest.approx(b.value, rel=1e-9)


def test_bad_sets_are_clear_errors(test_imgs):
    with pytest.raises(ValueError, match="at least 2 images"):
        score_sets(test_imgs[:1], test_imgs)
    with pytest.raises(ValueError, match="unknown metric"):
        score_sets(test_imgs, test_imgs, metrics=["fid", "nope"])
    nan = np.full((4, 3, 32, 32), np.nan, dtype=np.float32)
    with pytest.raises(ValueError, match="NaN"):
        score_sets(nan, test_imgs)


def test_inception_falls_back_to_shapes_offline_and_says_so():
    with pytest.raises(BackboneUnavailable, match="offline"):
        get_backbone("inception")
    bb, note = resolve_backbone("inception")
    assert bb.key == "shapes" and "inception unavailable" in note
    imgs = shapes_arrays("test", 20)["images"]
    r = score_sets(imgs, imgs, metrics=["fid"], backbone="inception", n_boot=2)[0]
    assert r.backbone.startswith("shapes-classifier@") and "inception unavailable" in r.warning


def test_pair_metrics(test_imgs):
    a = test_imgs[:6]
    same = {r.metric: r for r in score_pairs(a, a)}
    assert same["SSIM"].value == pytest.approx(1.0) and np.isinf(same["PSNR (dB)"].value)
    assert same["PD"].value == pytest.approx(0.0, abs=1e-9) and same["style distance"].value == pytest.approx(0)
    assert np.isnan(same["LPIPS"].value) and "offline" in same["LPIPS"].warning
    twins = np.stack([shapes.item("test", i).twin for i in range(6)])
    diff = {r.metric: r for r in score_pairs(a, twins)}
    assert diff["SSIM"].value < 1 and diff["PD"].value > 0 and diff["style distance"].value > 0
    assert diff["PD"].interval is not None
    with pytest.raises(ValueError, match="differ in size"):
        score_pairs(a, shapes_arrays("test", 6, size=64)["images"])


def test_clip_score_prefers_the_true_caption():
    imgs = shapes_arrays("test", 60)["images"]
    caps = [shapes.scene_params("test", i).caption() for i in range(60)]
    right = score_clip(imgs, caps)
    wrong = score_clip(imgs, caps[1:] + caps[:1])
    assert right.backbone.startswith("shapes-clip@") and right.value > wrong.value + 5
    with pytest.raises(ValueError, match="non-empty text"):
        score_clip(imgs[:1], [""])
