"""The arena backend: the SQLite vote store (errors, persistence, concurrency) and the ratings (Elo, BT, bootstrap)."""
from __future__ import annotations

import multiprocessing
import os
import sqlite3
import threading

import numpy as np
import pytest

from genmodels.hub import arena_store
from genmodels.hub.arena_store import OUTCOMES, ArenaError, ArenaStore, default_dir
from genmodels.hub.ratings import bootstrap_intervals, bradley_terry, elo, leaderboard

MODELS = ["m0", "m1", "m2", "m3", "m4"]


def _simulate(true_elo: list[float], n: int, seed: int, tie_rate: float = 0.1) -> list[tuple[str, str, str]]:
    rng = np.random.default_rng(seed)
    votes = []
    for _ in range(n):
        i, j = rng.choice(len(true_elo), size=2, replace=False)
        p = 1.0 / (1.0 + 10.0 ** ((true_elo[j] - true_elo[i]) / 400.0))
        u = rng.random()
        outcome = ("tie" if rng.random() < 0.5 else "both_bad") if u < tie_rate else \
            ("left" if rng.random() < p else "right")
        votes.append((MODELS[i], MODELS[j], outcome))
    return votes


# -- ratings ---------------------------------------------------------------------------------------------------------
def test_elo_matches_hand_computation():
    # 1: a-b left, E=0.5 -> a 1002, b 998.  2: a-b tie, E_a = 1/(1+10^(-4/400)) = 0.505756 -> a 1001.97698.
    # 3: b-c right, E_b = 1/(1+10^((1000-998.02302)/400)) = 0.497155 -> b 996.03441, c 1001.98862.
    r = elo([("a", "b", "left"), ("a", "b", "tie"), ("b", "c", "right")])
    assert r["a"] == pytest.approx(1001.97698, abs=1e-4)
    assert r["b"] == pytest.approx(996.03441, abs=1e-4)
    assert r["c"] == pytest.approx(1001.98862, abs=1e-4)
    assert elo([("a", "b", "both_bad")]) == {"a": 1000.0, "b": 1000.0}
    with pytest.raises(ValueError, match="unknown vote outcome"):
        elo([("a", "b", "a")])


def test_bradley_terry_matches_scipy_reference():
    from scipy.optimize import minimize

    votes = _simulate([1150, 1080, 1000, 950, 820], 300, seed=1)
    prior = 1.0
    idx = {m: i for i, m in enumerate(MODELS)}
    wins = np.zeros((5, 5))
    for a, b, o in votes:
        s = {"left": 1.0, "right": 0.0}.get(o, 0.5)
        wins[idx[a], idx[b]] += s
        wins[idx[b], idx[a]] += 1.0 - s

    def nll(theta):  # -log L: sum_ij W_ij log(1 + e^(theta_j - theta_i)) + anchor prior (prior virtual ties each)
        d = theta[None, :] - theta[:, None]
        sig = 1.0 / (1.0 + np.exp(-d))  # d/d(theta_j) of softplus(d)
        f = (wins * np.logaddexp(0, d)).sum() + 0.5 * prior * (np.logaddexp(0, theta) + np.logaddexp(0, -theta)).sum()
        g = (wins * sig).sum(axis=0) - (wins * sig).sum(axis=1) + 0.5 * prior * np.tanh(theta / 2)
        return f, g

    res = minimize(nll, np.zeros(5), jac=True, method="BFGS", options={"gtol": 1e-10, "maxiter": 1000})
    ref = 1000.0 + 400.0 * (res.x - res.x.mean()) / np.log(10.0)
    got = bradley_terry(votes, prior=prior)
    assert sorted(got) == MODELS
    for m in MODELS:
        assert got[m] == pytest.approx(ref[idx[m]], abs=0.5)
    assert np.mean(list(got.values())) == pytest.approx(1000.0)


def test_bradley_terry_recovers_true_order_and_stays_finite():
    true = [1300, 1150, 1000, 850, 700]
    got = bradley_terry(_simulate(true, 1500, seed=7))
    assert sorted(MODELS, key=got.get, reverse=True) == MODELS
    one_sided = bradley_terry([("a", "b", "left")] * 20 + [("b", "c", "left")] * 20)
    assert all(np.isfinite(v) for v in one_sided.values())
    assert one_sided["a"] > one_sided["b"] > one_sided["c"]
    assert bradley_terry([]) == {}


def test_bootstrap_intervals_and_leaderboard():
    votes = _simulate([1150, 1080, 1000, 950, 820], 300, seed=3)
    point = bradley_terry(votes)
    ci = bootstrap_intervals(votes, rounds=100, seed=5)
    assert ci == bootstrap_intervals(votes, rounds=100, seed=5)
    assert ci != bootstrap_intervals(votes, rounds=100, seed=6)
    for m in MODELS:
        lo, hi = ci[m]
        assert lo < point[m] < hi
    rows = leaderboard(votes, rounds=50)
    assert [r["rating"] for r in rows] == sorted(point.values(), reverse=True)
    assert sum(r["votes"] for r in rows) == 2 * len(votes)
    assert sum(r["wins"] for r in rows) == sum(r["losses"] for r in rows)
    assert all(r["wins"] + r["losses"] + r["ties"] == r["votes"] for r in rows)
    assert leaderboard([]) == []


# -- store -----------------------------------------------------------------------------------------------------------
def test_default_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("GENMODELS_ARENA_DIR", str(tmp_path / "x"))
    assert default_dir() == tmp_path / "x"
    monkeypatch.delenv("GENMODELS_ARENA_DIR")
    assert default_dir().parts[-3:] == (".cache", "genmodels", "arena")


def test_round_trip_persistence_and_order(tmp_path):
    store = ArenaStore(tmp_path / "arena")
    assert store.votes() == [] and store.count_votes() == 0 and store.count_battles() == 0
    assert not (tmp_path / "arena").exists()  # reads never create the store
    cond = {"prompt": "a red circle", "seed": 3, "nested": [1, 2.5, None]}
    b1 = store.new_battle("gan", "vae", cond)
    b2 = store.new_battle("vae", "diffusion", {})
    assert len(b1) == 32 and int(b1, 16) >= 0 and b1 != b2
    assert store.count_battles() == 2 and store.count_votes() == 0
    assert store.vote(b2, "both_bad")["outcome"] == "both_bad"
    assert store.vote(b1, "left") == {"battle_id": b1, "model_a": "gan", "model_b": "vae", "outcome": "left",
                                      "condition": cond}
    again = ArenaStore(tmp_path / "arena")  # a restart keeps the votes, in vote order (not creation order)
    assert again.votes() == [("vae", "diffusion", "both_bad"), ("gan", "vae", "left")]
    assert again.count_votes() == 2 and again.count_battles() == 2
    with sqlite3.connect(again.path) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == arena_store.SCHEMA_VERSION
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_user_errors(tmp_path, monkeypatch):
    store = ArenaStore(tmp_path, battle_ttl_s=600)
    with pytest.raises(ArenaError, match="two different models"):
        store.new_battle("gan", "gan", {})
    with pytest.raises(ArenaError, match="JSON"):
        store.new_battle("gan", "vae", {"x": object()})
    bid = store.new_battle("gan", "vae", {})
    with pytest.raises(ArenaError) as e:
        store.vote(bid, "a")
    assert all(o in str(e.value) for o in OUTCOMES)
    for garbage in ("", "xyz", bid.upper(), bid + "0", "../" * 11, None):
        with pytest.raises(ArenaError, match="^unknown battle id$"):
            store.vote(garbage, "tie")
    with pytest.raises(ArenaError, match="^unknown battle 0{32}$"):
        store.vote("0" * 32, "tie")
    store.vote(bid, "right")
    with pytest.raises(ArenaError, match=r"^this battle already has a vote \(right\)$"):
        store.vote(bid, "left")
    old = store.new_battle("gan", "vae", {})
    now = arena_store._now()
    monkeypatch.setattr(arena_store, "_now", lambda: now + 601)
    with pytest.raises(ArenaError, match=f"^battle {old} expired after 10 min; start a new one$"):
        store.vote(old, "tie")
    assert store.votes() == [("gan", "vae", "right")]


def test_unwritable_dir_is_an_arena_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    store = ArenaStore(blocker / "arena")  # mkdir fails even for root
    with pytest.raises(ArenaError, match="is not writable: votes cannot be stored"):
        store.new_battle("gan", "vae", {})
    assert store.votes() == [] and store.count_votes() == 0
    clash = tmp_path / "clash"
    (clash / arena_store.DB_NAME).mkdir(parents=True)  # sqlite cannot open a folder as its file
    with pytest.raises(ArenaError, match="GENMODELS_ARENA_DIR"):
        ArenaStore(clash).new_battle("gan", "vae", {})


def test_read_only_dir_when_not_root(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o555)
    try:
        try:
            (ro / "probe").write_text("x")
            pytest.skip("this user can write into a 0o555 folder (root); the under-a-file test covers it")
        except PermissionError:
            pass
        with pytest.raises(ArenaError, match="is not writable"):
            ArenaStore(ro).new_battle("gan", "vae", {})
    finally:
        os.chmod(ro, 0o755)


def test_read_only_database_vote_is_not_reported(tmp_path, monkeypatch):
    """A database sqlite may only read (emulated with mode=ro, which also binds root): no raw sqlite3 error, and
    the vote is not stored."""
    store = ArenaStore(tmp_path)
    bid = store.new_battle("gan", "vae", {})
    monkeypatch.setattr(ArenaStore, "_connect", lambda self: sqlite3.connect(
        f"file:{self.path}?mode=ro", uri=True, isolation_level=None))
    with pytest.raises(ArenaError, match="is not writable"):
        store.vote(bid, "left")
    monkeypatch.undo()
    assert store.count_votes() == 0 and store.vote(bid, "tie")["outcome"] == "tie"


def test_locked_database_is_retried(tmp_path, monkeypatch):
    store = ArenaStore(tmp_path)
    real, calls = ArenaStore._connect, []

    def flaky(self):
        calls.append(1)
        if len(calls) <= 2:
            raise sqlite3.OperationalError("database is locked")
        return real(self)

    monkeypatch.setattr(ArenaStore, "_connect", flaky)
    assert len(store.new_battle("gan", "vae", {})) == 32 and len(calls) == 3
    monkeypatch.setattr(ArenaStore, "_connect", lambda self: (_ for _ in ()).throw(
        sqlite3.OperationalError("database is locked")))
    with pytest.raises(ArenaError, match="busy"):
        store.count_battles()


def _worker(data_dir: str, n: int, barrier) -> None:
    store = ArenaStore(data_dir)
    barrier.wait()
    for i in range(n):
        store.vote(store.new_battle(f"p{os.getpid()}", "rival", {"i": i}), OUTCOMES[i % 4])


def test_eight_processes_vote_concurrently(tmp_path):
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(8)
    procs = [ctx.Process(target=_worker, args=(str(tmp_path), 25, barrier)) for _ in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * 8
    store = ArenaStore(tmp_path)
    assert store.count_votes() == 200 and store.count_battles() == 200 and len(store.votes()) == 200


def test_eight_threads_race_for_one_battle(tmp_path):
    store = ArenaStore(tmp_path)
    bid = store.new_battle("gan", "vae", {})
    barrier = threading.Barrier(8)
    results: list[object] = []

    def race(outcome: str) -> None:
        barrier.wait()
        try:
            results.append(store.vote(bid, outcome))
        except ArenaError as e:
            results.append(e)

    threads = [threading.Thread(target=race, args=(OUTCOMES[i % 4],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    wins = [r for r in results if isinstance(r, dict)]
    errors = [r for r in results if isinstance(r, ArenaError)]
    assert len(wins) == 1 and len(errors) == 7
    assert all("already has a vote" in str(e) for e in errors)
    assert store.votes() == [("gan", "vae", wins[0]["outcome"])]
