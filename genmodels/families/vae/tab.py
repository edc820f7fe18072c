"""The "VAE" tab: reconstruct (VAE vs CVAE vs VQ-VAE, the code map, codebook usage), sample (VAE prior, CVAE with
shape / colour, VQ-VAE with its class-conditional PixelCNN prior), text -> image (DALL-E-style, streamed token by
token) and a latent walk, with readouts from the scoring module and the models' held-out numbers side by side."""
from __future__ import annotations

import functools
import json
import math
import os
import time

import gradio as gr
import numpy as np

from ...data import shapes
from ...hub.widgets import (clamp_count, enlarge, how_it_works, image_32, on_open, parse_seed, parse_test_index,
                            parse_whole, readout_table, seed_row, user_errors)
from . import service
from .priors import DEFAULT_GUIDANCE
from .reject import ACCEPT, DEFAULT_BEST_OF, MAX_BEST_OF
from .rerank import DEFAULT_RERANK, MAX_RERANK

ANY = service.ANY


def _stream_every(default: float = 0.5) -> float:
    try:
        value = float(os.environ.get("GENMODELS_STREAM_EVERY_S", default))
    except ValueError:
        return default
    return value if value >= 0 else default


# at most one partial frame per this many seconds while a caption is sampled (README: GENMODELS_STREAM_EVERY_S)
STREAM_EVERY_S = _stream_every()
# What the readouts box shows between the pictures and the numbers: the handlers stream the pictures first, so the
# scoring classifier's pass never delays them (bench: tab handler / bare sampler, time to the pictures)
PENDING = "<p><em>Reading the images with the scoring module …</em></p>"
CAPTIONS = ["a large blue striped heart on a dark background", "a medium red solid star on a light background",
            "a small green striped triangle on a gradient background", "a large yellow solid cross on a dark background",
            "a magenta circle"]


def _number(value, what: str, lo: float, hi: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise gr.Error(f"{what} must be a number, got {value!r}.") from None
    if not math.isfinite(v) or not lo < v <= hi:
        raise gr.Error(f"{what} must be in ({lo:g}, {hi:g}], got {value!r}.")
    return v


def _guidance(value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise gr.Error(f"Guidance scale must be a number, got {value!r}.") from None
    if not math.isfinite(v) or not 0 <= v <= 10:
        raise gr.Error(f"Guidance scale must be between 0 and 10, got {value!r}.")
    return v


def _test_labels(index: int) -> tuple[int, int]:
    from ...data.dataset import test_split

    row = test_split()["labels"][index]
    return int(row[0]), int(row[1])


def _read(images: np.ndarray) -> dict[str, np.ndarray]:
    from ...scoring.backbones import get_backbone

    return get_backbone("shapes").attribute_predictions(images)


# ------------------------------------------------------------------------------------------------ reconstruct
@user_errors
def vae_reconstruct(index, upload):
    """Test item (or an upload) -> streams (input, reconstructions gallery, code map, usage histogram, readouts,
    note): the pictures as soon as the models ran, then the same with the readouts."""
    from ...scoring.perceptual import perceptual_distance
    from ...scoring.pixel import psnr, ssim

    img, note = image_32(upload, index)
    labels = _test_labels(parse_test_index(index)) if upload is None else (None, None)
    r = service.reconstruct(img, *labels)
    vq = service.load("vqvae")
    gallery = [(v, k) for k, v in r["recon"].items()]
    pictures = (enlarge(img), gallery, service.code_map_image(r["codes"], vq.codes), service.histogram_frame(r["codes"]))
    yield (*pictures, PENDING, note)
    cols = {}
    recs = np.stack(list(r["recon"].values()))
    pd = perceptual_distance(recs, np.broadcast_to(img, recs.shape))  # one backbone pass for all models
    for (name, rec), pd_one in zip(r["recon"].items(), pd):
        rows = [{"metric": "PSNR (dB)", "value": psnr(rec, img), "higher_is_better": True},
                {"metric": "SSIM", "value": ssim(rec, img), "higher_is_better": True},
                {"metric": "PD (shapes backbone)", "value": float(pd_one), "higher_is_better": False}]
        if name in r["elbo_bpd"]:
            rows.append({"metric": "ELBO bits/dim of this image", "value": r["elbo_bpd"][name],
                         "higher_is_better": False})
        if name == "VQ-VAE":
            rows += [{"metric": k, "value": v} for k, v in r["code_stats"].items()]
        rows.append({"metric": "encode + decode (ms)", "value": 1000 * r["seconds"][name], "higher_is_better": False})
        cols[name] = rows
    why = "" if "CVAE" in r["recon"] else " (CVAE needs the item's shape and colour: test items only)"
    table = readout_table(cols, "Against the input image; PD: distance of the scoring classifier's feature maps. ELBO: "
                          "single-sample negative ELBO, an upper bound on the image's bits/dim." + why)
    yield (*pictures, table, note)


# ------------------------------------------------------------------------------------------------ sample
@user_errors
def vae_sample(model: str, shape: str, colour: str, count, temperature, guidance, seed, best_of=None,
               progress=gr.Progress()):
    """Streams (gallery, readouts, note): the samples as soon as they are drawn, then with the readouts. ``best_of``:
    classifier rejection sampling, k candidates a label (None: the model's default, ``reject.DEFAULT_BEST_OF``; 1: off;
    the service refuses other values)."""
    seed = parse_seed(seed)
    n, cap = clamp_count(count, 1, 16, "number of samples")
    t = _number(temperature, "Temperature", 0, 2)
    w = _guidance(guidance)

    def on_step(done, total):
        progress(done / total, desc=f"code {done} / {total}")

    images, s, c, secs = service.sample(model, n, seed, shape, colour, t, on_step, w, best_of)
    k = DEFAULT_BEST_OF.get(model, 1) if best_of is None else int(float(best_of))
    notes = [cap]
    if model == "VAE" and k > 1:
        notes.append("Rejection sampling needs a requested label: it applies to the CVAE and the VQ prior, not the "
                     "unconditional VAE.")
    elif k > 1:
        notes.append(f"Each sample is the first of {k} candidates that a separately trained classifier "
                     f"(gan-guide-robust, never the scoring one) reads as the asked label with p ≥ {ACCEPT:g} (the "
                     "likeliest where none does): VQ-VAE-2's classifier-based rejection sampling.")
    if model == "VAE" and (shape != ANY or colour != ANY):
        notes.append("The VAE is unconditional: shape and colour are ignored (pick CVAE to choose them).")
    if model.startswith("VQ") and colour != ANY:
        notes.append("The code prior is conditioned on the shape only: colour is ignored.")
    if not model.startswith("VQ") and w != DEFAULT_GUIDANCE["vq-prior"]:
        notes.append("The guidance scale applies to the VQ prior only.")
    note = " ".join(x for x in notes if x)
    captions = [(f"asked {shapes.SHAPES[s[i]]}" if s is not None else "") +
                (f", {shapes.COLOUR_NAMES[c[i]]}" if c is not None else "") for i in range(n)]
    gallery = list(zip(images, captions))
    yield gallery, PENDING, note
    pred = _read(images)
    rows = [{"metric": "shapes read (scoring classifier)",
             "value": ", ".join(shapes.SHAPES[int(p)] for p in pred["shape"])}]
    if s is not None:
        rows.insert(0, {"metric": "requested shape recognised", "value": float(np.mean(pred["shape"] == s)),
                        "higher_is_better": True})
    if c is not None:
        rows.insert(1, {"metric": "requested colour recognised", "value": float(np.mean(pred["colour"] == c)),
                        "higher_is_better": True})
    rows.append({"metric": "seconds per image", "value": secs / n, "higher_is_better": False})
    table = readout_table({model: rows}, "Read by the scoring classifier, which never took part in training.")
    yield gallery, table, note


# ------------------------------------------------------------------------------------------------ text -> image
@user_errors
def vae_text2image(caption: str, count, temperature, top_k, guidance, seed, rerank=None, progress=gr.Progress()):
    """Streams (gallery, note, readouts) while the codes are generated. ``rerank``: best of k by the generators'
    CLIP (None: the default, ``rerank.DEFAULT_RERANK``; 1: off; the service refuses other values)."""
    seed = parse_seed(seed)
    n, cap = clamp_count(count, 1, 8, "number of samples")
    t = _number(temperature, "Temperature", 0, 5)
    k = parse_whole(top_k, 0, 4096, "top-k")
    w = _guidance(guidance)
    images, info = None, {}
    shown = time.perf_counter()
    for done, total, images, info in service.text2image_stream(caption, n, seed, t, k, guidance=w, rerank=rerank):
        progress(done / total, desc=f"code {done} / {total}")
        # partial code maps only when the wait is long enough to watch (a busy server): each streamed frame costs the
        # queue a round trip, several times the 0.15 s the whole 1-image sample takes on an idle CPU
        if done < total and time.perf_counter() - shown >= STREAM_EVERY_S:
            shown = time.perf_counter()
            yield list(images), f"Code {done} / {total} …", gr.skip()
    from .priors import tokenize

    notes = [cap]
    if info["ignored"]:
        notes.append(f"Ignored words the model does not know: {', '.join(info['ignored'])}.")
    if info["truncated"]:
        notes.append("The caption was truncated to its first 10 known words.")
    notes.append(f"Words used: “{info['words used']}”.")
    if info.get("rerank", 1) > 1:
        notes.append(f"Each sample is the best of {info['rerank']} candidates by the generators' CLIP (DALL-E's "
                     f"reranking; CLIP similarity {', '.join(f'{v:.2f}' for v in info['rerank_scores'])}).")
    note = " ".join(x for x in notes if x)
    yield list(images), note, PENDING
    pred = _read(images)
    ids = tokenize(caption)[0]
    from .priors import WORDS

    words = {WORDS[i - 1] for i in ids}
    rows = []
    for attr, names in (("shape", shapes.SHAPES), ("colour", shapes.COLOUR_NAMES), ("fill", shapes.FILLS),
                        ("background", shapes.BACKGROUNDS)):
        asked = [j for j, name in enumerate(names) if name in words]
        if asked:
            rows.append({"metric": f"{attr} as asked ({names[asked[0]]})",
                         "value": float(np.mean(pred[attr] == asked[0])), "higher_is_better": True})
    rows.append({"metric": "shapes read", "value": ", ".join(shapes.SHAPES[int(p)] for p in pred["shape"])})
    table = readout_table({"DALL-E-style": rows}, "Caption attributes read by the scoring classifier.")
    yield list(images), note, table


def final(handler, **kwargs):
    """A streaming handler run to its end: the function the first-open default, tests and the bench call."""
    @functools.wraps(handler)
    def run(*args):
        last = None
        for last in handler(*args, **kwargs):
            pass
        return last
    return run


QUIET = dict(progress=lambda *a, **k: None)
text2image_final = final(vae_text2image, **QUIET)
sample_final = final(vae_sample, **QUIET)
reconstruct_final = final(vae_reconstruct)


# ------------------------------------------------------------------------------------------------ latent walk
@user_errors
def vae_walk(index_a, index_b, frames, path: str):
    """-> (frames gallery, note)."""
    from ...data.dataset import test_split

    a, b = parse_test_index(index_a), parse_test_index(index_b)
    k = parse_whole(frames, 2, 16, "Frames")
    if path not in ("spherical", "linear"):
        raise gr.Error(f"Path must be spherical or linear, got {path!r}.")
    imgs = test_split()["images"]
    out = service.walk(imgs[a], imgs[b], k, path == "spherical")
    gallery = [(imgs[a], f"item {a}")] + [(x, f"t = {i / (k - 1):.2f}") for i, x in enumerate(out)] + \
        [(imgs[b], f"item {b}")]
    return gallery, (f"{k} decodes between the VAE posterior means of test items {a} and {b} ({path} path); first and "
                     "last tiles are the real images.")


def _card_panel() -> str:
    cols = {}
    for label, key in service.MODELS.items():
        path = service.WEIGHTS / key / "metrics.json"
        if path.exists():
            cols[label] = [{"metric": k, "value": v} for k, v in json.loads(path.read_text()).items()]
    return readout_table(cols, "From each model card (`genmodels/weights/<model>/README.md`), shapes test split, "
                         "scoring module with the shapes backbone.")


# ------------------------------------------------------------------------------------------------ layout
def build_tab(ctx) -> None:
    from .family import FAMILY

    how_it_works(FAMILY.summary, FAMILY.papers)
    with gr.Tabs():
        with gr.Tab("Reconstruct", id="vae-reconstruct"):
            with gr.Row():
                with gr.Column(scale=1, min_width=300):
                    index = gr.Number(7, label="Test item (0 … 1999)", precision=0, elem_id="vae-r-index")
                    upload = gr.Image(label="…or upload (centre-cropped, resized to 32×32)", type="pil",
                                      elem_id="vae-r-upload")
                    go = gr.Button("Reconstruct", variant="primary", elem_id="vae-reconstruct-btn")
                    orig = gr.Image(label="Input (32×32)", format="png", elem_classes=["gm-pixelated"])
                with gr.Column(scale=2):
                    note = gr.Markdown(elem_id="vae-r-note")
                    recs = gr.Gallery(label="Reconstructions", columns=3, height="auto", format="png",
                                      elem_id="vae-r-gallery", elem_classes=["gm-pixelated"])
                    with gr.Row():
                        codemap = gr.Image(label="VQ-VAE code map (one colour per codebook entry)", format="png",
                                           elem_id="vae-r-codes")
                        hist = gr.BarPlot(x="rank", y="count", color="in this image", label="Codebook usage on "
                                          "the test split (entries by frequency)", x_title="entry rank",
                                          y_title="uses in 2,000 test images", elem_id="vae-r-hist")
                    table = gr.HTML(elem_id="vae-r-readouts")
            outs = [orig, recs, codemap, hist, table, note]
            go.click(vae_reconstruct, [index, upload], outs, api_name="vae_reconstruct")
            on_open(reconstruct_final, outs, [index, upload], cancel_on=[go])
        with gr.Tab("Sample", id="vae-sample"):
            with gr.Row():
                with gr.Column(scale=1, min_width=300):
                    s_model = gr.Dropdown(list(service.SAMPLERS), value="VQ-VAE + PixelCNN prior", label="Model",
                                          elem_id="vae-s-model")  # the sampler that draws nameable shapes
                    s_shape = gr.Dropdown([ANY, *shapes.SHAPES], value=ANY, label="Shape (CVAE, VQ prior)")
                    s_colour = gr.Dropdown([ANY, *shapes.COLOUR_NAMES], value=ANY, label="Colour (CVAE)")
                    s_count = gr.Slider(1, 16, value=8, step=1, label="Samples")
                    s_temp = gr.Slider(0.1, 2.0, value=1.0, step=0.05, label="Temperature")
                    s_guide = gr.Slider(0, 10, value=DEFAULT_GUIDANCE["vq-prior"], step=0.5,
                                        label="Guidance scale (VQ prior; 1 = none)")
                    s_seed = seed_row(0, elem_id="vae-s-seed")
                    s_best = gr.Slider(1, MAX_BEST_OF, value=DEFAULT_BEST_OF["VQ-VAE + PixelCNN prior"], step=1,
                                       elem_id="vae-s-best-of",
                                       label="Rejection sampling: up to k candidates (CVAE, VQ prior; 1 = off)",
                                       info="VQ-VAE-2 (Razavi et al. 2019, §3.3): the first of k samples a label "
                                            "that a separately trained classifier reads as the asked label is kept")
                    s_go = gr.Button("Sample", variant="primary", elem_id="vae-sample-btn")
                with gr.Column(scale=2):
                    s_note = gr.Markdown(elem_id="vae-s-note")
                    s_gallery = gr.Gallery(label="Samples", columns=4, height="auto", format="png",
                                           elem_id="vae-s-gallery", elem_classes=["gm-pixelated"])
                    s_table = gr.HTML(elem_id="vae-s-readouts")
            s_inputs = [s_model, s_shape, s_colour, s_count, s_temp, s_guide, s_seed, s_best]
            s_go.click(vae_sample, s_inputs, [s_gallery, s_table, s_note], api_name="vae_sample")
            on_open(sample_final, [s_gallery, s_table, s_note], s_inputs, cancel_on=[s_go])
        with gr.Tab("Text → image", id="vae-text"):
            with gr.Row():
                with gr.Column(scale=1, min_width=300):
                    caption = gr.Textbox(CAPTIONS[0], label="Caption", max_lines=2, elem_id="vae-t-caption")
                    gr.Examples([[c] for c in CAPTIONS], [caption])
                    t_count = gr.Slider(1, 8, value=4, step=1, label="Samples")
                    t_temp = gr.Slider(0.1, 2.0, value=1.0, step=0.05, label="Temperature")
                    t_topk = gr.Slider(0, 256, value=0, step=1, label="top-k (0: off)")
                    t_guide = gr.Slider(0, 10, value=DEFAULT_GUIDANCE["vq-dalle"], step=0.5,
                                        label="Classifier-free guidance scale (1 = none)")
                    t_seed = seed_row(0, elem_id="vae-t-seed")
                    t_rerank = gr.Slider(1, MAX_RERANK, value=DEFAULT_RERANK, step=1, elem_id="vae-t-rerank",
                                         label="CLIP reranking: best of k candidates (1 = off)",
                                         info="DALL-E (Ramesh et al. 2021, §2.5): k samples per caption, the "
                                              "generators' CLIP keeps the best; the scoring module's CLIP and "
                                              "classifier take no part")
                    t_go = gr.Button("Generate", variant="primary", elem_id="vae-text-btn")
                with gr.Column(scale=2):
                    t_note = gr.Markdown(elem_id="vae-t-note")
                    t_gallery = gr.Gallery(label="Samples (codes generated token by token)", columns=4,
                                           height="auto", format="png", elem_id="vae-t-gallery",
                                           elem_classes=["gm-pixelated"])
                    t_table = gr.HTML(elem_id="vae-t-readouts")
            t_inputs = [caption, t_count, t_temp, t_topk, t_guide, t_seed, t_rerank]
            t_go.click(vae_text2image, t_inputs, [t_gallery, t_note, t_table], api_name="vae_text2image")
            on_open(text2image_final, [t_gallery, t_note, t_table], t_inputs, cancel_on=[t_go])
        with gr.Tab("Latent walk", id="vae-walk"):
            with gr.Row():
                with gr.Column(scale=1, min_width=300):
                    w_a = gr.Number(0, label="From test item", precision=0, elem_id="vae-w-a")
                    w_b = gr.Number(5, label="To test item", precision=0, elem_id="vae-w-b")
                    w_frames = gr.Slider(2, 16, value=8, step=1, label="Frames")
                    w_path = gr.Radio(["spherical", "linear"], value="spherical", label="Path")
                    w_go = gr.Button("Walk", variant="primary", elem_id="vae-walk-btn")
                with gr.Column(scale=2):
                    w_note = gr.Markdown(elem_id="vae-w-note")
                    w_gallery = gr.Gallery(label="VAE latent walk", columns=5, height="auto", format="png",
                                           elem_id="vae-w-gallery", elem_classes=["gm-pixelated"])
            w_inputs = [w_a, w_b, w_frames, w_path]
            w_go.click(vae_walk, w_inputs, [w_gallery, w_note], api_name="vae_walk")
            on_open(vae_walk, [w_gallery, w_note], w_inputs, cancel_on=[w_go])
    gr.HTML(_card_panel(), elem_id="vae-cards")
