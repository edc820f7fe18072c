"""CLIP reranking of the DALL-E-style prior (rerank.py): the pick is the candidate transformers' own CLIP forward
ranks first, real items beat items of another shape, refusals, and the service's stream with and without it."""
import dataclasses

import numpy as np
import pytest
import torch

from genmodels.data import shapes
from genmodels.data.captions import caption_of
from genmodels.data.dataset import shapes_arrays
from genmodels.families.vae import rerank
from genmodels.scoring.clip_models import load_tiny_clip
from genmodels.scoring.domain_nets import clip_pixel_values

WEIGHTS = rerank.WEIGHTS


@pytest.fixture(scope="module")
def clip():
    # the scoring CLIP stands in where the test needs a CLIP that exists in every checkout's history; the shipped
    # reranker is gen-clip (checked separately below)
    return load_tiny_clip(WEIGHTS / "shapes-clip")


@pytest.mark.parametrize("k", [1, 4, "8", 32.0])
def test_check_rerank_accepts_whole_numbers_in_range(k):
    assert rerank.check_rerank(k) == int(float(k))


@pytest.mark.parametrize("k", [0, 33, 2.5, "x", None, float("nan"), -1])
def test_check_rerank_refuses_with_a_sentence(k):
    with pytest.raises(ValueError, match="Reranking \\(best of k\\) must be a whole number"):
        rerank.check_rerank(k)


def test_best_of_picks_what_the_clip_forward_ranks_first(clip):
    """Reference: transformers' CLIPModel forward (logits_per_image = scale · cosine), computed per caption."""
    arr = shapes_arrays("test", 24)
    images = arr["images"]
    captions = [caption_of(row) for row in arr["labels"][::4]]  # 6 captions, 4 candidates each (random items)
    chosen, pick, scores = rerank.best_of(images, captions, 4, clip)
    assert chosen.shape == (6, 32, 32, 3) and scores.shape == (6, 4)
    for i, cap in enumerate(captions):
        tok = clip.tokenizer([cap], padding=True, return_tensors="pt")
        x = torch.from_numpy(images[4 * i:4 * i + 4]).permute(0, 3, 1, 2).float() / 127.5 - 1
        with torch.no_grad():
            logits = clip.model(**tok, pixel_values=clip_pixel_values(x)).logits_per_image[:, 0]
        assert int(logits.argmax()) == pick[i]
        np.testing.assert_allclose(scores[i], (logits / clip.model.logit_scale.exp()).detach().numpy(), atol=1e-4)
        assert np.array_equal(chosen[i], images[4 * i + pick[i]])


def test_the_true_item_beats_items_of_other_shapes(clip):
    """Each caption's own image among three renders of the same scene with another shape: CLIP keeps the true one."""
    arr = shapes_arrays("test", 40)
    won = 0
    for i in range(40):
        p = shapes.scene_params("test", i)
        others = [s for s in range(len(shapes.SHAPES)) if s != p.shape][:3]
        cands = [arr["images"][i]] + [shapes.render(dataclasses.replace(p, shape=s), twin=False).image
                                      for s in others]
        _, pick, _ = rerank.best_of(np.stack(cands), [caption_of(arr["labels"][i])], 4, clip)
        won += int(pick[0] == 0)
    assert won >= 36


def test_refuses_a_candidate_count_that_does_not_match(clip):
    with pytest.raises(ValueError, match="candidates"):
        rerank.best_of(np.zeros((5, 32, 32, 3), np.uint8), ["a red star", "a blue heart"], 3, clip)


def test_the_shipped_reranker_is_not_the_scoring_clip():
    folder = rerank.RERANK_CLIP
    assert folder.name == "gen-clip" and (folder / "model.safetensors").exists()
    a = (folder / "model.safetensors").read_bytes()
    assert a != (WEIGHTS / "shapes-clip" / "model.safetensors").read_bytes()
    assert "not the scoring" in (folder / "README.md").read_text() or "apart from the scoring" in \
        (folder / "README.md").read_text()
