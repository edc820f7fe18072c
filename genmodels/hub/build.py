"""Assemble the hub: a ``gr.Blocks`` with one tab per registered family (or a subset, for a Space)."""
from __future__ import annotations

import os

import gradio as gr

from ..registry import families
from .context import HubContext
from .widgets import CSS

TITLE = "genmodels — generative model families, side by side"


def build(keys: list[str] | None = None, context: HubContext | None = None) -> gr.Blocks:
    """One tab per family; ``?tab=<key>`` in the URL opens that tab."""
    context = context or HubContext.from_env()
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
        keys_known = [f.key for f in fams]

        def open_tab(request: gr.Request):
            key = (request.query_params.get("tab") or "").lower() if request is not None else ""
            return gr.Tabs(selected=key) if key in keys_known else gr.Tabs()

        demo.load(open_tab, None, tabs, api_visibility="private", queue=False)
    demo.queue(default_concurrency_limit=int(os.environ.get("GENMODELS_CONCURRENCY", "2")))
    return demo


def launch_kwargs() -> dict:
    """``launch()`` arguments: theme and css go here in Gradio 6; host / port from GRADIO_SERVER_*."""
    return {"css": CSS, "theme": gr.themes.Soft(),
            "server_name": os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
            "server_port": int(os.environ.get("GRADIO_SERVER_PORT", "7860"))}
