"""Loaded by every Python process started with this folder on PYTHONPATH: blocks non-loopback network when
GENMODELS_BLOCK_NETWORK=1 (see netguard.py)."""
import os

if os.environ.get("GENMODELS_BLOCK_NETWORK") == "1":
    import netguard

    netguard.install()
