"""The "Image-to-image" tab: pix2pix (edges → image, from a test item, a drawing or an upload), CycleGAN
(solid ↔ striped, with the cycle and the ground-truth twin) and Gatys style transfer (streamed), with readouts."""
from __future__ import annotations

import math
from functools import lru_cache

import gradio as gr
import numpy as np
from PIL import Image, ImageDraw

from ...data import shapes
from ...validate import model_source, parse_number
from ...hub.widgets import (clamp_count, enlarge, how_it_works, on_open, parse_seed, parse_test_index, readout_table,
                            seed_row, user_errors)
from . import service
from .family import FAMILY

ANY = "any"
INPUTS = ("Test item", "Sketch", "Upload")
STYLE_EXAMPLES = ("astronaut", "chelsea", "coffee", "rocket", "brick", "grass", "gravel")


def default_sketch(size: int = 256) -> np.ndarray:
    """A white canvas with a star outline drawn in black: what the Sketch input opens with (draw over it or clear)."""
    img = Image.new("RGBA", (size, size), (255, 255, 255, 255))
    t = -np.pi / 2 + np.arange(10) * np.pi / 5
    r = np.where(np.arange(10) % 2 == 0, 0.36, 0.16) * size
    pts = [(size / 2 + float(a) * math.cos(b), size / 2 + float(a) * math.sin(b)) for a, b in zip(r, t)]
    ImageDraw.Draw(img).line(pts + [pts[0]], fill=(0, 0, 0, 255), width=max(2, size // 40), joint="curve")
    return np.asarray(img)


def _sketch_array(value) -> np.ndarray | None:
    if value is None:
        return None
    if isinstance(value, dict):
        comp = value.get("composite")
        if comp is None:
            return None
        return np.asarray(comp)
    return np.asarray(value)


def _pair_rows(out: np.ndarray, ref: np.ndarray) -> list[dict]:
    from ...scoring.perceptual import LPIPSUnavailable, lpips, perceptual_distance
    from ...scoring.pixel import psnr, ssim

    rows = [{"metric": "SSIM vs ground truth", "value": ssim(out, ref), "higher_is_better": True},
            {"metric": "PSNR vs ground truth (dB)", "value": psnr(out, ref), "higher_is_better": True},
            {"metric": "PD vs ground truth (shapes)", "value": float(perceptual_distance(out[None], ref[None])[0]),
             "higher_is_better": False}]
    try:
        rows.append({"metric": "LPIPS vs ground truth (alex)", "value": float(lpips(out[None], ref[None])[0]),
                     "higher_is_better": False})
    except LPIPSUnavailable:
        rows.append({"metric": "LPIPS vs ground truth (alex)", "value": None, "higher_is_better": False,
                     "warning": "AlexNet weights are not cached on this offline server; PD is the perceptual number"})
    return rows


# ---------------------------------------------------------------------------------------------------- pix2pix
# The handlers return the images only (native 32×32 arrays, shown crisp by CSS); the readouts are a follow-up event
# that recomputes the same deterministic result, so the images show as soon as G has run (tab / bare ≤ 1.2×).
def _pix2pix_core(source, mode, index, sketch, upload, colour, fill, background, count, seed,
                  upload_as="Canny edges") -> dict:
    seed = parse_seed(seed)
    n, note = clamp_count(count, 1, 8, "number of samples")
    if mode not in INPUTS:
        raise ValueError(f"Input must be one of {', '.join(INPUTS)}, got {mode!r}.")
    source = model_source(source, "pix2pix weights")
    embedded = source == "embedded"
    G = service.load_pix2pix(source)
    if G.model.model[0].in_channels == 3:  # a foreign image → image pix2pix (e.g. the reference's edges2shoes)
        size = service.working_size(G, embedded)
        x, fed = service.foreign_input(mode, size, parse_test_index(index) if mode == "Test item" else None,
                                       upload, _sketch_array(sketch), upload_as)
        return {"foreign": True, "input": x, "outs": service.translate(G, x)[None], "caps": ["output"],
                "truth": None, "item": None, "note": f"A 3-channel pix2pix at {size}×{size}, fed as {fed}."}
    item = truth = None
    if mode == "Test item":
        item = service.test_item(parse_test_index(index))
        edges, truth = item.edges, item.image
    elif mode == "Sketch":
        edges = service.edges_from_sketch(_sketch_array(sketch))
    else:
        edges = service.edges_from_image(service.check_image(upload, "uploaded image"))
    if item is not None and colour == ANY and fill == ANY and background == ANY:
        first = (item.params.colour, item.params.fill, item.params.background)  # the test item's own attributes
    else:
        first = service.attrs_from(colour, fill, background, seed)
    attrs = [first] + [service.attrs_from(colour, fill, background, seed + i) for i in range(1, n)]
    outs = service.pix2pix_run(G, edges, attrs)
    caps = [f"{shapes.COLOUR_NAMES[c]} {shapes.FILLS[f]}, {shapes.BACKGROUNDS[b]}" for c, f, b in attrs]
    msg = " ".join(x for x in (note, f"{n} sample(s); 'any' attributes are drawn from the seed.") if x)
    return {"foreign": False, "edges": edges, "attrs": attrs, "outs": outs, "caps": caps, "truth": truth,
            "item": item, "note": msg}


@user_errors
def img2img_pix2pix(source: str, mode: str, index, sketch, upload, colour: str, fill: str, background: str,
                    count, seed, upload_as: str = "Canny edges"):
    r = _pix2pix_core(source, mode, index, sketch, upload, colour, fill, background, count, seed, upload_as)
    if r["foreign"]:
        shown_in = enlarge(r["input"])
    elif r["item"] is not None:
        shown_in = _item_shown(r["item"].params.index, "edges")
    else:
        shown_in = enlarge(service.drawing(r["edges"]))
    slider = (r["outs"][0], r["truth"]) if r["truth"] is not None else None  # native: enlarged by CSS
    return shown_in, list(zip(r["outs"], r["caps"])), slider, r["note"]


@lru_cache(maxsize=512)
def _item_shown(index: int, what: str) -> np.ndarray:
    """A test item's enlarged edge map, image or twin: the same for every seed and attribute, so made once."""
    item = service.test_item(index)
    view = enlarge(service.drawing(item.edges) if what == "edges" else getattr(item, what))
    view.flags.writeable = False
    return view


@user_errors
def img2img_pix2pix_readouts(source: str, mode: str, index, sketch, upload, colour: str, fill: str, background: str,
                             count, seed, upload_as: str = "Canny edges"):
    from ...scoring.backbones import get_backbone
    from ...scoring.edges import edge_f1

    r = _pix2pix_core(source, mode, index, sketch, upload, colour, fill, background, count, seed, upload_as)
    if r["foreign"]:
        return readout_table({"this model": [{"metric": "input → output size", "value": f"{len(r['input'])} px"}]},
                             "A foreign pix2pix: no ground truth for its domain.")
    outs, attrs, item = r["outs"], r["attrs"], r["item"]
    pred = get_backbone("shapes").attribute_predictions(outs)
    f1 = edge_f1(outs, np.repeat(r["edges"][None], len(outs), 0))
    rows = [{"metric": "edge F1, input vs output (mean)", "value": float(f1.mean()), "higher_is_better": True},
            {"metric": "colour as asked", "value": float((pred["colour"] == [a[0] for a in attrs]).mean()),
             "higher_is_better": True},
            {"metric": "fill as asked", "value": float((pred["fill"] == [a[1] for a in attrs]).mean()),
             "higher_is_better": True},
            {"metric": "shape read by the scoring classifier", "value": shapes.SHAPES[int(np.bincount(
                pred["shape"]).argmax())]}]
    if item is not None:
        rows.insert(0, {"metric": f"shape recognised (asked: {shapes.SHAPES[item.params.shape]})",
                        "value": float((pred["shape"] == item.params.shape).mean()), "higher_is_better": True})
        rows += _pair_rows(outs[0], r["truth"])
    return readout_table({"pix2pix": rows}, "Scoring module: Canny edges with 1-px tolerance, shapes classifier; "
                         "pair metrics for the first sample (the test item's own colour / fill / background when "
                         "all three are 'any').")


def pix2pix_with_readouts(*args):
    """The images and their readouts in one call (what the tab shows on open)."""
    return (*img2img_pix2pix(*args), img2img_pix2pix_readouts(*args))


# --------------------------------------------------------------------------------------------------- CycleGAN
def _cyclegan_core(source: str, mode: str, index, upload, direction: str) -> dict:
    if direction not in ("A→B", "B→A"):
        raise ValueError(f"Direction must be A→B or B→A, got {direction!r}.")
    if mode not in ("Test item", "Upload"):
        raise ValueError(f"Input must be 'Test item' or 'Upload', got {mode!r}.")
    source = model_source(source, "CycleGAN weights")
    embedded = source == "embedded"
    pair = service.load_cyclegan(source)
    d = "AB" if direction == "A→B" else "BA"
    size = service.working_size(pair.G_AB, embedded)
    twin = item = None
    if mode == "Test item":
        item = service.test_item(parse_test_index(index))
        x = item.image if size == 32 else service.square(Image.fromarray(item.image), size)
        twin = item.twin if size == 32 else None
    else:
        x = service.square(service.check_image(upload, "uploaded image"), size)
    y = service.translate(pair.G_AB if d == "AB" else pair.G_BA, x)
    rec = service.translate(pair.G_BA if d == "AB" else pair.G_AB, y)
    note = f"{direction}: {'solid → striped' if d == 'AB' else 'striped → solid'}."
    if item is not None and embedded and shapes.FILLS[item.params.fill] != ("solid" if d == "AB" else "striped"):
        note += (f" Test item {item.params.index} is {shapes.FILLS[item.params.fill]}: A→B expects a solid input, "
                 "B→A a striped one.")
    return {"x": x, "y": y, "rec": rec, "twin": twin, "embedded": embedded, "d": d, "note": note,
            "item": item if size == 32 else None}


@user_errors
def img2img_cyclegan(source: str, mode: str, index, upload, direction: str):
    r = _cyclegan_core(source, mode, index, upload, direction)
    if r["item"] is not None:
        shown_x, shown_twin = (_item_shown(r["item"].params.index, k) for k in ("image", "twin"))
    else:
        shown_x, shown_twin = enlarge(r["x"]), enlarge(r["twin"])
    return shown_x, enlarge(r["y"]), enlarge(r["rec"]), shown_twin, r["note"]


@user_errors
def img2img_cyclegan_readouts(source: str, mode: str, index, upload, direction: str):
    from ...scoring.pixel import psnr

    r = _cyclegan_core(source, mode, index, upload, direction)
    x, y = r["x"], r["y"]
    rows = [{"metric": "cycle PSNR, x vs F(G(x)) (dB)", "value": psnr(r["rec"], x), "higher_is_better": True}]
    if r["embedded"]:
        from ...scoring.backbones import get_backbone

        pred = get_backbone("shapes").attribute_predictions(np.stack([x, y]))
        target = "striped" if r["d"] == "AB" else "solid"
        rows = [{"metric": f"output reads as {target}",
                 "value": float(pred["fill"][1] == shapes.FILLS.index(target)), "higher_is_better": True},
                {"metric": "shape kept", "value": float(pred["shape"][1] == pred["shape"][0]),
                 "higher_is_better": True},
                {"metric": "colour kept", "value": float(pred["colour"][1] == pred["colour"][0]),
                 "higher_is_better": True}] + rows
    if r["twin"] is not None:
        rows += [dict(row, metric=row["metric"].replace("ground truth", "twin")) for row in _pair_rows(y, r["twin"])]
    return readout_table({f"CycleGAN {direction}": rows}, "Twin = the same scene rendered in the other fill (ground "
                         "truth the model never saw in training); scoring module.")


def cyclegan_with_readouts(*args):
    out = img2img_cyclegan(*args)
    return (*out[:4], img2img_cyclegan_readouts(*args), out[4])


# ----------------------------------------------------------------------------------------------- style transfer
def _bundled(name: str) -> np.ndarray:
    from skimage import data

    if name not in STYLE_EXAMPLES:
        raise ValueError(f"Unknown bundled image {name!r}; choose one of {', '.join(STYLE_EXAMPLES)}.")
    a = getattr(data, name)()
    return np.stack([a] * 3, -1) if a.ndim == 2 else a[..., :3]


def _style_input(upload, bundled: str, what: str, size: int) -> np.ndarray:
    img = service.check_image(upload, what) if upload is not None else Image.fromarray(_bundled(bundled))
    return service.square(img, size)


@user_errors
def img2img_style(content_upload, content_name: str, style_upload, style_name: str, size, iterations,
                  log_style_weight, content_weight, network: str, progress=gr.Progress()):
    from ...scoring.perceptual import style_distance
    from .style import feature_net, transfer

    size = int(parse_number(size, 32, 256, "The size"))
    iters = int(parse_number(iterations, 1, 500, "The number of iterations"))
    sw = 10 ** parse_number(log_style_weight, 0, 9, "The style weight (log10)")
    cw = parse_number(content_weight, 0, 100, "The content weight")
    nets = {"auto": "auto", "random multi-scale (offline)": "random", "VGG-19 (cached weights)": "vgg19"}
    if network not in nets:
        raise ValueError(f"Unknown feature network {network!r}; choose one of {', '.join(nets)}.")
    c = _style_input(content_upload, content_name, "content image", size)
    s = _style_input(style_upload, style_name, "style image", size)
    net = feature_net(nets[network])
    d0 = float(style_distance(c[None], s[None])[0])
    step = None
    for step in transfer(c, s, iterations=iters, style_weight=sw, content_weight=cw, net=net, every=10):
        progress(step.iteration / iters, desc=f"iteration {step.iteration} / {iters}")
        yield step.image, None, f"Iteration {step.iteration} / {iters} · {step.seconds:.1f} s · {net.name}"
    d1 = float(style_distance(step.image[None], s[None])[0])
    rows = [{"metric": "style distance to the style image, content image (start)", "value": d0,
             "higher_is_better": False},
            {"metric": "style distance to the style image, result", "value": d1, "higher_is_better": False},
            {"metric": "fall (start / result)", "value": d0 / max(d1, 1e-12), "higher_is_better": True},
            {"metric": "style loss on the optimised network (last)", "value": step.style_loss,
             "higher_is_better": False},
            {"metric": "content loss (last)", "value": step.content_loss, "higher_is_better": False},
            {"metric": "wall time (s)", "value": step.seconds, "higher_is_better": False}]
    table = readout_table({"style transfer": rows}, "Style distance: the scoring module's Gram-matrix distance on the "
                          "shapes backbone (images resized to 32×32) — a different network from the one optimised. "
                          f"Feature network optimised: {net.name}.")
    yield step.image, table, f"Done: {iters} iterations in {step.seconds:.1f} s · {net.name}"


def style_final(*args):
    """The last value of the streamed style transfer (for the first-open default)."""
    last = None
    for last in img2img_style(*args, progress=lambda *a, **k: None):
        pass
    return last


# ------------------------------------------------------------------------------------------------------- layout
def build_tab(ctx) -> None:
    how_it_works(FAMILY.summary, FAMILY.papers)
    with gr.Accordion("Weights", open=False):
        with gr.Row():
            p_source = gr.Textbox("embedded", label="pix2pix: 'embedded', a folder (save_pretrained) or a reference "
                                  "latest_net_G.pth / .safetensors")
            c_source = gr.Textbox("embedded", label="CycleGAN: 'embedded', a folder with G_A/ + G_B/, or a reference "
                                  "latest_net_G_A.pth (its G_B sibling is loaded too)")
    with gr.Tabs():
        with gr.Tab("pix2pix", id="img2img-pix2pix"):
            with gr.Row():
                with gr.Column(scale=1, min_width=300):
                    mode = gr.Radio(list(INPUTS), value="Test item", label="Input", elem_id="p2p-mode")
                    index = gr.Number(2, label="Test item (0 … 1999)", precision=0, elem_id="p2p-index")
                    sketch = gr.Sketchpad(value=default_sketch(), label="Draw an outline (black on white)",
                                          canvas_size=(256, 256), type="numpy", image_mode="RGBA",
                                          brush=gr.Brush(default_size=6, colors=["#000000"], color_mode="fixed"),
                                          elem_id="p2p-sketch")
                    upload = gr.Image(label="Upload: its edges are detected (Canny, scoring module)", type="pil",
                                      elem_id="p2p-upload")
                    upload_as = gr.Radio(list(service.FOREIGN_UPLOAD), value=service.FOREIGN_UPLOAD[0],
                                         label="An upload into a foreign 3-channel pix2pix goes in as",
                                         elem_id="p2p-upload-as")
                    with gr.Row():
                        colour = gr.Dropdown([ANY, *shapes.COLOUR_NAMES], value=ANY, label="Colour")
                        fill = gr.Dropdown([ANY, *shapes.FILLS], value=ANY, label="Fill")
                        background = gr.Dropdown([ANY, *shapes.BACKGROUNDS], value=ANY, label="Background")
                    count = gr.Slider(1, 8, value=4, step=1, label="Samples")
                    seed = seed_row(0)
                    go = gr.Button("Translate", variant="primary", elem_id="p2p-btn")
                with gr.Column(scale=2):
                    note = gr.Markdown(elem_id="p2p-note")
                    with gr.Row():
                        edge_view = gr.Image(label="Edge map fed to G", format="png", elem_id="p2p-edges",
                                             elem_classes=["gm-pixelated"])
                        slider = gr.ImageSlider(label="Output | ground truth", format="png", elem_id="p2p-slider",
                                                elem_classes=["gm-enlarge"])
                    gallery = gr.Gallery(label="Outputs", columns=4, height="auto", format="png",
                                         elem_id="p2p-gallery", elem_classes=["gm-pixelated"])
                    table = gr.HTML(elem_id="p2p-readouts")
            p_inputs = [p_source, mode, index, sketch, upload, colour, fill, background, count, seed, upload_as]
            go.click(img2img_pix2pix, p_inputs, [edge_view, gallery, slider, note], api_name="img2img_pix2pix").success(
                img2img_pix2pix_readouts, p_inputs, table, api_name="img2img_pix2pix_readouts")
            on_open(pix2pix_with_readouts, [edge_view, gallery, slider, note, table], p_inputs, cancel_on=[go])
            canny = service.FOREIGN_UPLOAD[0]
            gr.Examples([["embedded", "Test item", 5, None, None, ANY, ANY, ANY, 4, 0, canny],
                         ["embedded", "Test item", 14, None, None, "blue", ANY, "dark", 8, 2, canny],
                         ["embedded", "Sketch", 0, None, None, "red", "striped", "light", 4, 1, canny]], p_inputs)
        with gr.Tab("CycleGAN", id="img2img-cyclegan"):
            with gr.Row():
                with gr.Column(scale=1, min_width=300):
                    c_mode = gr.Radio(["Test item", "Upload"], value="Test item", label="Input", elem_id="cg-mode")
                    c_index = gr.Number(2, label="Test item (0 … 1999)", precision=0, elem_id="cg-index")
                    c_upload = gr.Image(label="Upload", type="pil", elem_id="cg-upload")
                    direction = gr.Radio(["A→B", "B→A"], value="A→B", label="Direction (A = solid, B = striped)",
                                         elem_id="cg-direction")
                    c_go = gr.Button("Translate", variant="primary", elem_id="cg-btn")
                with gr.Column(scale=2):
                    c_note = gr.Markdown(elem_id="cg-note")
                    with gr.Row():
                        c_in = gr.Image(label="Input x", format="png", elem_id="cg-in", elem_classes=["gm-pixelated"])
                        c_out = gr.Image(label="G(x)", format="png", elem_id="cg-out", elem_classes=["gm-pixelated"])
                        c_rec = gr.Image(label="Cycle F(G(x))", format="png", elem_id="cg-rec",
                                         elem_classes=["gm-pixelated"])
                        c_twin = gr.Image(label="Ground-truth twin", format="png", elem_id="cg-twin",
                                          elem_classes=["gm-pixelated"])
                    c_table = gr.HTML(elem_id="cg-readouts")
            c_inputs = [c_source, c_mode, c_index, c_upload, direction]
            c_go.click(img2img_cyclegan, c_inputs, [c_in, c_out, c_rec, c_twin, c_note],
                       api_name="img2img_cyclegan").success(img2img_cyclegan_readouts, c_inputs, c_table,
                                                             api_name="img2img_cyclegan_readouts")
            on_open(cyclegan_with_readouts, [c_in, c_out, c_rec, c_twin, c_table, c_note], c_inputs, cancel_on=[c_go])
            gr.Examples([["embedded", "Test item", 24, None, "A→B"], ["embedded", "Test item", 6, None, "B→A"],
                         ["embedded", "Test item", 38, None, "B→A"]],
                        c_inputs)
        with gr.Tab("Style transfer", id="img2img-style"):
            with gr.Row():
                with gr.Column(scale=1, min_width=300):
                    with gr.Row():
                        s_content_name = gr.Dropdown(list(STYLE_EXAMPLES), value="astronaut", label="Content (bundled)")
                        s_style_name = gr.Dropdown(list(STYLE_EXAMPLES), value="brick", label="Style (bundled)")
                    with gr.Row():
                        s_content = gr.Image(label="…or upload a content image", type="pil", elem_id="st-content")
                        s_style = gr.Image(label="…or upload a style image", type="pil", elem_id="st-style")
                    s_size = gr.Slider(32, 256, value=128, step=32, label="Size (pixels)")
                    s_iters = gr.Slider(10, 500, value=100, step=10, label="L-BFGS iterations")
                    s_sw = gr.Slider(0, 9, value=6, step=0.5, label="Style weight (log10)")
                    s_cw = gr.Slider(0, 10, value=1, step=0.1, label="Content weight")
                    s_net = gr.Radio(["auto", "random multi-scale (offline)", "VGG-19 (cached weights)"],
                                     value="auto", label="Feature network")
                    s_go = gr.Button("Transfer", variant="primary", elem_id="st-btn")
                with gr.Column(scale=2):
                    s_note = gr.Markdown(elem_id="st-note")
                    s_out = gr.Image(label="Result (updates while it is optimised)", format="png", elem_id="st-out")
                    s_table = gr.HTML(elem_id="st-readouts")
            s_inputs = [s_content, s_content_name, s_style, s_style_name, s_size, s_iters, s_sw, s_cw, s_net]
            s_outputs = [s_out, s_table, s_note]
            s_go.click(img2img_style, s_inputs, s_outputs, api_name="img2img_style")
            on_open(style_final, s_outputs, s_inputs, cancel_on=[s_go], slow=True)
