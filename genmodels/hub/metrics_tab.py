"""The "Metrics" tab: set vs set (FID, KID, IS, precision, recall), pair (SSIM, PSNR, LPIPS, PD, style) and CLIP."""
from __future__ import annotations

import html

import gradio as gr
import numpy as np

from ..data.folders import fit_square
from ..data.sets import load_image_set
from ..scoring.readout import SET_METRICS, score_clip, score_pairs, score_sets
from .metrics_family import FAMILY
from ..validate import open_image
from .widgets import how_it_works, on_open, readout_panel_html, user_errors

SOURCES = ["upload", "shapes-test", "shapes-train"]
MAX_PAIR_SIDE = 512


def _set(source: str, files, backbone: str, label: str) -> tuple[np.ndarray, str, list[str]]:
    size = 299 if backbone == "inception" else 32
    if source == "upload":
        paths = [f if isinstance(f, str) else getattr(f, "name", f) for f in (files or [])]
        if not paths:
            raise ValueError(f"Set {label}: upload images or a zip, or pick a shapes split as the source.")
        images, desc, skipped = load_image_set(paths, size=size)
    elif source in SOURCES:
        images, desc, skipped = load_image_set(source, size=size)
    else:
        raise ValueError(f"Set {label}: unknown source {source!r}; choose one of {', '.join(SOURCES)}.")
    if len(images) < 2:
        raise ValueError(f"Set {label} has {len(images)} readable image(s); set metrics need at least 2.")
    return images, desc, skipped


@user_errors
def metrics_sets(source_a: str, files_a, source_b: str, files_b, metrics: list[str], backbone: str,
                 progress=gr.Progress()):
    """FID / KID / IS / precision / recall of set A (generated) against set B (reference)."""
    metrics = [m for m in (metrics or []) if m]
    if not metrics:
        raise ValueError("Pick at least one metric.")
    bad = [m for m in metrics if m not in SET_METRICS]
    if bad:
        raise ValueError(f"Unknown metric {bad[0]!r}; choose from {', '.join(SET_METRICS)}.")
    progress(0.05, desc="reading set A")
    a, desc_a, skip_a = _set(source_a, files_a, backbone, "A")
    progress(0.2, desc="reading set B")
    ref = "shapes-test" if source_b == "shapes-test" else None
    b, desc_b, skip_b = (None, "shapes-test (2000 items, cached statistics)", []) if ref else \
        _set(source_b, files_b, backbone, "B")
    progress(0.35, desc="features and statistics")
    readouts = score_sets(a, ref or b, metrics=metrics, backbone=backbone)
    notes = [f"A = {desc_a}", f"B = {desc_b}"]
    skipped = skip_a + skip_b
    if skipped:
        notes.append(f"skipped {len(skipped)} unreadable file(s): " + "; ".join(skipped[:5]))
    body = "<br>".join(html.escape(n) for n in notes)  # file names come from the user
    return readout_panel_html({"A vs B": readouts}) + f"<p class='gm-foot'>{body}</p>", [r.as_dict() for r in readouts]


def _read_one(path, label: str) -> np.ndarray:
    if not path:
        raise ValueError(f"Image {label} is missing.")
    img, _ = open_image(path, f"image {label}".strip())
    if max(img.size) > MAX_PAIR_SIDE:
        img.thumbnail((MAX_PAIR_SIDE, MAX_PAIR_SIDE))
    return np.asarray(img, dtype=np.uint8)


@user_errors
def metrics_pair(image_a, image_b):
    """SSIM, PSNR, LPIPS, PD and style distance of two images (B is resized to A's size when they differ)."""
    a, b = _read_one(image_a, "A"), _read_one(image_b, "B")
    note = ""
    if a.shape != b.shape:
        from PIL import Image

        b = np.asarray(Image.fromarray(b).resize((a.shape[1], a.shape[0]), Image.Resampling.BICUBIC))
        note = f"B was resized (bicubic) from its size to A's {a.shape[1]}×{a.shape[0]}."
    if min(a.shape[:2]) < 7:
        raise ValueError(f"Images must be at least 7×7 pixels, got {a.shape[1]}×{a.shape[0]}.")
    readouts = score_pairs(a[None], b[None])
    panel = readout_panel_html({"A vs B": readouts}) + (f"<p class='gm-foot'>{note}</p>" if note else "")
    return (a, b), panel, [r.as_dict() for r in readouts]


@user_errors
def metrics_clip(image, text: str, model: str):
    """CLIP score of an image and a text with the shapes CLIP or a standard CLIP."""
    text = (text or "").strip()
    if not text:
        raise ValueError("Enter a text to score the image against.")
    if len(text) > 1000:
        text = text[:1000]
    img = _read_one(image, "")
    r = score_clip(fit_square_array(img), [text], model=model)
    return readout_panel_html({"image · text": [r]}), r.as_dict()


def fit_square_array(img: np.ndarray, size: int = 224) -> np.ndarray:
    from PIL import Image

    return fit_square(Image.fromarray(img), min(size, max(32, min(img.shape[:2]))))[None]


def example_files() -> dict[str, str]:
    """A few shapes items written once as PNG files (64×64) for the tab's examples."""
    from PIL import Image

    from ..data import shapes
    from ..data.dataset import cache_dir

    folder = cache_dir() / "examples"
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for i in (0, 1, 5):
        it = shapes.item("test", i, 64)
        for name, arr in ((f"test{i}.png", it.image), (f"test{i}_twin.png", it.twin)):
            path = folder / name
            if not path.exists():
                Image.fromarray(arr).save(path)
            files[name] = str(path)
        files[f"caption{i}"] = it.caption
    return files


def backbone_status() -> str:
    """One line on which standard backbones this server can use (file checks only: nothing is loaded)."""
    from ..scoring.backbones import _offline, inception_weights_path
    from ..scoring.perceptual import trunk_weights_file

    have_inception = inception_weights_path() is not None
    have_lpips = trunk_weights_file("alex").exists()
    if have_inception and have_lpips:
        return "Standard backbones available: Inception-v3 (FID weights) and LPIPS-AlexNet."
    missing = [n for n, ok in (("Inception-v3 FID weights", have_inception), ("LPIPS-AlexNet trunk", have_lpips))
               if not ok]
    where = "this server is offline" if _offline() else "they will be downloaded on first use if the network allows"
    return (f"ℹ️ Not cached: {', '.join(missing)} — {where}. Numbers use the **shapes domain backbones** "
            "(named in every readout) unless you pick a standard one that loads.")


def build_tab(ctx) -> None:
    ex = example_files()
    how_it_works(FAMILY.summary, FAMILY.papers)
    gr.Markdown(backbone_status(), elem_id="metrics-backbone-status")
    with gr.Tabs():
        with gr.Tab("Sets", id="metrics-sets"):
            with gr.Row():
                with gr.Column():
                    src_a = gr.Radio(SOURCES, value="shapes-train", label="Set A (generated)",
                                     elem_id="metrics-src-a")
                    files_a = gr.File(file_count="multiple", file_types=["image", ".zip"], label="Images or a zip (A)",
                                      elem_id="metrics-files-a")
                with gr.Column():
                    src_b = gr.Radio(SOURCES, value="shapes-test", label="Set B (reference)", elem_id="metrics-src-b")
                    files_b = gr.File(file_count="multiple", file_types=["image", ".zip"], label="Images or a zip (B)",
                                      elem_id="metrics-files-b")
            with gr.Row():
                mets = gr.CheckboxGroup(list(SET_METRICS), value=list(SET_METRICS), label="Metrics")
                backbone = gr.Radio(["shapes", "inception"], value="shapes", label="Backbone",
                                    info="inception falls back to shapes (and says so) when its weights are absent")
            go = gr.Button("Score sets", variant="primary", elem_id="metrics-sets-btn")
            out = gr.HTML(elem_id="metrics-sets-out")
            raw = gr.JSON(label="Readouts (JSON)")
            sets_inputs = [src_a, files_a, src_b, files_b, mets, backbone]
            go.click(metrics_sets, sets_inputs, [out, raw], api_name="metrics_sets")
            # an upload means "score these": switch the set's source to upload
            files_a.upload(lambda: "upload", None, src_a, api_visibility="private", queue=False)
            files_b.upload(lambda: "upload", None, src_b, api_visibility="private", queue=False)
            # the default example (the real-vs-real floor) takes ~20 s once per process: after the fast ones
            on_open(metrics_sets, [out, raw], sets_inputs, cancel_on=[go], slow=True,
                    progress=lambda *a, **k: None)
            gr.Examples([["shapes-train", None, "shapes-test", None, list(SET_METRICS), "shapes"]],
                        [src_a, files_a, src_b, files_b, mets, backbone],
                        label="Example: the real-vs-real floor (train split vs test split)")
            gr.Markdown("Images are converted to RGB, their shorter side resized and centre-cropped to 32×32 for the "
                        "shapes backbone (299×299 for Inception). Try A = shapes-train vs B = shapes-test: the "
                        "real-vs-real floor every model is compared with.")
        with gr.Tab("Pair", id="metrics-pair"):
            with gr.Row():
                img_a = gr.Image(ex["test1.png"], type="filepath", label="Image A", height=220)
                img_b = gr.Image(ex["test1_twin.png"], type="filepath", label="Image B", height=220)
            go2 = gr.Button("Score pair", variant="primary", elem_id="metrics-pair-btn")
            with gr.Row():
                slider = gr.ImageSlider(label="A | B", height=260, elem_id="metrics-pair-slider")
                with gr.Column():
                    out2 = gr.HTML(elem_id="metrics-pair-out")
                    raw2 = gr.JSON(label="Readouts (JSON)")
            go2.click(metrics_pair, [img_a, img_b], [slider, out2, raw2], api_name="metrics_pair")
            on_open(metrics_pair, [slider, out2, raw2], [img_a, img_b], cancel_on=[go2])
            gr.Examples([[ex["test1.png"], ex["test1_twin.png"]], [ex["test5.png"], ex["test5_twin.png"]],
                         [ex["test0.png"], ex["test1.png"]]], [img_a, img_b], label="Examples: an item vs its "
                        "other-fill twin; two different items")
        with gr.Tab("CLIP", id="metrics-clip"):
            with gr.Row():
                img_c = gr.Image(ex["test0.png"], type="filepath", label="Image", height=220)
                with gr.Column():
                    text = gr.Textbox(label="Text", value=ex["caption0"])
                    model = gr.Radio(["shapes", "standard"], value="shapes", label="CLIP model",
                                     info="standard = CLIP ViT-B/16 when cached; otherwise the shapes CLIP is used")
                    go3 = gr.Button("CLIP score", variant="primary", elem_id="metrics-clip-btn")
            out3 = gr.HTML(elem_id="metrics-clip-out")
            raw3 = gr.JSON(label="Readout (JSON)")
            go3.click(metrics_clip, [img_c, text, model], [out3, raw3], api_name="metrics_clip")
            on_open(metrics_clip, [out3, raw3], [img_c, text, model], cancel_on=[go3])
            gr.Examples([[ex["test0.png"], ex["caption0"], "shapes"], [ex["test0.png"], ex["caption1"], "shapes"],
                         [ex["test5.png"], ex["caption5"], "shapes"]], [img_c, text, model],
                        label="Examples: an item with its own caption, and with another item's caption")
