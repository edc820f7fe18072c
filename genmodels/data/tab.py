"""The "Data" tab: browse the shapes domain by split, shape, colour, fill and background."""
from __future__ import annotations

import gradio as gr
import numpy as np
from PIL import Image

from ..hub.widgets import clamp_count, how_it_works, on_open, parse_seed, seed_row
from . import shapes
from .family import FAMILY
from .sampling import ANY, FILTERS, find_items, validate_filters

MAX_COUNT = 48
VIEW_SCALE = 4  # images are shown nearest-upscaled so single pixels stay visible


def _big(a: np.ndarray) -> Image.Image:
    if a.dtype == bool:
        a = (a * 255).astype(np.uint8)
    img = Image.fromarray(a)
    return img.resize((img.width * VIEW_SCALE, img.height * VIEW_SCALE), Image.Resampling.NEAREST)


def sample(split: str, shape: str, colour: str, fill: str, background: str, count: float, seed: float,
           size: str = "32"):
    """Gallery of matching items with captions, a table of their labels and a status message."""
    seed = parse_seed(seed)
    n, note = clamp_count(count, 1, MAX_COUNT, "number of items")
    filters = {"shape": shape, "colour": colour, "fill": fill, "background": background}
    problem = validate_filters(split, filters)
    if str(size) not in ("32", "64"):
        problem = problem or f"Unknown image size {size!r}: choose 32 or 64."
    if problem:
        return [], [], problem, {"split": split, "indices": [], "size": 32}
    indices = find_items(split, filters, n, seed)
    if not indices:
        return [], [], "No item of this split matches these filters.", {"split": split, "indices": [], "size": 32}
    px = int(size)
    gallery, rows = [], []
    for i in indices:
        it = shapes.item(split, i, px, twin=False)
        gallery.append((_big(it.image), f"#{i}: {it.caption}"))
        names = it.params.names()
        rows.append([i, it.caption, names["shape"], names["colour"], names["fill"], names["background"],
                     names["size"]])
    msg = f"{len(indices)} item(s) of the **{split}** split" + (
        f" (fewer than {n}: only these match)" if len(indices) < n else "") + (f". {note}" if note else ".")
    return gallery, rows, msg + " Click an image for its twin, edge map and mask.", {
        "split": split, "indices": indices, "size": px}


def sample_with_details(*args):
    """``sample`` with the first item's details open (what the tab shows on open)."""
    out = sample(*args)
    return (*out, *item_details(out[3], 0))


def details(state: dict, evt: gr.SelectData):
    return item_details(state, None if evt is None else evt.index)


def item_details(state: dict, index):
    """Image, other-fill twin, edge map, mask and labels of the ``index``-th item of the last sample."""
    indices = state.get("indices") or []
    if index is None or not 0 <= int(index) < len(indices):
        return None, None, None, None, {}
    i = indices[int(index)]
    it = shapes.item(state["split"], i, state.get("size", 32))
    info = {"split": state["split"], "index": i, "caption": it.caption, "twin caption": it.twin_caption,
            **it.params.names(), "centre": [round(it.params.cx, 3), round(it.params.cy, 3)],
            "radius": round(it.params.radius, 3), "rotation": round(it.params.rotation, 1)}
    return _big(it.image), _big(it.twin), _big(it.edges), _big(it.mask), info


def build_tab(ctx) -> None:
    how_it_works(FAMILY.summary, FAMILY.papers)
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            split = gr.Radio(["train", "val", "test"], value="test", label="Split")
            pickers = [gr.Dropdown([ANY, *FILTERS[k]], value=ANY, label=k.capitalize(), allow_custom_value=True) for k in FILTERS]
            count = gr.Slider(1, MAX_COUNT, value=16, step=1, label="Items")
            size = gr.Radio(["32", "64"], value="32", label="Image size (px)")
            seed = seed_row(0)
            go = gr.Button("Sample", variant="primary", elem_id="data-sample-btn")
        with gr.Column(scale=3):
            msg = gr.Markdown(elem_id="data-message")
            gallery = gr.Gallery(label="Items", columns=8, height="auto", object_fit="contain",
                                 elem_id="data-gallery", buttons=["download", "fullscreen"], format="png")
            with gr.Row():
                d_img = gr.Image(label="Image", height=160, interactive=False, format="png", elem_id="data-item-image")
                d_twin = gr.Image(label="Other-fill twin", height=160, interactive=False, format="png",
                                  elem_id="data-item-twin")
                d_edge = gr.Image(label="Edge map", height=160, interactive=False, format="png",
                                  elem_id="data-item-edges")
                d_mask = gr.Image(label="Mask", height=160, interactive=False, format="png", elem_id="data-item-mask")
            d_info = gr.JSON(label="Labels")
            table = gr.Dataframe(headers=["index", "caption", "shape", "colour", "fill", "background", "size"],
                                 label="Items and labels", interactive=False, wrap=True)
    state = gr.State({"split": "test", "indices": [], "size": 32})
    inputs = [split, *pickers, count, seed, size]
    go.click(sample, inputs, [gallery, table, msg, state], api_name="data_sample")
    gallery.select(details, state, [d_img, d_twin, d_edge, d_mask, d_info], api_visibility="private")

    on_open(sample_with_details, [gallery, table, msg, state, d_img, d_twin, d_edge, d_mask, d_info], inputs,
            cancel_on=[go])
    gr.Examples(
        [["test", "star", ANY, "striped", ANY, 16, 0, "32"],
         ["test", ANY, "red", ANY, "gradient", 16, 1, "32"],
         ["train", "heart", "cyan", "solid", "dark", 8, 2, "64"]],
        inputs=inputs, outputs=[gallery, table, msg, state], fn=sample, cache_examples=False,
        label="Examples")
