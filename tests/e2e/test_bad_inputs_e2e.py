"""The bad-input corpus (tests/corpus.py) against every public api_name of the running app, through
gradio_client: every item gets a result (a documented coercion) or a clear error sentence — never Gradio's generic
"the upstream app raised an exception", never a hang — and the server answers a normal request after each endpoint's
corpus. The app fixture then checks its log for tracebacks other than the gr.Error it showed (tests/e2e/conftest.py).

Each parameter is fed the items that fit its kind (images and zips to image / file inputs, NaN / ±inf / huge /
negative to numbers, long text and server paths to text boxes, an unknown choice to radios and dropdowns), the
others keep cheap valid values (BASE), so one call tests one bad value.
"""
from __future__ import annotations

import json
import os
import time
import urllib.request

import pytest

from corpus import NUMBERS, image_files, texts, zip_files

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

GENERIC = "has raised an exception"
CALL_TIMEOUT = 120  # s: a call that takes longer is a hang here (the app's own time budget is 300 s)

# Cheap valid values where the UI default is slow (the rest use the parameters' defaults).
BASE = {
    "compare_run": {"count": 1},
    "gan_sample": {"count": 4},
    "gan_truncation": {"n_per_psi": 50},
    "gan_readouts": {"n": 100},
    "img2img_pix2pix": {"count": 1}, "img2img_pix2pix_readouts": {"count": 1},
    "img2img_style": {"size": 32, "iterations": 10},
    "vae_sample": {"count": 1},
    "vae_text2image": {"count": 1},
    "vae_walk": {"frames": 3},
    "ar_sample": {"count": 1, "every": 256},
    "ar_complete": {"count": 1, "keep_rows": 30},
    "diffusion_txt2img": {"steps": 2, "count": 1},
    "diffusion_controlnet": {"steps": 2, "count": 1},
    "diffusion_guidance": {"guide": "CFG", "steps": 2, "count": 1},
    "diffusion_sweep": {"cfgs": "3", "steps_list": "2", "count": 1},
    "diffusion_trajectory": {"steps": 5, "frames": 2},
    "distill_compare": {"teacher_steps": 4, "count": 1},
    "distill_curve": {"n": 16},
    "distill_hub": {"pipeline": "embedded", "lora": "", "kind": "Turbo", "steps": 1, "cfg": 0.0},  # offline: works
    "metrics_sets": {"metrics": ["fid"]},
    "data_sample": {"count": 2},
    "edit_invert": {"steps": 4},
    "edit_blended": {"steps": 4},
    "edit_p2p": {"steps": 4},
    "edit_diffae": {"steps": 4},
    "edit_drag_diffusion": {"steps": 4, "iterations": 2},
    "gan_drag": {"iterations": 2},
    "gan_edit": {"iterations": 2},
    "gan_text2image": {"count": 1},
}
# When a file goes into this parameter, the input-mode radio must say so for the handler to read it.
MODE_FOR = {("img2img_pix2pix", "upload"): ("mode", "Upload"), ("img2img_pix2pix", "sketch"): ("mode", "Sketch"),
            ("img2img_pix2pix_readouts", "upload"): ("mode", "Upload"),
            ("img2img_pix2pix_readouts", "sketch"): ("mode", "Sketch"),
            ("img2img_cyclegan", "upload"): ("mode", "Upload"), ("img2img_cyclegan_readouts", "upload"): ("mode", "Upload"),
            ("ar_likelihood", "upload"): ("source", "Upload"),
            ("diffusion_controlnet", "upload"): ("source", "upload"),
            ("diffusion_controlnet", "sketch"): ("source", "sketch"),
            ("metrics_sets", "files_a"): ("source_a", "upload"), ("metrics_sets", "files_b"): ("source_b", "upload"),
            ("edit_invert", "upload"): ("source", "upload"), ("edit_blended", "editor"): ("source", "upload"),
            ("edit_p2p", "upload"): ("start", "upload"), ("edit_drag_diffusion", "upload"): ("start", "upload"),
            ("edit_diffae", "upload"): ("source", "upload")}
WEIGHT_BOXES = {"source", "model", "controlnet", "pipeline", "lora"}  # Textbox parameters naming weights to load


@pytest.fixture(scope="module")
def endpoints(app_url):
    info = json.load(urllib.request.urlopen(app_url + "gradio_api/info", timeout=30))
    return {name.lstrip("/"): e["parameters"] for name, e in info["named_endpoints"].items()}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    from PIL import Image

    good = root / "good.png"
    Image.new("RGB", (48, 48), (200, 30, 30)).save(good)
    return {"good": good, "images": image_files(root / "images"), "zips": zip_files(root / "zips")}


def _editor(path):
    from gradio_client import handle_file

    return {"background": handle_file(str(path)), "layers": [], "composite": handle_file(str(path))}


def _base(api: str, params: list[dict], files) -> dict:
    from gradio_client import handle_file

    args = {}
    for p in params:
        name, comp = p["parameter_name"], p["component"].lower()
        if comp == "image":
            args[name] = None if p.get("parameter_has_default") is False else handle_file(str(files["good"]))
        elif comp in ("imageeditor", "sketchpad"):
            args[name] = _editor(files["good"])
        elif comp == "file":
            args[name] = None
        elif comp == "gallery":
            args[name] = [{"image": handle_file(str(files["good"])), "caption": None}]
        elif comp == "api":  # arena_vote's battle id and outcome (a fresh battle per normal request: _normal)
            args[name] = "tie" if name == "outcome" else "no-battle"
        else:
            args[name] = p.get("parameter_default")
    args.update(BASE.get(api, {}))
    return args


def _cases(api: str, params: list[dict], files):
    """(parameter, label, value, extra overrides) for every corpus item that fits a parameter."""
    from gradio_client import handle_file

    for p in params:
        name, comp = p["parameter_name"], p["component"].lower()
        mode = dict([MODE_FOR[(api, name)]]) if (api, name) in MODE_FOR else {}
        if comp in ("image", "imageeditor", "sketchpad", "file", "gallery"):
            items = dict(files["images"])
            if comp == "file":
                items.update(files["zips"])
            for label, path in items.items():
                if comp in ("imageeditor", "sketchpad"):
                    value = _editor(path)
                elif comp == "gallery":
                    value = [{"image": handle_file(str(path)), "caption": None}]
                elif comp == "file" and p.get("type", {}).get("type") == "array":
                    value = [handle_file(str(path))]
                else:
                    value = handle_file(str(path))
                yield name, label, value, mode
        elif comp in ("number", "slider"):
            for label, value in NUMBERS.items():
                yield name, label, value, {}
        elif comp == "textbox":
            for label, value in texts().items():
                yield name, label, value, {}
        elif comp in ("radio", "dropdown"):
            yield name, "unknown-choice", "no-such-choice", {}
        elif comp == "api":  # free strings (arena_vote): the text items, an unknown id / outcome
            for label, value in {**texts(), "unknown": "no-such-value"}.items():
                yield name, label, value, {}


def _normal(client, api: str, base: dict) -> dict:
    """The normal request's arguments: the base values, and for arena_vote a battle that exists."""
    if api != "arena_vote":
        return base
    battle_id = client.predict("star", "red", "solid", "light", 0, api_name="/arena_battle")[2]
    return {**base, "battle_id": battle_id}


def _call(client, api: str, kwargs: dict):
    job = client.submit(api_name="/" + api, **kwargs)
    t0 = time.time()
    try:
        job.result(timeout=CALL_TIMEOUT)
        return "ok", "", time.time() - t0
    except TimeoutError:
        job.cancel()
        return "hang", "", time.time() - t0
    except Exception as e:  # noqa: BLE001 — the message is what is checked
        return "error", str(e), time.time() - t0


def test_every_api_name_survives_the_corpus(client, endpoints, files, artifacts):
    problems, log = [], []
    assert len(endpoints) > 20, sorted(endpoints)
    only = [a for a in os.environ.get("GENMODELS_CORPUS_APIS", "").split(",") if a]  # to rerun a few while fixing
    for api, params in sorted(endpoints.items()):
        if only and not api.startswith(tuple(only)):
            continue
        base = _base(api, params, files)
        status, msg, _ = _call(client, api, _normal(client, api, base))
        if status != "ok":
            problems.append(f"{api}: the normal request failed before the corpus ({status}): {msg[:300]}")
            continue
        for name, label, value, extra in _cases(api, params, files):
            status, msg, secs = _call(client, api, {**base, **extra, name: value})
            log.append({"api": api, "param": name, "item": label, "status": status, "s": round(secs, 2),
                        "message": msg[:200]})
            if status == "hang":
                problems.append(f"{api}({name}={label}): no answer in {CALL_TIMEOUT} s")
            elif status == "error" and "not JSON compliant" in msg:
                problems.append(f"{api}({name}={label}): never reached the server (the client could not send it)")
            elif status == "error" and (GENERIC in msg or not msg.strip()):
                problems.append(f"{api}({name}={label}): generic error, no reason given")
            elif status == "error" and name in WEIGHT_BOXES and ("/etc/" in msg or "/root" in msg):
                problems.append(f"{api}({name}={label}): the message echoes a server path: {msg[:120]}")
            elif name in WEIGHT_BOXES and label in ("etc-path", "traversal-path", "home-secret") and status == "ok":
                problems.append(f"{api}({name}={label}): a server path outside the models root was accepted")
        status, msg, _ = _call(client, api, _normal(client, api, base))  # the server still serves a normal request
        if status != "ok":
            problems.append(f"{api}: a normal request failed after the corpus: {msg[:200]}")
    (artifacts / "bad_inputs.json").write_text(json.dumps(log, indent=1))
    assert not problems, "\n".join(problems)
    if not only:
        assert sum(r["status"] == "error" for r in log) > 100  # the corpus reached the handlers' checks
