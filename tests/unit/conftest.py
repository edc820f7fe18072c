"""Fixtures shared by unit-test modules."""
import pytest


@pytest.fixture(scope="module")
def random_sd_folder(tmp_path_factory):
    """A tiny Stable Diffusion pipeline with random weights (seed 0) in diffusers' folder layout, one per test module
    (the Edit family's tests run their methods on it)."""
    from genmodels.families.diffusion import tiny_sd

    root = tmp_path_factory.mktemp("random-sd") / "pipe"
    tiny_sd.build_random_pipeline(root, seed=0)
    return root
