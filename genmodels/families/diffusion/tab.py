"""The "Diffusion" tab: text -> image, ControlNet, the guidance lab (with an X/Y sweep) and the DDPM trajectory."""
from __future__ import annotations

import json
import queue
from concurrent.futures import ThreadPoolExecutor

import gradio as gr
import numpy as np
from PIL import Image

from ...data import shapes
from ...validate import model_source
from ...hub.widgets import clamp_count, how_it_works, on_open, parse_seed, readout_panel_html, readout_table, \
    seed_row, user_errors
from ...limits import current_deadline
from . import lab, service
from .family import FAMILY

SCALE = 4  # display upscaling of 32x32 outputs (nearest)
MAX_IMAGES = 16
PREVIEW_SECONDS = 1.0  # at most one decoded preview per second while streaming (service.txt2img)
EXAMPLE = "a large red striped star on a light background"
ILVR_FACTORS = ["2", "4", "8", "16", "32"]


def _big(a: np.ndarray) -> Image.Image:
    img = Image.fromarray(a)
    f = max(1, 128 // max(img.size))
    return img.resize((img.width * f, img.height * f), Image.Resampling.NEAREST)


def _strip(images) -> Image.Image:
    return _big(np.concatenate(list(images), axis=1))


def _common(pipe, prompt, negative, steps, cfg, seed):
    prompt, note_p = service.check_prompt(pipe.tokenizer, prompt)
    negative, note_n = service.check_prompt(pipe.tokenizer, negative, "negative prompt", allow_empty=True)
    steps, note_s = service.clamp_steps(steps)
    return prompt, negative, steps, service.check_scale(cfg), parse_seed(seed), [x for x in (note_p, note_n, note_s)
                                                                                 if x]


def _named_attributes(prompt: str) -> dict[str, int]:
    """The shapes attributes a prompt names (class, colour, fill), for the attribute-accuracy readout."""
    words = prompt.lower().replace(",", " ").split()
    found = {}
    for key, names in (("shape", shapes.SHAPES), ("colour", shapes.COLOUR_NAMES), ("fill", shapes.FILLS)):
        hit = [names.index(w) for w in words if w in names]
        if hit:
            found[key] = hit[0]
    return found


def _readouts(images: np.ndarray, prompt: str, extra: list | None = None) -> list:
    from ...scoring.readout import per_pair_readout, score_clip
    from ...scoring.backbones import get_backbone

    rows = [score_clip(images, [prompt] * len(images))]
    named = _named_attributes(prompt)
    if named:
        pred = get_backbone("shapes").attribute_predictions(images)
        ok = np.ones(len(images), bool)
        for k, v in named.items():
            ok &= pred[k] == v
        rows.append(per_pair_readout(f"prompt attributes recognised ({', '.join(named)})", ok.astype(float),
                                     "shapes classifier", True))
    return rows + (extra or [])


# One long-lived sampler thread: service._LOCK runs one pipeline at a time anyway, and a thread that lives on keeps
# its torch / OpenMP worker team (a fresh thread per request built a new one every time).
_SAMPLER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="diffusion-sampler")


def _stream(work):
    """Run ``work(report)`` on the sampler thread; yield what it reports while it runs, then ('done', result)."""
    q: queue.SimpleQueue = queue.SimpleQueue()
    deadline = current_deadline()  # the request's time budget travels to the sampler thread

    def run(report):
        if deadline is None:
            return work(report)
        with deadline:
            return work(report)

    future = _SAMPLER.submit(run, q.put)
    future.add_done_callback(lambda _: q.put(None))
    try:
        while (item := q.get()) is not None:
            yield item
    finally:
        if not future.done() and deadline is not None:  # the visitor went away: stop the sampler at its next step
            deadline.cancel()
    yield "done", future.result()  # re-raises the worker's error here


READOUTS_PENDING = "<p class='gm-foot'>Readouts of this batch follow when sampling ends.</p>"


@user_errors
def diffusion_txt2img(prompt, negative, steps, cfg, scheduler, count, seed, model, progress=gr.Progress()):
    """Stream the denoising (progress every step, a decoded preview about once a second) and return the images;
    their readouts are a follow-up event (``diffusion_txt2img_readouts``), so the images show as soon as they exist."""
    pipe = service.load_pipeline(model_source(model, "Pipeline"))
    prompt, negative, steps, cfg, seed, notes = _common(pipe, prompt, negative, steps, cfg, seed)
    n, note = clamp_count(count, 1, MAX_IMAGES, "number of images")
    notes += [note] if note else []

    def work(report):
        return service.txt2img(pipe, prompt, negative, steps, cfg, scheduler, seed, n,
                               lambda i, total, imgs: report(("step", (i, imgs))), PREVIEW_SECONDS)

    for kind, item in _stream(work):
        if kind == "step":
            i, imgs = item
            progress(i / steps, desc=f"step {i}/{steps}")
            if imgs is not None:
                yield [(_big(a), f"step {i}") for a in imgs], f"Denoising… step {i} of {steps}", READOUTS_PENDING
        else:
            msg = " ".join(notes) or f"{n} image(s), {scheduler}, {steps} steps, CFG {cfg:g}."
            yield list(zip(item, [f"seed {seed + i}" for i in range(n)])), msg, READOUTS_PENDING


def _gallery_images(gallery) -> np.ndarray:
    """A gallery value ([(file path or array, caption), ...]) -> uint8 (N, H, W, 3)."""
    arrays = [service._as_rgb(item[0] if isinstance(item, (tuple, list)) else item) for item in gallery or []]
    if not arrays:
        raise ValueError("No images to read out: generate a batch first.")
    if len({a.shape for a in arrays}) > 1:
        raise ValueError("The images of one batch must have the same size.")
    return np.stack(arrays)


@user_errors
def diffusion_txt2img_readouts(gallery, prompt):
    """CLIP score and prompt attributes recognised for a generated batch (the follow-up of ``diffusion_txt2img``)."""
    prompt = (prompt or "").strip()
    if not prompt:
        raise ValueError("The prompt is empty: readouts compare the images with their prompt.")
    return readout_panel_html({"this batch": _readouts(_gallery_images(gallery), prompt)})


def _control_map(source: str, index, upload, sketch, size: int = 32) -> tuple[np.ndarray, str]:
    """The control edge map at the pipeline's image size (test-split maps are exact at 32 px, enlarged nearest)."""
    if source == "test split":
        i, _ = clamp_count(index, 0, shapes.TEST_SPLIT_SIZE - 1, "test item")
        edges, _, cap = service.control_from_test(i)
        if size != edges.shape[0]:
            edges = np.asarray(Image.fromarray(edges).resize((size, size), Image.Resampling.NEAREST))
        return edges, cap
    if source == "upload":
        edges, _ = service.control_from_upload(upload, size)
        return edges, ""
    if source == "sketch":
        return service.control_from_sketch(sketch, size), ""
    raise ValueError(f"Unknown control source {source!r}; choose test split, upload or sketch.")


@user_errors
def diffusion_controlnet(source, index, upload, sketch, prompt, negative, steps, cfg, scale, scheduler, count, seed,
                         model, controlnet):
    pipe = service.load_pipeline(model_source(model, "Pipeline"))
    net = service.load_controlnet(model_source(controlnet, "ControlNet"))
    edges, cap = _control_map(source, index, upload, sketch, service.image_size(pipe))
    if not (prompt or "").strip() and cap:
        prompt = cap
    prompt, negative, steps, cfg, seed, notes = _common(pipe, prompt, negative, steps, cfg, seed)
    scale = service.check_scale(scale, "conditioning scale", *service.CONTROL_SCALE_RANGE)
    n, note = clamp_count(count, 1, MAX_IMAGES, "number of images")
    imgs = service.controlnet(pipe, net, edges, prompt, negative, steps, cfg, scale, scheduler, seed, n)
    from ...scoring.edges import edge_f1
    from ...scoring.readout import per_pair_readout

    f1 = per_pair_readout("edge F1 (control vs output)", edge_f1(imgs, np.repeat(edges[None], n, 0)),
                          "Canny σ=1, 1-px tolerance", True)
    panel = readout_panel_html({"this batch": _readouts(imgs, prompt, [f1])})
    ctrl = _big((edges * 255).astype(np.uint8))
    msg = " ".join(notes + ([note] if note else [])) or f"Prompt: '{prompt}', conditioning scale {scale:g}."
    return ctrl, [(a, f"seed {seed + i}") for i, a in enumerate(imgs)], msg, panel


@user_errors
def diffusion_guidance(guide, prompt, value, shape, ref_index, ilvr_from, ilvr_to, steps, cfg, count, seed):
    pipe = service.load_pipeline(service.EMBEDDED)
    prompt, _, steps, cfg, seed, notes = _common(pipe, prompt, "", steps, cfg, seed)
    n, note = clamp_count(count, 1, MAX_IMAGES, "number of images")
    if guide not in lab.GUIDES:
        raise ValueError(f"Unknown guidance {guide!r}; choose one of {', '.join(lab.GUIDES)}.")
    if guide == "ILVR":
        if str(value).split(".")[0] not in ILVR_FACTORS:
            raise ValueError(f"The ILVR factor N must be one of {', '.join(ILVR_FACTORS)} pixels, got {value!r}.")
        value = int(float(value))
    else:
        value = service.check_scale(value, f"{guide} scale", 0.0, 100.0)
    lo, hi = service.check_scale(ilvr_from, "ILVR start", 0, 1), service.check_scale(ilvr_to, "ILVR end", 0, 1)
    if lo > hi:
        raise ValueError(f"The ILVR step range is empty: start {lo} > end {hi}.")
    target = None
    if guide == "classifier":
        if shape not in shapes.SHAPES:
            raise ValueError(f"Pick the target shape for classifier guidance (one of {', '.join(shapes.SHAPES)}).")
        target = shapes.SHAPES.index(shape)
    i, _ = clamp_count(ref_index, 0, shapes.TEST_SPLIT_SIZE - 1, "reference item")
    _, ref, _ = service.control_from_test(i)
    kw = dict(seed=seed, steps=steps, cfg=cfg, target_class=target, reference=np.repeat(ref[None], n, 0),
              ilvr_range=(lo, hi))
    off = {"CFG": 1.0, "ILVR": None}.get(guide, 0.0)
    with service._LOCK:
        guided = lab.lab_sample(pipe, guide, value, [prompt] * n, **kw)
        base = lab.lab_sample(pipe, "CFG", cfg if guide != "CFG" else off, [prompt] * n, **kw)
    from ...scoring.edges import low_pass_psnr
    from ...scoring.readout import per_pair_readout

    extra = []
    if guide in ("ILVR", "reference (SDG)"):
        for name, imgs in (("guided", guided), ("unguided", base)):
            extra.append(per_pair_readout(f"low-pass PSNR to reference at 8 px, {name} (dB)",
                                          low_pass_psnr(imgs, np.repeat(ref[None], n, 0), 8), "pixels", True))
    if guide == "classifier":
        from ...scoring.backbones import get_backbone

        for name, imgs in (("guided", guided), ("unguided", base)):
            hit = get_backbone("shapes").attribute_predictions(imgs)["shape"] == target
            extra.append(per_pair_readout(f"target shape recognised, {name}", hit.astype(float), "shapes classifier",
                                          True))
    cols = {"guided": _readouts(guided, prompt), "unguided (same seeds)": _readouts(base, prompt)}
    panel = readout_panel_html(cols) + (readout_panel_html({"comparison": extra}) if extra else "")
    what = {"CFG": f"CFG {value:g} vs CFG 1 (no guidance)"}.get(guide, f"{guide} {value} vs none (CFG {cfg:g} both)")
    return _strip(guided), _strip(base), " ".join(notes + ([note] if note else [])) or what, panel


def _values(text: str, what: str, lo: float, hi: float, cast=float, limit: int = 6) -> list:
    parts = [p for p in str(text or "").replace(";", ",").replace(" ", ",").split(",") if p]
    if not parts:
        raise ValueError(f"Give at least one {what} value, e.g. 1,3,5.")
    if len(parts) > limit:
        raise ValueError(f"At most {limit} {what} values, got {len(parts)}.")
    out = []
    for p in parts:
        try:
            v = cast(float(p))
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"{what} value {p!r} is not a number.") from None
        if not (lo <= v <= hi) or v != v:
            raise ValueError(f"{what} values must be in [{lo}, {hi}], got {p}.")
        out.append(v)
    return out


@user_errors
def diffusion_sweep(prompt, cfgs, steps_list, scheduler, count, seed, progress=gr.Progress()):
    """A1111-style X/Y plot: CFG (columns) x steps (rows), the same seeds in every cell, readouts per cell."""
    pipe = service.load_pipeline(service.EMBEDDED)
    prompt, _ = service.check_prompt(pipe.tokenizer, prompt)
    seed = parse_seed(seed)
    xs = _values(cfgs, "CFG", *service.CFG_RANGE)
    ys = _values(steps_list, "steps", *service.STEPS_RANGE, cast=int)
    n, _ = clamp_count(count, 1, 8, "images per cell")
    rows, cells = [], []
    for r, st in enumerate(ys):
        line = []
        for c, w in enumerate(xs):
            progress((r * len(xs) + c) / (len(xs) * len(ys)), desc=f"steps {st}, CFG {w:g}")
            imgs = service.txt2img(pipe, prompt, "", st, w, scheduler, seed, n)
            line.append(np.concatenate(list(imgs), axis=0))
            rd = _readouts(imgs, prompt)
            cells.append({"steps": st, "CFG": w, **{x.metric: round(x.value, 4) for x in rd}})
        rows.append(np.concatenate([np.pad(a, ((2, 2), (2, 2), (0, 0)), constant_values=255) for a in line], 1))
    grid = np.concatenate(rows, 0)
    import pandas as pd

    return _big(grid) if grid.shape[0] < 256 else Image.fromarray(grid), pd.DataFrame(cells), (
        f"Columns: CFG {', '.join(f'{x:g}' for x in xs)}; rows: steps {', '.join(map(str, ys))}; {scheduler}; "
        f"seeds {seed}–{seed + n - 1} in every cell (stacked vertically).")


@user_errors
def diffusion_trajectory(prompt, steps, cfg, frames, seed):
    pipe = service.load_pipeline(service.EMBEDDED)
    prompt, _ = service.check_prompt(pipe.tokenizer, prompt)
    steps, note = service.clamp_steps(steps)
    k, _ = clamp_count(frames, 2, min(16, steps), "frames")
    xs, x0s, ts = lab.trajectory(pipe, prompt, steps=steps, cfg=service.check_scale(cfg), seed=parse_seed(seed),
                                 frames=k)
    return _strip(xs), _strip(x0s), (note + " " if note else "") + "Timesteps: " + ", ".join(map(str, ts))


def curves_frame(guide: str):
    import pandas as pd

    if not lab.CURVES_FILE.exists():
        return pd.DataFrame({"value": [], "score": [], "metric": []})
    rows = [r for r in json.loads(lab.CURVES_FILE.read_text()) if r["guide"] == guide]
    return pd.DataFrame(rows)


@user_errors
def measure_now(guide, n, seed, progress=gr.Progress()):
    pipe = service.load_pipeline(service.EMBEDDED)
    n, note = clamp_count(n, 20, 200, "samples per value")
    if guide not in lab.GUIDES:
        raise ValueError(f"Unknown guidance {guide!r}.")
    import pandas as pd

    with service._LOCK:
        rows = lab.measure(pipe, guide, lab.CURVE_VALUES[guide], n, seed=parse_seed(seed), progress=progress)
    return pd.DataFrame(rows), f"N = {n} per value, live. {note}".strip()


def card_table() -> str:
    path = service.EMBEDDED_PIPE / "metrics.json"
    if not path.exists():
        return "<p>The embedded pipeline has no evaluation yet (<code>python -m genmodels.families.diffusion.evaluate</code>).</p>"
    data = json.loads(path.read_text())
    cols = {k: [{"metric": m, "value": v} for m, v in rows.items()] for k, rows in data["columns"].items()}
    return readout_table(cols, data.get("footnote", ""))


def _no_progress(*args, **kwargs) -> None:
    pass


def txt2img_with_readouts(*args):
    """Text -> image without streaming: the complete result and its readouts (what the tab shows on open)."""
    *_, (gallery, msg, _) = diffusion_txt2img(*args, progress=_no_progress)
    return gallery, msg, diffusion_txt2img_readouts(gallery, args[0])


def build_tab(ctx) -> None:
    how_it_works(FAMILY.summary, FAMILY.papers)
    with gr.Accordion("Model", open=False):
        model = gr.Textbox(value="embedded", label="Pipeline: 'embedded' (tiny SD), a local folder in the SD 1.x "
                           "layout, or a Hub id such as runwayml/stable-diffusion-v1-5 (cached or reachable)")
        cnet = gr.Textbox(value="embedded", label="ControlNet: 'embedded' (edges), a folder, or a Hub id such as "
                          "lllyasviel/sd-controlnet-canny")
    with gr.Tabs():
        with gr.Tab("Text → image", id="diffusion-txt2img"):
            with gr.Row():
                with gr.Column(scale=1, min_width=280):
                    prompt = gr.Textbox(EXAMPLE, label="Prompt", elem_id="diffusion-prompt")
                    negative = gr.Textbox("", label="Negative prompt")
                    steps = gr.Slider(*service.STEPS_RANGE, value=20, step=1, label="Steps")
                    cfg = gr.Slider(*service.CFG_RANGE, value=3.0, step=0.5, label="CFG scale")
                    sched = gr.Radio(list(service.SCHEDULERS), value="DDIM", label="Scheduler")
                    count = gr.Slider(1, MAX_IMAGES, value=8, step=1, label="Images")
                    seed = seed_row(0, elem_id="diffusion-seed")
                    go = gr.Button("Generate", variant="primary", elem_id="diffusion-txt2img-btn")
                with gr.Column(scale=2):
                    note = gr.Markdown(elem_id="diffusion-txt2img-note")
                    gallery = gr.Gallery(columns=8, height="auto", format="png", elem_id="diffusion-gallery",
                                         elem_classes=["gm-pixelated"])
                    panel = gr.HTML(elem_id="diffusion-txt2img-readouts")
            t2i_inputs = [prompt, negative, steps, cfg, sched, count, seed, model]
            go.click(diffusion_txt2img, t2i_inputs, [gallery, note, panel], api_name="diffusion_txt2img").success(
                diffusion_txt2img_readouts, [gallery, prompt], panel, api_name="diffusion_txt2img_readouts")
            on_open(txt2img_with_readouts, [gallery, note, panel], t2i_inputs, cancel_on=[go])
            gr.Examples([[EXAMPLE, "", 20, 3.0, "DDIM", 8, 0], ["a small blue solid heart on a dark background", "",
                         20, 5.0, "DPM-Solver++", 8, 1], ["a medium green striped square on a gradient background",
                         "", 30, 3.0, "Euler", 8, 2]], [prompt, negative, steps, cfg, sched, count, seed])
        with gr.Tab("ControlNet", id="diffusion-controlnet"):
            with gr.Row():
                with gr.Column(scale=1, min_width=280):
                    c_source = gr.Radio(["test split", "upload", "sketch"], value="test split",
                                        label="Control from", elem_id="diffusion-control-source")
                    c_index = gr.Number(0, label="Test item (its exact edge map; its caption if no prompt)",
                                        precision=0, elem_id="diffusion-control-index")
                    c_upload = gr.File(label="Upload an image (edges by Canny σ=1)", file_types=["image"], type="filepath",
                                       height=120)
                    c_sketch = gr.Sketchpad(label="Sketch the outline", height=300, canvas_size=(256, 256),
                                            elem_id="diffusion-sketch")
                    c_prompt = gr.Textbox("", label="Prompt (empty: the test item's caption)", elem_id="diffusion-c-prompt")
                    c_negative = gr.Textbox("", label="Negative prompt")
                    c_scale = gr.Slider(*service.CONTROL_SCALE_RANGE, value=1.0, step=0.05,
                                        label="Conditioning scale")
                    c_steps = gr.Slider(*service.STEPS_RANGE, value=20, step=1, label="Steps")
                    c_cfg = gr.Slider(*service.CFG_RANGE, value=3.0, step=0.5, label="CFG scale")
                    c_sched = gr.Radio(list(service.SCHEDULERS), value="DDIM", label="Scheduler")
                    c_count = gr.Slider(1, MAX_IMAGES, value=4, step=1, label="Images")
                    c_seed = seed_row(0)
                    c_go = gr.Button("Generate", variant="primary", elem_id="diffusion-controlnet-btn")
                with gr.Column(scale=2):
                    c_note = gr.Markdown(elem_id="diffusion-controlnet-note")
                    c_map = gr.Image(label="Control map", format="png", elem_id="diffusion-control-map")
                    c_gallery = gr.Gallery(columns=8, height="auto", format="png", elem_id="diffusion-c-gallery",
                                           elem_classes=["gm-pixelated"])
                    c_panel = gr.HTML(elem_id="diffusion-controlnet-readouts")
            c_inputs = [c_source, c_index, c_upload, c_sketch, c_prompt, c_negative, c_steps, c_cfg, c_scale, c_sched,
                        c_count, c_seed, model, cnet]
            c_outputs = [c_map, c_gallery, c_note, c_panel]
            c_go.click(diffusion_controlnet, c_inputs, c_outputs, api_name="diffusion_controlnet")
            on_open(diffusion_controlnet, c_outputs, c_inputs, cancel_on=[c_go])
        with gr.Tab("Guidance lab", id="diffusion-guidance"):
            with gr.Row():
                with gr.Column(scale=1, min_width=280):
                    g_kind = gr.Radio(list(lab.GUIDES), value="classifier", label="Guidance",
                                      elem_id="diffusion-guide")
                    g_prompt = gr.Textbox("a large red striped object on a light background", label="Prompt")
                    g_value = gr.Number(3.0, label="Scale (CFG / classifier / CLIP / SDG) or ILVR factor N in "
                                        f"pixels ({', '.join(ILVR_FACTORS)})")
                    g_shape = gr.Dropdown(list(shapes.SHAPES), value="star", label="Target shape (classifier)")
                    g_ref = gr.Number(0, label="Reference: test item (ILVR / SDG)", precision=0)
                    with gr.Row():
                        g_from = gr.Slider(0, 1, value=0.0, step=0.05, label="ILVR from (fraction of steps)")
                        g_to = gr.Slider(0, 1, value=1.0, step=0.05, label="ILVR to")
                    g_steps = gr.Slider(*service.STEPS_RANGE, value=20, step=1, label="Steps (DDIM)")
                    g_cfg = gr.Slider(*service.CFG_RANGE, value=3.0, step=0.5, label="CFG scale (other guides)")
                    g_count = gr.Slider(1, MAX_IMAGES, value=8, step=1, label="Images")
                    g_seed = seed_row(0)
                    g_go = gr.Button("Sample with and without", variant="primary", elem_id="diffusion-guide-btn")
                with gr.Column(scale=2):
                    g_note = gr.Markdown(elem_id="diffusion-guide-note")
                    g_on = gr.Image(label="guided", format="png", elem_id="diffusion-guided")
                    g_off = gr.Image(label="unguided (same seeds)", format="png", elem_id="diffusion-unguided")
                    g_panel = gr.HTML(elem_id="diffusion-guide-readouts")
            g_inputs = [g_kind, g_prompt, g_value, g_shape, g_ref, g_from, g_to, g_steps, g_cfg, g_count, g_seed]
            g_outputs = [g_on, g_off, g_note, g_panel]
            g_go.click(diffusion_guidance, g_inputs, g_outputs, api_name="diffusion_guidance")
            on_open(diffusion_guidance, g_outputs, g_inputs, cancel_on=[g_go])
            gr.Markdown("#### Measured effect of each knob (embedded model, stored curves)")
            with gr.Row():
                for guide in lab.GUIDES:
                    gr.LinePlot(curves_frame(guide), x="value", y="score", color="metric", title=guide,
                                height=220, elem_id=f"diffusion-curve-{guide.split()[0].lower()}")
            with gr.Row():
                m_guide = gr.Dropdown(list(lab.GUIDES), value="CFG", label="Measure live")
                m_n = gr.Slider(20, 200, value=40, step=20, label="Samples per value")
                m_seed = gr.Number(0, label="Seed", precision=0)
                m_go = gr.Button("Measure now", elem_id="diffusion-measure-btn")
            m_plot = gr.LinePlot(x="value", y="score", color="metric", title="live", height=240)
            m_note = gr.Markdown()
            m_go.click(measure_now, [m_guide, m_n, m_seed], [m_plot, m_note], api_visibility="private")
            gr.Markdown("#### X/Y sweep: CFG × steps")
            with gr.Row():
                s_prompt = gr.Textbox(EXAMPLE, label="Prompt")
                s_cfgs = gr.Textbox("1,3,5,7.5", label="CFG values (columns)")
                s_steps = gr.Textbox("5,10,20", label="Steps values (rows)")
                s_sched = gr.Radio(list(service.SCHEDULERS), value="DDIM", label="Scheduler")
                s_count = gr.Slider(1, 8, value=2, step=1, label="Images per cell")
                s_seed = gr.Number(0, label="Seed", precision=0)
            s_go = gr.Button("Sweep", elem_id="diffusion-sweep-btn")
            s_grid = gr.Image(label="sweep", format="png", elem_id="diffusion-sweep-grid")
            s_table = gr.Dataframe(label="readouts per cell", elem_id="diffusion-sweep-table")
            s_note = gr.Markdown()
            s_inputs = [s_prompt, s_cfgs, s_steps, s_sched, s_count, s_seed]
            s_go.click(diffusion_sweep, s_inputs, [s_grid, s_table, s_note], api_name="diffusion_sweep")
            on_open(diffusion_sweep, [s_grid, s_table, s_note], s_inputs, cancel_on=[s_go], progress=_no_progress)
        with gr.Tab("Trajectory", id="diffusion-trajectory"):
            with gr.Row():
                t_prompt = gr.Textbox(EXAMPLE, label="Prompt")
                t_steps = gr.Slider(2, 100, value=50, step=1, label="DDPM steps")
                t_cfg = gr.Slider(*service.CFG_RANGE, value=3.0, step=0.5, label="CFG")
                t_frames = gr.Slider(2, 16, value=10, step=1, label="Frames")
                t_seed = gr.Number(0, label="Seed", precision=0)
            t_go = gr.Button("Run DDPM", variant="primary", elem_id="diffusion-trajectory-btn")
            t_xt = gr.Image(label="x_t (ancestral sampling)", format="png", elem_id="diffusion-xt")
            t_x0 = gr.Image(label="predicted x_0 at the same steps", format="png", elem_id="diffusion-x0")
            t_note = gr.Markdown()
            t_inputs = [t_prompt, t_steps, t_cfg, t_frames, t_seed]
            t_go.click(diffusion_trajectory, t_inputs, [t_xt, t_x0, t_note], api_name="diffusion_trajectory")
            on_open(diffusion_trajectory, [t_xt, t_x0, t_note], t_inputs, cancel_on=[t_go])
    with gr.Accordion("Readouts: the embedded pipeline (held-out, from its model card)", open=False):
        gr.HTML(card_table(), elem_id="diffusion-cards")
