"""The hub's queue lanes and start-up (hub/build.py, issue 34).

- Fair queue: every queued event without a limit of its own is in the fast or the slow lane (one Gradio
  concurrency group each, with its own limit from GENMODELS_CONCURRENCY / GENMODELS_SLOW_CONCURRENCY): GAN /
  image-to-image / VAE / data / metric pairs fast; diffusion, distillation, PixelCNN, Compare / arena and the long
  jobs slow. The first-open waiters (``concurrency_limit=None``) and the arena's votes keep their own limits.
- Cold start: ``build()`` imports neither diffusers nor transformers (their lazy classes are resolved by the
  background warm-up the server's start-up event launches, holding the model-load lock), and registers that
  start-up event first.

The full hub is built once, in a fresh interpreter (so no other test's imports count), with non-default lane limits.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from genmodels.registry import families

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = r"""
import json, sys
from genmodels.hub.build import build
from genmodels.hub.screenshots import hub_tabs_from_config
demo = build()
print("JSON" + json.dumps({
    "heavy": sorted(m for m in sys.modules if m.split(".")[0] in ("diffusers", "transformers")),
    "fns": [{"api_name": fn.api_name, "queued": bool(fn.queue and fn.fn is not None),
             "group": fn.concurrency_id, "limit": fn.concurrency_limit} for fn in demo.fns.values()],
    "startup": [getattr(e, "__name__", "") for e in demo.extra_startup_events],
    "tabs": hub_tabs_from_config(demo.config),
}))
"""


@pytest.fixture(scope="module")
def hub():
    env = {**os.environ, "GENMODELS_CONCURRENCY": "3", "GENMODELS_SLOW_CONCURRENCY": "2", "HF_HUB_OFFLINE": "1",
           "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("JSON"))
    data = json.loads(line[4:])
    data["by_name"] = {f["api_name"]: f for f in data["fns"]}
    return data


def test_build_imports_neither_diffusers_nor_transformers(hub):
    assert hub["heavy"] == [], f"build() imported {hub['heavy'][:5]} — resolve them in the warm-up, not at build"


def test_the_warm_up_is_the_first_start_up_event(hub):
    assert hub["startup"][:1] == ["genmodels_warm_imports"], hub["startup"]


def test_every_default_limited_queued_event_is_in_a_lane(hub):
    from genmodels.hub.build import FAST_LANE, SLOW_LANE

    stray = [f["api_name"] for f in hub["fns"] if f["queued"] and f["limit"] == "default"]
    assert not stray, f"queued events left out of the lanes: {stray}"
    lanes = {f["group"] for f in hub["fns"] if f["group"] in (FAST_LANE, SLOW_LANE)}
    assert lanes == {FAST_LANE, SLOW_LANE}


@pytest.mark.parametrize("name", ["gan_sample", "gan_mix", "gan_interpolate", "vae_sample", "vae_text2image",
                                  "vae_reconstruct", "vae_walk", "img2img_pix2pix", "img2img_cyclegan",
                                  "img2img_pix2pix_readouts", "data_sample", "metrics_pair", "metrics_clip",
                                  "arena_leaderboard", "diffusion_txt2img_readouts"])
def test_fast_events_share_the_fast_lane_and_its_limit(hub, name):
    from genmodels.hub.build import FAST_LANE

    fn = hub["by_name"][name]
    assert (fn["group"], fn["limit"]) == (FAST_LANE, 3)


@pytest.mark.parametrize("name", ["diffusion_txt2img", "diffusion_controlnet", "diffusion_sweep", "measure_now",
                                  "distill_compare", "distill_hub", "ar_sample", "ar_complete", "compare_run",
                                  "arena_battle", "gan_truncation", "gan_readouts", "gan_drag", "metrics_sets",
                                  "img2img_style"])
def test_slow_events_share_the_slow_lane_and_its_limit(hub, name):
    from genmodels.hub.build import SLOW_LANE

    fn = hub["by_name"][name]
    assert (fn["group"], fn["limit"]) == (SLOW_LANE, 2)


def test_events_with_their_own_limit_keep_it(hub):
    from genmodels.hub.build import FAST_LANE, SLOW_LANE

    waiters = [f for f in hub["fns"] if f["queued"] and (f["api_name"] or "").startswith("open_")]  # on_open
    assert waiters and all(f["limit"] is None and f["group"] not in (FAST_LANE, SLOW_LANE) for f in waiters)
    assert hub["by_name"]["arena_vote"]["limit"] == 8


def test_every_lane_override_names_an_event_of_the_hub(hub):
    from genmodels.hub.build import FAST_EVENTS, SLOW_EVENTS

    unknown = sorted((FAST_EVENTS | SLOW_EVENTS) - set(hub["by_name"]))
    assert not unknown, f"lane overrides name events the hub does not have: {unknown}"


def test_the_served_config_lists_the_registrys_tabs(hub):
    assert hub["tabs"] == [{"key": f.key, "title": f.title} for f in families()]


def test_lane_limits_come_from_the_environment(monkeypatch):
    from genmodels.hub.build import FAST_LANE, SLOW_LANE, lane_limits

    monkeypatch.delenv("GENMODELS_CONCURRENCY", raising=False)
    monkeypatch.delenv("GENMODELS_SLOW_CONCURRENCY", raising=False)
    assert lane_limits() == {FAST_LANE: 2, SLOW_LANE: 1}
    monkeypatch.setenv("GENMODELS_CONCURRENCY", "4")
    monkeypatch.setenv("GENMODELS_SLOW_CONCURRENCY", "999")
    assert lane_limits() == {FAST_LANE: 4, SLOW_LANE: 64}
    monkeypatch.setenv("GENMODELS_SLOW_CONCURRENCY", "two")
    with pytest.raises(ValueError, match="GENMODELS_SLOW_CONCURRENCY must be an integer"):
        lane_limits()


def test_lane_of_prefers_the_event_then_the_family():
    from genmodels.hub.build import FAST_LANE, SLOW_LANE, lane_of

    assert lane_of("gan", "gan_sample") == FAST_LANE
    assert lane_of("gan", "gan_readouts") == SLOW_LANE
    assert lane_of("diffusion", "diffusion_txt2img") == SLOW_LANE
    assert lane_of("diffusion", "diffusion_txt2img_readouts") == FAST_LANE
    assert lane_of("compare", "arena_leaderboard") == FAST_LANE
    assert lane_of(None, "open_tab") == FAST_LANE


def test_one_thread_acts_on_the_calling_thread_and_restores_it():
    import threading

    import torch

    from genmodels.threads import OneThread

    before = torch.get_num_threads()
    seen = {}
    with OneThread(True):
        seen["inside"] = torch.get_num_threads()
    with OneThread(False):
        seen["inactive"] = torch.get_num_threads()
    assert seen == {"inside": 1, "inactive": before} and torch.get_num_threads() == before
    other = threading.Thread(target=lambda: seen.setdefault("other", torch.get_num_threads()))
    other.start()
    other.join()
    assert seen["other"] == before  # another thread started after the block keeps the process setting
