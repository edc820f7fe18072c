"""Run every seeded sampler of the hub once and print a digest of its images: the worker of
``test_reproducibility.py``.

    python tests/unit/repro_worker.py OUT.json [name ...]

writes ``{sampler name: sha256 of the concatenated PNGs of every image it returned}`` to OUT.json (all samplers
when no name is given). Each sampler is the function under one public endpoint of the hub (``gan_sample``,
``diffusion_txt2img``, … — the part of the name before ``/``), called the way the endpoint calls it, at tiny
settings (1–2 images, 2–3 diffusion steps, 2 L-BFGS iterations, autoregressive completions that leave only the last
rows to sample), with one fixed seed (``--seed``, default 1234). ``torch.set_num_threads(1)``: the same thread count
in every run, so CPU kernels split their reductions the same way. Every image is turned into a uint8 RGB array and
encoded with PIL at fixed settings and no metadata, so equal digests mean byte-identical PNGs.

Per-sampler wall times go to stderr. The test runs this file in two fresh processes and compares the digests.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[2]
SEED = 1234
PROMPT = "a large red striped star on a light background"
SAMPLERS: dict[str, Callable[[int], list]] = {}


def sampler(name: str):
    def register(fn):
        SAMPLERS[name] = fn
        return fn
    return register


# ---- images -> bytes ------------------------------------------------------------------------------------------------

def _array(img):
    """A sampler output (uint8 array, PIL image, file path, or a gallery (image, caption) pair) -> uint8 RGB array."""
    import numpy as np
    from PIL import Image

    if isinstance(img, (tuple, list)) and len(img) == 2 and isinstance(img[1], str):
        img = img[0]
    if isinstance(img, (str, Path)):
        with Image.open(img) as im:
            img = im.convert("RGB")
    if isinstance(img, Image.Image):
        img = np.asarray(img.convert("RGB"))
    a = np.asarray(img)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    if a.dtype != np.uint8:
        raise TypeError(f"expected uint8 images, got {a.dtype}")
    if a.ndim == 2:
        a = np.stack([a] * 3, -1)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {a.shape}")
    return np.ascontiguousarray(a)


def png(img) -> bytes:
    """PNG bytes of one image: fixed zlib level, no optimisation pass, no text chunks or other metadata."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(_array(img), "RGB").save(buf, format="PNG", compress_level=6, optimize=False)
    return buf.getvalue()


def flatten(images) -> list:
    """A batch array (N, H, W, 3) or a nested list of images -> a flat list of single images."""
    import numpy as np

    if isinstance(images, np.ndarray):
        if images.ndim == 4:
            return list(images)
        if images.ndim == 5:  # a grid (rows, cols, H, W, 3)
            return list(images.reshape(-1, *images.shape[2:]))
        return [images]
    out = []
    for x in images:
        if isinstance(x, (tuple, list)) and len(x) == 2 and isinstance(x[1], str):
            out.append(x)  # a gallery item (image, caption)
        elif isinstance(x, (list, tuple)) or (isinstance(x, np.ndarray) and x.ndim >= 4):
            out.extend(flatten(x))
        else:
            out.append(x)
    return out


def digest(images) -> str:
    items = flatten(images)
    if not items:
        raise ValueError("the sampler returned no image")
    h = hashlib.sha256()
    for img in items:
        h.update(png(img))
    return h.hexdigest()


def _no_progress(*args, **kwargs) -> None:
    pass


def _last(gen):
    out = None
    for out in gen:
        pass
    return out


# ---- GAN ------------------------------------------------------------------------------------------------------------

def _gan_sample(kind: str):
    def run(seed: int) -> list:
        from genmodels.families.gan import service

        G = service.load_generator(kind)
        shape, colour = (2, 1) if kind != "dcgan" else (None, None)
        psi = 0.7 if kind in ("stylegan", "biggan") else 1.0
        return [service.sample(kind, G, seed, 2, shape, colour, psi=psi)[0]]
    return run


for _kind in ("dcgan", "cgan", "stylegan", "biggan"):
    sampler(f"gan_sample/{_kind}")(_gan_sample(_kind))


@sampler("gan_layers")
def gan_layers(seed: int) -> list:
    """The layered CGAN's composition of two samples (the Sample sub-tab's Layers view)."""
    from genmodels.families.gan import service

    G = service.load_generator("cgan")
    return [service.layers("cgan", G, seed, 2, 2, 1)[0]]


@sampler("gan_mix")
def gan_mix(seed: int) -> list:
    from genmodels.families.gan import service

    G = service.load_generator("stylegan")
    label = int(service.condition("stylegan", G, 1, 0, 0)[0])
    return [service.style_mix(G, [seed], [seed + 1], service.LAYER_RANGES["middle (16 px)"], label, 0.8)]


def _gan_interpolate(kind: str):
    def run(seed: int) -> list:
        from genmodels.families.gan import service

        G = service.load_generator(kind)
        out = service.interpolate(kind, G, seed, seed + 1, steps=3, c=service.condition(kind, G, 1, 4, 2),
                                  ppl_points=2)
        return [out["z"]] + ([out["w"]] if "w" in out else [])
    return run


for _kind in ("cgan", "stylegan"):
    sampler(f"gan_interpolate/{_kind}")(_gan_interpolate(_kind))


@sampler("gan_drag")
def gan_drag(seed: int) -> list:
    """DragGAN from the seed's StyleGAN sample, a few iterations (the Drag sub-tab's stream, last frame)."""
    from genmodels.families.gan import drag, service

    G = service.load_generator("stylegan")
    ws, image = drag.source_image(G, seed, service.condition("stylegan", G, 1, 2, 1))
    frames = list(drag.drag_stream(G, ws, image, [[15.0, 15.0]], [[19.0, 15.0]], 4))
    return [image, frames[-1]["image"]]


@sampler("gan_text2image")
def gan_text2image(seed: int) -> list:
    """StackGAN: both stages of two samples of a caption (the Text → image sub-tab)."""
    from genmodels.families.gan import service, stackgan

    out = stackgan.text_to_image(service.load_generator("stackgan"), "a red striped star", seed, 2)
    return [out["stage1"], out["stage2"]]


@sampler("gan_edit")
def gan_edit(seed: int) -> list:
    """The Age-cGAN edit of the seed's test item (a few optimisation steps): reconstruction and edit."""
    from genmodels.data.dataset import test_split
    from genmodels.families.gan import attribute_edit

    i = seed % 2000
    labels = tuple(int(v) for v in test_split()["labels"][i][:2])
    out = attribute_edit.edit_image(test_split()["images"][i], "colour", "cyan", labels, iterations=3)
    return [out["reconstruction"], out["edited"]]


@sampler("gan_truncation")
def gan_truncation(seed: int) -> list:
    """The sampler behind the truncation sweep (the endpoint scores N of these per ψ, from a fixed seed)."""
    from genmodels.data.dataset import to_uint8
    from genmodels.families.gan import evaluate, service

    G = service.load_generator("stylegan")
    return [to_uint8(evaluate.sample("stylegan", G, 2, seed, evaluate.balanced_labels(2, seed), psi=psi))
            for psi in (0.5, 1.25)]


# ---- image to image -------------------------------------------------------------------------------------------------

@sampler("img2img_pix2pix")
def img2img_pix2pix(seed: int) -> list:
    from genmodels.families.img2img.tab import img2img_pix2pix as handler

    # colour / fill / background "any": the first output keeps the test item's own attributes, the next ones are
    # drawn from seed + i
    edges, gallery, slider, _ = handler("embedded", "Test item", 2, None, None, "any", "any", "any", 2, seed)
    return [edges, *gallery, *slider]


@sampler("img2img_cyclegan")
def img2img_cyclegan(seed: int) -> list:
    from genmodels.families.img2img.tab import img2img_cyclegan as handler

    x, y, rec, twin, _ = handler("embedded", "Test item", 2, None, "A→B")
    return [x, y, rec, twin]


@sampler("img2img_style")
def img2img_style(seed: int) -> list:
    from genmodels.families.img2img.tab import img2img_style as handler

    image, _, _ = _last(handler(None, "astronaut", None, "brick", 32, 2, 6, 1, "random multi-scale (offline)",
                                progress=_no_progress))
    return [image]


# ---- VAE family -----------------------------------------------------------------------------------------------------

def _vae_sample(model: str):
    def run(seed: int) -> list:
        from genmodels.families.vae import service

        return [service.sample(model, 2, seed, "any", "any", 1.0)[0]]
    return run


for _label, _key in (("VAE", "vae"), ("CVAE", "cvae"), ("VQ-VAE + PixelCNN prior", "vq-prior")):
    sampler(f"vae_sample/{_key}")(_vae_sample(_label))


@sampler("vae_text2image")
def vae_text2image(seed: int) -> list:
    from genmodels.families.vae import service

    frames = [x for _, _, x, _ in service.text2image_stream("a large blue striped heart on a dark background", 2,
                                                             seed, 1.0, 0, every=32)]
    return frames  # the streamed half-done preview and the final images


@sampler("vae_walk")
def vae_walk(seed: int) -> list:
    from genmodels.data import shapes
    from genmodels.families.vae import service

    a, b = shapes.item("test", 0, twin=False).image, shapes.item("test", 5, twin=False).image
    return [service.walk(a, b, 3, True), service.walk(a, b, 3, False)]


# ---- autoregressive -------------------------------------------------------------------------------------------------

def _ar(key: str, sampler_kind: str, keep_rows: int | None):
    """``keep_rows`` None: a full sample (ar_sample); else the completion of a test item below its first rows."""
    def run(seed: int) -> list:
        import numpy as np

        from genmodels.data import shapes
        from genmodels.families.autoregressive import service

        if keep_rows is None:
            x, start = None, 0
        else:
            occluded, start = service.occlude(shapes.item("test", 3, twin=False).image, keep_rows)
            x = np.repeat(occluded[None], 2, 0)
        images = None
        for _, images, _ in service.stream(key, 1 if x is None else 2, seed, "star", sampler_kind, x=x, start=start):
            pass
        return [images]
    return run


sampler("ar_sample/pixelcnnpp-cached")(_ar("pixelcnnpp", "cached", None))
sampler("ar_complete/pixelcnnpp-cached")(_ar("pixelcnnpp", "cached", 30))
sampler("ar_complete/pixelcnnpp-naive")(_ar("pixelcnnpp", "naive", 31))
sampler("ar_complete/pixelcnn")(_ar("pixelcnn", "naive", 31))
sampler("ar_complete/gated-pixelcnn")(_ar("gated-pixelcnn", "naive", 31))


# ---- diffusion ------------------------------------------------------------------------------------------------------

def _pipe():
    from genmodels.families.diffusion import service

    return service.load_pipeline(service.EMBEDDED)


def _txt2img(scheduler: str):
    def run(seed: int) -> list:
        from genmodels.families.diffusion import service

        return [service.txt2img(_pipe(), PROMPT, "", steps=3, cfg=3.0, scheduler=scheduler, seed=seed, n=2)]
    return run


for _name in ("DDIM", "DDPM", "Euler", "DPM-Solver++"):
    sampler(f"diffusion_txt2img/{_name}")(_txt2img(_name))


@sampler("diffusion_controlnet")
def diffusion_controlnet(seed: int) -> list:
    from genmodels.families.diffusion import service

    edges, _, caption = service.control_from_test(0)
    return [service.controlnet(_pipe(), service.load_controlnet(service.EMBEDDED), edges, caption, steps=2, cfg=3.0,
                               scale=1.0, scheduler="DDIM", seed=seed, n=1)]


def _guidance(guide: str, value: float):
    def run(seed: int) -> list:
        import numpy as np

        from genmodels.families.diffusion import lab, service

        _, ref, _ = service.control_from_test(0)
        return [lab.lab_sample(_pipe(), guide, value, [PROMPT], seed=seed, steps=2, cfg=3.0, target_class=2,
                               reference=np.repeat(ref[None], 1, 0), ilvr_range=(0.0, 1.0))]
    return run


for _guide, _key, _value in (("CFG", "cfg", 5.0), ("classifier", "classifier", 3.0), ("CLIP", "clip", 3.0),
                             ("ILVR", "ilvr", 8), ("reference (SDG)", "sdg", 3.0)):
    sampler(f"diffusion_guidance/{_key}")(_guidance(_guide, _value))


@sampler("diffusion_sweep")
def diffusion_sweep(seed: int) -> list:
    from genmodels.families.diffusion.tab import diffusion_sweep as handler

    grid, _, _ = handler(PROMPT, "1,3", "2", "DDIM", 1, seed, progress=_no_progress)
    return [grid]


@sampler("diffusion_trajectory")
def diffusion_trajectory(seed: int) -> list:
    from genmodels.families.diffusion import lab

    xs, x0s, _ = lab.trajectory(_pipe(), PROMPT, steps=3, cfg=3.0, seed=seed, frames=2)
    return [xs, x0s]


# ---- hub ------------------------------------------------------------------------------------------------------------

@sampler("compare_run")
def compare_run(seed: int) -> list:
    from genmodels.hub.compare_tab import compare_run as handler

    items, _, _ = _last(handler("star", "red", "solid", "light", seed, 1))
    failed = [cap for _, cap in items if "failed" in cap]
    if failed:
        raise RuntimeError(f"compare_run: {failed}")
    return items


@sampler("arena_battle")
def arena_battle(seed: int) -> list:
    """A battle between two fixed models (the pair and the sides are drawn at random by design — a seed must not say
    who is who): the images are keyed by model, read back from the vote's reveal."""
    from genmodels.hub import arena, contenders

    saved = {k: os.environ.get(k) for k in ("GENMODELS_ARENA_MODELS", "GENMODELS_ARENA_DIR")}
    with tempfile.TemporaryDirectory(prefix="repro-arena-") as d:
        os.environ.update(GENMODELS_ARENA_MODELS="cgan,stylegan", GENMODELS_ARENA_DIR=d)
        try:
            b = arena.battle(contenders.Condition("heart", "blue", "striped", "dark"), seed, n=2)
            rec = arena.vote(b["battle_id"], "tie")
        finally:
            for k, v in saved.items():
                os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    by_model = {rec["model_a"]: b["left"], rec["model_b"]: b["right"]}
    return [by_model[k] for k in sorted(by_model)]


@sampler("data_sample")
def data_sample(seed: int) -> list:
    from genmodels.data.tab import sample

    gallery, _, _, _ = sample("test", "any", "any", "striped", "any", 3, seed, "32")
    return gallery


# ---- main -----------------------------------------------------------------------------------------------------------

def run(names: list[str] | None = None, seed: int = SEED, log=None) -> dict[str, str]:
    """{name: digest} for ``names`` (default: every sampler), in this process."""
    names = list(SAMPLERS) if not names else names
    unknown = [n for n in names if n not in SAMPLERS]
    if unknown:
        raise SystemExit(f"unknown sampler(s): {', '.join(unknown)}; known: {', '.join(SAMPLERS)}")
    out = {}
    for name in names:
        t0 = time.perf_counter()
        out[name] = digest(SAMPLERS[name](seed))
        if log:
            log(f"{time.perf_counter() - t0:7.2f} s  {name}  {out[name][:16]}")
    return out


def main(argv: list[str]) -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", help="where to write the {sampler: sha256} JSON")
    p.add_argument("names", nargs="*", help="samplers to run (default: all)")
    p.add_argument("--seed", type=int, default=SEED)
    args = p.parse_intermixed_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    sys.path.insert(0, str(ROOT))
    import torch

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    digests = run(args.names, args.seed, log=lambda s: print(s, file=sys.stderr, flush=True))
    print(f"{time.perf_counter() - t0:7.2f} s  total ({len(digests)} samplers)", file=sys.stderr, flush=True)
    Path(args.out).write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
