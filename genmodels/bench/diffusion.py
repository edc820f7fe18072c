"""Bench cases of the diffusion family: images/s of the embedded tiny Stable Diffusion at 20 steps for each
scheduler (the stock ``StableDiffusionPipeline.__call__``, CFG 3, batch 1 and 8), and the Diffusion tab's overhead:
the ``diffusion_txt2img`` handler (input checks, tokenizer length check, per-image generators, the sampler thread,
progress every step, a decoded preview at most once a second) over the bare pipeline call on the same request. The
readouts (CLIP score, prompt attributes) are a follow-up event after the images show; their time is its own row."""
from __future__ import annotations

import statistics
import time

import torch

from . import Row, case
from .gan import paired

STEPS = 20


def _median_time(fn, rounds: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


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

            last = {}

            def handler():
                for out in tab.diffusion_txt2img(prompt, "", STEPS, 3.0, name, batch, 0, "embedded",
                                                 progress=lambda *a, **k: None):
                    last["gallery"] = out[0]

            b, ratio = paired(bare, handler, rounds)
            rows.append(("diffusion", f"{name} images/s at {STEPS} steps, batch {batch} (bare pipeline call)",
                         batch / b, "images/s", f"CFG 3, {torch.get_num_threads()} threads, median of {rounds}"))
            if name == "DDIM" or not quick:
                rows.append(("diffusion", f"{name} tab handler / bare pipeline, batch {batch}", ratio, "×",
                             f"median of {rounds} paired blocks; goal ≤ 1.2"))
                gallery = last["gallery"]
                t = _median_time(lambda: tab.diffusion_txt2img_readouts(gallery, prompt), rounds)
                rows.append(("diffusion", f"{name} readouts follow-up event, batch {batch}", 1000 * t, "ms",
                             f"{t / b:.1%} of the bare call; runs after the images show; median of {rounds}"))
    return rows
