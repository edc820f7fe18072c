"""The blind arena: two anonymous models answer the same condition; a visitor votes; names are revealed after.

Protocol as in Chatbot Arena (Chiang et al. 2024, arXiv:2403.04132): the pair is drawn uniformly at random from
the pool (not from the seed — a seed must not tell who is who), left / right order is random, votes go to a SQLite
store (``arena_store``), ratings are a Bradley–Terry fit on the Elo scale with bootstrap intervals (``ratings``).
Each side shows the same number of images from the same seed and condition (``contenders``). No Gradio here.

The pool: every contender with weights except the naive PixelCNN / Gated PixelCNN samplers (tens of seconds per
image); ``GENMODELS_ARENA_MODELS`` (comma list) narrows it, e.g. on a small Space.
"""
from __future__ import annotations

import os
import random
from functools import lru_cache

from . import contenders as C
from .arena_store import ArenaError, ArenaStore, default_dir
from .ratings import leaderboard

IMAGES_PER_SIDE = 4
_PICK = random.SystemRandom()


def pool() -> list[C.Contender]:
    raw = os.environ.get("GENMODELS_ARENA_MODELS", "").strip()
    if raw:
        keys = [k.strip() for k in raw.split(",") if k.strip()]
        picked = C.available(keys)
    else:
        picked = C.available()
    if len(picked) < 2:
        raise ArenaError("the arena needs at least two models with weights on this server")
    return picked


@lru_cache(maxsize=4)
def _store(path: str) -> ArenaStore:
    return ArenaStore(path)


def store() -> ArenaStore:
    """The store in ``GENMODELS_ARENA_DIR`` (read when called, so a test or a Space can point it elsewhere)."""
    return _store(str(default_dir()))


def battle(cond: C.Condition, seed: int, n: int = IMAGES_PER_SIDE) -> dict:
    """A new battle: {"battle_id", "left", "right"} (uint8 image batches); the pair stays secret until the vote."""
    a, b = _PICK.sample(pool(), 2)
    left, _ = C.run(a, cond, seed, n)
    right, _ = C.run(b, cond, seed, n)
    bid = store().new_battle(a.key, b.key, {**cond.as_dict(), "seed": int(seed), "n": int(n)})
    return {"battle_id": bid, "left": left, "right": right}


def vote(battle_id: str, outcome: str) -> dict:
    """Store a vote and reveal: the store's record plus both models' labels and what they were asked for."""
    rec = store().vote(str(battle_id or "").strip(), outcome)
    for side, key in (("left", rec["model_a"]), ("right", rec["model_b"])):
        c = C.CONTENDERS.get(key)
        rec[f"{side}_label"] = c.label if c else key
        rec[f"{side}_takes"] = c.takes if c else ""
    return rec


def standings(rounds: int = 200) -> tuple[list[dict], int]:
    """Arena leaderboard rows (Bradley–Terry on the Elo scale, bootstrap intervals) and the vote count."""
    votes = store().votes()
    rows = leaderboard(votes, rounds=rounds) if votes else []
    for r in rows:
        c = C.CONTENDERS.get(r["model"])
        r["label"] = c.label if c else r["model"]
    return rows, len(votes)


__all__ = ["ArenaError", "battle", "vote", "standings", "pool", "store", "IMAGES_PER_SIDE"]
