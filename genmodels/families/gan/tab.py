"""The "GAN" tab: sample, style mixing, interpolation (Z vs W) and the truncation trade-off, with readouts."""
from __future__ import annotations

import json
import tempfile

import gradio as gr
import numpy as np
from PIL import Image

from ...data import shapes
from ...data.dataset import cache_dir
from ...validate import model_source
from ...hub.widgets import clamp_count, how_it_works, on_open, parse_seed, readout_panel_html, seed_row, user_errors
from . import service
from .drag import DRAG_GENERATOR, DRAG_GENERATORS
from .family import FAMILY

ANY = "any"
NAMES = {"DCGAN": "dcgan", "CGAN": "cgan", "StyleGAN": "stylegan", "BigGAN": "biggan"}
TRUNCATED = ("StyleGAN", "BigGAN")  # the models the truncation sub-tab sweeps (ψ in W; BigGAN's threshold 3ψ in Z)
SCALE = 3  # display upscaling (nearest)
MAX_SEEDS = 16


def _kind(model: str) -> str:
    if model not in NAMES:
        raise ValueError(f"Unknown model {model!r}; choose one of {', '.join(NAMES)}.")
    return NAMES[model]


def _attr(value: str, names: tuple[str, ...], what: str) -> int | None:
    if value in (ANY, None, ""):
        return None
    if value not in names:
        raise ValueError(f"Unknown {what} {value!r}; choose '{ANY}' or one of {', '.join(names)}.")
    return names.index(value)


def _psi(value) -> float:
    try:
        psi = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"ψ must be a number in [0, 2], got {value!r}.") from None
    if not 0.0 <= psi <= 2.0:
        raise ValueError(f"ψ must be in [0, 2], got {psi}.")
    return psi


def _seeds(text: str, what: str) -> list[int]:
    parts = [p for p in str(text or "").replace(";", ",").replace(" ", ",").split(",") if p]
    if not parts:
        raise ValueError(f"Give at least one {what} seed, e.g. 1,2,3.")
    if len(parts) > MAX_SEEDS:
        raise ValueError(f"At most {MAX_SEEDS} {what} seeds, got {len(parts)}.")
    return [parse_seed(p) for p in parts]


def _load(kind: str, source: str):
    return service.load_generator(kind, model_source(source, "Weights"))


def _big(a: np.ndarray) -> Image.Image:
    img = Image.fromarray(a)
    return img.resize((img.width * SCALE, img.height * SCALE), Image.Resampling.NEAREST)


def _strip(images: np.ndarray) -> Image.Image:
    return _big(np.concatenate(list(images), axis=1))


@user_errors
def gan_sample(model: str, source: str, shape: str, colour: str, psi, count, seed, ctx_max: int = 64):
    kind, seed, psi = _kind(model), parse_seed(seed), _psi(psi)
    n, note = clamp_count(count, 1, ctx_max)
    G = _load(kind, source)
    s, c = _attr(shape, shapes.SHAPES, "shape"), _attr(colour, shapes.COLOUR_NAMES, "colour")
    notes = [note] if note else []
    if not service.is_conditional(G) and (s is not None or c is not None):
        notes.append(f"{model} is unconditional: shape / colour are ignored.")
    truncates = kind in ("stylegan", "biggan")
    if not truncates and psi != 1.0:
        notes.append("ψ (truncation) applies to StyleGAN and BigGAN only.")
    elif kind == "biggan" and psi != 1.0:
        notes.append(f"BigGAN truncation: z components beyond ±{service.biggan_threshold(psi):.2f} redrawn.")
    imgs, labels = service.sample(kind, G, seed, n, s, c, psi if truncates else 1.0)
    caps = []
    for i in range(n):
        cap = f"seed {seed + i}"
        if labels is not None:
            lab = labels[i].tolist() if kind in ("cgan", "biggan") else divmod(int(labels[i]),
                                                                                len(shapes.COLOUR_NAMES))
            cap += f": {shapes.COLOUR_NAMES[lab[1]]} {shapes.SHAPES[lab[0]]}"
        caps.append(cap)
    # native 32×32 uint8 arrays (what the model made; the API returns them as PNGs as they are), shown crisp by CSS
    return list(zip(imgs, caps)), " ".join(notes) or f"{n} sample(s) from {model}."


LAYERS_MAX = 8  # samples shown layer by layer


@user_errors
def gan_layers(model: str, source: str, shape: str, colour: str, count, seed):
    """The layered generator's composition of the Sample sub-tab's first samples (same seeds and labels)."""
    kind, seed = _kind(model), parse_seed(seed)
    n, note = clamp_count(count, 1, LAYERS_MAX)
    G = _load(kind, source)
    s, c = _attr(shape, shapes.SHAPES, "shape"), _attr(colour, shapes.COLOUR_NAMES, "colour")
    stacks, poses = service.layers(kind, G, seed, n, s, c)
    items = [(img, f"seed {seed + i}: {name}") for i, stack in enumerate(stacks)
             for img, name in zip(stack, service.LAYER_NAMES)]
    rows = "\n".join(f"| {seed + i} | {p['x']}, {p['y']} | {p['size']} | {p['rotation']} |" for i, p in enumerate(poses))
    table = ("| seed | centre (px) | canonical frame (px) | rotation (°) |\n|---|---|---|---|\n" + rows)
    return items, ((note + "\n\n") if note else "") + table


@user_errors
def gan_mix(source: str, row_seeds: str, col_seeds: str, layers: str, shape: str, colour: str, psi):
    G = _load("stylegan", source)
    if layers not in service.LAYER_RANGES:
        raise ValueError(f"Unknown layer range {layers!r}; choose one of {', '.join(service.LAYER_RANGES)}.")
    rows, cols = _seeds(row_seeds, "row"), _seeds(col_seeds, "column")
    label = None
    if service.is_conditional(G):
        label = int(service.condition("stylegan", G, 1, _attr(shape, shapes.SHAPES, "shape") or 0,
                                      _attr(colour, shapes.COLOUR_NAMES, "colour") or 0)[0])
    grid = service.style_mix(G, rows, cols, service.LAYER_RANGES[layers], label, _psi(psi))
    big = np.concatenate([np.concatenate(list(r), axis=1) for r in grid], axis=0)
    return _big(big), (f"Rows take every style from their seed except the {layers} layers, which come from the "
                       "column's seed (first row / column: the sources).")


@user_errors
def gan_interpolate(model: str, source: str, seed_a, seed_b, steps, shape: str, colour: str):
    kind = _kind(model)
    a, b = parse_seed(seed_a), parse_seed(seed_b)
    n, _ = clamp_count(steps, 3, 16, "number of steps")
    G = _load(kind, source)
    c = service.condition(kind, G, 1, _attr(shape, shapes.SHAPES, "shape") or 0,
                          _attr(colour, shapes.COLOUR_NAMES, "colour") or 0)
    out = service.interpolate(kind, G, a, b, n, c)
    frames = [_big(f) for f in (out["w"] if "w" in out else out["z"])]
    gif = tempfile.NamedTemporaryFile(prefix="gan-interp-", suffix=".gif", delete=False).name
    frames[0].save(gif, save_all=True, append_images=frames[1:] + frames[-2:0:-1], duration=120, loop=0)
    rows = [{"metric": "path PPL, slerp in Z", "value": out["ppl_z"], "higher_is_better": False}]
    if "ppl_w" in out:
        rows.append({"metric": "path PPL, lerp in W", "value": out["ppl_w"], "higher_is_better": False})
    from ...hub.widgets import readout_table

    table = readout_table({model: rows}, "PD on the shapes backbone between t and t + 1e-4, / ε², mean over 32 t "
                          "along this path (lower = smoother).")
    return _strip(out["z"]), (_strip(out["w"]) if "w" in out else None), gif, table


@user_errors
def gan_truncation(source: str, n_per_psi, progress=gr.Progress()):
    from ...scoring.readout import score_sets
    from .evaluate import balanced_labels, sample

    n, note = clamp_count(n_per_psi, 50, 1000, "samples per ψ")
    models = {}
    for title in TRUNCATED:  # StyleGAN from the Weights box; BigGAN embedded (skipped with a note until trained)
        kind = NAMES[title]
        try:
            models[title] = _load(kind, source) if kind == "stylegan" else service.load_generator(kind, "embedded")
        except FileNotFoundError as e:
            if kind == "stylegan":
                raise
            note += f" {title}: {e}."
    psis = [0.0, 0.25, 0.5, 0.7, 0.85, 1.0, 1.25]
    rows = []
    for j, (title, G) in enumerate(models.items()):
        kind = NAMES[title]
        src = (source or "embedded").strip() if kind == "stylegan" else "embedded"
        key = f"trunc-{kind}-{src}-{n}-" + str(abs(hash(tuple(float(p.detach().sum()) for p in G.parameters()))))
        path = cache_dir() / "gan" / f"{key}.json"
        if path.exists():
            part = json.loads(path.read_text())
        else:
            part = []
            for i, psi in enumerate(psis):
                progress((j * len(psis) + i) / (len(models) * len(psis)), desc=f"{title}: ψ = {psi}")
                imgs = sample(kind, G, n, 777, balanced_labels(n, 777), psi=psi)
                for r in score_sets(imgs, "shapes-test", metrics=["fid", "precision", "recall"], n_boot=10):
                    part.append({"psi": psi, "model": title, "metric": r.metric, "series": f"{title} {r.metric}",
                                 "value": r.value})
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(part))
        rows += part
    import pandas as pd

    df = pd.DataFrame(rows)
    fid = df[df.metric == "FID"].rename(columns={"value": "FID"})
    pr = df[df.metric != "FID"]
    return fid, pr, (f"N = {n} samples per ψ and model vs the 2,000-item test split (shapes backbone). StyleGAN: "
                     "w = w̄ + ψ (w − w̄); BigGAN: z components beyond ±3ψ redrawn (ψ = 1: none). " + note).strip()


def build_tab(ctx) -> None:
    how_it_works(FAMILY.summary, FAMILY.papers)
    shape_choices, colour_choices = [ANY, *shapes.SHAPES], [ANY, *shapes.COLOUR_NAMES]
    with gr.Accordion("Weights", open=False):
        source = gr.Textbox(value="embedded", label="Weights: 'embedded', a local folder, a Hub id, or (StyleGAN) a "
                            "rosinality g_ema .pt/.safetensors file")
    with gr.Tabs():
        with gr.Tab("Sample", id="gan-sample"):
            with gr.Row():
                with gr.Column(scale=1, min_width=260):
                    model = gr.Radio(list(NAMES), value="CGAN", label="Model", elem_id="gan-model")
                    shape = gr.Dropdown(shape_choices, value=ANY, label="Shape (conditional models)")
                    colour = gr.Dropdown(colour_choices, value=ANY, label="Colour (conditional models)")
                    psi = gr.Slider(0, 2, value=1.0, step=0.05, label="Truncation ψ (StyleGAN, BigGAN)")
                    count = gr.Slider(1, ctx.max_batch, value=min(16, ctx.max_batch), step=1, label="Images")
                    seed = seed_row(0)
                    go = gr.Button("Generate", variant="primary", elem_id="gan-sample-btn")
                with gr.Column(scale=3):
                    note = gr.Markdown(elem_id="gan-sample-note")
                    gallery = gr.Gallery(columns=8, height="auto", format="png", elem_id="gan-gallery",
                                         elem_classes=["gm-pixelated"])
            def sample_fn(model, source, shape, colour, psi, count, seed):
                return gan_sample(model, source, shape, colour, psi, count, seed, ctx_max=ctx.max_batch)

            sample_inputs = [model, source, shape, colour, psi, count, seed]
            go.click(sample_fn, sample_inputs, [gallery, note], api_name="gan_sample")
            on_open(sample_fn, [gallery, note], sample_inputs, cancel_on=[go])
            gr.Examples([["StyleGAN", "embedded", "star", "red", 1.0, 8, 0], ["CGAN", "embedded", "heart", ANY, 1.0, 8, 3],
                         ["DCGAN", "embedded", ANY, ANY, 1.0, 16, 7]], [model, source, shape, colour, psi, count, seed])
            with gr.Accordion("Layers (CGAN: background, mask, placed object, image; LR-GAN)", open=False):
                l_go = gr.Button("Show the layers of the first samples (up to 8)", elem_id="gan-layers-btn")
                l_note = gr.Markdown(elem_id="gan-layers-note")
                l_gallery = gr.Gallery(columns=4, height="auto", format="png", elem_id="gan-layers",
                                       elem_classes=["gm-pixelated"])
            l_go.click(gan_layers, [model, source, shape, colour, count, seed], [l_gallery, l_note],
                       api_name="gan_layers")
        with gr.Tab("Text → image (StackGAN)", id="gan-text"):
            with gr.Row():
                with gr.Column(scale=1, min_width=280):
                    t_caption = gr.Textbox(TEXT_DEFAULT["caption"], label="Caption", lines=2, max_lines=3,
                                           elem_id="gan-text-caption")
                    t_count = gr.Slider(1, 16, value=TEXT_DEFAULT["count"], step=1, label="Images")
                    t_seed = seed_row(TEXT_DEFAULT["seed"], elem_id="gan-text-seed")
                    t_go = gr.Button("Generate", variant="primary", elem_id="gan-text-btn")
                    gr.Markdown("Words the grammar knows: " + ", ".join(f"`{w}`" for w in TEXT_WORDS) + ". Attributes "
                                "left out are drawn at random from the seed (the note says which).")
                with gr.Column(scale=2):
                    t_note = gr.Markdown(elem_id="gan-text-note")
                    with gr.Row():
                        t_one = gr.Gallery(label="Stage I (16×16)", columns=4, height="auto", format="png",
                                           elem_id="gan-text-stage1", elem_classes=["gm-pixelated"])
                        t_two = gr.Gallery(label="Stage II (32×32, refines stage I)", columns=4, height="auto",
                                           format="png", elem_id="gan-text-stage2", elem_classes=["gm-pixelated"])
                    t_panel = gr.HTML(elem_id="gan-text-readouts")
            t_inputs = [t_caption, t_seed, t_count]
            t_go.click(gan_text2image, t_inputs, [t_one, t_two, t_note, t_panel], api_name="gan_text2image")
            on_open(gan_text2image, [t_one, t_two, t_note, t_panel], t_inputs, cancel_on=[t_go])
        with gr.Tab("Edit an attribute", id="gan-edit"):
            with gr.Row():
                with gr.Column(scale=1, min_width=280):
                    e_index = gr.Number(EDIT_DEFAULT["index"], label="Test item (index 0–1999)", precision=0,
                                        elem_id="gan-edit-index")
                    e_upload = gr.Image(label="…or upload an image (used instead of the test item)", type="pil",
                                        image_mode=None, height=160, elem_id="gan-edit-upload")
                    e_attr = gr.Radio(["colour", "shape"], value=EDIT_DEFAULT["attribute"], label="Change",
                                      elem_id="gan-edit-attribute")
                    # the choices follow "Change"; any value reaches the handler, which names the valid ones
                    e_value = gr.Dropdown(list(shapes.COLOUR_NAMES), value=EDIT_DEFAULT["value"], label="To",
                                          allow_custom_value=True, elem_id="gan-edit-value")
                    e_iters = gr.Slider(0, 500, value=EDIT_DEFAULT["iterations"], step=10,
                                        label="Identity-preserving optimisation steps (0: the encoder's code only)",
                                        elem_id="gan-edit-iterations")
                    e_go = gr.Button("Edit", variant="primary", elem_id="gan-edit-btn")
                with gr.Column(scale=2):
                    e_note = gr.Markdown(elem_id="gan-edit-note")
                    e_gallery = gr.Gallery(columns=4, height="auto", format="png", elem_id="gan-edit-gallery",
                                           elem_classes=["gm-pixelated"])
                    e_panel = gr.HTML(elem_id="gan-edit-readouts")
            e_attr.change(_edit_values, e_attr, e_value, api_visibility="private", queue=False)
            e_inputs = [e_index, e_upload, e_attr, e_value, e_iters]
            e_go.click(gan_edit, e_inputs, [e_gallery, e_note, e_panel], api_name="gan_edit")
            on_open(gan_edit, [e_gallery, e_note, e_panel], e_inputs, cancel_on=[e_go], slow=True)  # seconds of IP-LO
        with gr.Tab("Style mixing", id="gan-mix"):
            with gr.Row():
                rows = gr.Textbox("1,2,3", label="Row seeds")
                cols = gr.Textbox("10,11,12,13", label="Column seeds")
                layers = gr.Radio(list(service.LAYER_RANGES), value=list(service.LAYER_RANGES)[0], label="Layers from columns")
            with gr.Row():
                m_shape = gr.Dropdown(shape_choices, value="circle", label="Shape")
                m_colour = gr.Dropdown(colour_choices, value="red", label="Colour")
                m_psi = gr.Slider(0, 2, value=1.0, step=0.05, label="ψ")
            go_m = gr.Button("Mix", variant="primary", elem_id="gan-mix-btn")
            grid = gr.Image(label="Style-mixing grid", format="png", elem_id="gan-mix-grid")
            m_note = gr.Markdown()
            mix_inputs = [source, rows, cols, layers, m_shape, m_colour, m_psi]
            go_m.click(gan_mix, mix_inputs, [grid, m_note], api_name="gan_mix")
            on_open(gan_mix, [grid, m_note], mix_inputs, cancel_on=[go_m])
        with gr.Tab("Interpolation", id="gan-interp"):
            with gr.Row():
                i_model = gr.Radio(list(NAMES), value="StyleGAN", label="Model", elem_id="gan-interp-model")
                seed_a = gr.Number(1, label="Seed A", precision=0)
                seed_b = gr.Number(2, label="Seed B", precision=0)
                steps = gr.Slider(3, 16, value=9, step=1, label="Steps")
            with gr.Row():
                i_shape = gr.Dropdown(shape_choices, value="star", label="Shape")
                i_colour = gr.Dropdown(colour_choices, value="blue", label="Colour")
            go_i = gr.Button("Interpolate", variant="primary", elem_id="gan-interp-btn")
            z_strip = gr.Image(label="slerp in Z", format="png", elem_id="gan-z-strip")
            w_strip = gr.Image(label="lerp in W (StyleGAN)", format="png", elem_id="gan-w-strip")
            with gr.Row():
                gif = gr.Image(label="Animation", type="filepath", elem_id="gan-interp-gif")
                i_table = gr.HTML(elem_id="gan-interp-table")
            interp_inputs = [i_model, source, seed_a, seed_b, steps, i_shape, i_colour]
            go_i.click(gan_interpolate, interp_inputs, [z_strip, w_strip, gif, i_table], api_name="gan_interpolate")
            on_open(gan_interpolate, [z_strip, w_strip, gif, i_table], interp_inputs, cancel_on=[go_i])
        with gr.Tab("Truncation trade-off", id="gan-trunc"):
            n_psi = gr.Slider(50, 1000, value=300, step=50, label="Samples per ψ", elem_id="gan-trunc-n")
            go_t = gr.Button("Compute (cached)", variant="primary", elem_id="gan-trunc-btn")
            t_note = gr.Markdown()
            with gr.Row():
                fid_plot = gr.LinePlot(x="psi", y="FID", color="model", title="FID vs ψ (lower is better)",
                                       elem_id="gan-trunc-fid")
                pr_plot = gr.LinePlot(x="psi", y="value", color="series", title="precision / recall vs ψ")
            go_t.click(gan_truncation, [source, n_psi], [fid_plot, pr_plot, t_note], api_name="gan_truncation")
            on_open(gan_truncation, [fid_plot, pr_plot, t_note], [source, n_psi], cancel_on=[go_t],
                    slow=True, progress=lambda *a, **k: None)  # ~10 s once (then cached on disk)
        with gr.Tab("Drag", id="gan-drag"):
            with gr.Row():
                with gr.Column(scale=1, min_width=280):
                    with gr.Row():
                        g_shape = gr.Dropdown(list(shapes.SHAPES), value=DRAG_DEFAULT["shape"], label="Shape")
                        g_colour = gr.Dropdown(list(shapes.COLOUR_NAMES), value=DRAG_DEFAULT["colour"],
                                               label="Colour")
                    g_gen = gr.Dropdown([(v, k) for k, v in DRAG_GENERATORS.items()], value=DRAG_DEFAULT["generator"],
                                        label="Generator", elem_id="gan-drag-generator")
                    g_seed = seed_row(DRAG_DEFAULT["seed"], elem_id="gan-drag-seed")
                    g_psi = gr.Slider(0, 2, value=1.0, step=0.05, label="Truncation ψ (StyleGAN)")
                    g_canvas = gr.Image(label="The sample: click a handle point, then its target (red → blue)",
                                        interactive=False, format="png", height=280, elem_id="gan-drag-canvas")
                    with gr.Row():
                        g_points = gr.Textbox(DRAG_DEFAULT["points"], label="Points (x,y -> x,y; pixels of the 32×32 "
                                              "image)", scale=3, elem_id="gan-drag-points")
                        g_clear = gr.Button("Clear points", scale=1, size="sm", elem_id="gan-drag-clear")
                    g_iters = gr.Slider(1, 300, value=200, step=1, label="Iterations (at most)",
                                        elem_id="gan-drag-iterations")
                    g_keep = gr.Checkbox(True, label="Keep the background (StyleGAN: λ term outside the object and its "
                                         "target; the CGAN's background is its own layer and always kept)")
                    g_rigid = gr.Checkbox(True, label="Move the object as one piece (CGAN: its pose only; StyleGAN: "
                                          "feature template)")
                    with gr.Row():
                        g_go = gr.Button("Drag", variant="primary", elem_id="gan-drag-btn")
                        g_stop = gr.Button("Stop", variant="stop", elem_id="gan-drag-stop")
                with gr.Column(scale=2):
                    g_note = gr.Markdown(elem_id="gan-drag-note")
                    g_out = gr.Image(label="dragged (tracked handles → targets)", format="png", height=280,
                                     elem_id="gan-drag-result")
                    g_panel = gr.HTML(elem_id="gan-drag-readouts")
            g_src = [g_seed, g_shape, g_colour, g_psi, g_gen]
            g_canvas.select(drag_add_point, [g_points, *g_src], [g_points, g_canvas], api_visibility="private",
                            queue=False)
            g_clear.click(lambda *a: ("", drag_canvas(*a)), [*g_src, gr.State("")], [g_points, g_canvas],
                          api_visibility="private", queue=False)
            for comp in g_src:
                comp.change(drag_canvas, [*g_src, g_points], g_canvas, api_visibility="private", queue=False)
            g_inputs = [*g_src[:4], g_points, g_iters, g_keep, g_rigid, g_gen]
            g_event = g_go.click(gan_drag, g_inputs, [g_out, g_note, g_panel], api_name="gan_drag")
            g_stop.click(None, None, None, cancels=[g_event], api_visibility="private", queue=False)
            on_open(drag_canvas, [g_canvas], [*g_src, g_points])
            on_open(drag_result, [g_out, g_note, g_panel], g_inputs, cancel_on=[g_go], slow=True)
    with gr.Accordion("Readouts: DCGAN vs CGAN vs StyleGAN vs BigGAN", open=False):
        gr.HTML(card_table(), elem_id="gan-cards")
        r_n = gr.Slider(100, 2000, value=500, step=100, label="Samples per model", elem_id="gan-readout-n")
        go_r = gr.Button("Compute readouts", elem_id="gan-readout-btn")
        panel = gr.HTML(elem_id="gan-readouts")
        go_r.click(gan_readouts, [source, r_n], panel, api_name="gan_readouts")


# ---- Text → image (StackGAN) -------------------------------------------------------------------------------

TEXT_DEFAULT = {"caption": "a large red striped star on a dark background", "seed": 0, "count": 8}
TEXT_WORDS = (*shapes.SIZES, *shapes.COLOUR_NAMES, *shapes.FILLS, *shapes.SHAPES, *shapes.BACKGROUNDS)


@user_errors
def gan_text2image(caption, seed, count):
    """StackGAN: both stages of n samples of one caption, what the model read, and the classifier's reading."""
    from ...hub.widgets import readout_table
    from . import stackgan

    seed = parse_seed(seed)
    n, note = clamp_count(count, 1, 16)
    G = service.load_generator("stackgan")
    out = stackgan.text_to_image(G, caption, seed, n)
    caps = [f"seed {seed + i}" for i in range(n)]
    said = [f"StackGAN read: *{out['caption']}* ({n} image(s), both stages in {out['seconds']:.2f} s).",
            *out["notes"], note]
    rows = {}
    for stage, reading in out["reading"].items():
        rows[stage] = [{"metric": f"{k} as asked (scoring classifier)", "value": v, "higher_is_better": True}
                       for k, v in reading.items()]
    table = readout_table(rows, f"Share of these {n} images whose shape / colour / fill the scoring classifier "
                          "reads as the caption asks (stage I up-sampled to 32×32). Held-out numbers: the model card.")
    return (list(zip(out["stage1"], caps)), list(zip(out["stage2"], caps)), " ".join(x for x in said if x), table)


# ---- Edit an attribute (Age-cGAN-style, on the layered CGAN) ---------------------------------------------------

EDIT_DEFAULT = {"index": 4, "attribute": "colour", "value": "magenta", "iterations": 300}


def _edit_values(attribute):
    names = shapes.SHAPES if attribute == "shape" else shapes.COLOUR_NAMES
    return gr.update(choices=list(names), value=names[0])


@user_errors
def gan_edit(index, upload, attribute, value, iterations):
    """Invert the source into the edit's generator (encoder, then identity-preserving optimisation), change one
    condition."""
    from ...data.dataset import test_split
    from ...validate import image_32, parse_test_index
    from . import attribute_edit as AE

    image, conv = image_32(upload, index, "upload")
    n, note = clamp_count(iterations, 0, AE.MAX_ITERATIONS, "optimisation steps")
    labels = None if upload is not None else tuple(int(v) for v in test_split()["labels"][parse_test_index(index)][:2])
    r = AE.edit_image(image, attribute, value, labels, n)
    pics = [(r["source"], "source"), (r["initial"], "encoder's code"), (r["reconstruction"], f"after {n} IP-LO steps"),
            (r["edited"], f"{attribute} → {value}")]
    src = ("read by the guide network" if r["read"] else "the test item's ground truth")
    said = [f"Source: {r['source_attributes']} ({src}). {r['generator']}: its code from the encoder, refined by {n} "
            f"steps of identity-preserving optimisation (guide features + pixels), then the {attribute} condition "
            f"set to {value} with {r['kept']} ({r['seconds']:.1f} s).", conv, note]
    from ...hub.widgets import readout_table

    table = readout_table({"Age-cGAN edit": r["rows"]}, "This edit: the scoring classifier's reading of the edited "
                          "image (1 = as asked), object masks by outline segmentation, PSNR of the reconstructions "
                          "against the source. Held-out numbers (500 test items): the gan-encoder card.")
    return pics, " ".join(x for x in said if x), table


# ---- Drag (DragGAN on the layered CGAN or the StyleGAN) ----------------------------------------------------------

# the opening example: the CGAN's blue triangle of seed 1 (centroid near 18, 7) dragged to the middle
DRAG_DEFAULT = {"seed": 1, "shape": "triangle", "colour": "blue", "points": "18,7 -> 16,16", "generator": DRAG_GENERATOR}
CANVAS = 8  # the drag canvas shows the 32×32 image 8× (256 px): a click at pixel p is image pixel p // 8


def _drag_kind(generator) -> str:
    kind = str(generator or DRAG_GENERATOR).strip().lower()
    names = {v.lower(): k for k, v in DRAG_GENERATORS.items()}
    kind = names.get(kind, kind)
    if kind not in DRAG_GENERATORS:
        raise gr.Error(f"Unknown drag generator {generator!r}; choose one of {', '.join(DRAG_GENERATORS)}.")
    return kind


def _drag_source(seed, shape, colour, psi, generator=DRAG_GENERATOR):
    from . import drag as DG

    kind = _drag_kind(generator)
    G = service.load_generator(kind)
    s = _attr(shape, shapes.SHAPES, "shape")
    c = _attr(colour, shapes.COLOUR_NAMES, "colour")
    label = service.condition(kind, G, 1, s or 0, c or 0) if service.is_conditional(G) else None
    return (G, *DG.source_image(G, parse_seed(seed), label, _psi(psi)))


@user_errors
def drag_canvas(seed, shape, colour, psi, generator, points):
    from ...pointdrag import canvas

    return canvas(_drag_source(seed, shape, colour, psi, generator)[2], points, CANVAS)


@user_errors
def drag_add_point(points, seed, shape, colour, psi, generator, evt: gr.SelectData):
    """A click on the canvas: the next handle, or the target of the last handle."""
    from ...pointdrag import add_click

    x, y = (min(31, max(0, int(v) // CANVAS)) for v in evt.index[:2])
    text = add_click(points, x, y)
    return text, drag_canvas(seed, shape, colour, psi, generator, text)


@user_errors
def gan_drag(seed, shape, colour, psi, points, iterations, keep_background, rigid, generator=DRAG_GENERATOR):
    """DragGAN: stream the image as the handles move; the last frame carries the readouts."""
    from ...pointdrag import draw_points, parse_points
    from . import drag as DG

    handles, targets = parse_points(points)
    n, note = clamp_count(iterations, 1, DG.MAX_ITERATIONS, "iterations")
    kind = _drag_kind(generator)
    G, latent, image = _drag_source(seed, shape, colour, psi, kind)
    for frame in DG.drag_stream(G, latent, image, handles, targets, n, bool(keep_background), bool(rigid)):
        pic = draw_points(frame["image"], frame["handles"], targets, CANVAS)
        if not frame["done"]:
            yield pic, f"Iteration {frame['iteration']} of at most {n}…", gr.skip()
            continue
        rows = DG.drag_readouts(image, frame["image"], handles, targets, frame["handles"], frame["region"],
                                frame["seconds"])
        if kind == "stylegan":
            how = ("motion supervision + point tracking on the StyleGAN's 16-px features; "
                   + ("the background outside the object and its target region held by the λ term"
                      if frame["region"] is not None else "no mask term")
                   + ("; the object moved as one piece (feature template)." if rigid else "."))
        else:
            how = ("motion supervision on the layered CGAN's placed object features, the handles tracked by its "
                   "spatial transformer; its background is a layer of its own and stays the source's"
                   + ("; the object's pose alone moved (its outline is the source's)." if rigid else
                      "; the object's pose and noise moved."))
        said = [f"{frame['iteration']} of {n} iterations of {how} ({frame['seconds']:.1f} s)", note]
        yield pic, " ".join(x for x in said if x), readout_panel_html({"DragGAN": rows})


def drag_result(*args):
    """The drag run to its end (the tab's opening example): its last frame."""
    out = None
    for out in gan_drag(*args):
        pass
    return out


# Direction of each model-card metric (metrics.json stores values only).
HIGHER = {"FID": False, "KID": False, "IS": True, "precision": True, "recall": True, "FID floor (train vs test)": False,
          "FID / floor": False, "requested shape recognised": True, "requested colour recognised": True}


def card_table() -> str:
    """The embedded models' held-out numbers from their model cards (N = 2,000, computed once at training)."""
    from ...hub.widgets import readout_table

    cols = {}
    for title, kind in NAMES.items():
        path = service.WEIGHTS / kind / "metrics.json"
        if path.exists():
            cols[title] = [{"metric": k, "value": v, "higher_is_better": HIGHER.get(k)}
                           for k, v in json.loads(path.read_text()).items()]
    if not cols:
        return ("<p>No embedded GAN is trained yet (<code>python -m genmodels train dcgan|cgan|stylegan|biggan</code>)."
                "</p>")
    return readout_table(cols, "From the model cards: N = 2,000 samples vs the 2,000-item shapes test split, "
                         "domain backbone; the floor is 2,000 real train items vs the same test split. "
                         "Recompute below at any N (with intervals and PPL).")


@user_errors
def gan_readouts(source: str, n, progress=gr.Progress()):
    from .evaluate import readouts

    n, note = clamp_count(n, 100, 2000, "number of samples")
    cols = {}
    for i, (title, kind) in enumerate(NAMES.items()):
        progress(i / len(NAMES), desc=title)
        try:
            G = service.load_generator(kind, "embedded" if kind != "stylegan" else model_source(source, "Weights"))
        except FileNotFoundError as e:
            cols[title] = []
            note += f" {title}: {e}."
            continue
        cols[title] = readouts(kind, G, n)
    return readout_panel_html(cols) + (f"<p class='gm-foot'>{note}</p>" if note.strip() else "")
