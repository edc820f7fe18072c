"""Held-out evaluation of the embedded tiny Stable Diffusion: ``python -m genmodels.families.diffusion.evaluate``.

Writes ``weights/tiny-sd/metrics.json`` (the model card's numbers, shown in the tab) and, with ``--curves``,
``weights/tiny-sd/guidance_curves.json`` (the guidance lab's plots). Protocol: prompts = captions of the first N
items of the shapes test split; DDIM 20 steps; image i uses seed i; attributes read by the shapes classifier;
FID / KID / precision / recall on the shapes backbone vs the 2,000-item test split; CLIP score with the scoring
module's CLIP; ControlNet edge F1 with the documented Canny (scoring/edges.py) against the exact edge maps.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from ...data import shapes
from ...data.dataset import shapes_arrays
from . import lab, service

DEFAULT_CFG = 3.0
DEFAULT_STEPS = 20


def _batched(fn, n: int, batch: int = 100) -> np.ndarray:
    return np.concatenate([fn(b, min(n, b + batch)) for b in range(0, n, batch)])


def txt2img_metrics(pipe, n: int = 1000, cfg: float = DEFAULT_CFG, steps: int = DEFAULT_STEPS) -> dict:
    from ...scoring.readout import score_clip, score_sets

    caps, labels, _ = lab.test_prompts(n)
    t0 = time.perf_counter()
    imgs = _batched(lambda a, b: _grouped(pipe, caps[a:b], a, steps, cfg), n)
    wall = time.perf_counter() - t0
    hits = lab.attribute_hits(imgs, labels)
    out = {f"{k} recognised": round(float(v.mean()), 4) for k, v in hits.items()}
    out.update(outline_readout(imgs, labels))
    for r in score_sets(imgs, "shapes-test", metrics=["fid", "kid", "precision", "recall"], n_boot=10):
        out[r.metric] = round(float(r.value), 4)
    out["CLIP score (scoring module)"] = round(score_clip(imgs, caps).value, 3)
    out["seconds per image (DDIM 20, CFG, batch 100)"] = round(wall / n, 4)
    return out


def outline_readout(images: np.ndarray, labels: np.ndarray) -> dict:
    """The shape read from the object's outline (scoring.outline: no CNN; 100 % on real test items) beside the
    classifier's reading, and the shares of objects that fall apart into pieces and of images with no object found
    (``scoring.readout.read_shapes``, the one reading every family reports)."""
    from ...scoring.readout import read_shapes

    return read_shapes(images, labels).as_dict(classifier=False)


def _grouped(pipe, caps, start, steps, cfg):
    """One pipeline call for a batch of different prompts; image i uses seed start + i."""
    import torch

    run = service.runner(pipe, "DDIM")
    size = service.image_size(pipe)
    with torch.no_grad():
        out = run(prompt=list(caps), num_inference_steps=steps, guidance_scale=cfg,
                  generator=[torch.Generator().manual_seed(start + i) for i in range(len(caps))], height=size,
                  width=size, output_type="np")
    return service.to_uint8(out.images)


def controlnet_metrics(pipe, net, n: int = 1000, scale: float = 1.0) -> dict:
    import torch

    from ...scoring.edges import edge_f1

    arr = shapes_arrays("test", shapes.TEST_SPLIT_SIZE, full=True)
    caps, labels, _ = lab.test_prompts(n)
    run = service.runner(pipe, "DDIM", controlnet=net)

    def batch(a, b):
        ctrl = torch.from_numpy(arr["edges"][a:b].astype(np.float32))[:, None].expand(-1, 3, -1, -1).contiguous()
        with torch.no_grad():
            o = run(prompt=caps[a:b], image=ctrl, num_inference_steps=DEFAULT_STEPS, guidance_scale=DEFAULT_CFG,
                    controlnet_conditioning_scale=scale, height=32, width=32, output_type="np",
                    generator=[torch.Generator().manual_seed(a + i) for i in range(b - a)])
        return service.to_uint8(o.images)

    imgs = _batched(batch, n)
    f1 = edge_f1(imgs, arr["edges"][:n])
    hits = lab.attribute_hits(imgs, labels)
    return {"edge F1 (Canny σ=1, 1 px)": round(float(f1.mean()), 4),
            "edge F1 of the real test images (ceiling)": round(float(edge_f1(arr["images"][:n], arr["edges"][:n]).mean()), 4),
            **{f"{k} recognised": round(float(v.mean()), 4) for k, v in hits.items()},
            **outline_readout(imgs, labels)}


def write_card() -> None:
    """weights/tiny-sd/README.md: what each part is, how it was trained (command, steps, wall time) and the held-out
    numbers, from the parts' metrics files."""
    root = service.EMBEDDED_PIPE

    def load(p):
        return json.loads(p.read_text()) if p.exists() else {}

    def table(d):
        return "\n".join(f"| {k} | {v} |" for k, v in d.items()) or "| (not trained yet) | |"

    parts = [("vae", "AutoencoderKL 32×32×3 → 8×8×8 (f = 4)", "sd-ae` then `sd-ae-decoder",
              load(root / "vae" / "metrics.json")),
             ("text_encoder", "CLIPTextModel (2 layers, width 128)", "sd-text", load(root / "text_encoder" / "metrics.json")),
             ("unet", "UNet2DConditionModel (64/128, cross-attention at 8² / 4² / mid, pooled caption in the time "
              "embedding, REPA during training)", "sd-unet",
              load(root / "unet" / "train.json")),
             ("controlnet", "ControlNetModel.from_unet on exact edge maps", "controlnet",
              load(service.EMBEDDED_CONTROLNET / "train.json")),
             ("noisy classifier", "FiLM CNN on noisy latents", "noisy-classifier",
              load(service.WEIGHTS / "sd-noisy-classifier" / "metrics.json")),
             ("noisy CLIP", "FiLM CNN image tower on noisy latents + text projection", "noisy-clip",
              load(service.WEIGHTS / "sd-noisy-clip" / "metrics.json"))]
    held = load(root / "metrics.json")
    lines = ["# tiny-sd: a tiny Stable Diffusion for the shapes domain", "",
             "Made of the real diffusers / transformers classes and saved in the `runwayml/stable-diffusion-v1-5` "
             "folder layout; load it with `StableDiffusionPipeline.from_pretrained(\"genmodels/weights/tiny-sd\")`. "
             "UNet and VAE weights are stored in fp16 (diffusers loads them as float32), the text encoder in "
             "float32. Trained on CPU (2 cores, AVX2) on rendered items of the shapes train split; every part has its "
             "own command, resumable (`runs/<part>/ckpt.pt`).", ""]
    for name, what, cmd, m in parts:
        lines += [f"## {name}: {what}", "", f"`python -m genmodels train {cmd}`", "", "| measure | value |",
                  "|---|---|", table(m), ""]
    if held:
        lines += ["## Held-out evaluation", "", held.get("footnote", ""), ""]
        for col, rows in held.get("columns", {}).items():
            lines += [f"### {col}", "", "| metric | value |", "|---|---|", table(rows), ""]
    (root / "README.md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--curves-n", type=int, default=200)
    ap.add_argument("--only", default="txt2img,controlnet,curves")
    ap.add_argument("--pipe", help="another pipeline folder to evaluate (text -> image only; its metrics.json)")
    a = ap.parse_args(argv)
    if a.pipe:  # e.g. the f = 4 pipeline in training (genmodels/weights/tiny-sd-f4)
        from pathlib import Path

        path = Path(a.pipe) / "metrics.json"
        column = txt2img_metrics(service.load_pipeline(a.pipe), a.n)
        data = {"columns": {f"text → image (CFG {DEFAULT_CFG:g})": column},
                "footnote": f"N = {a.n} test-split captions, DDIM {DEFAULT_STEPS} steps, image i with seed i; "
                            "`python -m genmodels.families.diffusion.evaluate --pipe FOLDER`"}
        path.write_text(json.dumps(data, indent=2) + "\n")
        print(json.dumps(data, indent=2))
        return
    pipe = service.load_pipeline(service.EMBEDDED)
    path = service.EMBEDDED_PIPE / "metrics.json"
    data = json.loads(path.read_text()) if path.exists() else {"columns": {}}
    parts = a.only.split(",")
    if "txt2img" in parts:
        data["columns"][f"text → image (CFG {DEFAULT_CFG:g}, N = {a.n})"] = txt2img_metrics(pipe, a.n)
    if "controlnet" in parts:
        data["columns"][f"ControlNet (edges, scale 1, N = {a.n})"] = controlnet_metrics(pipe, service.load_controlnet(),
                                                                                      a.n)
    if "txt2img" not in parts and "controlnet" not in parts:
        data = None
    else:
        data["footnote"] = (f"The first N test-split captions / edge maps, DDIM {DEFAULT_STEPS} steps, image i with seed i; "
                            "attributes by the shapes classifier; FID / KID / precision / recall on the shapes backbone vs "
                            "the 2,000-item test split. `python -m genmodels.families.diffusion.evaluate`")
        path.write_text(json.dumps(data, indent=2) + "\n")
        write_card()
        print(json.dumps(data, indent=2))
    if "curves" in parts:
        rows = []
        for g in lab.GUIDES:
            rows += lab.measure(pipe, g, lab.CURVE_VALUES[g], a.curves_n)
            lab.CURVES_FILE.write_text(json.dumps(rows, indent=1) + "\n")
            print(json.dumps(rows[-10:], indent=1))


if __name__ == "__main__":
    main()
