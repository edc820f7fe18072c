"""The hub's image cache writes (build.atomic_image_cache): a concurrent request that returns the same image must
never let a client download a truncated file."""
import threading
from pathlib import Path

import numpy as np
from gradio import processing_utils as pu
from PIL import Image

from genmodels.hub.build import atomic_image_cache


def _readers_see_short_files(save, folder: Path, rounds: int = 400) -> list[int]:
    img = Image.fromarray((np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8))
    path = Path(save(img, str(folder), format="png"))
    size, short, stop = path.stat().st_size, [], threading.Event()

    def reader():
        while not stop.is_set():
            n = len(path.read_bytes())
            if n != size:
                short.append(n)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for _ in range(rounds):
        save(img, str(folder), format="png")
    stop.set()
    for t in threads:
        t.join()
    return short


def test_same_image_saved_while_being_read_is_never_seen_short(tmp_path):
    before = pu.save_pil_to_cache  # another test may have built the app (and installed ours) already
    original = getattr(before, "genmodels_original", before)
    pu.save_pil_to_cache = original
    atomic_image_cache()
    try:
        assert pu.save_pil_to_cache is not original and pu.save_pil_to_cache.genmodels_atomic
        assert _readers_see_short_files(pu.save_pil_to_cache, tmp_path / "atomic") == []
        # an existing file (same hash = same bytes) is kept, not rewritten
        img = Image.new("RGB", (32, 32), (200, 10, 10))
        p = Path(pu.save_img_array_to_cache(np.asarray(img), str(tmp_path), format="png"))
        inode = p.stat().st_ino
        assert Path(pu.save_pil_to_cache(img, str(tmp_path), format="png")) == p and p.stat().st_ino == inode
        atomic_image_cache()  # idempotent
        assert pu.save_pil_to_cache.genmodels_atomic
    finally:
        pu.save_pil_to_cache = before
