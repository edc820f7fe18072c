"""StackGAN (issue 30): the caption parser's notes, conditioning augmentation and its KL against the closed form,
the matching-aware D's mismatched captions, and a few real training steps (caption encoder, both stages, both Ds,
guide term, mode seeking) writing weights, card and a loadable generator that draws the same images for a seed."""
import json
import math

import numpy as np
import pytest
import torch

from genmodels.data import captions, shapes
from genmodels.families.gan import stackgan as S
from genmodels.families.gan import stackgan_train as T


def test_parse_caption_full_partial_and_bad():
    row, notes = S.parse_caption("a large red striped star on a dark background")
    assert row.tolist() == [shapes.SHAPES.index("star"), shapes.COLOUR_NAMES.index("red"), 1,
                            shapes.BACKGROUNDS.index("dark"), shapes.SIZES.index("large")]
    assert notes == []
    row, notes = S.parse_caption("a blue heart please", seed=3)
    assert row[0] == shapes.SHAPES.index("heart") and row[1] == shapes.COLOUR_NAMES.index("blue")
    assert any("please" in n for n in notes)
    assert any("drawn at random (seed 3)" in n and "fill" in n and "size" in n for n in notes)
    again, _ = S.parse_caption("a blue heart please", seed=3)
    assert torch.equal(row, again)  # the same seed fills the same attributes in
    row, notes = S.parse_caption("a red green circle")
    assert row[1] == shapes.COLOUR_NAMES.index("red") and any("'green' ignored" in n for n in notes)
    for bad in ("", "   ", "hello world"):
        with pytest.raises(ValueError, match="caption"):
            S.parse_caption(bad)


def test_kl_matches_the_closed_form_and_ca_is_reparameterised():
    mu, logvar = torch.tensor([[0.5, -1.0]]), torch.tensor([[0.2, -0.7]])
    want = np.mean([0.5 * (m * m + math.exp(lv) - 1 - lv) for m, lv in zip([0.5, -1.0], [0.2, -0.7])])
    assert float(S.kl_loss(mu, logvar)) == pytest.approx(want, rel=1e-6)
    assert float(S.kl_loss(torch.zeros(3, 4), torch.zeros(3, 4))) == 0.0
    ca = S.CondAugment(8, 4)
    emb = torch.randn(2, 8)
    c, mu, logvar = ca(emb, sample=False)
    assert torch.equal(c, mu)
    c1, _, _ = ca(emb, torch.Generator().manual_seed(1))
    c2, _, _ = ca(emb, torch.Generator().manual_seed(1))
    c3, _, _ = ca(emb, torch.Generator().manual_seed(2))
    assert torch.equal(c1, c2) and not torch.equal(c1, c3)


def test_mismatched_captions_always_differ_in_shape_colour_or_fill():
    y = S.random_labels(500, torch.Generator().manual_seed(0))
    bad = T.mismatched_attrs(y, torch.Generator().manual_seed(1))
    assert (bad[:, :3] != y[:, :3]).any(1).all()
    assert torch.equal(bad[:, 3:], y[:, 3:])
    for i, k in enumerate(S.N_ATTR[:3]):
        assert bad[:, i].min() >= 0 and bad[:, i].max() < k


def test_caption_encoder_learns_the_attributes():
    torch.manual_seed(0)
    enc = S.CaptionEncoder(captions.vocab_size(), dim=32)
    assert T.train_caption_encoder(enc, steps=150, batch=128) >= 0.9


def test_generator_shapes_and_stage_two_refines_stage_one():
    torch.manual_seed(0)
    G = S.StackGANGenerator(text_dim=32, c_dim=16, z_dim=16, channels1=(32, 16, 8), channels2=(16, 8, 8)).eval()
    tokens = captions.caption_tokens(S.random_labels(3, torch.Generator().manual_seed(0)))
    a, b = G(tokens, torch.randn(3, 16), torch.Generator().manual_seed(0))
    assert a.shape == (3, 3, 16, 16) and b.shape == (3, 3, 32, 32)
    emb = G.text(tokens)
    b2, _ = G.stage2(a, emb, sample=False)
    b3, _ = G.stage2(-a, emb, sample=False)
    assert (b2 - b3).abs().max() > 1e-4  # stage II reads stage I's image


def test_training_steps_write_a_loadable_model(tmp_path, monkeypatch):
    monkeypatch.setattr(T.STACKGAN, "reward_from", 2)  # the robust reward's branch runs too
    res = T.train_stackgan(steps=3, n_train=128, out=str(tmp_path / "w"), run_dir=str(tmp_path / "r"), eval_n=32,
                           tiny=True)
    assert set(res) >= {"stage I (16×16, up-sampled)", "stage II (32×32)", "steps"} and res["steps"] == 3
    files = {p.name for p in (tmp_path / "w").iterdir()}
    assert {"model.safetensors", "config.json", "README.md", "metrics.json"} <= files
    card = (tmp_path / "w" / "README.md").read_text()
    assert "arXiv:1612.03242" in card and "python -m genmodels train stackgan --steps 3" in card
    assert json.loads((tmp_path / "w" / "metrics.json").read_text())["n"] == 32
    G = S.StackGANGenerator.from_pretrained(str(tmp_path / "w"))
    out1 = S.text_to_image(G, "a small green solid cross on a light background", seed=5, n=3)
    out2 = S.text_to_image(G, "a small green solid cross on a light background", seed=6, n=2)
    assert out1["stage1"].shape == (3, 16, 16, 3) and out1["stage2"].shape == (3, 32, 32, 3)
    assert np.array_equal(out1["stage2"][1], out2["stage2"][0])  # image i of seed s is seed s + i
    assert out1["caption"] == "a small green solid cross on a light background"
    # resuming: the checkpoint carries the step; asking for more continues from it
    res = T.train_stackgan(steps=4, n_train=128, out=str(tmp_path / "w"), run_dir=str(tmp_path / "r"), eval_n=32,
                           tiny=True)
    assert res["steps"] == 4
