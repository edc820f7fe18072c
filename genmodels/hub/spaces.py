"""One Hugging Face Space per family: its ``README.md`` and ``app.py`` generated from the registry, and
``export_space`` that writes a self-contained Space folder (``python -m genmodels export-space <family> OUT``).

A Space is one family's tab plus the Metrics tab (``build([key, "metrics"])``). The exported folder holds the
``genmodels`` package source, only the weights folders those two tabs load at runtime, a ``requirements.txt`` with
only what they import, and the two generated files. The committed ``spaces/<key>/`` files are exactly what
``readme(key)`` / ``app_py(key)`` return (a test keeps them identical). No Gradio, no torch at import.
"""
from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..registry import Family, families

PACKAGE = Path(__file__).resolve().parents[1]  # the genmodels package folder
WEIGHTS = PACKAGE / "weights"
ALWAYS = "metrics"  # the tab every Space carries beside its family
HUB_ONLY = ("compare",)  # tabs that need every family's weights: the whole hub's Space (the root README) only
SDK_VERSION = "6.31.0"  # = the gradio pin and the root README's sdk_version (tested)
PYTHON_VERSION = "3.11"  # what the tests run on
LICENSE = "apache-2.0"
# Real Hub ids the code loads by name: the Metrics tab's "standard" CLIP (scoring.clip_models.STANDARD_CLIP, tested).
# The embedded models are not on the Hub, so they are not listed.
HUB_MODELS = ("openai/clip-vit-base-patch16",)

# Every Space runs the Metrics tab, so the scoring module's imports are the base. Pins as in the root
# requirements.txt (tested). torch-fidelity: torchmetrics' Inception-v3 (the "inception" backbone) needs it.
# Not here: accelerate (imported only by the trainers), timm (imported by no module), the package itself (-e .).
BASE_REQUIREMENTS = ("torch==2.14.1", "torchvision==0.29.1", "gradio==6.31.0", "transformers==5.24.0",
                     "huggingface-hub", "safetensors", "lpips==0.1.4", "torchmetrics==1.9.0", "torch-fidelity",
                     "scipy", "scikit-image", "pillow", "tqdm", "numpy")
FAMILY_REQUIREMENTS: dict[str, tuple[str, ...]] = {"diffusion": ("diffusers==0.42.1",),
                                                   "distill": ("diffusers==0.42.1", "peft==0.21.2"),
                                                   "edit": ("diffusers==0.42.1",)}
# Weights a family loads beyond Family.models: the distilled students run with the tiny SD's VAE and text encoder
# and beside their teacher (the VAE tab's vqvae is among its models); the GAN tab's attribute edit reads scenes with
# gan-guide (its identity-preserving optimisation's recognition network); the VAE tab's DALL-E-style prior reranks with
# gen-clip, and its CVAE / VQ prior reject candidates with gan-guide-robust (reject.py).
EXTRA_WEIGHTS: dict[str, tuple[str, ...]] = {"distill": ("tiny-sd",), "gan": ("gan-guide",),
                                             "vae": ("gen-clip", "gan-guide-robust")}
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".DS_Store")


@dataclass(frozen=True)
class SpaceMeta:
    """What the front-matter needs beyond the registry."""

    emoji: str
    color_from: str
    color_to: str
    short_description: str  # at most 60 characters (the Hub's limit)
    tags: tuple[str, ...]


META = {
    "data": SpaceMeta("🔷", "blue", "green", "The shapes domain behind every model and metric",
                      ("synthetic-data", "dataset", "evaluation", "metrics", "fid")),
    "gan": SpaceMeta("🥊", "red", "yellow", "DCGAN to BigGAN, StackGAN, edits and drags, scored",
                     ("gan", "dcgan", "conditional-gan", "stylegan", "stylegan2", "biggan", "stackgan",
                      "text-to-image", "draggan", "image-generation", "metrics")),
    "img2img": SpaceMeta("🔁", "green", "blue", "pix2pix, CycleGAN and Gatys style transfer, scored",
                         ("image-to-image", "pix2pix", "cyclegan", "style-transfer", "gan", "metrics")),
    "vae": SpaceMeta("🧩", "purple", "indigo", "VAE, CVAE and VQ-VAE with PixelCNN and DALL-E priors",
                     ("vae", "vq-vae", "pixelcnn", "dall-e", "text-to-image", "image-generation", "metrics")),
    "autoregressive": SpaceMeta("🧱", "yellow", "red", "PixelCNN, Gated PixelCNN, PixelCNN++ and fast sampling",
                                ("pixelcnn", "pixelcnn-plus-plus", "autoregressive", "likelihood",
                                 "image-generation", "metrics")),
    "diffusion": SpaceMeta("🌀", "indigo", "pink", "Tiny Stable Diffusion, ControlNet and a guidance lab",
                           ("diffusion", "stable-diffusion", "controlnet", "diffusers", "text-to-image", "guidance",
                            "metrics")),
    "distill": SpaceMeta("⚡", "yellow", "indigo", "Progressive and guided distillation: 64 steps to 1",
                         ("diffusion", "distillation", "progressive-distillation", "few-step", "lcm", "diffusers",
                          "text-to-image", "metrics")),
    "edit": SpaceMeta("🪄", "pink", "indigo", "DDIM inversion, Blended, Prompt-to-Prompt, DragDiffusion",
                      ("diffusion", "image-editing", "prompt-to-prompt", "blended-diffusion", "dragdiffusion",
                       "ddim-inversion", "diffusers", "metrics")),
}


def space_keys() -> list[str]:
    """The families that get a Space: every registered one but the Metrics tab (which is in all of them)."""
    return [f.key for f in families() if f.key not in (ALWAYS, *HUB_ONLY)]


def _family(key: str) -> Family:
    keys = space_keys()
    if key not in keys:
        raise ValueError(f"unknown family {key!r}; choose one of {', '.join(keys)}"
                         + (" (the Metrics tab is part of every Space)" if key == ALWAYS else "")
                         + (" (the Compare tab needs every family: it is the whole hub's Space, the root README)"
                            if key in HUB_ONLY else ""))
    return families([key])[0]


def meta(key: str) -> SpaceMeta:
    fam = _family(key)
    return META.get(key) or SpaceMeta("🧪", "indigo", "pink", f"{fam.title} in the genmodels hub"[:60],
                                      ("metrics",))


def runtime_weights(key: str) -> tuple[str, ...]:
    """The weights folders a Space of ``key`` loads: its family's models, the Metrics tab's, and any extras."""
    names = (*_family(key).models, *EXTRA_WEIGHTS.get(key, ()), *families([ALWAYS])[0].models)
    return tuple(dict.fromkeys(names))


def requirements(key: str) -> str:
    """The Space's requirements.txt."""
    lines = [*BASE_REQUIREMENTS, *FAMILY_REQUIREMENTS.get(_family(key).key, ())]
    return (f"# Runtime dependencies of the genmodels {_family(key).title} Space (its tab + the Metrics tab).\n"
            + "\n".join(lines) + "\n")


def front_matter(key: str) -> dict:
    """The Space card's YAML front-matter, as a dict (key order kept)."""
    fam, m = _family(key), meta(key)
    return {"title": f"genmodels · {fam.title}", "emoji": m.emoji, "colorFrom": m.color_from,
            "colorTo": m.color_to, "sdk": "gradio", "sdk_version": SDK_VERSION, "python_version": PYTHON_VERSION,
            "app_file": "app.py", "license": LICENSE, "short_description": m.short_description,
            "tags": ["genmodels", *m.tags], "models": list(HUB_MODELS)}


def _scalar(value: str) -> str:
    """A YAML scalar: plain when YAML reads it back as this same string, else a JSON (= YAML) quoted string."""
    plain = re.fullmatch(r"[A-Za-z0-9\u00b7\u00d7\u0080-\U0010ffff][\w .,/()+'\u00b7-]*", value) is not None
    looks_typed = re.fullmatch(r"[-+]?(\d[\d_]*)?(\.\d*)?([eE][-+]?\d+)?|(?i:yes|no|true|false|on|off|null|~)",
                               value) is not None
    return value if plain and not looks_typed and not value.endswith(" ") else json.dumps(value, ensure_ascii=False)


def _yaml(data: dict) -> str:
    out = []
    for k, v in data.items():
        if isinstance(v, (list, tuple)):
            out += [f"{k}:", *(f"  - {_scalar(x)}" for x in v)]
        else:
            out.append(f"{k}: {_scalar(str(v))}")
    return "\n".join(out) + "\n"


def readme(key: str) -> str:
    """The Space's README.md: front-matter, what it shows, the papers, how to run it."""
    fam, metrics = _family(key), families([ALWAYS])[0]
    own = ", ".join(f"`{m}`" for m in fam.models)
    backbones = ", ".join(f"`{m}`" for m in metrics.models)
    models = (f"Embedded models: {own}; the Metrics tab's scoring backbones: {backbones}." if own else
              f"This tab has no models of its own; the Metrics tab's scoring backbones are {backbones}.")
    papers = "\n".join(f"- {p}" for p in fam.papers)
    return f"""---
{_yaml(front_matter(key))}---

<!-- Generated by genmodels/hub/spaces.py (`python -m genmodels export-space {key} OUT`); edit that, not this. -->

# genmodels · {fam.title}

One family of the genmodels hub — the **{fam.title}** tab — beside the **Metrics** tab (FID, KID, IS, precision /
recall, SSIM, PSNR, LPIPS, CLIP score on your own images), running on CPU on embedded models trained on the
bundled *shapes* domain. `?tab={key}` opens the {fam.title} tab, `?tab={ALWAYS}` the Metrics tab.

## What it shows

{fam.summary}

{models} Each folder under `genmodels/weights/` holds its model card (data, command, wall time, held-out metrics).

## Papers

{papers}

## Run locally

In this Space's folder (Python {PYTHON_VERSION}; serves http://127.0.0.1:7860 offline, `GRADIO_SERVER_NAME` /
`GRADIO_SERVER_PORT` are honoured):

```bash
pip install -r requirements.txt
python app.py
```

From a clone of the genmodels repository: `pip install -r requirements.txt && python spaces/{key}/app.py`, or
`python -m genmodels export-space {key} OUT` to write this Space's folder (code, weights, requirements) to `OUT`.
"""


def app_py(key: str) -> str:
    """The Space's app.py: this family's tab plus the Metrics tab."""
    fam = _family(key)
    return f'''"""`python app.py` serves the genmodels {fam.title} Space: the {fam.title} tab plus the Metrics tab.

Generated by genmodels/hub/spaces.py (`python -m genmodels export-space {key} OUT`); edit that, not this file.
Runs from an exported Space folder (the genmodels package beside this file) or from spaces/{key}/ in the repository.
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent  # the repository root when this file is spaces/{key}/app.py
if not (HERE / "genmodels").is_dir() and (REPO / "genmodels").is_dir():
    sys.path.insert(0, str(REPO))  # inside the repository: use its package, not an installed copy

from genmodels.hub import build, launch_kwargs  # noqa: E402

demo = build(["{key}", "{ALWAYS}"])

if __name__ == "__main__":
    demo.launch(**launch_kwargs())
'''


def write_repo_spaces(root: Path | None = None) -> list[Path]:
    """Rewrite ``spaces/<key>/README.md`` and ``app.py`` of the repository (after a registry or template change):
    ``python -c "from genmodels.hub.spaces import write_repo_spaces; write_repo_spaces()"``."""
    root = Path(root) if root else PACKAGE.parent
    written = []
    for key in space_keys():
        for name, text in (("README.md", readme(key)), ("app.py", app_py(key))):
            path = root / "spaces" / key / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


def _size(path: Path) -> tuple[int, int]:
    """(files, bytes) under ``path`` (or of the file)."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def export_space(key: str, out: Path, force: bool = False) -> dict:
    """Write the Space of family ``key`` to ``out``: app.py, README.md, requirements.txt, .gitattributes (LFS for
    the weights), the genmodels package source (no weights, no caches) and the runtime weights folders.

    Refuses an unknown key (ValueError), a file at ``out`` or an ``out`` in or above the package (ValueError), a
    non-empty ``out`` without ``force`` (FileExistsError), missing weights (FileNotFoundError). With ``force`` it
    replaces only what it writes. Returns ``{key, out, weights, items: [{path, files, bytes}], files, bytes}``.
    """
    _family(key)
    out = Path(out).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} exists and is not a folder")
    if out == PACKAGE or PACKAGE in out.parents or out in PACKAGE.parents:
        raise ValueError(f"{out} overlaps the genmodels package ({PACKAGE}); choose a folder outside it")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise FileExistsError(f"{out} is not empty; choose an empty folder or pass --force")
    weights = runtime_weights(key)
    missing = [w for w in weights if not (WEIGHTS / w).is_dir()]
    if missing:
        raise FileNotFoundError(f"weights missing under {WEIGHTS}: {', '.join(missing)} "
                                f"(train them: python -m genmodels train {missing[0]})")
    out.mkdir(parents=True, exist_ok=True)
    texts = {"app.py": app_py(key), "README.md": readme(key), "requirements.txt": requirements(key),
             ".gitattributes": "*.safetensors filter=lfs diff=lfs merge=lfs -text\n"}
    items = []
    for name, text in texts.items():
        (out / name).write_text(text, encoding="utf-8")
        items.append({"path": name, **dict(zip(("files", "bytes"), _size(out / name)))})
    pkg = out / "genmodels"
    if pkg.exists():
        shutil.rmtree(pkg)

    def ignore(folder: str, names: list[str]) -> set[str]:
        skip = set(IGNORE(folder, names))
        return skip | ({"weights"} if Path(folder) == PACKAGE else set())

    shutil.copytree(PACKAGE, pkg, ignore=ignore)
    items.append({"path": "genmodels/ (source)", **dict(zip(("files", "bytes"), _size(pkg)))})
    for w in weights:
        shutil.copytree(WEIGHTS / w, pkg / "weights" / w, ignore=IGNORE)
        items.append({"path": f"genmodels/weights/{w}/", **dict(zip(("files", "bytes"), _size(pkg / "weights" / w)))})
    files, size = _size(out)
    return {"key": key, "out": str(out), "weights": list(weights), "items": items, "files": files, "bytes": size}
