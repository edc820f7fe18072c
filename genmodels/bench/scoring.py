"""Bench case of the scoring module: FID of 2,000 vs 2,000 images end to end (features + statistic) with the domain
backbone, ours vs torchmetrics ``FrechetInceptionDistance(feature=<the same module>)``."""
from __future__ import annotations

import statistics
import time

import torch

from . import Row, case


@case("fid_vs_torchmetrics")
def fid_vs_torchmetrics(quick: bool) -> list[Row]:
    from torchmetrics.image.fid import FrechetInceptionDistance

    from ..data.dataset import shapes_arrays, to_tensor
    from ..scoring.backbones import get_backbone
    from ..scoring.fid import fid_from_features

    n = 2000
    gen = to_tensor(shapes_arrays("train", n)["images"])
    ref = to_tensor(shapes_arrays("test", n)["images"])
    bb = get_backbone("shapes")
    module = bb.feature_module().eval()
    reps = 1 if quick else 5
    ours_t, tm_t = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        ours = fid_from_features(bb.features(gen), bb.features(ref))
        ours_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        fid = FrechetInceptionDistance(feature=module, normalize=True)
        with torch.no_grad():
            for i in range(0, n, bb.batch):
                fid.update(ref[i:i + bb.batch], real=True)
                fid.update(gen[i:i + bb.batch], real=False)
            theirs = float(fid.compute())
        tm_t.append(time.perf_counter() - t0)
    a, b = statistics.median(ours_t), statistics.median(tm_t)
    return [("fid_vs_torchmetrics", "ours: features + Fréchet distance", a, "s",
             f"FID={ours:.6f}, N={n} vs {n}, median of {reps} interleaved runs"),
            ("fid_vs_torchmetrics", "torchmetrics FID, same feature module (under no_grad)", b, "s",
             f"FID={theirs:.6f}, median of {reps}"),
            ("fid_vs_torchmetrics", "relative difference of the two FIDs", abs(ours - theirs) / abs(theirs), "",
             "equal values: relative difference"),
            ("fid_vs_torchmetrics", "speed ratio torchmetrics time / ours", b / a, "×", "goal ≥ 1.0")]
