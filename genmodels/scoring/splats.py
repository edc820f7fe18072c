"""Adversarial splats: a cheap stand-in for the ReFL-style samples that fooled the CNNs (FACTS.md, "Classifiers agree
on textures a person would not name"), to show that the outline reader is not moved by them.

What the images are, exactly: each is a test-split scene's background (dark / light / gradient) and object colour
(``shapes.scene_params("test", i)``) with, instead of the shape, a *splat*: the union of ``blobs`` soft-edged
ellipses (centre, two radii, angle each; alpha = 1 - prod(1 - sigmoid(6 (1 - r)))) rendered at 2x and
box-filtered to 32 x 32, whose colour is multiplied per pixel by 1 + 0.35 tanh(t) (a learned shade: texture the
CNN can use; both tones stay object colour for the outline reader). It starts as a round cluster at the scene's
centre and is optimised with Adam (``steps`` steps, lr 0.15) to minimise the cross-entropy of the *requested*
shape under the scoring classifier — white-box against the very classifier that will read it, so the classifier's
reading is an upper bound of what a reward model can buy. Nothing keeps the outline on the data: like ReFL without
a data term, the optimiser is free to make any blob the CNN names. The result, as in the FACTS.md probe: rounded
blobs for circles / squares / crosses / hearts, slivers and many-armed splats for triangles and stars, diagonal
streak textures inside.

The FACTS.md probe's own images (8x8 latent diffusion + ReFL with the robust guide) were not stored. A real
ReFL-style run's samples are: ``docs/experiments/sd-unet-guided-samples.png`` (the earlier f = 2 tiny SD fine-tuned
with the gan-guide reward; 6 shapes x 4 conditions, each 32 x 32 tile enlarged 2x nearest). tests/reference/
test_ref_shape_reading.py reads both.

Measured (``python -m genmodels.scoring.splats``, 8 per class, 8 blobs, 40 steps): the scoring classifier reads the
requested shape on 48 / 48, the outline reader on 14 / 48 (29 %, chance 17 %), 4 in pieces, none without an object.
Cost ~5 s on 2 free CPU threads.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..data import shapes

SHADE = 0.35
EDGE = 6.0


def _render(mu, logr, ang, shade, colour, background, supersample: int) -> torch.Tensor:
    """(N, 3, 32, 32) in [-1, 1] from per-image ellipse parameters (see the module docstring)."""
    n = 32 * supersample
    yy, xx = torch.meshgrid(torch.arange(n) + 0.5, torch.arange(n) + 0.5, indexing="ij")
    pix = torch.stack([xx, yy], -1) / supersample  # (n, n, 2), in 32-px units
    d = pix[None, None] - mu[:, :, None, None, :]
    c, s = torch.cos(ang)[..., None, None], torch.sin(ang)[..., None, None]
    u = (d[..., 0] * c + d[..., 1] * s) / logr[..., 0, None, None].exp()
    v = (-d[..., 0] * s + d[..., 1] * c) / logr[..., 1, None, None].exp()
    a = torch.sigmoid(EDGE * (1 - (u * u + v * v + 1e-8).sqrt()))
    alpha = F.avg_pool2d((1 - torch.prod(1 - a, 1))[:, None], supersample)
    obj = (colour[:, :, None, None] + 1) * (1 + SHADE * torch.tanh(shade)) - 1
    return alpha * obj + (1 - alpha) * background


def adversarial_splats(per_class: int = 8, blobs: int = 8, steps: int = 40, lr: float = 0.15, seed: int = 0,
                       classifier: torch.nn.Module | None = None, supersample: int = 2) -> dict:
    """``per_class`` splats per shape class, optimised so that ``classifier`` (default: the scoring classifier;
    any module mapping (N, 3, 32, 32) in [-1, 1] to logits or to a dict with a "shape" entry) reads the requested
    shape. Returns ``images`` uint8 (N, 32, 32, 3), ``requested`` (N,) shape indices, ``scenes`` (test item
    indices whose background and colour were used) and ``final_loss``."""
    if per_class < 1 or blobs < 1 or steps < 0:
        raise ValueError("per_class and blobs must be at least 1 and steps at least 0")
    if classifier is None:
        from .backbones import load_shapes_classifier

        classifier = load_shapes_classifier()[0]
    k = len(shapes.SHAPES)
    y = torch.arange(k).repeat_interleave(per_class)
    n = len(y)
    g = torch.Generator().manual_seed(seed)
    scenes = [shapes.scene_params("test", i) for i in range(n)]
    background = torch.tensor(np.stack([shapes.render_background(p) for p in scenes]),
                              dtype=torch.float32).permute(0, 3, 1, 2) / 127.5 - 1
    colour = torch.tensor([shapes.COLOURS[shapes.COLOUR_NAMES[p.colour]] for p in scenes],
                          dtype=torch.float32) / 127.5 - 1
    centre = torch.tensor([[p.cx, p.cy] for p in scenes], dtype=torch.float32) * 32
    mu = (centre[:, None, :] + 2.0 * torch.randn(n, blobs, 2, generator=g)).requires_grad_()
    logr = (np.log(3.0) + 0.2 * torch.randn(n, blobs, 2, generator=g)).requires_grad_()
    ang = (np.pi * torch.rand(n, blobs, generator=g)).requires_grad_()
    shade = torch.zeros(n, 1, 32, 32, requires_grad=True)
    was_training = classifier.training
    classifier.eval()
    params = [p for p in classifier.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    opt = torch.optim.Adam([mu, logr, ang, shade], lr=lr)

    def logits(x):
        out = classifier(x)
        return out["shape"] if isinstance(out, dict) else out

    loss = torch.tensor(float("nan"))
    try:
        for _ in range(steps):
            loss = F.cross_entropy(logits(_render(mu, logr, ang, shade, colour, background, supersample)), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                logr.clamp_(np.log(0.7), np.log(8.0))
        with torch.no_grad():
            x = _render(mu, logr, ang, shade, colour, background, supersample)
    finally:
        for p in params:
            p.requires_grad_(True)
        classifier.train(was_training)
    images = x.clamp(-1, 1).add(1).mul(127.5).round().byte().permute(0, 2, 3, 1).numpy()
    return {"images": images, "requested": y.numpy(), "scenes": np.arange(n), "final_loss": float(loss.detach())}


def main(argv=None) -> None:
    """Generate splats and print both readings: ``python -m genmodels.scoring.splats [--per-class 8] [--png F]``."""
    import argparse
    import json

    from .readout import read_shapes

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-class", type=int, default=8)
    ap.add_argument("--blobs", type=int, default=8)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--png", help="save the splats as a grid (rows: requested shape), enlarged 4x")
    a = ap.parse_args(argv)
    s = adversarial_splats(a.per_class, a.blobs, a.steps, seed=a.seed)
    print(json.dumps(read_shapes(s["images"], s["requested"]).summary(), indent=1))
    if a.png:
        from PIL import Image

        k, m = len(shapes.SHAPES), a.per_class
        grid = s["images"].reshape(k, m, 32, 32, 3).transpose(0, 2, 1, 3, 4).reshape(k * 32, m * 32, 3)
        Image.fromarray(grid).resize((m * 128, k * 128), Image.NEAREST).save(a.png)


if __name__ == "__main__":
    main()
