"""Settings every tab shares, read once from the environment (no Gradio import)."""
from __future__ import annotations

import os
from dataclasses import dataclass


def _env_int(name: str, default: int, lo: int, hi: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return max(lo, min(hi, int(raw)))
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from None


@dataclass(frozen=True)
class HubContext:
    """What a tab may know about where it runs."""

    max_batch: int = 64  # GENMODELS_MAX_BATCH: the largest batch any sampler draws at once
    on_space: bool = False  # running on a public Hugging Face Space (SPACE_ID set): cap expensive options
    data_dir: str | None = None  # GENMODELS_DATA_DIR: an extra image folder offered where data is picked

    @classmethod
    def from_env(cls) -> "HubContext":
        on_space = bool(os.environ.get("SPACE_ID"))
        default_batch = 16 if on_space else 64
        return cls(max_batch=_env_int("GENMODELS_MAX_BATCH", default_batch, 1, 1024), on_space=on_space,
                   data_dir=os.environ.get("GENMODELS_DATA_DIR") or None)
