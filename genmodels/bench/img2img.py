"""Bench cases of the image-to-image family: images/s of the embedded pix2pix and CycleGAN generators, the tab
handlers' overhead (input checks, edge map + fill + attribute planes, native uint8 outputs) over the bare generator
call on the same prepared input, and a 128² style-transfer run (goal < 60 s here)."""
from __future__ import annotations

import time

import numpy as np
import torch

from . import Row, case
from .gan import paired


@case("img2img")
def img2img(quick: bool) -> list[Row]:
    from ..data.dataset import to_tensor
    from ..families.img2img import service, tab
    from ..families.img2img.data import pix2pix_input

    rounds = 5 if quick else 15
    rows: list[Row] = []
    threads = torch.get_num_threads()
    try:
        G = service.load_pix2pix("embedded")
        item = service.test_item(2)
        for n in (1, 8):
            attrs = [(item.params.colour, item.params.fill, item.params.background)] + [
                service.attrs_from("any", "any", "any", i) for i in range(1, n)]
            x = pix2pix_input(np.repeat(item.edges[None], n, 0), np.asarray(attrs))

            def bare():
                with torch.no_grad():
                    return G(x)

            def handler():
                return tab.img2img_pix2pix("embedded", "Test item", 2, None, None, "any", "any", "any", n, 0)

            b, ratio = paired(bare, handler, rounds)
            rows.append(("img2img", f"pix2pix images/s, batch {n} (bare G call)", n / b, "images/s",
                         f"{threads} threads, median of {rounds} blocks"))
            rows.append(("img2img", f"pix2pix tab handler / bare G, batch {n}", ratio, "×",
                         f"median of {rounds} paired blocks; goal ≤ 1.2"))
    except FileNotFoundError as e:
        rows.append(("img2img", "pix2pix", float("nan"), "", str(e)))
    try:
        pair = service.load_cyclegan("embedded")
        item = service.test_item(2)
        x = to_tensor(item.image[None])

        def bare_c():
            with torch.no_grad():
                return pair.G_BA(pair.G_AB(x))  # the handler's two calls: G(x) and the cycle F(G(x))

        def handler_c():
            return tab.img2img_cyclegan("embedded", "Test item", 2, None, "A→B")

        b, ratio = paired(bare_c, handler_c, rounds)
        rows.append(("img2img", "CycleGAN images/s, G + cycle F (bare calls)", 1 / b, "images/s",
                     f"{threads} threads, median of {rounds} blocks"))
        rows.append(("img2img", "CycleGAN tab handler / bare G + F", ratio, "×",
                     f"median of {rounds} paired blocks; goal ≤ 1.2"))
    except FileNotFoundError as e:
        rows.append(("img2img", "CycleGAN", float("nan"), "", str(e)))
    from skimage import data

    from ..families.img2img.style import transfer
    from ..scoring.perceptual import style_distance

    content = service.square(service.check_image(data.astronaut()), 128)
    style = service.square(service.check_image(np.stack([data.brick()] * 3, -1)), 128)
    t0 = time.perf_counter()
    last = None
    for last in transfer(content, style, iterations=100, style_weight=1e6, every=10):
        pass
    secs = time.perf_counter() - t0
    fall = float(style_distance(content[None], style[None])[0] / style_distance(last.image[None], style[None])[0])
    rows.append(("img2img", "style transfer 128², 100 L-BFGS iterations (astronaut × brick)", secs, "s",
                 f"{threads} threads, {last.image.shape[0]}² ; goal < 60 s"))
    rows.append(("img2img", "style distance fall, content → result (same run)", fall, "×",
                 "scoring module, shapes backbone; acceptance ≥ 10×"))
    return rows
