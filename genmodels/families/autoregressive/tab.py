"""The "PixelCNN" tab: sample (streamed pixel by pixel, naive vs cached sampler, timed), complete an occluded image,
and read an image's likelihood (bits/dim, per-pixel NLL map, PNG baseline), with readouts from the scoring module."""
from __future__ import annotations

import json

import gradio as gr
import numpy as np
from PIL import Image

from ...data import shapes
from ...hub.widgets import (clamp_count, enlarge, how_it_works, image_32, on_open, parse_seed, parse_test_index,
                            readout_table, seed_row, user_errors)
from . import service

ANY = "any"
SAMPLERS = ("cached", "naive")
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


def _every(value) -> int:
    try:
        v = int(float(value))
    except (TypeError, ValueError):
        raise gr.Error(f"Update interval must be a whole number of pixels, got {value!r}.") from None
    return min(max(v, 1), 1024)


def _guidance(value, m) -> tuple[float, str]:
    """The guidance weight to run with and a note: only models trained with a null class (PixelCNN++) are guided."""
    from .pixelcnnpp import guidance_weight

    try:
        w = guidance_weight(value)
    except ValueError as e:
        raise gr.Error(str(e)) from None
    if service.guidance_for(m) == 0:
        return 0.0, " Classifier-free guidance applies to PixelCNN++ only: not used for this model." if w else ""
    return w, f" Classifier-free guidance w = {w:g}." if w else " No guidance (w = 0)."


def _class_rows(images: np.ndarray, asked: list[int] | None) -> list[dict]:
    from ...scoring.backbones import get_backbone

    pred = get_backbone("shapes").attribute_predictions(images)
    rows = [{"metric": "shapes read (scoring classifier)", "value": ", ".join(shapes.SHAPES[int(p)]
                                                                            for p in pred["shape"])}]
    if asked is not None:
        rows.insert(0, {"metric": "requested shape recognised", "value": float(np.mean(pred["shape"] == asked)),
                        "higher_is_better": True})
    return rows


# ------------------------------------------------------------------------------------------------------ sample
@user_errors
def ar_sample(model: str, shape: str, count, sampler: str, seed, every, guidance=service.DEFAULT_GUIDANCE,
              progress=gr.Progress()):
    """Stream class-conditional samples; yields (gallery, note, readouts)."""
    seed = parse_seed(seed)
    n, cap = clamp_count(count, 1, 8, "number of samples")
    every = _every(every)
    key = service.model_key(model)
    m = service.load(key)
    w, w_note = _guidance(guidance, m)
    if sampler not in SAMPLERS:
        raise ValueError(f"Sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}.")
    used = sampler if service.has_cache(m) else "naive"
    why = "" if used == sampler else f" ({model} has no cached sampler here: naive, one pass per sub-pixel)"
    images, secs = None, 0.0
    for t, images, secs in service.stream(key, n, seed, shape, used, guidance=w):
        if (t + 1) % every == 0 or t == 1023:
            progress((t + 1) / 1024, desc=f"pixel {t + 1} / 1024")
            if t < 1023:
                yield list(images), f"Pixel {t + 1} / 1024 · {secs:.1f} s · {used} sampler{why}", gr.skip()
    y = service.class_tensor(m, shape, n)
    asked = None if y is None else y.numpy()
    rows = [*_class_rows(images, asked), {"metric": f"wall time, {used} sampler (s)", "value": secs,
                                          "higher_is_better": False},
            {"metric": "seconds per image", "value": secs / n, "higher_is_better": False}]
    note = f"{n} sample(s) in {secs:.1f} s with the {used} sampler{why}.{w_note} {cap}".strip()
    yield list(images), note, readout_table({model: rows}, "Shapes read by the scoring classifier (never seen in "
                                                         "training); times on this server.")


def sample_final(*args):
    last = None
    for last in ar_sample(*args, progress=lambda *a, **k: None):
        pass
    return last


# ---------------------------------------------------------------------------------------------------- complete
@user_errors
def ar_complete(model: str, index, upload, keep_rows, count, seed, guidance=service.DEFAULT_GUIDANCE,
                progress=gr.Progress()):
    """Keep the top rows of an image, generate the rest; yields (original, occluded, gallery, note)."""
    seed = parse_seed(seed)
    n, cap = clamp_count(count, 1, 8, "number of completions")
    key = service.model_key(model)
    m = service.load(key)
    img, note = image_32(upload, index)
    try:
        rows = int(float(keep_rows))
    except (TypeError, ValueError):
        raise gr.Error(f"Rows to keep must be a whole number, got {keep_rows!r}.") from None
    occluded, start = service.occlude(img, rows)
    shape = None
    if upload is None and m.n_classes:
        from ...data.dataset import test_split

        shape = shapes.SHAPES[int(test_split()["labels"][parse_test_index(index), 0])]
    w, w_note = _guidance(guidance, m) if shape else (0.0, " No class to guide towards (an upload): w = 0.")
    x = np.repeat(occluded[None], n, 0)
    sampler = "cached" if service.has_cache(m) else "naive"
    out, secs = x, 0.0
    for t, out, secs in service.stream(key, n, seed, shape or ANY, sampler, x=x, start=start, guidance=w):
        if (t + 1) % 32 == 0 and t < 1023:
            progress((t + 1 - start) / (1024 - start), desc=f"row {(t + 1) // 32} / 32")
            yield enlarge(img), enlarge(occluded), list(out), f"Row {(t + 1) // 32} / 32 · {secs:.1f} s"
    cond = f" conditioned on the item's class ({shape})" if shape else (" with classes in turn" if m.n_classes else "")
    msg = " ".join(s for s in (note, cap, f"{n} completion(s) of the bottom {32 - rows} rows{cond} in {secs:.1f} s "
                               f"({sampler} sampler).{w_note}") if s)
    yield enlarge(img), enlarge(occluded), list(out), msg


def complete_final(*args):
    last = None
    for last in ar_complete(*args, progress=lambda *a, **k: None):
        pass
    return last


# -------------------------------------------------------------------------------------------------- likelihood
def _photo(name: str) -> np.ndarray:
    from skimage import data

    if name not in PHOTOS:
        raise gr.Error(f"Unknown photo {name!r}; choose one of {', '.join(PHOTOS)}.")
    return getattr(data, name)()


@user_errors
def ar_likelihood(model: str, source: str, index, upload, photo: str, shape: str):
    """bits/dim of a test item, a bundled photo or an upload; returns (image, NLL heat map, readouts, note)."""
    key = service.model_key(model)
    if source == "Test item":
        img, note = image_32(None, index)
    elif source == "Photo (scikit-image)":
        img, note = image_32(Image.fromarray(_photo(photo)), 0, "photo")
    elif source == "Upload":
        if upload is None:
            raise gr.Error("Upload an image first (or pick a test item or a photo).")
        img, note = image_32(upload, 0, "uploaded image")
    else:
        raise gr.Error(f"Source must be Test item, Photo (scikit-image) or Upload, got {source!r}.")
    r = service.likelihood(key, img, shape)
    rows = [{"metric": "bits/dim (this model)", "value": r["bits_per_dim"], "higher_is_better": False},
            {"metric": "PNG bits/dim (same image)", "value": r["png_bits_per_dim"], "higher_is_better": False},
            {"metric": "model / PNG", "value": r["bits_per_dim"] / r["png_bits_per_dim"], "higher_is_better": False}]
    if r["class"]:
        rows.append({"metric": "class used", "value": r["class"] + (" (the most likely)" if shape in (ANY, None, "")
                                                                    else "")})
    table = readout_table({model: rows}, "Exact negative log-likelihood in bits per sub-pixel (32×32×3); the heat map "
                          "shows each pixel's bits (dark: expected, bright: surprising). An image unlike the shapes "
                          "domain — a photo — scores far worse than its PNG: likelihood as an out-of-distribution "
                          "signal.")
    return enlarge(img, 8), service.heat_map(r["nll_map"]), table, note


def _card_panel() -> str:
    """The three models' held-out numbers from their cards (test bits/dim, PNG ratio), side by side."""
    cols = {}
    for label, key in service.MODELS.items():
        path = service.WEIGHTS / key / "metrics.json"
        if path.exists():
            m = json.loads(path.read_text())
            cols[label] = [{"metric": k, "value": v} for k, v in m.items()]
    return readout_table(cols, "From each model card (`genmodels/weights/<model>/README.md`), shapes test split.")


# ------------------------------------------------------------------------------------------------------- layout
def _guidance_slider(elem_id: str):
    from .pixelcnnpp import MAX_GUIDANCE

    return gr.Slider(0, MAX_GUIDANCE, value=service.DEFAULT_GUIDANCE, step=0.5, elem_id=elem_id,
                     label="Classifier-free guidance w (PixelCNN++; 0 = off)",
                     info="(1 + w) log p(v | class) − w log p(v | no class) over the 256 values of each sub-pixel")


def build_tab(ctx) -> None:
    from .family import FAMILY

    how_it_works(FAMILY.summary, FAMILY.papers)
    labels = list(service.MODELS)
    with gr.Tabs():
        with gr.Tab("Sample", id="ar-sample"):
            with gr.Row():
                with gr.Column(scale=1, min_width=300):
                    model = gr.Dropdown(labels, value="PixelCNN++", label="Model", elem_id="ar-model")
                    shape = gr.Dropdown([ANY, *shapes.SHAPES], value=ANY, label="Class (shape)")
                    count = gr.Slider(1, 8, value=4, step=1, label="Samples")
                    sampler = gr.Radio(list(SAMPLERS), value="cached", label="Sampler (cached or naive: same draws)",
                                       elem_id="ar-sampler")
                    every = gr.Slider(1, 256, value=32, step=1, label="Update the picture every N pixels")
                    guidance = _guidance_slider("ar-guidance")
                    seed = seed_row(0, elem_id="ar-seed")
                    go = gr.Button("Sample", variant="primary", elem_id="ar-sample-btn")
                with gr.Column(scale=2):
                    note = gr.Markdown(elem_id="ar-sample-note")
                    gallery = gr.Gallery(label="Samples (streamed)", columns=4, height="auto", format="png",
                                         elem_id="ar-gallery", elem_classes=["gm-pixelated"])
                    table = gr.HTML(elem_id="ar-sample-readouts")
            inputs = [model, shape, count, sampler, seed, every, guidance]
            go.click(ar_sample, inputs, [gallery, note, table], api_name="ar_sample")
            on_open(sample_final, [gallery, note, table], inputs, cancel_on=[go])
            w0 = service.DEFAULT_GUIDANCE
            gr.Examples([["PixelCNN++", "star", 4, "cached", 0, 32, w0], ["PixelCNN++", ANY, 8, "cached", 7, 64, w0],
                         ["PixelCNN++", "heart", 4, "cached", 3, 128, 0.0],
                         ["PixelCNN++", "heart", 2, "naive", 3, 128, w0]], inputs)
        with gr.Tab("Complete", id="ar-complete"):
            with gr.Row():
                with gr.Column(scale=1, min_width=300):
                    c_model = gr.Dropdown(labels, value="PixelCNN++", label="Model")
                    c_index = gr.Number(3, label="Test item (0 … 1999)", precision=0, elem_id="ar-c-index")
                    c_upload = gr.Image(label="…or upload (resized to 32×32)", type="pil", elem_id="ar-c-upload")
                    c_rows = gr.Slider(1, 31, value=16, step=1, label="Rows kept from the top")
                    c_count = gr.Slider(1, 8, value=4, step=1, label="Completions")
                    c_guidance = _guidance_slider("ar-c-guidance")
                    c_seed = seed_row(0)
                    c_go = gr.Button("Complete", variant="primary", elem_id="ar-complete-btn")
                with gr.Column(scale=2):
                    c_note = gr.Markdown(elem_id="ar-complete-note")
                    with gr.Row():
                        c_orig = gr.Image(label="Original", format="png", elem_classes=["gm-pixelated"])
                        c_occ = gr.Image(label="Given to the model", format="png", elem_classes=["gm-pixelated"])
                    c_gallery = gr.Gallery(label="Completions (streamed)", columns=4, height="auto", format="png",
                                           elem_id="ar-c-gallery", elem_classes=["gm-pixelated"])
            c_inputs = [c_model, c_index, c_upload, c_rows, c_count, c_seed, c_guidance]
            c_go.click(ar_complete, c_inputs, [c_orig, c_occ, c_gallery, c_note], api_name="ar_complete")
            on_open(complete_final, [c_orig, c_occ, c_gallery, c_note], c_inputs, cancel_on=[c_go], slow=True)
        with gr.Tab("Likelihood", id="ar-likelihood"):
            with gr.Row():
                with gr.Column(scale=1, min_width=300):
                    l_model = gr.Dropdown(labels, value="PixelCNN++", label="Model")
                    l_source = gr.Radio(["Test item", "Photo (scikit-image)", "Upload"], value="Test item",
                                        label="Image", elem_id="ar-l-source")
                    l_index = gr.Number(0, label="Test item (0 … 1999)", precision=0)
                    l_photo = gr.Dropdown(list(PHOTOS), value="astronaut", label="Photo")
                    l_upload = gr.Image(label="Upload", type="pil", elem_id="ar-l-upload")
                    l_shape = gr.Dropdown([ANY, *shapes.SHAPES], value=ANY, label="Class (any: the most likely)")
                    l_go = gr.Button("Score", variant="primary", elem_id="ar-likelihood-btn")
                with gr.Column(scale=2):
                    l_note = gr.Markdown(elem_id="ar-l-note")
                    with gr.Row():
                        l_img = gr.Image(label="Image (32×32)", format="png", elem_classes=["gm-pixelated"])
                        l_heat = gr.Image(label="Bits per pixel", format="png", elem_classes=["gm-pixelated"])
                    l_table = gr.HTML(elem_id="ar-likelihood-readouts")
            l_inputs = [l_model, l_source, l_index, l_upload, l_photo, l_shape]
            l_go.click(ar_likelihood, l_inputs, [l_img, l_heat, l_table, l_note], api_name="ar_likelihood")
            on_open(ar_likelihood, [l_img, l_heat, l_table, l_note], l_inputs, cancel_on=[l_go])
            gr.Examples([["PixelCNN++", "Test item", 0, None, "astronaut", ANY],
                         ["PixelCNN++", "Photo (scikit-image)", 0, None, "coffee", ANY]], l_inputs)
    gr.HTML(_card_panel(), elem_id="ar-cards")
