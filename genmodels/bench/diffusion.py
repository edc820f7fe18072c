"""Bench cases of the diffusion family: images/s of the embedded tiny Stable Diffusion at 20 steps for each
scheduler (the stock ``StableDiffusionPipeline.__call__``, CFG 3, batch 1 and 8), and the Diffusion tab's overhead:
the ``diffusion_txt2img`` handler (input checks, tokenizer length check, per-image generators, the worker thread,
streamed previews every 5 steps, the CLIP-score and attribute readouts) over the bare pipeline call on the same request."""
from __future__ import annotations

import torch

from . import Row, case
from .gan import paired

STEPS = 20


@case("diffusion")
def diffusion(quick: bool) -> list[Row]:
    from ..families.diffusion import service, tab

    rounds = 3 if quick else 7
    try:
        pipe = service.load_pipeline(service.EMBEDDED)
    except (FileNotFoundError, ValueError) as e:
        return [("diffusion", "tiny SD", float("nan"), "", str(e))]
    prompt = tab.EXAMPLE
    rows: list[Row] = []
    for name in service.SCHEDULERS:
        for batch in (1, 8):
            def bare():
                run = service.runner(pipe, name)
                with torch.no_grad():
                    return run(prompt=[prompt] * batch, num_inference_steps=STEPS, guidance_scale=3.0,
                               generator=service.generators(0, batch), height=32, width=32, output_type="np")

            def handler():
                gen = tab.diffusion_txt2img(prompt, "", STEPS, 3.0, name, batch, 0, "embedded",
                                            progress=lambda *a, **k: None)
                for _ in gen:
                    pass

            b, ratio = paired(bare, handler, rounds)
            rows.append(("diffusion", f"{name} images/s at {STEPS} steps, batch {batch} (bare pipeline call)",
                         batch / b, "images/s", f"CFG 3, {torch.get_num_threads()} threads, median of {rounds}"))
            if name == "DDIM" or not quick:
                rows.append(("diffusion", f"{name} tab handler / bare pipeline, batch {batch}", ratio, "×",
                             f"median of {rounds} paired blocks; goal ≤ 1.2"))
    return rows
