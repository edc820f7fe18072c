"""Every public api_name of the hub is called through gradio_client by some e2e test (DESIGN §7: every action
works from gradio_client), and the names follow the "<family>_<action>" scheme."""
import re
from pathlib import Path

from genmodels.hub import build
from genmodels.registry import families

E2E = Path(__file__).resolve().parents[1] / "e2e"
PREFIXES = {"ar": "autoregressive", "arena": "compare", "leaderboard": "compare"}


def _public_names() -> set[str]:
    demo = build()
    return {fn.api_name for fn in demo.fns.values()
            if fn.api_name and getattr(fn, "api_visibility", "public") == "public"}


def test_every_public_api_name_is_called_by_an_e2e_test():
    called = set()
    for f in E2E.glob("test_*.py"):
        called |= set(re.findall(r'api_name="/([a-z0-9_]+)"', f.read_text()))
    names = _public_names()
    assert names - called == set(), f"api_names no e2e test calls: {sorted(names - called)}"
    assert called - names == set(), f"e2e tests call api_names the app lacks: {sorted(called - names)}"


def test_api_names_follow_the_family_scheme():
    keys = {f.key for f in families()}
    for name in _public_names():
        prefix = name.split("_")[0]
        assert PREFIXES.get(prefix, prefix) in keys, name
