"""Image sets by name, shared by the score CLI and the Metrics tab: a folder, a zip, files, or a shapes split."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from . import shapes
from .dataset import shapes_arrays
from .folders import load_images

NAMED = {"shapes-test": "test", "shapes-train": "train", "shapes-val": "val"}
MAX_IMAGES = 10_000


def load_image_set(spec: str | Path | Sequence[str | Path], size: int = 32, n: int | None = None,
                   max_images: int = MAX_IMAGES) -> tuple[np.ndarray, str, list[str]]:
    """-> (uint8 (N, size, size, 3) images, a description, skipped-file notes).

    ``spec``: "shapes-test" (the 2,000-item test split), "shapes-train" / "shapes-val" (their first ``n`` items,
    2,000 by default), a folder, a zip, an image file, or a list of these. Raises ValueError with a message a
    person can act on when the set is empty or unreadable."""
    if isinstance(spec, str) and spec in NAMED:
        split = NAMED[spec]
        count = min(n or shapes.TEST_SPLIT_SIZE, shapes.SPLIT_LENGTH[split], max_images)
        return shapes_arrays(split, count, size)["images"], f"{spec} ({count} items)", []
    s = load_images(spec, size, warn=False)
    if len(s) == 0:
        why = f"; unreadable: {'; '.join(s.skipped[:5])}" if s.skipped else ""
        raise ValueError(f"no readable images in {_describe(spec)}{why}")
    images = s.images[:max_images]
    note = f" (capped at {max_images})" if len(s) > max_images else ""
    return images, f"{_describe(spec)}: {len(images)} images{note}", s.skipped


def _describe(spec) -> str:
    if isinstance(spec, (str, Path)):
        return str(spec)
    spec = list(spec)
    return f"{len(spec)} uploaded file(s)" if len(spec) != 1 else Path(spec[0]).name
