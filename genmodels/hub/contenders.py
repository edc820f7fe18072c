"""Contenders: every embedded generator of the hub answering one condition, in the nearest form it can take.

The Compare tab, the arena and the leaderboard all draw from here, so a model is compared on the same footing
everywhere. A ``Condition`` is a scene description of the shapes domain (shape, colour, fill, background). Each
``Contender`` is asked for it as its family allows:

- class-conditional models (CGAN, conditional StyleGAN, CVAE) get shape + colour; the code prior and the
  PixelCNN family get the shape (their only label);
- caption models (StackGAN, the DALL-E-style prior, tiny Stable Diffusion and its distilled 4-step student) get the caption
  ``a red solid star on a light background``;
- image-conditioned models get the domain's own rendering of the condition — a test-split scene with exactly
  these attributes (chosen by the seed): pix2pix its edge map plus colour / fill / background, ControlNet its edge
  map plus the caption, CycleGAN the scene with the *other* fill (it translates solid ↔ striped);
- unconditional models (DCGAN, VAE) are shown as such: they are asked for nothing and scored on nothing.

``honours`` names the attributes a contender was asked for; condition accuracy is the share of its images whose
attributes the scoring classifier (never used to train a generator) reads as asked, on those attributes only.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np

from ..data import shapes
from ..loading import LOAD_LOCK

ATTRS = ("shape", "colour", "fill", "background")


@dataclass(frozen=True)
class Condition:
    shape: str = "star"
    colour: str = "red"
    fill: str = "solid"
    background: str = "light"
    scene: int | None = None  # a test-split scene with these attributes for image-conditioned models (None: seeded)

    def __post_init__(self) -> None:
        for attr, names in (("shape", shapes.SHAPES), ("colour", shapes.COLOUR_NAMES), ("fill", shapes.FILLS),
                            ("background", shapes.BACKGROUNDS)):
            value = getattr(self, attr)
            if value not in names:
                raise ValueError(f"Unknown {attr} {value!r}; choose one of {', '.join(names)}.")

    @property
    def caption(self) -> str:
        return f"a {self.colour} {self.fill} {self.shape} on a {self.background} background"

    def index(self, attr: str) -> int:
        names = {"shape": shapes.SHAPES, "colour": shapes.COLOUR_NAMES, "fill": shapes.FILLS,
                 "background": shapes.BACKGROUNDS}[attr]
        return names.index(getattr(self, attr))

    def as_dict(self) -> dict:
        d = {a: getattr(self, a) for a in ATTRS}
        return d if self.scene is None else {**d, "scene": self.scene}

    @classmethod
    def from_labels(cls, labels, scene: int | None = None) -> "Condition":
        """From a label row (shape, colour, fill, background, …) of the domain."""
        s, c, f, b = (int(v) for v in list(labels)[:4])
        return cls(shapes.SHAPES[s], shapes.COLOUR_NAMES[c], shapes.FILLS[f], shapes.BACKGROUNDS[b], scene)


@lru_cache(maxsize=1)
def test_labels() -> np.ndarray:
    """(2000, 4) shape / colour / fill / background indices of the test split (computed once)."""
    return np.array([[getattr(shapes.scene_params("test", i), a) for a in ATTRS]
                     for i in range(shapes.TEST_SPLIT_SIZE)], dtype=np.int64)


def reference_index(cond: Condition, seed: int = 0) -> int:
    """``cond.scene`` if set, else a test-split scene with exactly the condition's attributes (the seed picks among
    them); if the test split has none, one with its shape and colour."""
    if cond.scene is not None:
        if not 0 <= cond.scene < shapes.TEST_SPLIT_SIZE:
            raise ValueError(f"Test scene must be in 0–{shapes.TEST_SPLIT_SIZE - 1}, got {cond.scene}.")
        return int(cond.scene)
    lab = test_labels()
    want = np.array([cond.index(a) for a in ATTRS])
    hits = np.flatnonzero((lab == want).all(1))
    if len(hits) == 0:
        hits = np.flatnonzero((lab[:, :2] == want[:2]).all(1))
    return int(hits[int(seed) % len(hits)])


@lru_cache(maxsize=256)
def reference_item(cond: Condition, seed: int = 0):
    return shapes.item("test", reference_index(cond, seed))


@dataclass(frozen=True)
class Contender:
    key: str  # the embedded model (folder under genmodels/weights)
    label: str
    family: str  # registry key of its tab
    takes: str  # what it is given, in words
    honours: tuple[str, ...]  # the attributes it is asked for (empty: unconditional)
    draw: Callable[[Condition, int, int], np.ndarray]  # (condition, seed, n) -> uint8 (n, 32, 32, 3)
    warm: Callable[[], object]  # loads its weights (so the timed call measures sampling only)
    per_scene: bool = False  # conditioned on a rendered scene (edge map / twin): one scene per call

    @property
    def conditional(self) -> bool:
        return bool(self.honours)


# ---- one draw function per model (imports stay inside: registering contenders loads nothing) -------------------

def _gan(kind: str):
    def draw(cond: Condition, seed: int, n: int) -> np.ndarray:
        from ..families.gan import service

        G = service.load_generator(kind)
        if kind == "dcgan":
            return service.sample(kind, G, seed, n)[0]
        return service.sample(kind, G, seed, n, cond.index("shape"), cond.index("colour"))[0]

    def warm():
        from ..families.gan import service

        return service.load_generator(kind)
    return draw, warm


def _stackgan(cond: Condition, seed: int, n: int) -> np.ndarray:
    """StackGAN's stage-II images for the condition's caption (the size, not in the caption, drawn from the seed)."""
    from ..families.gan import service, stackgan

    return stackgan.text_to_image(service.load_generator("stackgan"), cond.caption, seed, n)["stage2"]


def _stackgan_warm():
    from ..families.gan import service

    return service.load_generator("stackgan")


def _vae(model: str):
    def draw(cond: Condition, seed: int, n: int) -> np.ndarray:
        from ..families.vae import service

        if model == "VAE":
            return service.sample(model, n, seed)[0]
        colour = cond.colour if model == "CVAE" else service.ANY
        return service.sample(model, n, seed, cond.shape, colour)[0]

    def warm():
        from ..families.vae import service

        key = service.MODELS[model]
        return [service.load(k) for k in ((key,) if key in ("vae", "cvae") else (key, "vqvae"))]
    return draw, warm


def _dalle(cond: Condition, seed: int, n: int) -> np.ndarray:
    from ..families.vae import service

    images = None
    for _, _, images, _ in service.text2image_stream(cond.caption, n, seed, every=10 ** 6):
        pass
    return images


def _dalle_warm():
    from ..families.vae import service

    return service.load("vq-dalle"), service.load("vqvae")


def _pixelcnn(key: str):
    def draw(cond: Condition, seed: int, n: int) -> np.ndarray:
        from ..families.autoregressive import service

        images = None
        for _, images, _ in service.stream(key, n, seed, cond.shape):
            pass
        return images

    def warm():
        from ..families.autoregressive import service

        return service.load(key)
    return draw, warm


def _pix2pix(cond: Condition, seed: int, n: int) -> np.ndarray:
    from ..families.img2img import service

    edges = reference_item(cond, seed).edges
    attrs = [(cond.index("colour"), cond.index("fill"), cond.index("background"))] * n
    return service.pix2pix_run(service.load_pix2pix(), edges, attrs)


def _cyclegan(cond: Condition, seed: int, n: int) -> np.ndarray:
    """The scene's other-fill twin through G_AB (solid → striped) or G_BA (striped → solid). The generator is
    deterministic: its n images are the same (n scenes would answer n conditions)."""
    from ..families.img2img import service

    pair = service.load_cyclegan()
    it = reference_item(cond, seed)
    source = it.twin  # the same scene with the other fill
    G = pair.G_AB if cond.fill == "striped" else pair.G_BA
    return np.repeat(service.translate(G, source)[None], n, 0)


def _sd(cond: Condition, seed: int, n: int) -> np.ndarray:
    from ..families.diffusion import service

    return service.txt2img(service.load_pipeline(), cond.caption, seed=seed, n=n)


def _controlnet(cond: Condition, seed: int, n: int) -> np.ndarray:
    from ..families.diffusion import service

    edges = reference_item(cond, seed).edges.astype(np.float32)
    return service.controlnet(service.load_pipeline(), service.load_controlnet(), edges, cond.caption, seed=seed,
                              n=n)


def _distilled(cond: Condition, seed: int, n: int) -> np.ndarray:
    from ..families.distill import service

    return service.txt2img(cond.caption, seed=seed, n=n, steps=DISTILLED_STEPS)


def _distilled_warm():
    from ..families.distill import service

    return service.teacher_pipeline(), service.load_student(DISTILLED_STEPS)


DISTILLED_STEPS = 4  # the distilled sampler's contender: its 4-step student (guidance w = 3 folded in)


def _sd_warm():
    from ..families.diffusion import service

    return service.load_pipeline()


def _controlnet_warm():
    from ..families.diffusion import service

    return service.load_pipeline(), service.load_controlnet()


def _img2img_warm(what: str):
    def warm():
        from ..families.img2img import service

        return service.load_pix2pix() if what == "pix2pix" else service.load_cyclegan()
    return warm


SHAPE_COLOUR = ("shape", "colour")
ALL = ATTRS


def _all() -> list[Contender]:
    out = []
    for key, label, honours in (("dcgan", "DCGAN", ()), ("cgan", "CGAN", SHAPE_COLOUR),
                                ("stylegan", "StyleGAN", SHAPE_COLOUR), ("biggan", "BigGAN", SHAPE_COLOUR)):
        draw, warm = _gan(key)
        out.append(Contender(key, label, "gan", "shape + colour" if honours else "nothing (unconditional)",
                             honours, draw, warm))
    out.append(Contender("stackgan", "StackGAN", "gan", "the caption", ALL, _stackgan, _stackgan_warm))
    out.append(Contender("pix2pix", "pix2pix", "img2img", "the scene's edge map + colour / fill / background", ALL,
                         _pix2pix, _img2img_warm("pix2pix"), per_scene=True))
    out.append(Contender("cyclegan", "CycleGAN", "img2img", "the scene with the other fill (solid ↔ striped)", ALL,
                         _cyclegan, _img2img_warm("cyclegan"), per_scene=True))
    for key, label, honours, takes in (("vae", "VAE", (), "nothing (unconditional)"),
                                       ("cvae", "CVAE", SHAPE_COLOUR, "shape + colour"),
                                       ("vq-prior", "VQ-VAE + PixelCNN prior", ("shape",), "shape")):
        draw, warm = _vae({"vae": "VAE", "cvae": "CVAE", "vq-prior": "VQ-VAE + PixelCNN prior"}[key])
        out.append(Contender(key, label, "vae", takes, honours, draw, warm))
    out.append(Contender("vq-dalle", "DALL-E-style prior", "vae", "the caption", ALL, _dalle, _dalle_warm))
    for key, label in (("pixelcnn", "PixelCNN"), ("gated-pixelcnn", "Gated PixelCNN"), ("pixelcnnpp", "PixelCNN++")):
        draw, warm = _pixelcnn(key)
        out.append(Contender(key, label, "autoregressive", "shape", ("shape",), draw, warm))
    out.append(Contender("tiny-sd", "tiny Stable Diffusion", "diffusion", "the caption", ALL, _sd, _sd_warm))
    out.append(Contender("tiny-sd-controlnet-edges", "ControlNet (edges)", "diffusion",
                         "the scene's edge map + the caption", ALL, _controlnet, _controlnet_warm, per_scene=True))
    out.append(Contender("distill", f"tiny SD, distilled to {DISTILLED_STEPS} steps", "distill", "the caption", ALL,
                         _distilled, _distilled_warm))
    return out


CONTENDERS: dict[str, Contender] = {c.key: c for c in _all()}


def available(keys=None) -> list[Contender]:
    """Contenders whose weights are present (all of them in a full checkout; a Space has only its family's)."""
    from ..families.gan.service import WEIGHTS

    picked = CONTENDERS.values() if keys is None else [get(k) for k in keys]
    return [c for c in picked if (WEIGHTS / c.key / "README.md").exists()]


def get(key: str) -> Contender:
    if key not in CONTENDERS:
        raise ValueError(f"Unknown model {key!r}; choose one of {', '.join(CONTENDERS)}.")
    return CONTENDERS[key]


def run(contender: Contender, cond: Condition, seed: int, n: int) -> tuple[np.ndarray, float]:
    """(images, seconds of the sampling call — weights loaded beforehand, not timed). Loads are serialised: two
    requests loading the same model at once would load it twice, and transformers' lazy imports are not safe to
    race (seen here as "cannot import name 'GPT2LMHeadModel'" when two threads first touched it together)."""
    with LOAD_LOCK:  # every model build in the process holds it (loading.py)
        contender.warm()
    t0 = time.perf_counter()
    images = contender.draw(cond, int(seed), int(n))
    return np.ascontiguousarray(images), time.perf_counter() - t0


def condition_hits(images: np.ndarray, cond: Condition, honours: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Per image, whether the scoring classifier reads each honoured attribute as asked, and ``all`` of them."""
    if not honours:
        return {}
    from ..scoring.backbones import get_backbone

    pred = get_backbone("shapes").attribute_predictions(images)
    hits = {a: np.asarray(pred[a]) == cond.index(a) for a in honours}
    hits["all"] = np.logical_and.reduce([hits[a] for a in honours])
    return hits
