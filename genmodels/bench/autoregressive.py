"""Bench case of the autoregressive family: naive vs cached sampling (Ramachandran et al. 2017, arXiv:1704.06001) of
one 32² image for each model — PixelCNN, Gated PixelCNN, PixelCNN++ — with the same seed, so the two samplers must
draw the same image. The embedded model when it is trained, else the recipe's architecture with random weights (the
work per pixel does not depend on the weights' values)."""
from __future__ import annotations

import time

import torch

from . import Row, case

# key, label, what the issue asks of the cached sampler
MODELS = (("pixelcnn", "PixelCNN", "acceptance: a whole image ≤ 5 s with identical draws"),
          ("gated-pixelcnn", "Gated PixelCNN", "acceptance: a whole image ≤ 5 s with identical draws"),
          ("pixelcnnpp", "PixelCNN++", "acceptance ≥ 20, goal ≥ 50"))


def _run(it, pixels: int) -> tuple[float, torch.Tensor]:
    """Seconds until the sampler has drawn ``pixels`` pixels, and the image then."""
    t0 = time.perf_counter()
    out = None
    for t, out in it:
        if t + 1 >= pixels:
            break
    return time.perf_counter() - t0, out.clone()


@case("autoregressive")
def autoregressive(quick: bool) -> list[Row]:
    from ..families.autoregressive import service
    from ..families.autoregressive.cached import for_model
    from ..families.autoregressive.pixelcnn import iter_sample
    from ..families.autoregressive.pixelcnnpp import PixelCNNpp, iter_naive
    from ..families.autoregressive.train import build

    pixels = 256 if quick else 1024
    threads = torch.get_num_threads()
    rows: list[Row] = []
    for key, label, goal in MODELS:
        try:
            model, what = service.load(key), "embedded weights"
        except FileNotFoundError:
            torch.manual_seed(0)
            model, what = build(key).eval(), "recipe architecture, random weights (not trained here)"
        y = torch.tensor([3]) if model.n_classes else None
        t_build = time.perf_counter()
        sampler = for_model(model, 32)
        t_build = time.perf_counter() - t_build
        cached, a = _run(sampler.iterate(1, y, torch.Generator().manual_seed(0)), pixels)
        naive_it = iter_naive if isinstance(model, PixelCNNpp) else iter_sample
        naive, b = _run(naive_it(model, 1, 32, y, torch.Generator().manual_seed(0)), pixels)
        same = "identical draws" if torch.equal(a, b) else "DRAWS DIFFER"
        full = "" if pixels == 1024 else f"; a whole image ≈ {cached * 1024 / pixels:.2f} s"
        rows += [("autoregressive", f"{label} naive sampling, {pixels} pixels of one 32² image", naive, "s",
                  f"{threads} threads; {what}"),
                 ("autoregressive", f"{label} cached sampling, same pixels", cached, "s",
                  f"{threads} threads; built once in {t_build:.2f} s (not counted); {same}{full}"),
                 ("autoregressive", f"{label} cached speed-up (naive / cached)", naive / cached, "×",
                  f"one run; {goal}")]
    return rows
