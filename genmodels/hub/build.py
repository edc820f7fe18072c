"""Assemble the hub: a ``gr.Blocks`` with one tab per registered family (or a subset, for a Space).

Two things here keep the hub responsive on two CPU cores:

- **Queue lanes** (:func:`assign_lanes`). Every queued event joins one of two Gradio concurrency groups: *fast*
  (GAN / image-to-image / VAE samples, data, metric pairs, readout tables: tens to hundreds of ms) or *slow*
  (diffusion, distillation, edits, PixelCNN, Compare / arena — which run those samplers — and the long jobs of fast
  families: sweeps, readout recomputes, style transfer). Each lane has its own limit and its own FIFO, so a 40 ms GAN
  request never waits behind diffusion samples, and at most ``fast + slow`` requests run at once (torch threads on
  two cores). Limits: ``GENMODELS_CONCURRENCY`` (fast, default 2) and ``GENMODELS_SLOW_CONCURRENCY`` (slow, default 1).
- **Heavy imports after the page answers** (:func:`start_warm_imports`). transformers' / diffusers' lazy classes are
  resolved on a background thread that the server's start-up event launches, holding the model-load lock
  (loading.py): the page answers without waiting for them, and the first request that loads a model waits for them.
"""
from __future__ import annotations

import html
import os
import sys
import threading
import time

import gradio as gr

from ..loading import run_holding_lock
from ..registry import families
from .context import HubContext, _env_int
from .guard import guard_inputs
from .widgets import CSS

TITLE = "genmodels — generative model families, side by side"
TAB_ELEM_ID = "tab-{key}"  # elem_id of each family's top-level tab (screenshots.py reads the tab list by it)

# Queue lanes (Gradio concurrency_id groups).
FAST_LANE, SLOW_LANE = "genmodels-fast", "genmodels-slow"
# Families whose events run iterative samplers (seconds each, more at high settings), or run those families' models.
SLOW_FAMILIES = frozenset({"compare", "autoregressive", "diffusion", "distill", "edit"})
# Long jobs in otherwise fast families: FID / PPL over hundreds of samples, metric sets, L-BFGS style transfer.
SLOW_EVENTS = frozenset({"gan_truncation", "gan_readouts", "gan_drag", "gan_edit", "metrics_sets", "img2img_style"})
# Short events in slow families: a table read from disk; the readouts follow-up of a txt2img (12-25 ms per
# docs/benchmarks.md), which should not wait behind other visitors' samples.
FAST_EVENTS = frozenset({"arena_leaderboard", "diffusion_txt2img_readouts"})

WARM_MARK = "genmodels: model libraries ready"  # printed (stderr) when the background warm-up is done
WARM_DONE = threading.Event()
_warm_started = threading.Lock()


def lane_limits() -> dict[str, int]:
    """How many events of each lane run at once: ``GENMODELS_CONCURRENCY`` (fast lane, default 2) and
    ``GENMODELS_SLOW_CONCURRENCY`` (slow lane, default 1), each 1..64."""
    return {FAST_LANE: _env_int("GENMODELS_CONCURRENCY", 2, 1, 64),
            SLOW_LANE: _env_int("GENMODELS_SLOW_CONCURRENCY", 1, 1, 64)}


def lane_of(family: str | None, api_name: str | None) -> str:
    """The lane of an event registered by ``family``'s tab under ``api_name``: the event's own entry in
    ``SLOW_EVENTS`` / ``FAST_EVENTS`` first, else its family's (``SLOW_FAMILIES``), else fast."""
    if api_name in SLOW_EVENTS:
        return SLOW_LANE
    if api_name in FAST_EVENTS:
        return FAST_LANE
    return SLOW_LANE if family in SLOW_FAMILIES else FAST_LANE


def assign_lanes(demo: gr.Blocks, owners: dict[int, str]) -> dict[str, list[str]]:
    """Put every queued event of ``demo`` that has no concurrency limit of its own (``concurrency_limit`` left at
    "default") into its lane: ``concurrency_id`` = the lane, ``concurrency_limit`` = the lane's limit. ``owners`` maps
    a function id (key of ``demo.fns``) to the family whose tab registered it. Events with an explicit limit keep it
    (the first-open waiters, ``concurrency_limit=None``; the arena's votes). Returns lane → api_names."""
    limits = lane_limits()
    members: dict[str, list[str]] = {FAST_LANE: [], SLOW_LANE: []}
    for fn_id, fn in demo.fns.items():
        if fn.fn is None or not fn.queue or fn.concurrency_limit != "default":
            continue
        lane = lane_of(owners.get(fn_id), fn.api_name)
        fn.concurrency_id, fn.concurrency_limit = lane, limits[lane]
        members[lane].append(str(fn.api_name or fn.name))
    return members


def warm_imports() -> None:
    """Resolve every lazily imported class of transformers / diffusers that a request may touch (where the package is
    installed: a Space of one family may not have it). Their lazy module attributes are not safe to race: two requests
    touching one for the first time at once failed with "cannot import name 'GPT2LMHeadModel'" /
    "'CLIPImageProcessor'" (the load test, 8 clients). The hub runs this once, in the background, holding the
    model-load lock (:func:`start_warm_imports`); the code that touches these classes does so inside a loader that
    holds that lock, or after one returned (schedulers and pipelines built from a loaded pipeline), so nothing
    resolves them beside this. ``build()`` itself imports neither package (tests/unit/test_queue_lanes.py)."""
    import importlib
    import importlib.util

    for package, names in (
            ("transformers", ("CLIPTokenizer", "CLIPTextModel", "CLIPTextConfig", "CLIPModel", "CLIPProcessor",
                              "CLIPConfig", "CLIPVisionConfig", "CLIPImageProcessor", "CLIPVisionModelWithProjection",
                              "GPT2LMHeadModel", "GPT2Config")),
            ("diffusers", ("StableDiffusionPipeline", "StableDiffusionControlNetPipeline", "ControlNetModel",
                           "UNet2DConditionModel", "AutoencoderKL", "DDIMScheduler", "DDPMScheduler",
                           "DPMSolverMultistepScheduler", "EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler",
                           "LCMScheduler"))):
        if importlib.util.find_spec(package) is None:
            continue
        module = importlib.import_module(package)
        for name in names:
            getattr(module, name)


def start_warm_imports(warm=warm_imports) -> bool:
    """Start ``warm`` (default :func:`warm_imports`) once per process on a background thread that holds the
    model-load lock; returns once the lock is held (so every model loader called later waits for it) — False if it
    was started before. When done it sets ``WARM_DONE`` and prints ``WARM_MARK`` with the seconds it took to stderr
    (the cold-start benchmark reads that line). The hub calls this from the server's start-up event."""
    if not _warm_started.acquire(blocking=False):
        return False
    t0 = time.perf_counter()

    def work() -> None:
        try:
            warm()
            print(f"{WARM_MARK} (transformers / diffusers classes resolved in the background in "
                  f"{time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)
        finally:
            WARM_DONE.set()

    run_holding_lock(work, "genmodels-warm-imports", timeout_s=5.0)  # the caller is the server's event loop
    return True


def atomic_image_cache() -> None:
    """Gradio writes every output image to a content-addressed path (a hash of its bytes) with ``write_bytes``, which
    truncates the file first. Two concurrent requests that return the same image (a deterministic model, the same
    default example) therefore rewrite the file while the other request's client downloads it, and that client gets
    0 of the announced bytes: "peer closed connection without sending complete message body (received 0 bytes,
    expected 2540)", seen once in the 8-client arena test. The same name means the same bytes, so a file that exists
    is kept, and a new one appears whole through an atomic rename."""
    import threading
    from pathlib import Path

    from gradio import processing_utils as pu

    if getattr(pu.save_pil_to_cache, "genmodels_atomic", False):
        return

    def save_pil_to_cache(img, cache_dir: str, name: str = "image", format: str = "webp") -> str:
        data = pu.encode_pil_to_bytes(img, format)
        folder = Path(cache_dir) / pu.hash_bytes(data)
        folder.mkdir(exist_ok=True, parents=True)
        path = (folder / f"{name}.{format}").resolve()
        if not path.exists():
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return str(path)

    save_pil_to_cache.genmodels_atomic = True
    save_pil_to_cache.genmodels_original = pu.save_pil_to_cache
    pu.save_pil_to_cache = save_pil_to_cache


def build(keys: list[str] | None = None, context: HubContext | None = None) -> gr.Blocks:
    """One tab per family; ``?tab=<key>`` in the URL opens that tab. Events are put in queue lanes
    (:func:`assign_lanes`); the heavy model-library imports start when the server starts
    (:func:`start_warm_imports`), not here."""
    context = context or HubContext.from_env()
    atomic_image_cache()
    fams = families(keys)
    owners: dict[int, str] = {}  # function id -> the family whose tab registered it
    with gr.Blocks(title=TITLE) as demo:
        with gr.Row(equal_height=True):
            gr.Markdown(f"# {TITLE}\nEvery family trained on the bundled *shapes* domain and scored by one module. "
                        "Runs offline on embedded models.")
            if context.on_space:  # deep links need a public Space (or share) URL
                gr.DeepLinkButton(size="sm", scale=0)
        with gr.Tabs() as tabs:
            for fam in fams:
                before = set(demo.fns)
                with gr.Tab(fam.title, id=fam.key, elem_id=TAB_ELEM_ID.format(key=fam.key)):
                    fam.build_tab(context)
                owners.update(dict.fromkeys(set(demo.fns) - before, fam.key))
        notice = gr.Markdown(visible=False, elem_id="hub-notice")
        gr.Markdown(footer(), elem_id="hub-footer", elem_classes=["gm-foot"])
        keys_known = [f.key for f in fams]

        def open_tab(request: gr.Request):
            key = (request.query_params.get("tab") or "").strip().lower() if request is not None else ""
            if key in keys_known:
                return gr.Tabs(selected=key), gr.Markdown(visible=False)
            if key:  # an unknown family in a shared link: the first tab, and say so
                shown = html.escape(key[:40])
                return gr.Tabs(selected=keys_known[0]), gr.Markdown(
                    f"⚠️ This link asks for a tab “{shown}” that this hub does not have; showing "
                    f"{fams[0].title} instead. Tabs here: {', '.join(keys_known)}.", visible=True)
            return gr.Tabs(), gr.Markdown(visible=False)

        demo.load(open_tab, None, [tabs, notice], api_visibility="private", queue=False)
    guard_inputs(demo)  # every input answers a bad value with a sentence (guard.py)
    # Two cores: a fast and a slow lane with their own limits (module docstring); at most GENMODELS_QUEUE_SIZE
    # requests wait in all lanes together, beyond that a visitor is told the queue is full instead of waiting minutes.
    assign_lanes(demo, owners)
    demo.queue(default_concurrency_limit=lane_limits()[FAST_LANE],
               max_size=_env_int("GENMODELS_QUEUE_SIZE", 64, 1, 10_000))

    async def genmodels_warm_imports() -> None:  # runs before the queue serves its first event
        start_warm_imports()

    demo.extra_startup_events.insert(0, genmodels_warm_imports)
    return demo


def footer() -> str:
    """Versions, and which backbones the readouts use here: the domain networks always; the standard ones
    (Inception-v3, LPIPS-AlexNet, CLIP ViT-B/16) only where their weights are cached or downloadable."""
    import importlib.metadata as md

    import torch

    from ..scoring.backbones import _offline, inception_weights_path
    from ..scoring.perceptual import trunk_weights_file

    def ver(name: str) -> str:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return "—"

    online = not _offline()
    standard = {"Inception-v3 (FID)": inception_weights_path() is not None,
                "LPIPS AlexNet": trunk_weights_file("alex").exists()}
    std = ", ".join(f"{k}: {'cached' if v else ('on first use (download)' if online else 'not available offline')}"
                    for k, v in standard.items())
    return (f"genmodels {ver('genmodels')} · gradio {gr.__version__} · torch {torch.__version__} · diffusers "
            f"{ver('diffusers')} · transformers {ver('transformers')}. Backbones: domain (shapes classifier, shapes "
            f"CLIP) always active; standard — {std}. Every readout names the backbone it used.")


def launch_kwargs() -> dict:
    """``launch()`` arguments: theme and css go here in Gradio 6; host / port from GRADIO_SERVER_*; a public
    gradio.live link with GENMODELS_SHARE=1 (or ``python app.py --share``)."""
    import sys

    share = os.environ.get("GENMODELS_SHARE", "").lower() in ("1", "true", "yes") or "--share" in sys.argv[1:]
    return {"css": CSS, "theme": gr.themes.Soft(),
            "server_name": os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
            "server_port": int(os.environ.get("GRADIO_SERVER_PORT", "7860")), "share": share}
