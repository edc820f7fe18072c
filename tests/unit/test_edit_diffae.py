"""Diffusion Autoencoders (genmodels/families/edit/diffae.py): the zero-initialised semantic states, the linear
classifiers and the move along their directions, a few training steps end to end, and the service's checks."""
import json

import numpy as np
import pytest
import torch

from genmodels.data import shapes
from genmodels.families.edit import diffae
from genmodels.families.edit.train import train_diffae


def test_semantic_states_start_as_the_base_caption():
    enc = diffae.SemanticEncoder(z_dim=8, tokens=4, text_dim=16, width=8)
    with torch.no_grad():
        enc.base.normal_()
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    z = enc.encode(x)
    assert z.shape == (3, 8) and enc(x).shape == (3, 4, 16)
    assert torch.equal(enc(x), enc.base.expand(3, -1, -1))  # zero-init projection: the UNet sees the base caption
    enc.to_states.weight.data.normal_()
    assert not torch.allclose(enc(x)[0], enc(x)[1])


def _separable(n=600, dim=6, seed=0):
    """Synthetic z_sem whose first coordinates carry each attribute's class (what fit_directions must find)."""
    g = np.random.default_rng(seed)
    labels = np.stack([g.integers(0, len(diffae.NAMES[a]), n) if a in diffae.ATTRIBUTES else np.zeros(n, int)
                       for a in shapes.LABEL_COLUMNS], 1)
    col = shapes.LABEL_COLUMNS.index("colour")
    z = g.normal(size=(n, dim)) * 0.3
    z[:, :len(shapes.COLOUR_NAMES)] += 3 * np.eye(len(shapes.COLOUR_NAMES))[labels[:, col]]
    return z.astype(np.float32), labels


def test_directions_classify_and_move_reaches_the_asked_margin():
    z, labels = _separable()
    dirs = diffae.fit_directions(z, labels)
    json.dumps(dirs)  # stored as directions.json
    assert dirs["attributes"]["colour"]["train_accuracy"] > 0.97
    zt = torch.from_numpy(z[:20])
    src = diffae.classify(dirs, zt, "colour").argmax(1)
    for strength in (1.0, 2.0):
        for i in range(20):
            goal = (int(src[i]) + 2) % len(shapes.COLOUR_NAMES)
            moved = diffae.move(dirs, zt[i:i + 1], "colour", goal, strength)
            before = diffae.classify(dirs, zt[i:i + 1], "colour")[0]
            after = diffae.classify(dirs, moved, "colour")[0]
            want = max(1.0, float(before[src[i]] - before[goal])) * strength
            assert float(after[goal] - after[src[i]]) == pytest.approx(want, rel=1e-3, abs=1e-3)
    same = diffae.move(dirs, zt[:1], "colour", int(src[0]))
    assert torch.equal(same, zt[:1])  # already the target: nothing moves


def test_a_class_never_seen_is_never_predicted():
    z, labels = _separable()
    col = shapes.LABEL_COLUMNS.index("colour")
    keep = labels[:, col] != 5
    dirs = diffae.fit_directions(z[keep], labels[keep])
    pred = diffae.classify(dirs, torch.from_numpy(z), "colour").argmax(1)
    assert not (pred == 5).any()


@pytest.mark.slow
def test_train_a_few_steps_writes_weights_directions_card_and_resumes(tmp_path):
    out, run = tmp_path / "diffae", tmp_path / "run"
    kw = dict(batch=4, n_train=64, out=str(out), run_dir=str(run), monitor_every=2, monitor_n=4, n_directions=64,
              eval_n=4, config=dict(z_dim=8, width=8))
    m = train_diffae(steps=2, **kw)
    for f in ("config.json", "model.safetensors", "directions.json", "README.md", "metrics.json", "monitor.jsonl"):
        assert (out / f).exists(), f
    assert 0 <= m["colour swap: new_recognised"] <= 1 and m["colour swap: rec_psnr"] > 10
    assert "python -m genmodels train diffae" in (out / "README.md").read_text()
    train_diffae(steps=4, **kw)  # resumes at step 2
    steps = [json.loads(line)["step"] for line in (out / "monitor.jsonl").read_text().splitlines()]
    assert steps == [2, 4]
    enc, dirs = diffae.load(out)
    assert enc.z_dim == 8 and set(dirs["attributes"]) == set(diffae.ATTRIBUTES)


def test_load_names_the_command_when_weights_are_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="train diffae"):
        diffae.load(tmp_path)


def test_guide_trunk_stays_frozen_and_in_eval():
    enc = diffae.SemanticEncoder(z_dim=8, tokens=2, text_dim=8, trunk="guide").train()
    assert not enc.trunk.training and not any(p.requires_grad for p in enc.trunk.parameters())
    enc.encode(torch.rand(2, 3, 32, 32)).sum().backward()
    assert all(p.grad is None for p in enc.trunk.parameters()) and enc.net[1].weight.grad is not None
    with pytest.raises(ValueError, match="unknown trunk"):
        diffae.SemanticEncoder(trunk="resnet")


def test_a_partial_evaluation_keeps_the_other_methods_columns(tmp_path):
    from genmodels.families.edit.evaluate import merge_previous

    old = {"n": 200, "start": 0, "command": "evaluate --n 200",
           "columns": {"Prompt-to-Prompt colour swap": {"new colour recognised": 1.0},
                       "Diffusion Autoencoder colour swap (depth 1, strength 1)": {"new colour recognised": 0.5}},
           "acceptance": {"P2P: mask IoU ≥ 0.8": True, "DiffAE: mask IoU ≥ 0.8": False}}
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(old))
    def new(n=200):
        return {"n": n, "start": 0, "command": "evaluate --n 200 --only diffae",
                "columns": {"Diffusion Autoencoder colour swap (depth 0.6, strength 1)": {"new colour recognised": 0.9}},
                "acceptance": {"DiffAE: mask IoU ≥ 0.8": True}}

    res = merge_previous(new(), path)
    assert sorted(res["columns"]) == ["Diffusion Autoencoder colour swap (depth 0.6, strength 1)",
                                      "Prompt-to-Prompt colour swap"]
    assert res["columns"]["Prompt-to-Prompt colour swap"]["command"] == "evaluate --n 200"
    assert res["acceptance"] == {"P2P: mask IoU ≥ 0.8": True, "DiffAE: mask IoU ≥ 0.8": True}
    other_n = merge_previous(new(16), path)  # another N: nothing of the old file is kept
    assert list(other_n["columns"]) == ["Diffusion Autoencoder colour swap (depth 0.6, strength 1)"]
