"""Bench cases of the GAN family: images/s of each embedded generator at batch 1 and 16, and the GAN tab's
overhead (the ``gan_sample`` handler: per-image seeds, labels, PNG-ready upscaled images and captions) over the bare
generator call on the same batch."""
from __future__ import annotations

import statistics
import time

import torch

from . import Row, case


def _timeit(fn, reps: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@case("gan")
def gan(quick: bool) -> list[Row]:
    from ..families.gan import service, tab

    reps = 5 if quick else 20
    rows: list[Row] = []
    for title, kind in tab.NAMES.items():
        try:
            G = service.load_generator(kind, "embedded")
        except FileNotFoundError as e:
            rows.append(("gan", f"{title}", float("nan"), "", str(e)))
            continue
        for batch in (1, 16):
            z = torch.randn(batch, service.z_dim(G), generator=torch.Generator().manual_seed(0))
            c = service.condition(kind, G, batch, None, None)

            def bare():  # one batched forward, no seeding, no post-processing
                with torch.no_grad():
                    if kind == "stylegan":
                        return G(z, c, noise_mode="const")
                    return G(z, c) if c is not None else G(z)

            def handler():
                return tab.gan_sample(title, "embedded", "any", "any", 1.0, batch, 0, ctx_max=64)

            t_bare, t_tab = [], []
            for _ in range(3):  # interleaved, so drift hits both alike
                t_bare.append(_timeit(bare, reps))
                t_tab.append(_timeit(handler, reps))
            b, h = statistics.median(t_bare), statistics.median(t_tab)
            rows.append(("gan", f"{title} images/s, batch {batch} (bare G call)", batch / b, "images/s",
                         f"{torch.get_num_threads()} threads, median of {reps}×3"))
            rows.append(("gan", f"{title} tab handler / bare G, batch {batch}", h / b, "×", "goal ≤ 1.2"))
    return rows
