"""The bundled procedural *shapes* domain: the offline dataset with ground truth for every task.

Not a paper's dataset; in the spirit of dSprites (Matthey et al. 2017) and CLEVR (Johnson et al. 2017,
arXiv:1612.06890): every image is rendered from known factors, so each generated image can be checked against
the attributes it was asked for.

An item is a pure function of ``(split, index)``: its factors come from ``numpy.random.default_rng`` seeded with
``(SPLIT_SEEDS[split], index)``, so any item can be regenerated anywhere without storing it. The scene is drawn
at 4x the output size with PIL and box-downsampled (area average, i.e. antialiased). Each item carries

- ``image``   uint8 (S, S, 3)
- ``twin``    the same scene in the other fill (solid <-> striped): paired ground truth for CycleGAN
- ``mask``    bool (S, S): pixels whose 4x-supersampled coverage by the shape is >= 1/2 (exact geometry)
- ``edges``   bool (S, S): the mask's inner boundary (mask pixels with a 4-neighbour outside it)
- ``labels``  shape / colour / fill / background / size class indices plus centre, radius and rotation
- ``caption`` "a small red striped star on a light background"
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle", "star", "cross", "heart")
COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 175, 60),
    "blue": (50, 80, 225),
    "yellow": (235, 210, 40),
    "magenta": (205, 50, 205),
    "cyan": (40, 200, 215),
}
COLOUR_NAMES = tuple(COLOURS)
FILLS = ("solid", "striped")
BACKGROUNDS = ("dark", "light", "gradient")
SIZES = ("small", "medium", "large")
SPLITS = ("train", "val", "test")
SPLIT_SEEDS = {"train": 1_000, "val": 2_000, "test": 3_000}
TEST_SPLIT_SIZE = 2_000
# Items per split: the test split is fixed at 2,000 items; train is practically unbounded.
SPLIT_LENGTH = {"train": 10_000_000, "val": 10_000, "test": TEST_SPLIT_SIZE}
SUPERSAMPLE = 4
# Radius (circumradius) as a fraction of the image side, per size class.
_SIZE_RANGES = {0: (0.17, 0.22), 1: (0.24, 0.29), 2: (0.31, 0.36)}
# Stripe period in output pixels at 32x32 (diagonal, rotating with the shape; scaled with the image size).
STRIPE_PERIOD = 6.0
STRIPE_SHADE = 0.35  # the second stripe colour is the shape colour times this
# The darkest and lightest background tones (0-255): flat dark 18-50, flat light 200-235, gradients 25-225 times a
# tint of at most 1.05 (``_background``)
BACKGROUND_TONES = (18.0, 225.0 * 1.05)


@dataclass(frozen=True)
class SceneParams:
    """The factors of one scene; everything else is derived from them."""

    split: str
    index: int
    shape: int
    colour: int
    fill: int
    background: int
    size: int
    cx: float  # centre, as a fraction of the side
    cy: float
    radius: float  # circumradius, as a fraction of the side
    rotation: float  # degrees
    colour_rgb: tuple[int, int, int] = field(repr=False)
    bg_tone: float = field(repr=False)  # dark / light grey level, or the gradient's angle in degrees

    def caption(self, fill: int | None = None) -> str:
        fill = self.fill if fill is None else fill
        return (f"a {SIZES[self.size]} {COLOUR_NAMES[self.colour]} {FILLS[fill]} {SHAPES[self.shape]} "
                f"on a {BACKGROUNDS[self.background]} background")

    def labels(self) -> dict:
        return {"shape": self.shape, "colour": self.colour, "fill": self.fill, "background": self.background,
                "size": self.size, "cx": self.cx, "cy": self.cy, "radius": self.radius, "rotation": self.rotation}

    def names(self) -> dict[str, str]:
        return {"shape": SHAPES[self.shape], "colour": COLOUR_NAMES[self.colour], "fill": FILLS[self.fill],
                "background": BACKGROUNDS[self.background], "size": SIZES[self.size]}


@dataclass
class ShapeItem:
    params: SceneParams
    image: np.ndarray
    twin: np.ndarray
    mask: np.ndarray
    edges: np.ndarray

    @property
    def caption(self) -> str:
        return self.params.caption()

    @property
    def twin_caption(self) -> str:
        return self.params.caption(1 - self.params.fill)

    @property
    def labels(self) -> dict:
        return self.params.labels()


def _check_split(split: str) -> None:
    if split not in SPLIT_SEEDS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")


def scene_params(split: str, index: int) -> SceneParams:
    """The factors of item ``index`` of ``split`` (cheap: no rendering)."""
    _check_split(split)
    if not 0 <= index < SPLIT_LENGTH[split]:
        raise ValueError(f"item index of the {split} split must be in [0, {SPLIT_LENGTH[split]}), got {index}")
    rng = np.random.default_rng((SPLIT_SEEDS[split], int(index)))
    shape, colour, fill, background, size = (int(rng.integers(n)) for n in (6, 6, 2, 3, 3))
    lo, hi = _SIZE_RANGES[size]
    radius = float(rng.uniform(lo, hi))
    margin = radius + 0.04
    cx, cy = (float(v) for v in rng.uniform(margin, 1.0 - margin, size=2))
    rotation = float(rng.uniform(0.0, 360.0))
    jitter = rng.integers(-12, 13, size=3)
    rgb = tuple(int(np.clip(c + j, 0, 255)) for c, j in zip(COLOURS[COLOUR_NAMES[colour]], jitter))
    bg_tone = {0: rng.uniform(18, 50), 1: rng.uniform(200, 235), 2: rng.uniform(0, 360)}[background]
    return SceneParams(split, int(index), shape, colour, fill, background, size, cx, cy, radius, rotation,
                       rgb, float(bg_tone))


def _outline(shape: int, n_circle: int = 96) -> np.ndarray:
    """Unit-circumradius outline of a shape class as (K, 2) points, y pointing down."""
    name = SHAPES[shape]
    if name == "circle":
        t = np.linspace(0, 2 * np.pi, n_circle, endpoint=False)
        return np.stack([np.cos(t), np.sin(t)], 1)
    if name in ("square", "triangle"):
        k = 4 if name == "square" else 3
        t = -np.pi / 2 + np.arange(k) * 2 * np.pi / k
        return np.stack([np.cos(t), np.sin(t)], 1)
    if name == "star":
        t = -np.pi / 2 + np.arange(10) * np.pi / 5
        r = np.where(np.arange(10) % 2 == 0, 1.0, 0.45)
        return np.stack([r * np.cos(t), r * np.sin(t)], 1)
    if name == "cross":
        a, b = 0.34, 0.95  # arm half-width, arm length
        pts = [(a, -b), (a, -a), (b, -a), (b, a), (a, a), (a, b), (-a, b), (-a, a), (-b, a), (-b, -a),
               (-a, -a), (-a, -b)]
        return np.asarray(pts, dtype=np.float64)
    if name == "heart":
        t = np.linspace(0, 2 * np.pi, n_circle, endpoint=False)
        x = 16 * np.sin(t) ** 3
        y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        pts = np.stack([x, y], 1)
        pts -= (pts.max(0) + pts.min(0)) / 2
        return pts / np.abs(pts).max()
    raise ValueError(name)


def _background(p: SceneParams, n: int) -> np.ndarray:
    if p.background < 2:
        return np.full((n, n, 3), p.bg_tone, dtype=np.float32)
    angle = math.radians(p.bg_tone)
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) / (n - 1) - 0.5
    t = (xx * math.cos(angle) + yy * math.sin(angle)) / math.sqrt(0.5) * 0.5 + 0.5  # in [0, 1]
    grey = 25.0 + t * 200.0
    tint = np.array([1.0, 0.97, 1.05], dtype=np.float32)
    return np.clip(grey[..., None] * tint, 0, 255)


def render_background(p: SceneParams, size: int = 32) -> np.ndarray:
    """The scene's background alone at ``size`` (float, before rounding): what the shape is drawn over."""
    return _box_down(_background(p, size * SUPERSAMPLE), SUPERSAMPLE)


def _stripes(p: SceneParams, n: int) -> np.ndarray:
    """Boolean (n, n) map of the 'ink' stripes at render resolution."""
    period = STRIPE_PERIOD * n / (32 * SUPERSAMPLE)  # scales with the image: same look at 32 and 64 px
    angle = math.radians(p.rotation + 45.0)
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) + 0.5
    u = xx * math.cos(angle) + yy * math.sin(angle)
    return np.mod(u, period) < period / 2


def _box_down(a: np.ndarray, f: int) -> np.ndarray:
    h, w = a.shape[:2]
    return a.reshape(h // f, f, w // f, f, *a.shape[2:]).mean(axis=(1, 3))


def render(p: SceneParams, size: int = 32, twin: bool = True) -> ShapeItem:
    """Render a scene at ``size`` x ``size``, and its other-fill twin unless ``twin`` is False (then ``twin`` is
    the image itself)."""
    if size < 8 or size > 512:
        raise ValueError(f"image size must be between 8 and 512, got {size}")
    n = size * SUPERSAMPLE
    pts = _outline(p.shape) @ np.array([[math.cos(math.radians(p.rotation)), math.sin(math.radians(p.rotation))],
                                        [-math.sin(math.radians(p.rotation)), math.cos(math.radians(p.rotation))]])
    pts = (pts * p.radius + [p.cx, p.cy]) * n
    canvas = Image.new("L", (n, n), 0)
    ImageDraw.Draw(canvas).polygon([tuple(map(float, q)) for q in pts], fill=255)
    cover = np.asarray(canvas, dtype=np.float32)[..., None] / 255.0
    bg = _background(p, n)
    colour = np.asarray(p.colour_rgb, dtype=np.float32)

    def compose(fill: int) -> np.ndarray:
        fg = colour if fill == 0 else np.where(_stripes(p, n)[..., None], colour * STRIPE_SHADE, colour)
        hi = bg * (1 - cover) + fg * cover
        return np.clip(np.rint(_box_down(hi, SUPERSAMPLE)), 0, 255).astype(np.uint8)

    image = compose(p.fill)
    other = compose(1 - p.fill) if twin else image
    mask = _box_down(cover[..., 0], SUPERSAMPLE) >= 0.5
    pad = np.pad(mask, 1, constant_values=False)
    interior = pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:]
    edges = mask & ~interior
    return ShapeItem(p, image, other, mask, edges)


def item(split: str, index: int, size: int = 32, twin: bool = True) -> ShapeItem:
    """Item ``index`` of ``split``: a pure function of its arguments."""
    return render(scene_params(split, index), size, twin)


def _render_range(args: tuple[str, int, int, int, bool]) -> dict[str, np.ndarray]:
    split, start, stop, size, full = args
    items = [item(split, i, size, twin=full) for i in range(start, stop)]
    out = {"images": np.stack([it.image for it in items]),
           "labels": np.array([[it.params.shape, it.params.colour, it.params.fill, it.params.background,
                                it.params.size] for it in items], dtype=np.int64)}
    if full:
        out["twins"] = np.stack([it.twin for it in items])
        out["masks"] = np.stack([it.mask for it in items])
        out["edges"] = np.stack([it.edges for it in items])
    return out


LABEL_COLUMNS = ("shape", "colour", "fill", "background", "size")


def render_batch(split: str, start: int, n: int, size: int = 32, full: bool = False,
                 workers: int = 1) -> dict[str, np.ndarray]:
    """Render items ``start .. start+n-1`` as stacked arrays.

    Returns ``images`` (n, S, S, 3) uint8 and ``labels`` (n, 5) int64 in the order of ``LABEL_COLUMNS``; with
    ``full`` also ``twins``, ``masks`` and ``edges``. ``workers > 1`` renders in a process pool.
    """
    _check_split(split)
    if n <= 0:
        raise ValueError(f"number of items must be > 0, got {n}")
    if start < 0 or start + n > SPLIT_LENGTH[split]:
        raise ValueError(f"items {start}..{start + n - 1} are outside the {split} split "
                         f"(it has {SPLIT_LENGTH[split]} items)")
    if workers <= 1 or n < 256:
        return _render_range((split, start, start + n, size, full))
    from concurrent.futures import ProcessPoolExecutor

    step = math.ceil(n / (workers * 4))
    jobs = [(split, s, min(s + step, start + n), size, full) for s in range(start, start + n, step)]
    with ProcessPoolExecutor(workers) as pool:
        parts = list(pool.map(_render_range, jobs))
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
