"""The "Edit" tab: DDIM inversion, Blended latent diffusion, Prompt-to-Prompt, Diffusion Autoencoders and
DragDiffusion, each with the same readout panel (kept / changed / time). The only module of the family that imports Gradio and the hub."""
from __future__ import annotations

import gradio as gr
import numpy as np

from ...hub.widgets import enlarge, how_it_works, on_open, readout_panel_html, readout_table, seed_row, user_errors
from . import service
from .family import FAMILY

ITEM = 0  # the default example: test item 0, "a small blue solid cross on a dark background"
TARGET = "a small red solid cross on a dark background"
DRAG_ITEM = 2  # "a large blue solid star on a light background": three points dragged 5 px down
DRAG_POINTS = "18,13 -> 18,18; 16,10 -> 16,15; 20,16 -> 20,21"
CANVAS = 8  # the drag canvas shows the 32x32 image 8x (256 px): a click at pixel p is image pixel p // 8
EDITOR = 8


def _big(a: np.ndarray | None, k: int = 6):
    return None if a is None else enlarge(a, k)


def _mask_picture(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The image darkened outside ``mask`` (what the method may change stays bright)."""
    out = image.astype(np.float32)
    out[~np.asarray(mask, bool)] *= 0.3
    return out.astype(np.uint8)


def _panel(columns: dict, title: str) -> str:
    return readout_panel_html(columns, title=title)


# ---- DDIM inversion -------------------------------------------------------------------------------------------

@user_errors
def edit_invert(source, index, upload, caption, steps, cfg, seed):
    """Invert the image with DDIM, regenerate it, and read out how close it came."""
    r = service.invert_image(source, index, upload, caption, steps, cfg, seed)
    gallery = [(_big(r["noise"]), "inverted noise (channels 1-3)"), (_big(r["vae"]), "VAE round trip"),
               (_big(r["sample"]), f"fresh noise, seed {int(seed)}, same caption")]
    return (_big(r["original"]), _big(r["reconstruction"])), gallery, r["note"], \
        _panel(r["columns"], "kept: the regeneration against the original (whole image)")


# ---- Blended --------------------------------------------------------------------------------------------------

def _editor_value(index):
    try:
        img = service.test_item(index).image
    except ValueError:
        return gr.skip()
    big = enlarge(img, EDITOR)
    return {"background": big, "layers": [], "composite": big}


@user_errors
def edit_blended(source, index, editor, mask_from, prompt, steps, cfg, strength, seed):
    """Regenerate the masked region from the prompt; keep the rest."""
    r = service.blended_edit(source, index, editor, mask_from, prompt, steps, cfg, seed, strength)
    gallery = [(_big(_mask_picture(r["original"], r["mask"])), "mask (bright: regenerated)"),
               (_big(r["latent_only"]), "latent blend, decoded (before the pixel blend)"),
               (_big(r["result"]), "result (original pixels outside the mask)")]
    return (_big(r["original"]), _big(r["result"])), gallery, r["note"], \
        _panel(r["columns"], "kept outside the mask · changed inside · time")


# ---- Prompt-to-Prompt -----------------------------------------------------------------------------------------

@user_errors
def edit_p2p(start, index, upload, seed, source_prompt, target_prompt, mode, word, weight, local_blend, blend_words,
             steps, cfg, cross_frac, self_frac, strength):
    """Word swap or re-weighting with cross-attention control; each token's cross-attention map."""
    r = service.p2p_edit(start, index, upload, seed, source_prompt, target_prompt, mode, word, weight, local_blend,
                         blend_words, steps, cfg, cross_frac, self_frac, strength)
    maps_src = [(_big(a, 4), t) for a, t in r["source_maps"]]
    maps_tgt = [(_big(a, 4), t) for a, t in r["target_maps"]]
    return ((_big(r["source_image"]), _big(r["target"])), _big(r["plain"]), maps_src, maps_tgt, r["note"],
            _panel(r["columns"], "Prompt-to-Prompt beside the target prompt from the same start without attention "
                                 "control"))


# ---- Diffusion Autoencoders -----------------------------------------------------------------------------------

DIFFAE_ITEM = 0  # "a small blue solid cross on a dark background" -> red


@user_errors
def edit_diffae(source, index, upload, attribute, target, strength, depth, steps):
    """Encode to (semantic code, inverted noise), move the code toward the target class, decode."""
    r = service.diffae_edit(source, index, upload, attribute, target, strength, depth, steps)
    return (_big(r["original"]), _big(r["edited"])), _big(r["reconstruction"]), r["note"], \
        _panel(r["columns"], "kept outside the object · changed · time")


def _diffae_choices(attribute):
    try:
        names = service.diffae_targets(attribute)
    except ValueError:
        return gr.skip()
    return gr.update(choices=names, value=names[0])


# ---- DragDiffusion --------------------------------------------------------------------------------------------

def _canvas(image: np.ndarray, text) -> np.ndarray:
    from ...pointdrag import canvas

    return canvas(image, text, CANVAS)


@user_errors
def show_canvas(start, index, upload, seed, prompt, points):
    item, _ = service.drag_source(start, index, upload, seed, prompt)
    return _canvas(item.image, points)


@user_errors
def add_point(points, start, index, upload, seed, prompt, evt: gr.SelectData):
    """A click on the canvas: the next handle, or the target of the last handle."""
    from ...pointdrag import add_click

    x, y = (int(v) // CANVAS for v in evt.index[:2])
    text = add_click(points, x, y)
    item, _ = service.drag_source(start, index, upload, seed, prompt)
    return text, _canvas(item.image, text)


@user_errors
def edit_drag_diffusion(start, index, upload, seed, points, prompt, steps, inversion, iterations, keep_background):
    """Drag the handle points to their targets (DragDiffusion)."""
    r = service.drag_edit(start, index, upload, seed, points, prompt, steps, inversion, iterations, keep_background)
    from .drag import draw_points

    ask = draw_points(r["original"], r["handles"], r["targets"], CANVAS)
    got = draw_points(r["edited"], r["tracked"], r["targets"], CANVAS)
    return (ask, got), _big(r["reconstruction"]), r["note"], \
        _panel(r["columns"], "kept outside the editable region · moved · time")


# ---- the tab ----------------------------------------------------------------------------------------------------

def _source_inputs(prefix: str, starts=service.SOURCES, upload: bool = True, item: int = ITEM):
    start = gr.Radio(list(starts), value="test item", label="Start from", elem_id=f"{prefix}-start")
    index = gr.Number(item, label="Test item (0–1999)", precision=0, elem_id=f"{prefix}-index")
    up = gr.Image(label="Upload (centre-cropped to 32×32)", type="numpy", sources=["upload"], height=140,
                  elem_id=f"{prefix}-upload") if upload else None
    return start, index, up


def build_tab(ctx) -> None:
    how_it_works(FAMILY.summary, FAMILY.papers)
    with gr.Tabs():
        with gr.Tab("DDIM inversion", id="edit-invert"):
            with gr.Row():
                with gr.Column(scale=1, min_width=280):
                    i_start, i_index, i_upload = _source_inputs("edit-invert")
                    i_caption = gr.Textbox("", label="Caption (empty: the test item's; an upload's may stay empty)",
                                           elem_id="edit-invert-caption")
                    i_steps = gr.Slider(*service.STEPS_RANGE, value=20, step=1, label="DDIM steps (each way)")
                    i_cfg = gr.Slider(*service.CFG_RANGE, value=1.0, step=0.5, label="CFG of the regeneration "
                                      "(1 reconstructs best)")
                    i_seed = seed_row(0, label="Seed (the fresh-noise sample beside it)")
                    i_go = gr.Button("Invert and regenerate", variant="primary", elem_id="edit-invert-btn")
                with gr.Column(scale=2):
                    i_note = gr.Markdown(elem_id="edit-invert-note")
                    i_slider = gr.ImageSlider(label="original | regenerated from its inverted noise", height=260,
                                              elem_id="edit-invert-slider", elem_classes=["gm-enlarge"])
                    i_gallery = gr.Gallery(columns=3, height="auto", format="png", elem_id="edit-invert-gallery",
                                           elem_classes=["gm-pixelated"])
                    i_panel = gr.HTML(elem_id="edit-invert-readouts")
            i_inputs = [i_start, i_index, i_upload, i_caption, i_steps, i_cfg, i_seed]
            i_outputs = [i_slider, i_gallery, i_note, i_panel]
            i_go.click(edit_invert, i_inputs, i_outputs, api_name="edit_invert")
            on_open(edit_invert, i_outputs, i_inputs, cancel_on=[i_go])
            gr.Examples([["test item", 0, None, "", 20, 1.0, 0], ["test item", 7, None, "", 50, 1.0, 0],
                         ["test item", 7, None, "", 20, 3.0, 1]], i_inputs)

        with gr.Tab("Blended", id="edit-blended"):
            with gr.Row():
                with gr.Column(scale=1, min_width=280):
                    b_start = gr.Radio(list(service.SOURCES), value="test item", label="Start from",
                                       elem_id="edit-blended-start")
                    b_index = gr.Number(ITEM, label="Test item (0–1999)", precision=0, elem_id="edit-blended-index")
                    b_editor = gr.ImageEditor(value=_editor_value(ITEM), type="numpy", sources=["upload"],
                                              label="Paint the region to change (or upload an image here)",
                                              brush=gr.Brush(default_size=24, colors=["#ff00ff"], color_mode="fixed"),
                                              canvas_size=(32 * EDITOR, 32 * EDITOR), transforms=(), layers=False,
                                              height=330, elem_id="edit-blended-editor")
                    b_mask_from = gr.Radio(list(service.MASK_FROM), value="the item's shape", label="Mask from",
                                           elem_id="edit-blended-mask-from")
                    b_prompt = gr.Textbox(TARGET, label="Prompt for the masked region", elem_id="edit-blended-prompt")
                    b_steps = gr.Slider(*service.STEPS_RANGE, value=20, step=1, label="DDIM steps")
                    b_cfg = gr.Slider(*service.CFG_RANGE, value=3.0, step=0.5, label="CFG scale")
                    b_strength = gr.Slider(0.1, 1.0, value=1.0, step=0.05, label="Strength (1: start from noise)")
                    b_seed = seed_row(0, elem_id="edit-blended-seed")
                    b_go = gr.Button("Edit the masked region", variant="primary", elem_id="edit-blended-btn")
                with gr.Column(scale=2):
                    b_note = gr.Markdown(elem_id="edit-blended-note")
                    b_slider = gr.ImageSlider(label="original | edited", height=260, elem_id="edit-blended-slider",
                                              elem_classes=["gm-enlarge"])
                    b_gallery = gr.Gallery(columns=3, height="auto", format="png", elem_id="edit-blended-gallery",
                                           elem_classes=["gm-pixelated"])
                    b_panel = gr.HTML(elem_id="edit-blended-readouts")
            b_index.change(_editor_value, b_index, b_editor, api_visibility="private", queue=False)
            b_inputs = [b_start, b_index, b_editor, b_mask_from, b_prompt, b_steps, b_cfg, b_strength, b_seed]
            b_outputs = [b_slider, b_gallery, b_note, b_panel]
            b_go.click(edit_blended, b_inputs, b_outputs, api_name="edit_blended")
            on_open(edit_blended, b_outputs, b_inputs, cancel_on=[b_go])
            gr.Examples([["test item", 0, None, "the item's shape", TARGET, 20, 3.0, 1.0, 0],
                         ["test item", 1, None, "the item's shape", "a medium cyan striped star on a light background",
                          20, 3.0, 1.0, 0]], b_inputs)

        with gr.Tab("Prompt-to-Prompt", id="edit-p2p"):
            with gr.Row():
                with gr.Column(scale=1, min_width=280):
                    p_start, p_index, p_upload = _source_inputs("edit-p2p", service.STARTS)
                    p_seed = seed_row(0, label="Seed (when starting from a seed)", elem_id="edit-p2p-seed")
                    p_source = gr.Textbox("", label="Source prompt (empty: the test item's caption)",
                                          elem_id="edit-p2p-source")
                    p_target = gr.Textbox(TARGET, label="Target prompt (word swap)", elem_id="edit-p2p-target")
                    p_mode = gr.Radio(list(service.P2P_MODES), value="word swap", label="Edit", elem_id="edit-p2p-mode")
                    with gr.Row():
                        p_word = gr.Textbox("", label="Word to re-weight", scale=2)
                        p_weight = gr.Slider(-2.0, 5.0, value=2.0, step=0.25, label="Its weight c", scale=3)
                    with gr.Row():
                        p_blend = gr.Checkbox(True, label="Local blend", scale=1)
                        p_blend_words = gr.Textbox("", label="Blend words (empty: the shape noun)", scale=2)
                    p_steps = gr.Slider(*service.STEPS_RANGE, value=20, step=1, label="DDIM steps")
                    p_cfg = gr.Slider(*service.CFG_RANGE, value=3.0, step=0.5, label="CFG scale")
                    with gr.Row():
                        p_cross = gr.Slider(0.0, 1.0, value=0.8, step=0.05, label="Cross-attention replaced for "
                                            "(fraction of steps)")
                        p_self = gr.Slider(0.0, 1.0, value=0.4, step=0.05, label="Self-attention replaced for")
                    p_strength = gr.Slider(0.1, 1.0, value=0.5, step=0.05, label="Edit strength (real images: the "
                                           "share of the steps re-run from the inverted latent)",
                                           elem_id="edit-p2p-strength")
                    p_go = gr.Button("Edit the prompt", variant="primary", elem_id="edit-p2p-btn")
                with gr.Column(scale=2):
                    p_note = gr.Markdown(elem_id="edit-p2p-note")
                    with gr.Row():
                        p_slider = gr.ImageSlider(label="source | Prompt-to-Prompt", height=260,
                                                  elem_id="edit-p2p-slider", elem_classes=["gm-enlarge"])
                        p_plain = gr.Image(label="target prompt, same start, no attention control", format="png",
                                           height=260, elem_id="edit-p2p-plain", elem_classes=["gm-enlarge"])
                    p_src_maps = gr.Gallery(label="cross-attention map of each source token (min-max normalised)",
                                            columns=9, rows=1, height=150, format="png", allow_preview=False,
                                            elem_id="edit-p2p-source-maps", elem_classes=["gm-pixelated"])
                    p_tgt_maps = gr.Gallery(label="cross-attention map of each target token (min-max normalised)",
                                            columns=9, rows=1, height=150, format="png", allow_preview=False,
                                            elem_id="edit-p2p-target-maps", elem_classes=["gm-pixelated"])
                    p_panel = gr.HTML(elem_id="edit-p2p-readouts")
            p_inputs = [p_start, p_index, p_upload, p_seed, p_source, p_target, p_mode, p_word, p_weight, p_blend,
                        p_blend_words, p_steps, p_cfg, p_cross, p_self, p_strength]
            p_outputs = [p_slider, p_plain, p_src_maps, p_tgt_maps, p_note, p_panel]
            p_go.click(edit_p2p, p_inputs, p_outputs, api_name="edit_p2p")
            on_open(edit_p2p, p_outputs, p_inputs, cancel_on=[p_go])
            gr.Examples([["test item", 0, None, 0, "", TARGET, "word swap", "", 2.0, True, "", 20, 3.0, 0.8, 0.4, 0.5],
                         ["test item", 0, None, 0, "", "a small blue solid heart on a dark background", "word swap", "",
                          2.0, True, "", 20, 3.0, 0.8, 0.4, 1.0],
                         ["seed", 0, None, 3, "a large green striped circle on a light background",
                          "a large green solid circle on a light background", "word swap", "", 2.0, True, "", 20, 3.0,
                          0.8, 0.4, 1.0],
                         ["test item", 1, None, 0, "", "", "re-weight", "striped", 3.0, True, "", 20, 3.0, 0.8, 0.4,
                          0.7]], p_inputs)

        with gr.Tab("Diffusion Autoencoder", id="edit-diffae"):
            with gr.Row():
                with gr.Column(scale=1, min_width=280):
                    a_start, a_index, a_upload = _source_inputs("edit-diffae", item=DIFFAE_ITEM)
                    a_attr = gr.Radio(list(service.DIFFAE_ATTRIBUTES), value="colour", label="Attribute to move",
                                      elem_id="edit-diffae-attribute")
                    a_target = gr.Dropdown(service.diffae_targets("colour"), value="red", label="Move it to",
                                           allow_custom_value=True, elem_id="edit-diffae-target")
                    a_strength = gr.Slider(*service.DIFFAE_STRENGTH, value=1.0, step=0.25, label="Strength (the "
                                           "target's classifier margin, × the source's)")
                    a_depth = gr.Slider(0.1, 1.0, value=service.DIFFAE_DEPTH, step=0.05, label="Depth (share of "
                                        "the steps inverted and re-run; 1: from x_T as in the paper)",
                                        elem_id="edit-diffae-depth")
                    a_steps = gr.Slider(*service.STEPS_RANGE, value=20, step=1, label="DDIM steps")
                    a_go = gr.Button("Encode, move, decode", variant="primary", elem_id="edit-diffae-btn")
                with gr.Column(scale=2):
                    a_note = gr.Markdown(elem_id="edit-diffae-note")
                    with gr.Row():
                        a_slider = gr.ImageSlider(label="original | edited", height=260, elem_id="edit-diffae-slider",
                                                  elem_classes=["gm-enlarge"])
                        a_rec = gr.Image(label="reconstruction from (z_sem, x_T)", format="png", height=260,
                                         elem_id="edit-diffae-reconstruction", elem_classes=["gm-enlarge"])
                    a_panel = gr.HTML(elem_id="edit-diffae-readouts")
            a_attr.change(_diffae_choices, a_attr, a_target, api_visibility="private", queue=False)
            a_inputs = [a_start, a_index, a_upload, a_attr, a_target, a_strength, a_depth, a_steps]
            a_outputs = [a_slider, a_rec, a_note, a_panel]
            a_go.click(edit_diffae, a_inputs, a_outputs, api_name="edit_diffae")
            on_open(edit_diffae, a_outputs, a_inputs, cancel_on=[a_go])
            gr.Examples([["test item", DIFFAE_ITEM, None, "colour", "red", 1.0, service.DIFFAE_DEPTH, 20],
                         ["test item", 6, None, "background", "light", 1.0, service.DIFFAE_DEPTH, 20],
                         ["test item", 3, None, "shape", "circle", 2.0, 1.0, 20]], a_inputs)

        with gr.Tab("DragDiffusion", id="edit-drag"):
            with gr.Row():
                with gr.Column(scale=1, min_width=280):
                    d_start, d_index, d_upload = _source_inputs("edit-drag", service.STARTS, item=DRAG_ITEM)
                    d_seed = seed_row(0, label="Seed (when starting from a seed)", elem_id="edit-drag-seed")
                    d_prompt = gr.Textbox("", label="Prompt (empty: the test item's caption; needed for a seed)",
                                          elem_id="edit-drag-prompt")
                    d_canvas = gr.Image(_canvas(service.test_item(DRAG_ITEM).image, DRAG_POINTS),
                                        label="Click a handle point, then its target (red → blue)", interactive=False,
                                        format="png", height=280, elem_id="edit-drag-canvas")
                    with gr.Row():
                        d_points = gr.Textbox(DRAG_POINTS, label="Points (x,y -> x,y; pixels of the 32×32 image)",
                                              scale=3, elem_id="edit-drag-points")
                        d_clear = gr.Button("Clear points", scale=1, size="sm", elem_id="edit-drag-clear")
                    d_steps = gr.Slider(*service.STEPS_RANGE, value=20, step=1, label="DDIM steps")
                    d_inversion = gr.Slider(0.2, 0.9, value=0.8, step=0.05, label="Inversion strength (fraction of "
                                            "the steps inverted)")
                    d_iterations = gr.Slider(1, 100, value=60, step=1, label="Iterations (at most)",
                                             elem_id="edit-drag-iterations")
                    d_keep = gr.Checkbox(True, label="Keep the background (λ term outside the object and its target "
                                         "region)")
                    d_go = gr.Button("Drag", variant="primary", elem_id="edit-drag-btn")
                with gr.Column(scale=2):
                    d_note = gr.Markdown(elem_id="edit-drag-note")
                    with gr.Row():
                        d_slider = gr.ImageSlider(label="asked | dragged (tracked handles)", height=280,
                                                  elem_id="edit-drag-slider", elem_classes=["gm-enlarge"])
                        d_rec = gr.Image(label="reconstruction (same path, no drag)", format="png", height=280,
                                         elem_id="edit-drag-reconstruction", elem_classes=["gm-enlarge"])
                    d_panel = gr.HTML(elem_id="edit-drag-readouts")
            src = [d_start, d_index, d_upload, d_seed, d_prompt]
            # helper events (a test item's picture: milliseconds) answer outside the queue, as the Blended editor's
            d_canvas.select(add_point, [d_points, *src], [d_points, d_canvas], api_visibility="private", queue=False)
            d_clear.click(lambda *a: ("", show_canvas(*a)), [*src, gr.State("")], [d_points, d_canvas],
                          api_visibility="private", queue=False)
            for comp in (d_start, d_index, d_upload):
                comp.change(show_canvas, [*src, d_points], d_canvas, api_visibility="private", queue=False)
            d_inputs = [*src[:4], d_points, d_prompt, d_steps, d_inversion, d_iterations, d_keep]
            d_outputs = [d_slider, d_rec, d_note, d_panel]
            d_go.click(edit_drag_diffusion, d_inputs, d_outputs, api_name="edit_drag_diffusion")
            on_open(edit_drag_diffusion, d_outputs, d_inputs, cancel_on=[d_go], slow=True)
            gr.Examples([["test item", DRAG_ITEM, None, 0, DRAG_POINTS, "", 20, 0.8, 60, True],
                         ["test item", 2, None, 0, "18,13 -> 13,13; 16,10 -> 11,10; 20,16 -> 15,16", "", 20, 0.8, 60,
                          True],
                         ["test item", 5, None, 0, "16,17 -> 21,17; 14,15 -> 19,15; 18,19 -> 23,19", "", 20, 0.8, 60,
                          True],
                         ["test item", 0, None, 0, "10,9 -> 15,9", "", 20, 0.7, 80, False]], d_inputs)
    with gr.Accordion("Readouts: held-out evaluation (python -m genmodels.families.edit.evaluate)", open=False):
        gr.HTML(card_table(), elem_id="edit-cards")


def card_table() -> str:
    data = service.stored_metrics()
    if not data:
        return ("<p>Not measured here yet: <code>python -m genmodels.families.edit.evaluate --n 200</code> writes "
                "genmodels/weights/edit/metrics.json (each method on N held-out test items).</p>")
    cols = {name: [{"metric": k, "value": v} for k, v in m.items()] for name, m in data["columns"].items()}
    return readout_table(cols, data.get("footnote", ""))
