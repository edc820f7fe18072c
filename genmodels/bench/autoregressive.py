"""Bench case of the autoregressive family: naive vs cached PixelCNN++ sampling of one 32² image (same seed, same
draws), the embedded model when it is trained, else the recipe's architecture with random weights (the work per
pixel does not depend on the weights' values)."""
from __future__ import annotations

import time

import torch

from . import Row, case


@case("autoregressive")
def autoregressive(quick: bool) -> list[Row]:
    from ..families.autoregressive import service
    from ..families.autoregressive.pixelcnnpp import CachedSampler, iter_naive
    from ..families.autoregressive.train import build

    try:
        model, what = service.load("pixelcnnpp"), "embedded weights"
    except FileNotFoundError:
        torch.manual_seed(0)
        model, what = build("pixelcnnpp").eval(), "recipe architecture, random weights (not trained here)"
    pixels = 256 if quick else 1024
    y = torch.tensor([3])

    def run(it) -> tuple[float, torch.Tensor]:
        t0 = time.perf_counter()
        out = None
        for t, out in it:
            if t + 1 >= pixels:
                break
        return time.perf_counter() - t0, out

    t_build = time.perf_counter()
    sampler = CachedSampler(model, 32)
    t_build = time.perf_counter() - t_build
    cached, a = run(sampler.iterate(1, y, torch.Generator().manual_seed(0)))
    naive, b = run(iter_naive(model, 1, 32, y, torch.Generator().manual_seed(0)))
    same = "identical draws" if torch.equal(a, b) else "DRAWS DIFFER"
    threads = torch.get_num_threads()
    return [("autoregressive", f"PixelCNN++ naive sampling, {pixels} pixels of one 32² image", naive, "s",
             f"{threads} threads; {what}"),
            ("autoregressive", f"PixelCNN++ cached sampling, same pixels", cached, "s",
             f"{threads} threads; plan built once in {t_build:.2f} s (not counted); {same}"),
            ("autoregressive", "cached speed-up (naive / cached)", naive / cached, "×",
             "one run; acceptance ≥ 10, goal ≥ 20")]
