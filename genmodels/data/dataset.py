"""torch Datasets over the shapes domain and over user image folders (images in [-1, 1], CHW float32)."""
from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from . import shapes


def cache_dir() -> Path:
    """Where rendered arrays and reference statistics are cached (``GENMODELS_CACHE``)."""
    d = Path(os.environ.get("GENMODELS_CACHE", Path.home() / ".cache" / "genmodels"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float32 in [-1, 1]."""
    # contiguous and writable (a copy only when needed: arrays viewed from Pillow images are read-only)
    arr = np.require(images, requirements=("C", "W"))
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) float in [-1, 1] -> (N, H, W, 3) uint8 (rounded, clamped)."""
    return x.detach().float().clamp(-1, 1).add(1).mul(127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


@lru_cache(maxsize=1)
def test_split() -> dict[str, np.ndarray]:
    """The whole test split (images, labels, …) in memory, read-only: loaded once per process for the tabs, which
    read items by index on every request (re-reading the .npz cost 4 ms a call; bench)."""
    d = shapes_arrays("test", shapes.TEST_SPLIT_SIZE)
    for v in d.values():
        v.flags.writeable = False
    return d


def shapes_arrays(split: str, n: int, size: int = 32, start: int = 0, workers: int | None = None,
                  full: bool = False) -> dict[str, np.ndarray]:
    """Rendered items ``start .. start+n-1`` of a split, cached on disk as .npz (rendering is deterministic)."""
    key = f"shapes-v1-{split}-{start}-{n}-{size}-{int(full)}"
    path = cache_dir() / "arrays" / f"{hashlib.sha1(key.encode()).hexdigest()[:16]}.npz"
    if path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    workers = workers if workers is not None else max(1, min(4, os.cpu_count() or 1))
    out = shapes.render_batch(split, start, n, size=size, full=full, workers=workers)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")  # one per process: ranks of a launch may render at once
    np.savez(tmp, **out)
    tmp.replace(path)
    return out


class ShapesDataset(Dataset):
    """``n`` items of a split, pre-rendered (and cached) at construction; yields (image, labels)."""

    def __init__(self, split: str = "train", n: int = 10_000, size: int = 32, start: int = 0):
        arrays = shapes_arrays(split, n, size, start)
        self.images = to_tensor(arrays["images"])
        self.labels = torch.from_numpy(arrays["labels"])
        self.split, self.start = split, start

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[i], self.labels[i]

    def caption(self, i: int) -> str:
        return shapes.scene_params(self.split, self.start + i).caption()


class FolderDataset(Dataset):
    """A user's image folder or zip; labels are all -1 (unlabelled)."""

    def __init__(self, path: str | Path, size: int = 32):
        from .folders import load_images

        s = load_images(path, size)
        if len(s) == 0:
            raise ValueError(f"no readable images in {path}")
        self.images = to_tensor(s.images)
        self.names = s.names

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[i], torch.full((len(shapes.LABEL_COLUMNS),), -1, dtype=torch.long)
