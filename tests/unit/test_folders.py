import zipfile

import numpy as np
import pytest
from PIL import Image

from genmodels.data.folders import load_images


def _write(folder, name, arr, mode=None):
    Image.fromarray(arr, mode).save(folder / name) if mode else Image.fromarray(arr).save(folder / name)


def test_folder_with_modes_and_a_corrupt_file(tmp_path):
    rng = np.random.default_rng(0)
    _write(tmp_path, "rgb.png", rng.integers(0, 255, (40, 60, 3), dtype=np.uint8))
    _write(tmp_path, "gray.png", rng.integers(0, 255, (50, 50), dtype=np.uint8))
    _write(tmp_path, "rgba.png", rng.integers(0, 255, (30, 30, 4), dtype=np.uint8))
    Image.fromarray(rng.integers(0, 65535, (33, 33), dtype=np.uint16)).save(tmp_path / "deep.png")
    (tmp_path / "sub").mkdir()
    _write(tmp_path / "sub", "nested.jpg", rng.integers(0, 255, (64, 32, 3), dtype=np.uint8))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    (tmp_path / "notes.txt").write_text("ignored: not an image extension")
    with pytest.warns(UserWarning, match="broken.png"):
        s = load_images(tmp_path, size=32)
    assert s.images.shape == (5, 32, 32, 3) and s.images.dtype == np.uint8
    assert sorted(s.names) == ["deep.png", "gray.png", "rgb.png", "rgba.png", "sub/nested.jpg"]
    assert len(s.skipped) == 1 and s.skipped[0].startswith("broken.png")
    gray = s.images[s.names.index("gray.png")]
    assert np.array_equal(gray[..., 0], gray[..., 1])


def test_zip_and_centre_crop(tmp_path):
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, 10:30] = 255  # the centre square is white, the sides black
    Image.fromarray(arr).save(tmp_path / "wide.png")
    z = tmp_path / "set.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(tmp_path / "wide.png", "imgs/wide.png")
        zf.writestr("__MACOSX/._wide.png", b"junk")
    s = load_images(z, size=20)
    assert s.names == ["imgs/wide.png"] and s.images.shape == (1, 20, 20, 3)
    assert s.images.min() == 255


def test_empty_and_missing(tmp_path):
    assert len(load_images(tmp_path)) == 0
    with pytest.raises(FileNotFoundError, match="no such folder"):
        load_images(tmp_path / "missing")
