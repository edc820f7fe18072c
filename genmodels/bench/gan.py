"""Bench cases of the GAN family: images/s of each embedded generator at batch 1 and 16, and the GAN tab's
overhead (the ``gan_sample`` handler: input checks, per-image seeds, labels, uint8 images and captions) over the bare
generator call on the same batch (``service.generate``: one batched forward of G under no_grad)."""
from __future__ import annotations

import statistics
import time

import torch

from . import Row, case


def _block(fn, per_block: int) -> float:
    t0 = time.perf_counter()
    for _ in range(per_block):
        fn()
    return (time.perf_counter() - t0) / per_block


def paired(bare, handler, rounds: int) -> tuple[float, float]:
    """(median seconds per bare call, median of per-round handler / bare ratios). Each round times a block of each,
    back to back (blocks ≥ 50 ms, so timer and scheduler noise do not dominate a 1 ms call); pairing the two
    blocks of a round cancels the machine's drift."""
    bare(), handler()  # warm-up
    t0 = time.perf_counter()
    bare()
    per_block = max(1, int(0.05 / max(time.perf_counter() - t0, 1e-6)))
    times, ratios = [], []
    for _ in range(rounds):
        b = _block(bare, per_block)
        h = _block(handler, per_block)
        times.append(b)
        ratios.append(h / b)
    return statistics.median(times), statistics.median(ratios)


@case("gan")
def gan(quick: bool) -> list[Row]:
    from ..families.gan import service, tab

    rounds = 5 if quick else 15
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

            def bare():  # the one batched forward the handler makes, without seeding or post-processing
                return service.generate(kind, G, z, c)

            def handler():
                return tab.gan_sample(title, "embedded", "any", "any", 1.0, batch, 0, ctx_max=64)

            b, ratio = paired(bare, handler, rounds)
            rows.append(("gan", f"{title} images/s, batch {batch} (bare G call)", batch / b, "images/s",
                         f"{torch.get_num_threads()} threads, median of {rounds} blocks"))
            rows.append(("gan", f"{title} tab handler / bare G, batch {batch}", ratio, "×",
                         f"median of {rounds} paired blocks; goal ≤ 1.2"))
    return rows
