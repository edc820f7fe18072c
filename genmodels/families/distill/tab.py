"""The "Distilled sampler" tab: teacher at N steps vs a distilled student at n steps (same noise), timed and scored;
quality-vs-steps curves; Hub few-step models (LCM-LoRA, Turbo) through the same code."""
from __future__ import annotations

import gradio as gr
import numpy as np
import pandas as pd

from ...hub.widgets import clamp_count, how_it_works, on_open, parse_seed, parse_whole, readout_panel_html, \
    readout_table, seed_row, user_errors
from . import progressive as P
from . import service
from .family import FAMILY

EXAMPLE = "a large red solid star on a light background"
CURVE_METRICS = ("FID_domain", "FID to the teacher's samples", "caption accuracy", "CLIP score")


def _row(images: np.ndarray) -> list[np.ndarray]:
    return list(images)  # native 32x32 tiles; the gallery enlarges them (gm-pixelated)


def _readouts(images: np.ndarray, prompt: str, teacher: np.ndarray | None = None) -> list:
    from ...scoring.readout import score_pairs
    from ..diffusion.tab import _readouts as prompt_readouts

    rows = prompt_readouts(images, prompt)
    if teacher is not None:  # how close the few-step images are to the teacher's from the same noise
        rows += [r for r in score_pairs(images, teacher, lpips_net=None) if r.metric in ("SSIM", "PSNR (dB)", "PD")]
    return rows


@user_errors
def distill_compare(prompt, seed, teacher_steps, student_steps, w, count):
    """Teacher (CFG w, N DDIM steps) | student (n steps) | plain DDIM (CFG w, n steps), one initial noise per image."""
    count, count_note = clamp_count(count, 1, service.MAX_IMAGES, "number of images")
    res = service.compare(prompt, parse_seed(seed), teacher_steps, student_steps, w, count)
    sec = res["seconds"]
    n, big_n = res["student_steps"], res["teacher_steps"]
    lines = [f"**Same initial noise in all three galleries** (image i of each). Wall time for "
             f"{len(res['teacher'])} image(s), text encoder and VAE decode included: teacher {big_n} steps "
             f"{sec['teacher']:.2f} s · student {n} step{'s' if n > 1 else ''} {sec['student']:.3f} s "
             f"(**{sec['teacher'] / max(sec['student'], 1e-9):.1f}× faster**) · plain DDIM {n} "
             f"step{'s' if n > 1 else ''} {sec['ddim']:.3f} s."]
    lines += [x for x in (res["note"], count_note) if x]
    cols = {f"teacher, {big_n} steps": _readouts(res["teacher"], res["prompt"]),
            f"student, {n} steps": _readouts(res["student"], res["prompt"], res["teacher"]),
            f"plain DDIM, {n} steps": _readouts(res["ddim"], res["prompt"], res["teacher"])}
    panel = readout_panel_html(cols, title=f"w = {res['w']:g}; SSIM / PSNR / PD against the teacher's image from the "
                               "same noise")
    return _row(res["teacher"]), _row(res["student"]), _row(res["ddim"]), "\n\n".join(lines), panel


def _frame(rows: list[dict], metric: str) -> pd.DataFrame:
    keep = [r for r in rows if r["metric"] == metric]
    return pd.DataFrame({"steps": [r["steps"] for r in keep], "value": [r["value"] for r in keep],
                         "sampler": [r["sampler"] for r in keep]}) if keep else \
        pd.DataFrame({"steps": [], "value": [], "sampler": []})


def _curve_note(rows: list[dict], live: bool) -> str:
    if not rows:
        return ("No stored curve yet: `python -m genmodels bench --only distill` measures it (N = 2,000 test "
                "captions).")
    n = rows[0]["n"]
    what = "measured now" if live else "stored, from `python -m genmodels bench --only distill`"
    return (f"{what}; N = {n} test captions, image i from seed i, w = 3; FID_domain on the shapes backbone vs the "
            "test split (lower is better); FID to the teacher's samples: the same features against the 64-step "
            "teacher's images for the same captions and noise (how closely a few-step sampler stands in for it); "
            "caption accuracy = class, colour and fill all recognised by the scoring classifier; CLIP score with the "
            "scoring module's CLIP.")


@user_errors
def distill_curve(n, w):
    """Quality vs steps now, on the first n test captions: the 64-step teacher, each student, plain DDIM."""
    k = parse_whole(n, 16, 256, "Captions for a live measurement")
    if not service.available():
        raise FileNotFoundError("No student is trained here: `python -m genmodels train distill` makes them.")
    rows = service.live_curve(k, w)
    return (*(_frame(rows, m) for m in CURVE_METRICS), _curve_note(rows, True))


@user_errors
def distill_hub(pipeline, lora, kind, prompt, steps, cfg, seed):
    res = service.few_step_hub(pipeline, lora, kind, prompt, steps, cfg, parse_seed(seed))
    return _row(res["images"]), res["note"]


def build_tab(ctx) -> None:
    how_it_works(FAMILY.summary, FAMILY.papers)
    have = service.available()
    with gr.Tabs():
        with gr.Tab("Teacher vs student", id="distill-compare"):
            with gr.Row():
                with gr.Column(scale=1, min_width=280):
                    prompt = gr.Textbox(EXAMPLE, label="Prompt", elem_id="distill-prompt")
                    student = gr.Radio([str(k) for k in (have or service.STUDENT_STEPS)], value="4",
                                       label="Student (steps)" + ("" if have else " — not trained here"),
                                       elem_id="distill-student")
                    w = gr.Slider(*P.W_RANGE, value=3.0, step=0.5, label="Guidance weight w (folded into the "
                                  "student; CFG for the teacher and plain DDIM)", elem_id="distill-w")
                    teacher_steps = gr.Slider(*service.TEACHER_STEPS_RANGE, value=64, step=1,
                                              label="Teacher steps (DDIM)")
                    count = gr.Slider(1, service.MAX_IMAGES, value=4, step=1, label="Images")
                    seed = seed_row(0, elem_id="distill-seed")
                    go = gr.Button("Compare", variant="primary", elem_id="distill-compare-btn")
                with gr.Column(scale=2):
                    note = gr.Markdown(elem_id="distill-note")
                    with gr.Row():  # side by side: teacher | student | plain DDIM, image i from the same noise
                        g_teacher = gr.Gallery(label="teacher (CFG)", columns=2, height="auto", format="png",
                                               elem_id="distill-teacher", elem_classes=["gm-pixelated"])
                        g_student = gr.Gallery(label="distilled student", columns=2, height="auto", format="png",
                                               elem_id="distill-student-gallery", elem_classes=["gm-pixelated"])
                        g_ddim = gr.Gallery(label="plain DDIM, same steps", columns=2, height="auto",
                                            format="png", elem_id="distill-ddim", elem_classes=["gm-pixelated"])
                    panel = gr.HTML(elem_id="distill-readouts")
            inputs = [prompt, seed, teacher_steps, student, w, count]
            outputs = [g_teacher, g_student, g_ddim, note, panel]
            go.click(distill_compare, inputs, outputs, api_name="distill_compare")
            on_open(distill_compare, outputs, inputs, cancel_on=[go])
            gr.Examples([[EXAMPLE, 0, 64, "4", 3.0, 4], ["a small blue striped heart on a dark background", 1, 64,
                                                         "1", 3.0, 4],
                         ["a medium green solid square on a gradient background", 2, 64, "8", 5.0, 4]], inputs)
        with gr.Tab("Quality vs steps", id="distill-curve"):
            rows = service.stored_curve()
            plots = []
            for pair in (CURVE_METRICS[:2], CURVE_METRICS[2:]):
                with gr.Row():
                    plots += [gr.LinePlot(_frame(rows, m), x="steps", y="value", color="sampler", title=m,
                                          height=260, elem_id=f"distill-curve-{CURVE_METRICS.index(m)}")
                              for m in pair]
            c_note = gr.Markdown(_curve_note(rows, False), elem_id="distill-curve-note")
            with gr.Row():
                c_n = gr.Number(32, label="Captions for a live measurement (16–256)", precision=0)
                c_w = gr.Slider(*P.W_RANGE, value=3.0, step=0.5, label="w")
                c_go = gr.Button("Measure now", elem_id="distill-curve-btn")
            c_go.click(distill_curve, [c_n, c_w], [*plots, c_note], api_name="distill_curve")
        with gr.Tab("Hub few-step models", id="distill-hub"):
            gr.Markdown("An SD 1.x pipeline with an **LCM-LoRA** (Luo et al. 2023) on `LCMScheduler`, or a "
                        "**Turbo**-style adversarially distilled checkpoint (Sauer et al. 2023) on "
                        "`EulerAncestralDiscreteScheduler` at CFG 0 — loaded with diffusers when the weights are in "
                        "the local Hugging Face cache or the Hub is reachable.")
            with gr.Row():
                with gr.Column(scale=1, min_width=280):
                    h_pipe = gr.Textbox("runwayml/stable-diffusion-v1-5", label="Pipeline (Hub id or folder)")
                    h_lora = gr.Textbox("latent-consistency/lcm-lora-sdv1-5",
                                        label="LCM-LoRA (Hub id or folder; empty for a Turbo checkpoint)")
                    h_kind = gr.Radio(["LCM-LoRA", "Turbo"], value="LCM-LoRA", label="Kind")
                    h_prompt = gr.Textbox(EXAMPLE, label="Prompt")
                    h_steps = gr.Slider(1, 8, value=4, step=1, label="Steps")
                    h_cfg = gr.Slider(0.0, 2.0, value=1.0, step=0.1, label="Guidance (LCM: 1–2; Turbo: 0)")
                    h_seed = seed_row(0)
                    h_go = gr.Button("Generate", variant="primary", elem_id="distill-hub-btn")
                with gr.Column(scale=2):
                    h_note = gr.Markdown(elem_id="distill-hub-note")
                    h_gallery = gr.Gallery(columns=4, height="auto", format="png", elem_id="distill-hub-gallery")
            h_go.click(distill_hub, [h_pipe, h_lora, h_kind, h_prompt, h_steps, h_cfg, h_seed], [h_gallery, h_note],
                       api_name="distill_hub")
    with gr.Accordion("Readouts: the embedded students (held-out, from their cards)", open=True):
        gr.HTML(card_table(), elem_id="distill-cards")


def card_table() -> str:
    data = service.stored_metrics()
    if not data:
        return "<p>No held-out evaluation yet: `python -m genmodels bench --only distill`.</p>"
    cols = {name: [{"metric": k, "value": v} for k, v in m.items()] for name, m in data["columns"].items()}
    return readout_table(cols, data.get("footnote", ""))
