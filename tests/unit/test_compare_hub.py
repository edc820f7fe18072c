"""The hub's Compare tab: conditions, contenders, the leaderboard protocol and file, and the arena handlers."""
import json

import gradio as gr
import numpy as np
import pytest

from genmodels.data import shapes
from genmodels.hub import arena, compare_tab, contenders as C, leaderboard as L

FAST = ("dcgan", "cgan", "stylegan", "stackgan", "pix2pix", "cyclegan", "vae", "cvae", "vq-dalle", "distill")


@pytest.fixture()
def arena_env(tmp_path, monkeypatch):
    monkeypatch.setenv("GENMODELS_ARENA_DIR", str(tmp_path / "arena"))
    monkeypatch.setenv("GENMODELS_ARENA_MODELS", "dcgan,cgan,pix2pix")
    return tmp_path / "arena"


def test_condition_checks_and_caption():
    c = C.Condition("heart", "blue", "striped", "dark")
    assert c.caption == "a blue striped heart on a dark background"
    assert [c.index(a) for a in C.ATTRS] == [shapes.SHAPES.index("heart"), shapes.COLOUR_NAMES.index("blue"), 1,
                                            shapes.BACKGROUNDS.index("dark")]
    assert C.Condition.from_labels([c.index(a) for a in C.ATTRS]) == c
    with pytest.raises(ValueError, match="Unknown colour 'pink'"):
        C.Condition("heart", "pink")


@pytest.mark.parametrize("seed", [0, 1, 5])
def test_reference_scene_has_the_asked_attributes(seed):
    cond = C.Condition("cross", "green", "striped", "gradient")
    p = shapes.scene_params("test", C.reference_index(cond, seed)).names()
    assert (p["shape"], p["colour"], p["fill"], p["background"]) == ("cross", "green", "striped", "gradient")
    assert C.reference_index(C.Condition(scene=17), seed) == 17
    with pytest.raises(ValueError, match="Test scene"):
        C.reference_index(C.Condition(scene=10 ** 6))


def test_every_contender_has_weights_in_this_checkout():
    assert [c.key for c in C.available()] == list(C.CONTENDERS)
    with pytest.raises(ValueError, match="Unknown model"):
        C.get("nope")


@pytest.mark.parametrize("key", FAST)
def test_fast_contenders_answer_deterministically(key):
    c, cond = C.get(key), C.Condition("triangle", "yellow", "solid", "dark")
    a, _ = C.run(c, cond, 3, 2)
    b, _ = C.run(c, cond, 3, 2)
    assert a.shape == (2, 32, 32, 3) and a.dtype == np.uint8
    assert a.tobytes() == b.tobytes()


def test_condition_hits_read_real_scenes_as_asked():
    cond = C.Condition("star", "red", "solid", "light")
    real = np.stack([C.reference_item(cond, s).image for s in range(4)])
    hits = C.condition_hits(real, cond, C.ATTRS)
    assert hits["all"].all() and set(hits) == {*C.ATTRS, "all"}
    assert C.condition_hits(real, cond, ()) == {}
    wrong = C.condition_hits(real, C.Condition("circle", "blue"), ("shape", "colour"))
    assert not wrong["all"].any()


def test_leaderboard_groups_follow_what_each_model_is_asked():
    labels = np.array([[getattr(shapes.scene_params("test", i), a) for a in C.ATTRS] for i in range(60)])
    shape_only = L._groups(C.get("vq-prior"), labels)
    assert len(shape_only) == len(set(labels[:, 0]))
    for cond, idx in shape_only:
        assert (labels[idx, 0] == cond.index("shape")).all()
    assert sum(len(i) for _, i in shape_only) == 60
    per_scene = L._groups(C.get("pix2pix"), labels)
    assert [int(c.scene) for c, _ in per_scene] == list(range(60))
    assert len(L._groups(C.get("dcgan"), labels)) == 1


def test_leaderboard_compute_writes_a_versioned_file_and_merges(tmp_path, monkeypatch):
    monkeypatch.setattr(L, "RESULTS", tmp_path / "lb.json")
    monkeypatch.setattr(L, "DOC", tmp_path / "lb.md")
    res = L.compute(["cgan"], n=60, log=lambda *_: None)
    row = res["rows"][0]
    assert res["version"] == L.VERSION and res["protocol"]["n"] == 60 and row["model"] == "cgan"
    assert {"FID", "KID", "IS", "precision", "recall", "condition accuracy"} <= set(row)
    lo, hi = row["condition accuracy"]["interval"]
    assert lo <= row["condition accuracy"]["value"] <= hi and row["ms_per_image"] > 0
    assert {"shape by outline", "objects in pieces", "no object found"} <= set(row)  # beside the classifier
    res = L.compute(["dcgan"], n=60, log=lambda *_: None)  # same N: rows merge
    assert [r["model"] for r in res["rows"]] == ["dcgan", "cgan"] and "confident shape" in res["rows"][0]
    assert "| CGAN | gan |" in (tmp_path / "lb.md").read_text()
    assert L.load(tmp_path / "lb.json")["rows"] == res["rows"]
    (tmp_path / "old.json").write_text(json.dumps({"version": 0, "rows": []}))
    assert L.load(tmp_path / "old.json") == {} and L.load(tmp_path / "missing.json") == {}


def test_shipped_leaderboard_covers_every_contender_at_one_protocol():
    res = L.load()
    assert res, "genmodels/hub/leaderboard.json missing: python -m genmodels leaderboard"
    rows = {r["model"]: r for r in res["rows"]}
    assert sorted(rows) == sorted(C.CONTENDERS)
    p = res["protocol"]
    assert p["n"] >= 500
    for key, r in rows.items():
        assert r["n"] == p["n"], key
        assert ("condition accuracy" in r) == C.get(key).conditional


def test_compare_run_streams_every_fast_model_then_notes(monkeypatch):
    monkeypatch.setattr(C, "available", lambda keys=None: [C.get(k) for k in ("dcgan", "cgan", "pix2pix")])
    states = list(compare_tab.compare_run("star", "red", "solid", "light", 0, 2))
    assert [len(s[0]) for s in states] == [1, 2, 3, 3]
    items, panel, note = states[-1]
    assert items[1][0].shape == (32 * 4, (2 * 32 + 2) * 4, 3)  # two images side by side, 2-px gutter, x4
    assert "CGAN · gan · given shape + colour" in items[1][1] and "unconditional" in items[0][1]
    assert "<table" in panel and panel.count("<tr>") == 4 and "seed 0" in note


def test_compare_run_bad_input_is_a_clear_error():
    with pytest.raises(gr.Error, match="Unknown shape"):
        list(compare_tab.compare_run("blob", "red", "solid", "light", 0, 2))
    with pytest.raises(gr.Error, match="Seed"):
        list(compare_tab.compare_run("star", "red", "solid", "light", -1, 2))


def test_arena_battle_vote_reveal_and_errors(arena_env):
    left, right, bid, status = compare_tab.arena_battle("heart", "blue", "striped", "dark", 3)
    assert left.shape == right.shape and len(bid) == 32 and "a blue striped heart" in status
    rec = compare_tab.arena_vote(bid, "left")
    assert {rec["model_a"], rec["model_b"]} <= {"dcgan", "cgan", "pix2pix"} and rec["model_a"] != rec["model_b"]
    with pytest.raises(gr.Error, match="(?i)already has a vote"):
        compare_tab.arena_vote(bid, "right")
    with pytest.raises(gr.Error, match="(?i)unknown battle"):
        compare_tab.arena_vote("f" * 32, "left")
    with pytest.raises(gr.Error, match="Start a battle first"):
        compare_tab._vote_ui("🤝 Tie")("")
    reveal, table = compare_tab._vote_ui("👎 Both are bad")(compare_tab.arena_battle("star", "red", "solid", "light", 1)[2])
    assert "both are bad" in reveal and "2 votes" in table
    assert arena.store().count_votes() == 2


def test_arena_refuses_an_unwritable_data_dir(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("GENMODELS_ARENA_DIR", str(blocker / "arena"))
    monkeypatch.setenv("GENMODELS_ARENA_MODELS", "dcgan,cgan")
    with pytest.raises(gr.Error, match="(?i)not writable"):
        compare_tab.arena_battle("star", "red", "solid", "light", 0)


def test_arena_pool_needs_two_models(monkeypatch):
    monkeypatch.setenv("GENMODELS_ARENA_MODELS", "dcgan")
    with pytest.raises(ValueError, match="at least two"):
        arena.pool()
    monkeypatch.delenv("GENMODELS_ARENA_MODELS")
    assert {c.key for c in arena.pool()} == {c.key for c in C.available()}  # every model, the PixelCNNs too


def test_tile_layout():
    x = np.zeros((5, 32, 32, 3), np.uint8)
    t = compare_tab.tile(x, scale=1)
    assert t.shape == (2 * 32 + 2, 3 * 32 + 4, 3)
