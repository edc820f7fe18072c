import os
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


NETGUARD = Path(__file__).resolve().parent / "netguard"


def pytest_configure(config):
    """No outbound network in the suite, in this process and in every Python process it starts (loopback only):
    tests/netguard. GENMODELS_ALLOW_NETWORK=1 turns it off (for a maintainer fetching real Hub weights)."""
    if os.environ.get("GENMODELS_ALLOW_NETWORK") == "1":
        return
    import sys

    sys.path.insert(0, str(NETGUARD))
    import netguard

    netguard.install()
    os.environ["GENMODELS_BLOCK_NETWORK"] = "1"
    os.environ["PYTHONPATH"] = os.pathsep.join([str(NETGUARD), *filter(None, [os.environ.get("PYTHONPATH")])])


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Tests render into a private cache unless GENMODELS_CACHE is set."""
    if "GENMODELS_CACHE" not in os.environ:
        os.environ["GENMODELS_CACHE"] = str(tmp_path_factory.mktemp("genmodels-cache"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if "GENMODELS_MODELS_DIR" not in os.environ:  # the tests' tiny checkpoints live under pytest's tmp root
        from huggingface_hub import constants

        weights = Path(__file__).resolve().parent.parent / "genmodels" / "weights"
        os.environ["GENMODELS_MODELS_DIR"] = os.pathsep.join(
            [str(tmp_path_factory.getbasetemp()), str(weights), constants.HF_HUB_CACHE])
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    yield


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
