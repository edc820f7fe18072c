"""The standard-backbone loading code, tested offline on same-architecture weights saved locally."""
import numpy as np
import pytest
import torch

from genmodels.data.dataset import shapes_arrays

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _offline(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_inception_loads_fid_weights_from_a_local_file(tmp_path, monkeypatch):
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    from genmodels.scoring import backbones

    # a same-architecture, randomly initialised state_dict under the FID weights' file name
    monkeypatch.setattr(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda self, *a, **k: None)
    monkeypatch.setattr(fe, "load_state_dict_from_url", lambda *a, **k: {})
    torch.manual_seed(0)
    net = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    state = net.state_dict()
    monkeypatch.undo()
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ckpt = tmp_path / "torch" / "hub" / "checkpoints" / backbones.INCEPTION_FILE
    ckpt.parent.mkdir(parents=True)
    torch.save(state, ckpt)
    backbones._load_inception.cache_clear()
    bb = backbones.get_backbone("inception")
    assert bb.name.startswith("inception-v3-fid@")
    imgs = shapes_arrays("test", 4)["images"]
    f = bb.features(imgs)
    p = bb.class_probs(imgs)
    assert f.shape == (4, 2048) and p.shape == (4, 1008) and np.allclose(p.sum(1), 1)
    backbones._load_inception.cache_clear()


def test_lpips_alex_loads_trunk_from_the_local_cache(tmp_path):
    import torchvision

    from genmodels.scoring import perceptual

    f = perceptual.trunk_weights_file("alex")
    f.parent.mkdir(parents=True, exist_ok=True)
    torch.save(torchvision.models.alexnet().state_dict(), f)
    perceptual.load_lpips.cache_clear()
    imgs = shapes_arrays("test", 3)["images"]
    d_same = perceptual.lpips(imgs, imgs)
    d_diff = perceptual.lpips(imgs, imgs[::-1].copy())
    assert d_same.shape == (3,) and np.allclose(d_same, 0, atol=1e-6) and d_diff[0] > 0
    perceptual.load_lpips.cache_clear()


def test_standard_clip_loads_from_a_local_folder(tmp_path, monkeypatch):
    from transformers import CLIPImageProcessor, CLIPModel, CLIPProcessor

    from genmodels.scoring import clip_models
    from genmodels.scoring.domain_nets import clip_config, load_tokenizer, write_tokenizer

    folder = tmp_path / "clip"
    write_tokenizer(folder)
    tok = load_tokenizer(folder)
    CLIPModel(clip_config(len(tok))).save_pretrained(folder)
    proc = CLIPProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32},
                                                             crop_size={"height": 32, "width": 32}), tokenizer=tok)
    proc.save_pretrained(folder)
    monkeypatch.setenv("GENMODELS_CLIP_ID", str(folder))
    clip_models._load_standard.cache_clear()
    enc = clip_models.get_clip("standard")
    assert enc.name == f"clip:{folder}"
    s = enc.score(shapes_arrays("test", 2)["images"], ["a red circle", "a blue star"])
    assert s.shape == (2,) and (s >= 0).all() and (s <= 100).all()
    monkeypatch.setenv("GENMODELS_CLIP_ID", str(tmp_path / "missing"))
    clip_models._load_standard.cache_clear()
    enc2, note = clip_models.resolve_clip("standard")
    assert enc2.key == "shapes" and "not cached" in note
    clip_models._load_standard.cache_clear()


def test_lpips_trunk_file_names_match_torchvision():
    import os

    import torchvision.models as tvm

    from genmodels.scoring import perceptual

    for net, weights in perceptual.LPIPS_TRUNKS.items():
        url = getattr(tvm, weights).IMAGENET1K_V1.url
        assert perceptual.trunk_weights_file(net).name == os.path.basename(url)
