"""Command line: ``python -m genmodels list | data export | score | train | sample | screenshots | bench``.

Errors a person can fix (a bad path, a bad count) end with one line on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

WEIGHTS = Path(__file__).parent / "weights"


class CliError(Exception):
    pass


def cmd_list(args) -> None:
    from .registry import families

    for fam in families():
        print(f"{fam.key:<14} {fam.title}")
        for m in fam.models:
            folder = WEIGHTS / m
            files = list(folder.rglob("*.safetensors")) if folder.exists() else []
            size = sum(f.stat().st_size for f in files)
            state = f"{size / 1e6:.1f} MB" if files else "not trained yet"
            print(f"{'':<14}   - {m} ({state})")


def cmd_data_export(args) -> None:
    from PIL import Image

    from .data import shapes

    if args.n <= 0:
        raise CliError(f"--n must be > 0, got {args.n}")
    if args.split not in shapes.SPLITS:
        raise CliError(f"unknown split {args.split!r}; choose one of {', '.join(shapes.SPLITS)}")
    if args.start < 0 or args.start + args.n > shapes.SPLIT_LENGTH[args.split]:
        raise CliError(f"the {args.split} split has {shapes.SPLIT_LENGTH[args.split]} items; "
                       f"--start {args.start} --n {args.n} goes past it")
    if args.size not in (32, 64):
        raise CliError(f"--size must be 32 or 64, got {args.size}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CliError(f"output path {out} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.touch()
        probe.unlink()
    except OSError as e:
        raise CliError(f"cannot write to {out}: {e.strerror or e}") from None
    with open(out / "labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "split", "index", "caption", *shapes.LABEL_COLUMNS, "cx", "cy", "radius", "rotation"])
        for i in range(args.start, args.start + args.n):
            it = shapes.item(args.split, i, args.size, twin=args.with_maps)
            name = f"{args.split}_{i:07d}.png"
            Image.fromarray(it.image).save(out / name)
            if args.with_maps:
                Image.fromarray(it.twin).save(out / name.replace(".png", "_twin.png"))
                Image.fromarray(it.edges.astype("uint8") * 255).save(out / name.replace(".png", "_edges.png"))
                Image.fromarray(it.mask.astype("uint8") * 255).save(out / name.replace(".png", "_mask.png"))
            p = it.params
            w.writerow([name, args.split, i, it.caption, *(it.params.names()[c] for c in shapes.LABEL_COLUMNS),
                        f"{p.cx:.4f}", f"{p.cy:.4f}", f"{p.radius:.4f}", f"{p.rotation:.2f}"])
    print(f"wrote {args.n} images and labels.csv to {out}")


def cmd_score(args) -> None:
    import json
    import warnings

    from .data.sets import load_image_set
    from .scoring.backbones import BackboneUnavailable
    from .scoring.readout import SET_METRICS, score_sets

    names = [m.strip().lower() for m in args.metrics.split(",") if m.strip()]
    metrics = []
    for m in names:
        metrics += ["precision", "recall"] if m == "pr" else [m]
    bad = [m for m in metrics if m not in SET_METRICS]
    if bad or not metrics:
        raise CliError(f"unknown metric {bad[0] if bad else '(none)'!r}; choose from fid, kid, is, pr")
    if args.backbone not in ("shapes", "inception"):
        raise CliError(f"--backbone must be shapes or inception, got {args.backbone!r}")
    size = 299 if args.backbone == "inception" else 32
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a, desc_a, skip_a = load_image_set(args.a, size=size)
            if args.b == "shapes-test":
                b, desc_b, skip_b = "shapes-test", "shapes-test (cached statistics)", []
            else:
                b, desc_b, skip_b = load_image_set(args.b, size=size)
        readouts = score_sets(a, b, metrics=metrics, backbone=args.backbone)
    except (ValueError, FileNotFoundError, BackboneUnavailable) as e:
        raise CliError(str(e)) from None
    for s in skip_a + skip_b:
        print(f"skipped {s}", file=sys.stderr)
    if args.json:
        print(json.dumps({"a": desc_a, "b": desc_b, "readouts": [r.as_dict() for r in readouts]}, indent=2))
    else:
        print(f"A = {desc_a}\nB = {desc_b}")
        for r in readouts:
            print(r)


TRAINERS = {
    "shapes-classifier": ("genmodels.scoring.train", "train_classifier", {}),
    "shapes-clip": ("genmodels.scoring.train", "train_clip", {}),
    # the generators' CLIP: reranks the DALL-E-style prior's samples (not the scoring module's CLIP)
    "gen-clip": ("genmodels.scoring.train", "train_gen_clip", {}),
    "gan-guide": ("genmodels.families.gan.projected", "train_guide", {}),
    "gan-guide-robust": ("genmodels.families.gan.projected", "train_robust_guide", {}),
    "dcgan": ("genmodels.families.gan.train", "train_gan", {"kind": "dcgan"}),
    # the layered CGAN: 5,000 steps of its recipe, then the mask-discriminator stage below (the shipped weights)
    "cgan": ("genmodels.families.gan.train", "train_gan", {"kind": "cgan", "steps": 5000}),
    # experiment: DCGAN with the Projected-GAN D and no guidance term (VARIANTS in gan/train.py)
    "dcgan-projected": ("genmodels.families.gan.train", "train_gan", {"kind": "dcgan", "variant": "dcgan-projected"}),
    "dcgan-projected-robust": ("genmodels.families.gan.train", "train_gan",
                               {"kind": "dcgan", "variant": "dcgan-projected-robust"}),
    "stylegan": ("genmodels.families.gan.train", "train_gan", {"kind": "stylegan"}),
    "biggan": ("genmodels.families.gan.train", "train_gan", {"kind": "biggan"}),
    "stackgan": ("genmodels.families.gan.stackgan_train", "train_stackgan", {}),
    # the Age-cGAN-style attribute edit's encoder (image -> BigGAN z), trained on the embedded BigGAN's samples
    "gan-encoder": ("genmodels.families.gan.attribute_edit", "train_gan_encoder", {}),
    # experiment (issue 35): the committed CGAN with a lighter guide reward and the mode-seeking term (VARIANTS)
    "cgan-diverse": ("genmodels.families.gan.train", "train_gan",
                     {"kind": "cgan", "variant": "cgan-diverse", "init": "cgan-onepass", "d_warmup": 300}),
    # issue 35, the hearts: a stage on the committed CGAN with the mask discriminator (VARIANTS["cgan-mask-d"]),
    # fresh discriminators warmed up 300 steps; writes the embedded CGAN
    "cgan-mask-d": ("genmodels.families.gan.train", "train_gan",
                    {"kind": "cgan", "variant": "cgan-mask-d", "init": "cgan", "d_warmup": 300, "steps": 7600,
                     "run_dir": "runs/cgan-mask-d",
                     "reproduce": "`python -m genmodels train cgan --steps 5000`, then `python -m genmodels train "
                                  "cgan-mask-d --steps 7600`"}),
    # the one-pass CGAN (before the layered generator): the CVAE-GAN's decoder starts from its weights
    "cgan-onepass": ("genmodels.families.gan.train", "train_gan",
                     {"kind": "cgan", "variant": "cgan-onepass", "run_dir": "runs/cgan-onepass",
                      "out": str(WEIGHTS / "cgan-onepass")}),
    # a stage on top of the committed StyleGAN, its own recipe (fresh D, warmed up first)
    "stylegan-stage": ("genmodels.families.gan.train", "train_gan",
                       {"kind": "stylegan", "init": "embedded", "d_warmup": 500}),
    # the embedded tiny-sd (issue 29): f = 4 autoencoder (8x8x8 latents), caption encoder, the 8x8 UNet, then the
    # parts that need it (ControlNet, the guidance nets)
    "sd-ae": ("genmodels.families.diffusion.autoencoder", "train_sd_ae", {}),
    "sd-ae-decoder": ("genmodels.families.diffusion.autoencoder", "train_sd_ae_decoder", {}),
    "sd-text": ("genmodels.families.diffusion.text", "train_sd_text", {}),
    "sd-unet": ("genmodels.families.diffusion.unet", "train_sd_unet_f4", {}),
    # An experiment, not part of `train all`: raised scorer-read shape 23 -> 73 % but FID 254 -> 1,284 and colour /
    # fill fell (reward hacking; docs/experiments/README.md).
    "sd-unet-guided": ("genmodels.families.diffusion.unet", "train_sd_unet",
                       {"guide_weight": 0.15, "init": "embedded", "monitor_every": 150}),
    # REPA as a fine-tune of the shipped UNet (the 8x8 recipe uses it from the start)
    "sd-unet-repa": ("genmodels.families.diffusion.unet", "train_sd_unet",
                     {"repa": 0.5, "init": "embedded", "monitor_every": 200}),
    "controlnet": ("genmodels.families.diffusion.control", "train_controlnet", {}),
    "noisy-classifier": ("genmodels.families.diffusion.guidance_train", "train_noisy_classifier", {}),
    "noisy-clip": ("genmodels.families.diffusion.guidance_train", "train_noisy_clip", {}),
    "pix2pix": ("genmodels.families.img2img.train", "train_pix2pix", {}),
    "cyclegan": ("genmodels.families.img2img.train", "train_cyclegan", {}),
    # A stage on top of the committed generators when the run's checkpoint is gone (fresh Ds, warmed up first)
    "cyclegan-stage": ("genmodels.families.img2img.train", "train_cyclegan",
                       {"init": "embedded", "lr": 1e-4, "d_warmup": 1000}),
    "pixelcnn": ("genmodels.families.autoregressive.train", "train_ar", {"name": "pixelcnn"}),
    "gated-pixelcnn": ("genmodels.families.autoregressive.train", "train_ar", {"name": "gated-pixelcnn"}),
    "pixelcnnpp": ("genmodels.families.autoregressive.train", "train_ar", {"name": "pixelcnnpp"}),
    "vae": ("genmodels.families.vae.train", "train_vae_family", {"name": "vae"}),
    "cvae": ("genmodels.families.vae.train", "train_vae_family", {"name": "cvae"}),
    "vqvae": ("genmodels.families.vae.train", "train_vae_family", {"name": "vqvae"}),
    # experiment (issues 32 / 35): the CVAE-GAN on the layered CGAN's generator (z's pose part places the object, the
    # label draws it), starting from the embedded CGAN
    "cvae-layered": ("genmodels.families.vae.train", "train_vae_family",
                     {"name": "cvae", "run_dir": "runs/cvae-layered", "out": "runs/cvae-layered/weights",
                      "init_from": "cgan", "config": {"decoder": "layered-albedo-gan"}, "mask_d": 1.0}),
    # Issue 32's lever for the code priors: a 16 x 16 code map (one stride-2 stage) instead of 8 x 8 — the 8 x 8
    # VQ-VAE reconstructs small shapes the scoring classifier names 87.7 % of the time (ceiling of both priors)
    "vqvae-16": ("genmodels.families.vae.train", "train_vae_family",
                 {"name": "vqvae", "run_dir": "runs/vqvae-16", "out": "runs/vqvae-16/weights",  # not the shipped one
                  "config": dict(codes=256, dim=32, width=96, downs=1, res_blocks=2)}),
    "vq-prior": ("genmodels.families.vae.train", "train_vae_family", {"name": "vq-prior"}),
    "vq-dalle": ("genmodels.families.vae.train", "train_vae_family", {"name": "vq-dalle"}),
    # A stage on top of the committed DALL-E-style prior: 200,000 training maps (the VQ prior over-fitted 60,000),
    # a fresh schedule from lr 5e-4 (the first run's shape reading was still rising when its cosine reached 0)
    "vq-dalle-stage": ("genmodels.families.vae.train", "train_vae_family",
                       {"name": "vq-dalle", "init": "embedded", "n_train": 200_000, "lr": 5e-4, "warmup": 200}),
    "distill": ("genmodels.families.distill.train", "train_distill", {}),
    "diffae": ("genmodels.families.edit.train", "train_diffae", {}),
}


# `train all`: every embedded model in dependency order (backbones first: the GAN recipes need gan-guide, the
# UNet needs sd-ae + sd-text, ControlNet and the guidance nets need the pipeline, the code priors need vqvae, the
# distilled students need the whole pipeline), with each model's share of --budget-minutes (proportional to what it
# got on the CPU budget).
TRAIN_ALL = (("shapes-classifier", 1), ("shapes-clip", 1), ("gen-clip", 1), ("gan-guide", 1),
             ("gan-guide-robust", 1),
             ("dcgan", 2), ("cgan", 3), ("cgan-mask-d", 2), ("cgan-onepass", 3),
             ("stylegan", 4), ("biggan", 3), ("stackgan", 2), ("gan-encoder", 1), ("sd-ae", 2), ("sd-ae-decoder", 1), ("sd-text", 1), ("sd-unet", 8),
             ("controlnet", 3), ("noisy-classifier", 1), ("noisy-clip", 1), ("pix2pix", 2), ("cyclegan", 3),
             ("pixelcnn", 1), ("gated-pixelcnn", 1), ("pixelcnnpp", 2),
             ("vqvae", 2), ("vq-prior", 1), ("vq-dalle", 2), ("vae", 1), ("cvae", 1), ("distill", 4), ("diffae", 1))


def _set_device(device: str | None) -> None:
    import os

    import torch

    if device is None:
        return
    if device not in ("cpu", "cuda"):
        raise CliError(f"unknown device {device!r}; choose cpu or cuda")
    if device == "cuda" and not torch.cuda.is_available():
        raise CliError("--device cuda: torch sees no CUDA device on this machine")
    os.environ["GENMODELS_DEVICE"] = device


def _run_trainer(model: str, kwargs: dict):
    import importlib

    mod, fn, fixed = TRAINERS[model]
    try:
        return getattr(importlib.import_module(mod), fn)(**{**fixed, **kwargs})  # the command line wins
    except FileNotFoundError as e:
        raise CliError(f"{model}: {e}") from None
    except ValueError as e:
        raise CliError(str(e)) from None


def cmd_train(args) -> None:
    import importlib
    import inspect

    from .training import set_deadline

    if args.model != "all" and args.model not in TRAINERS:
        raise CliError(f"unknown model {args.model!r}; trainable: all, {', '.join(TRAINERS)}")
    if args.steps is not None and args.steps <= 0:
        raise CliError(f"--steps must be > 0, got {args.steps}")
    if args.budget_minutes is not None and args.budget_minutes <= 0:
        raise CliError(f"--budget-minutes must be > 0, got {args.budget_minutes}")
    _set_device(args.device)
    if args.model == "all":
        if any((args.steps, args.out, args.run_dir, args.data, args.teacher, args.steps_from, args.steps_to)):
            raise CliError("train all takes only --device, --budget-minutes and --seed")
        total = sum(w for _, w in TRAIN_ALL)
        for model, w in TRAIN_ALL:
            share = None if args.budget_minutes is None else args.budget_minutes * 60 * w / total
            print(f"== train {model}" + (f" (budget {share / 60:.1f} min)" if share else ""), flush=True)
            set_deadline(share)
            print(_run_trainer(model, {} if args.seed is None else {"seed": args.seed}))
        set_deadline(None)
        return
    mod, fn, _ = TRAINERS[args.model]
    kwargs = {k: v for k, v in (("steps", args.steps), ("out", args.out), ("seed", args.seed),
                                ("run_dir", args.run_dir), ("data", args.data)) if v is not None}
    distill_args = {k: v for k, v in (("teacher", args.teacher), ("steps_from", args.steps_from),
                                      ("steps_to", args.steps_to)) if v is not None}
    if distill_args and args.model != "distill":
        raise CliError("--from, --steps-from and --steps-to are options of `train distill`")
    kwargs.update(distill_args)
    if args.data and "data" not in inspect.signature(getattr(importlib.import_module(mod), fn)).parameters:
        raise CliError(f"{args.model} trains on the shapes domain only (no --data)")
    if args.data and not Path(args.data).exists():
        raise CliError(f"--data {args.data}: no such folder or zip")
    set_deadline(None if args.budget_minutes is None else args.budget_minutes * 60)
    print(_run_trainer(args.model, kwargs))


def cmd_sample(args) -> None:
    """Draw a grid from a GAN: the embedded default, a folder / Hub id, or a rosinality StyleGAN2 g_ema file."""
    import numpy as np
    from PIL import Image

    from .data import shapes
    from .families.gan import service

    if args.model not in service.KINDS:
        raise CliError(f"unknown model {args.model!r}; choose one of {', '.join(service.KINDS)}")
    if not 1 <= args.n <= 256:
        raise CliError(f"--n must be in 1..256, got {args.n}")
    if not 0 <= args.seed < 2**32:
        raise CliError(f"--seed must be in 0..{2**32 - 1}, got {args.seed}")
    if not 0.0 <= args.psi <= 2.0:
        raise CliError(f"--psi must be in [0, 2], got {args.psi}")
    picks = []
    for value, names, what in ((args.shape, shapes.SHAPES, "shape"), (args.colour, shapes.COLOUR_NAMES, "colour")):
        if value is not None and value not in names:
            raise CliError(f"unknown {what} {value!r}; choose one of {', '.join(names)}")
        picks.append(None if value is None else names.index(value))
    try:
        G = service.load_generator(args.model, args.weights)
    except (FileNotFoundError, ValueError) as e:
        raise CliError(f"could not load {args.model} from {args.weights!r}: {e}") from None
    imgs, _ = service.sample(args.model, G, args.seed, args.n, *picks, psi=args.psi)
    cols = min(8, args.n)
    rows = -(-args.n // cols)
    grid = np.zeros((rows * imgs.shape[1], cols * imgs.shape[2], 3), np.uint8)
    for i, im in enumerate(imgs):
        r, c = divmod(i, cols)
        grid[r * im.shape[0]:(r + 1) * im.shape[0], c * im.shape[1]:(c + 1) * im.shape[1]] = im
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(args.out)
    print(f"wrote {args.out} ({args.n} image(s), seeds {args.seed}..{args.seed + args.n - 1})")


def cmd_screenshots(args) -> None:
    from .hub.screenshots import take

    try:
        for path in take(args.out, args.tabs):
            print(f"wrote {path}")
    except RuntimeError as e:
        raise CliError(str(e)) from None


def cmd_bench(args) -> None:
    from .bench import run

    run(quick=args.quick, only=args.only, out=args.out)


def cmd_export_space(args) -> None:
    """Write one family's Hugging Face Space (its tab + Metrics, code, runtime weights, requirements) to OUT."""
    from .hub.spaces import export_space

    try:
        res = export_space(args.family, Path(args.out), force=args.force)
    except (ValueError, FileExistsError, FileNotFoundError) as e:
        raise CliError(str(e)) from None
    except OSError as e:
        raise CliError(f"cannot write to {args.out}: {e.strerror or e}") from None

    def size(n: int) -> str:
        return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"

    for it in res["items"]:
        files = f"{it['files']} files, " if it["files"] > 1 else ""
        print(f"wrote {Path(res['out']) / it['path']} ({files}{size(it['bytes'])})")
    print(f"total {size(res['bytes'])} in {res['files']} files: {res['out']}")


def cmd_leaderboard(args) -> None:
    """Evaluate every embedded generator under one protocol into genmodels/hub/leaderboard.json + docs."""
    import torch

    from .hub import contenders, leaderboard

    if args.n < 50:
        raise CliError("--n must be at least 50")
    try:
        picked = contenders.available(args.only)
    except ValueError as e:
        raise CliError(str(e)) from None
    if not picked:
        raise CliError("no contender has its weights here (train them: python -m genmodels train all)")
    torch.set_num_threads(args.threads)
    res = leaderboard.compute([c.key for c in picked], n=args.n, seed=args.seed)
    print(f"wrote {leaderboard.RESULTS} and {leaderboard.DOC} ({len(res['rows'])} models)")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m genmodels", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="families and their embedded models").set_defaults(fn=cmd_list)

    data = sub.add_parser("data", help="the shapes domain").add_subparsers(dest="data_cmd", required=True)
    ex = data.add_parser("export", help="write items as PNG files plus labels.csv")
    ex.add_argument("out", help="output folder (created if missing)")
    ex.add_argument("--split", default="test")
    ex.add_argument("--n", type=int, default=100)
    ex.add_argument("--start", type=int, default=0)
    ex.add_argument("--size", type=int, default=32)
    ex.add_argument("--with-maps", action="store_true", help="also write the twin, edge map and mask")
    ex.set_defaults(fn=cmd_data_export)

    sc = sub.add_parser("score", help="set-vs-set metrics of two image sets")
    sc.add_argument("a", help="folder, zip, image, or shapes-test / shapes-train")
    sc.add_argument("b", help="folder, zip, image, or shapes-test / shapes-train")
    sc.add_argument("--metrics", default="fid,kid,is,pr", help="comma list of fid, kid, is, pr")
    sc.add_argument("--backbone", default="shapes", help="shapes or inception (falls back to shapes, and says so)")
    sc.add_argument("--json", action="store_true")
    sc.set_defaults(fn=cmd_score)

    t = sub.add_parser("train", help="train an embedded model (resumable)")
    t.add_argument("model", help="all, " + ", ".join(TRAINERS))
    t.add_argument("--device", help="cpu or cuda (default: a GPU when torch sees one)")
    t.add_argument("--budget-minutes", type=float, help="stop (checkpointed, resumable) after this wall time; "
                   "with `all`, shared among the models")
    t.add_argument("--steps", type=int)
    t.add_argument("--seed", type=int)
    t.add_argument("--out", help="output folder (default: genmodels/weights/<model>)")
    t.add_argument("--run-dir", help="checkpoint folder (default: runs/<model>)")
    t.add_argument("--from", dest="teacher", help="distill: the teacher, a pipeline folder in the SD 1.x layout "
                   "(v-prediction) or 'embedded' (tiny-sd, the default)")
    t.add_argument("--steps-from", type=int, help="distill: the teacher's step count (a power of two; default 64)")
    t.add_argument("--steps-to", type=int, help="distill: the last student's step count (default 1)")
    t.add_argument("--data", help="train on this image folder or zip instead of the shapes domain (GANs; "
                   "pix2pix: A/ + B/ or side-by-side AB images; cyclegan: trainA/ + trainB/)")
    t.set_defaults(fn=cmd_train)

    sm = sub.add_parser("sample", help="draw a grid of images from a GAN (seed s + i for image i)")
    sm.add_argument("model", help="dcgan, cgan or stylegan")
    sm.add_argument("out", help="output PNG")
    sm.add_argument("--weights", default="embedded",
                    help="'embedded', a folder, a Hub id, or (stylegan) a rosinality g_ema .pt / .safetensors")
    sm.add_argument("--n", type=int, default=16)
    sm.add_argument("--seed", type=int, default=0)
    sm.add_argument("--psi", type=float, default=1.0, help="truncation ψ in [0, 2] (stylegan)")
    sm.add_argument("--shape", help="requested shape (conditional models)")
    sm.add_argument("--colour", help="requested colour (conditional models)")
    sm.set_defaults(fn=cmd_sample)

    ss = sub.add_parser("screenshots", help="one PNG per tab as a visitor first sees it (headless Chromium)")
    ss.add_argument("out", nargs="?", default="docs/screenshots")
    ss.add_argument("--tabs", nargs="*", help="tab keys, or sub-tab pictures such as gan-drag (default: all)")
    ss.set_defaults(fn=cmd_screenshots)

    lb = sub.add_parser("leaderboard", help="every embedded generator under one protocol -> "
                        "genmodels/hub/leaderboard.json and docs/leaderboard.md")
    lb.add_argument("--n", type=int, default=500, help="generated images per model (default 500)")
    lb.add_argument("--only", nargs="*", help="only these models (rows of other models are kept)")
    lb.add_argument("--seed", type=int, default=0)
    lb.add_argument("--threads", type=int, default=2)
    lb.set_defaults(fn=cmd_leaderboard)

    b = sub.add_parser("bench", help="measure speed ratios and write docs/benchmarks.md")
    b.add_argument("--quick", action="store_true", help="fewer repeats")
    b.add_argument("--only", nargs="*", help="run only these cases")
    b.add_argument("--out", default="docs/benchmarks.md")
    b.set_defaults(fn=cmd_bench)

    es = sub.add_parser("export-space", help="write one family's Hugging Face Space (its tab + Metrics) to a folder")
    es.add_argument("family", help="a family key (python -m genmodels list), e.g. gan")
    es.add_argument("out", help="output folder (new or empty)")
    es.add_argument("--force", action="store_true", help="write into a non-empty folder (replaces what it writes)")
    es.set_defaults(fn=cmd_export_space)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.fn(args)
    except CliError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
