"""Filtered, seeded sampling of shapes items (shared by the Data tab, the CLI and the tests)."""
from __future__ import annotations

import numpy as np

from . import shapes

ANY = "any"
FILTERS = {"shape": shapes.SHAPES, "colour": shapes.COLOUR_NAMES, "fill": shapes.FILLS,
           "background": shapes.BACKGROUNDS}
SPLIT_LENGTH = shapes.SPLIT_LENGTH
MAX_SCAN = 40_000


def validate_filters(split: str, filters: dict[str, str]) -> str:
    """'' when valid, else a message naming the bad value."""
    if split not in SPLIT_LENGTH:
        return f"Unknown split {split!r}: choose one of {', '.join(SPLIT_LENGTH)}."
    for name, value in filters.items():
        if name not in FILTERS:
            return f"Unknown filter {name!r}: the filters are {', '.join(FILTERS)}."
        if value not in (ANY, None, "") and value not in FILTERS[name]:
            return f"Unknown {name} {value!r}: choose '{ANY}' or one of {', '.join(FILTERS[name])}."
    return ""


def find_items(split: str, filters: dict[str, str], count: int, seed: int) -> list[int]:
    """Up to ``count`` item indices of ``split`` matching ``filters``, in a seed-determined order.

    Only the scene factors are drawn while searching (no rendering); at most ``MAX_SCAN`` candidates are looked at.
    """
    wanted = {k: FILTERS[k].index(v) for k, v in filters.items() if v not in (ANY, None, "")}
    length = SPLIT_LENGTH[split]
    rng = np.random.default_rng(seed)
    if length <= MAX_SCAN:
        order = rng.permutation(length)
    else:
        order = (int(rng.integers(length)) + np.arange(MAX_SCAN)) % length
    found = []
    for i in order:
        p = shapes.scene_params(split, int(i))
        if all(getattr(p, k) == v for k, v in wanted.items()):
            found.append(int(i))
            if len(found) == count:
                break
    return found
