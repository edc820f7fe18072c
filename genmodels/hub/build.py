"""Assemble the hub: a ``gr.Blocks`` with one tab per registered family (or a subset, for a Space)."""
from __future__ import annotations

import html
import os

import gradio as gr

from ..registry import families
from .context import HubContext, _env_int
from .guard import guard_inputs
from .widgets import CSS

TITLE = "genmodels — generative model families, side by side"


def warm_imports() -> None:
    """Resolve, on the main thread, every lazily imported class of transformers / diffusers that a request may
    touch (where the package is installed: a Space of one family may not have it). Their lazy module attributes are
    not safe to race: two requests touching one for the first time at once failed with "cannot import name
    'GPT2LMHeadModel'" / "'CLIPImageProcessor'" (the load test, 8 clients)."""
    import importlib
    import importlib.util

    for package, names in (
            ("transformers", ("CLIPTokenizer", "CLIPTextModel", "CLIPTextConfig", "CLIPModel", "CLIPProcessor",
                              "CLIPConfig", "CLIPVisionConfig", "CLIPImageProcessor", "CLIPVisionModelWithProjection",
                              "GPT2LMHeadModel", "GPT2Config")),
            ("diffusers", ("StableDiffusionPipeline", "StableDiffusionControlNetPipeline", "ControlNetModel",
                           "UNet2DConditionModel", "AutoencoderKL", "DDIMScheduler", "DDPMScheduler",
                           "DPMSolverMultistepScheduler", "EulerDiscreteScheduler"))):
        if importlib.util.find_spec(package) is None:
            continue
        module = importlib.import_module(package)
        for name in names:
            getattr(module, name)


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
    """One tab per family; ``?tab=<key>`` in the URL opens that tab."""
    context = context or HubContext.from_env()
    warm_imports()
    atomic_image_cache()
    fams = families(keys)
    with gr.Blocks(title=TITLE) as demo:
        with gr.Row(equal_height=True):
            gr.Markdown(f"# {TITLE}\nEvery family trained on the bundled *shapes* domain and scored by one module. "
                        "Runs offline on embedded models.")
            if context.on_space:  # deep links need a public Space (or share) URL
                gr.DeepLinkButton(size="sm", scale=0)
        with gr.Tabs() as tabs:
            for fam in fams:
                with gr.Tab(fam.title, id=fam.key, elem_id=f"tab-{fam.key}"):
                    fam.build_tab(context)
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
    # Two cores: two requests run at once (GENMODELS_CONCURRENCY); at most GENMODELS_QUEUE_SIZE wait, beyond that a
    # visitor is told the queue is full instead of waiting minutes.
    demo.queue(default_concurrency_limit=_env_int("GENMODELS_CONCURRENCY", 2, 1, 64),
               max_size=_env_int("GENMODELS_QUEUE_SIZE", 64, 1, 10_000))
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
