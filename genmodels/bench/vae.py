"""Bench cases of the VAE family: images/s of each embedded model's sampler (VAE / CVAE prior samples, VQ-VAE codes
from the Gated PixelCNN prior, DALL-E-style codes with the KV cache) and of VQ-VAE reconstruction, and every tab
handler's overhead over the bare model call on the same request (input checks, scoring-classifier readouts,
enlarged tiles)."""
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
    try:
        img = shapes_arrays("test", 8)["images"][7]
        n = 8
        for label in service.SAMPLERS:
            b, ratio = paired(lambda: service.sample(label, n, 0, "star", "red"),
                              lambda: tab.vae_sample(label, "star", "red", n, 1.0, 3.0, 0, **quiet), rounds)
            rows.append(("vae", f"{label} samples/s, batch {n} (bare sampler)", n / b, "images/s",
                         f"{threads} threads, median of {rounds} blocks"))
            rows.append(("vae", f"{label}: tab handler / bare sampler, batch {n}", ratio, "×",
                         f"median of {rounds} paired blocks; goal ≤ 1.2"))

        def bare_t():
            for last in service.text2image_stream("a large blue striped heart on a dark background", 4, 0, every=64):
                pass
            return last

        b, ratio = paired(bare_t, lambda: tab.text2image_final("a large blue striped heart on a dark background", 4,
                                                               1.0, 0, 3.0, 0), rounds)
        rows.append(("vae", "DALL-E-style samples/s, batch 4 (64 codes each, KV cache)", 4 / b, "images/s",
                     f"{threads} threads, median of {rounds} blocks"))
        rows.append(("vae", "DALL-E-style: tab handler (streamed every 8 codes) / bare", ratio, "×",
                     f"median of {rounds} paired blocks; goal ≤ 1.2"))
        b, ratio = paired(lambda: service.reconstruct(img, 1, 1), lambda: tab.vae_reconstruct(7, None), rounds)
        rows.append(("vae", "reconstructions/s (VAE + CVAE + VQ-VAE of one image)", 1 / b, "images/s",
                     f"{threads} threads, median of {rounds} blocks"))
        rows.append(("vae", "Reconstruct: tab handler (PSNR / SSIM / PD readouts, code map) / bare", ratio, "×",
                     f"median of {rounds} paired blocks; goal ≤ 1.2"))
        a, c = shapes_arrays("test", 8)["images"][[0, 5]]
        b, ratio = paired(lambda: service.walk(a, c, 8), lambda: tab.vae_walk(0, 5, 8, "spherical"), rounds)
        rows.append(("vae", "Latent walk: tab handler / bare, 8 frames", ratio, "×",
                     f"median of {rounds} paired blocks; goal ≤ 1.2"))
    except FileNotFoundError as e:
        rows.append(("vae", "VAE family", float("nan"), "", str(e)))
    return rows
