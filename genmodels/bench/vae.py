"""Bench cases of the VAE family: images/s of each embedded model's sampler (VAE / CVAE prior samples, VQ-VAE codes
from the Gated PixelCNN prior, DALL-E-style codes with the KV cache) and of VQ-VAE reconstruction, and every tab
handler's overhead over the bare model call on the same request (input checks, captions, code map, enlarged tiles) —
timed to the pictures, which the handlers stream before the scoring-classifier readouts, and timed to the readouts."""
from __future__ import annotations

import torch

from . import Row, case
from .gan import paired


@case("vae")
def vae(quick: bool) -> list[Row]:
    from ..data.dataset import shapes_arrays
    from ..families.vae import service, tab

    rounds = 3 if quick else 9
    rows: list[Row] = []
    threads = torch.get_num_threads()
    quiet = dict(progress=lambda *a, **k: None)

    def pictures(stream, slot: int):
        """Run a streaming handler until it shows its final pictures (readouts still pending): what a visitor waits
        for. The readouts follow in the next update; the '… with readouts' rows time the whole handler."""
        for out in stream:
            if out[slot] is tab.PENDING:
                return out
        raise AssertionError("the handler never showed its pictures before its readouts")

    def both(name: str, bare, stream, whole, slot: int):
        b, ratio = paired(bare, lambda: pictures(stream(), slot), rounds)
        _, whole_ratio = paired(bare, whole, rounds)
        rows.append(("vae", f"{name}: tab handler to the pictures / bare", ratio, "×",
                     f"median of {rounds} paired blocks; goal ≤ 1.2"))
        rows.append(("vae", f"{name}: tab handler with the readouts / bare", whole_ratio, "×",
                     f"median of {rounds} paired blocks; the readouts are streamed after the pictures"))
        return b

    try:
        img = shapes_arrays("test", 8)["images"][7]
        n = 8
        for label in service.SAMPLERS:
            def bare(label=label):
                return service.sample(label, n, 0, "star", "red")

            def stream(label=label):
                return tab.vae_sample(label, "star", "red", n, 1.0, 3.0, 0, **quiet)

            b = both(f"{label}, batch {n}", bare, stream, lambda label=label: tab.sample_final(
                label, "star", "red", n, 1.0, 3.0, 0), 1)
            rows.insert(len(rows) - 2, ("vae", f"{label} samples/s, batch {n} (bare sampler)", n / b, "images/s",
                                        f"{threads} threads, median of {rounds} blocks"))

        caption = "a large blue striped heart on a dark background"

        def bare_t():
            for last in service.text2image_stream(caption, 4, 0, every=64):
                pass
            return last

        b = both("DALL-E-style, batch 4 (a picture every 16 codes)", bare_t,
                 lambda: tab.vae_text2image(caption, 4, 1.0, 0, 3.0, 0, **quiet),
                 lambda: tab.text2image_final(caption, 4, 1.0, 0, 3.0, 0), 2)
        rows.insert(len(rows) - 2, ("vae", "DALL-E-style samples/s, batch 4 (64 codes each, KV cache)", 4 / b,
                                    "images/s", f"{threads} threads, median of {rounds} blocks"))
        b = both("Reconstruct (code map, usage histogram; PSNR / SSIM / PD readouts)",
                 lambda: service.reconstruct(img, 1, 1), lambda: tab.vae_reconstruct(7, None),
                 lambda: tab.reconstruct_final(7, None), 4)
        rows.insert(len(rows) - 2, ("vae", "reconstructions/s (VAE + CVAE + VQ-VAE of one image)", 1 / b, "images/s",
                                    f"{threads} threads, median of {rounds} blocks"))
        a, c = shapes_arrays("test", 8)["images"][[0, 5]]
        b, ratio = paired(lambda: service.walk(a, c, 8), lambda: tab.vae_walk(0, 5, 8, "spherical"), rounds)
        rows.append(("vae", "Latent walk: tab handler / bare, 8 frames", ratio, "×",
                     f"median of {rounds} paired blocks; goal ≤ 1.2"))
    except FileNotFoundError as e:
        rows.append(("vae", "VAE family", float("nan"), "", str(e)))
    return rows
