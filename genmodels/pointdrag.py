"""Point-based dragging shared by DragGAN (GAN tab) and DragDiffusion (Edit tab): the points a person clicks or types,
bilinear feature sampling, motion supervision and point tracking, scripted drags for the acceptance runs, and the
picture of the points.

- DragGAN: Pan, Tewari, Leimkühler, Liu, Meka, Theobalt 2023, "Drag Your GAN: Interactive Point-based Manipulation
  on the Generative Image Manifold", arXiv:2305.10973 — motion supervision (eq. 1): each handle's neighbourhood
  Ω(h, r1) is pulled one unit step towards its target on the generator's features, against a stop-gradient copy of
  itself; point tracking (eq. 2): the handle moves to the position within Ω(h, r2) whose features are nearest (L1)
  to the original handle's features.
- DragDiffusion (Shi et al. 2023, arXiv:2306.14435) uses the same two steps on a diffusion latent's UNet features.

``iterate_points`` is that loop over any tensor that parameterises the image (a StyleGAN w+, a diffusion latent):
the caller gives the features function and an optional extra loss term (the mask terms of the two papers).
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from .limits import check_deadline
from .validate import InputError

MAX_POINT_PAIRS = 4
SIZE = 32


def sample_at(feat: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of ``feat`` (1, C, H, W) at (N, 2) pixel positions (x, y) -> (N, C)."""
    h, w = feat.shape[-2:]
    grid = torch.stack([points[:, 0] / (w - 1) * 2 - 1, points[:, 1] / (h - 1) * 2 - 1], -1).view(1, -1, 1, 2)
    return F.grid_sample(feat, grid.to(feat.dtype), mode="bilinear", align_corners=True)[0, :, :, 0].T


def patch(center: torch.Tensor, r: int) -> torch.Tensor:
    d = torch.arange(-r, r + 1, dtype=torch.float32)
    dy, dx = torch.meshgrid(d, d, indexing="ij")
    return center[None] + torch.stack([dx.flatten(), dy.flatten()], -1)


def track(feat: torch.Tensor, targets_f0: torch.Tensor, handles: torch.Tensor, r: int) -> torch.Tensor:
    """Point tracking: each handle -> the integer position within r (inside the image) whose features are nearest
    (L1) to its original features ``targets_f0`` (N, C)."""
    h, w = feat.shape[-2:]
    out = []
    for hnd, f0 in zip(handles, targets_f0):
        cand = patch(hnd.round(), r)
        cand = cand[(cand[:, 0] >= 0) & (cand[:, 0] <= w - 1) & (cand[:, 1] >= 0) & (cand[:, 1] <= h - 1)]
        d = (feat[0, :, cand[:, 1].long(), cand[:, 0].long()].T - f0[None]).abs().sum(1)
        out.append(cand[int(d.argmin())])
    return torch.stack(out)


def parse_points(text, size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """'x,y -> x,y; ...' (handle -> target pairs, pixels of the size×size image) -> (handles, targets) (N, 2)."""
    s = str(text or "")
    if len(s) > 400:
        raise InputError("The points box takes up to 4 pairs 'x,y -> x,y'; this value is too long.")
    nums = re.findall(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|nan|inf", s, flags=re.I)
    if not nums:
        raise InputError("No points: click a handle point on the image, then its target (or type 'x,y -> x,y').")
    try:
        vals = [float(v) for v in nums]
    except ValueError:
        raise InputError("The points must be numbers, as 'x,y -> x,y'.") from None
    if not all(np.isfinite(vals)):
        raise InputError("The points must be finite numbers, as 'x,y -> x,y'.")
    if len(vals) % 4:
        if len(vals) % 2 == 0:
            raise InputError("Every handle point needs a target: click where the last handle should move to.")
        raise InputError("Each point needs an x and a y: write pairs as 'x,y -> x,y'.")
    pts = np.asarray(vals, np.float32).reshape(-1, 2, 2)
    if len(pts) > MAX_POINT_PAIRS:
        raise InputError(f"At most {MAX_POINT_PAIRS} handle → target pairs, got {len(pts)}.")
    for p in pts.reshape(-1, 2):
        if not (0 <= p[0] <= size - 1 and 0 <= p[1] <= size - 1):
            raise InputError(f"The point ({p[0]:g}, {p[1]:g}) is outside the {size}×{size} image: x and y run from 0 "
                             f"to {size - 1}.")
    for h, g in pts:
        if np.linalg.norm(g - h) < 1:
            raise InputError(f"The handle ({h[0]:g}, {h[1]:g}) and its target are the same point: put the target at "
                             "least 1 pixel away.")
    return pts[:, 0], pts[:, 1]


def format_points(handles, targets) -> str:
    pairs = [f"{h[0]:g},{h[1]:g} -> {g[0]:g},{g[1]:g}" for h, g in zip(handles, targets)]
    if len(handles) > len(targets):
        pairs.append(f"{handles[-1][0]:g},{handles[-1][1]:g} ->")
    return "; ".join(pairs)


def points_so_far(text) -> tuple[list, list]:
    """Handles and targets typed or clicked so far (a trailing handle without its target allowed); [] on anything
    odd — what the canvases draw while a person is still clicking (``parse_points`` checks a finished box)."""
    vals = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", str(text or ""))]
    pts = [vals[i:i + 2] for i in range(0, len(vals) - len(vals) % 2, 2)]
    return pts[0::2], pts[1::2]


def add_click(text, x: int, y: int) -> str:
    """The points box after a click at image pixel (x, y): the target of the last handle, or the next handle."""
    handles, targets = points_so_far(text)
    if len(handles) > len(targets):
        targets.append([x, y])
    else:
        if len(handles) >= MAX_POINT_PAIRS:
            raise InputError(f"At most {MAX_POINT_PAIRS} handle → target pairs: clear the points to start again.")
        handles.append([x, y])
    return format_points(handles, targets)


def canvas(image: np.ndarray, text, scale: int = 8) -> np.ndarray:
    """The image enlarged ``scale``× with the points of the box drawn on it (``draw_points``)."""
    return draw_points(image, *points_so_far(text), scale)


def scripted_drag(mask: np.ndarray, index: int, size: int = 32, margin: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Handles (centroid + 3 points half-way to the edge) and targets moved 4-8 px, all by one vector; the length
    and first direction tried come from ``index``, the direction turns in 45° steps until every target lies at least
    ``margin`` px inside the image."""
    ys, xs = np.nonzero(mask)
    c = np.array([xs.mean(), ys.mean()])
    r = 0.5 * math.sqrt(mask.sum() / math.pi)
    angles = np.array([0.4, 2.5, 4.6])
    handles = np.concatenate([c[None], c + r * np.stack([np.cos(angles), np.sin(angles)], 1)])
    handles = np.clip(handles, 0, size - 1)
    rng = np.random.default_rng(10_000 + int(index))
    length, a0 = rng.uniform(4, 8), rng.uniform(0, 2 * math.pi)
    for k in range(8):
        a = a0 + k * math.pi / 4
        d = length * np.array([math.cos(a), math.sin(a)])
        t = handles + d
        if (t >= margin).all() and (t <= size - 1 - margin).all():
            return handles, t
    d = np.clip(c + length * np.array([math.cos(a0), math.sin(a0)]), margin, size - 1 - margin) - c
    return handles, np.clip(handles + d, 0, size - 1)


def centroid(mask: np.ndarray) -> np.ndarray | None:
    if not mask.any():
        return None
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()])


def draw_points(image: np.ndarray, handles, targets, scale: int = 8) -> np.ndarray:
    """The image enlarged ``scale``× (nearest) with each handle (red) → target (blue) drawn as an arrow; a handle
    without its target yet is a red dot."""
    from PIL import Image, ImageDraw

    h, w = image.shape[:2]
    im = Image.fromarray(np.asarray(image, np.uint8)).resize((w * scale, h * scale), Image.Resampling.NEAREST)
    d = ImageDraw.Draw(im)
    c = lambda p: ((float(p[0]) + 0.5) * scale, (float(p[1]) + 0.5) * scale)  # noqa: E731
    r = max(3, scale // 2)
    for i, hp in enumerate(handles):
        x, y = c(hp)
        if i < len(targets):
            tx, ty = c(targets[i])
            d.line([(x, y), (tx, ty)], fill=(255, 255, 255), width=max(2, scale // 4))
            d.ellipse([tx - r, ty - r, tx + r, ty + r], fill=(40, 90, 255), outline=(255, 255, 255))
        d.ellipse([x - r, y - r, x + r, y + r], fill=(235, 40, 40), outline=(255, 255, 255))
    return np.asarray(im)


def motion_loss(feat: torch.Tensor, handles: torch.Tensor, targets: torch.Tensor, r1: int) -> torch.Tensor:
    """Σ over handles not yet within 1 px of their target of Σ_{q ∈ Ω(h, r1)} |F(q + d) − sg(F(q))| (mean over
    channels × the patch size, as an L1 sum over the patch), d the unit step from the handle to its target."""
    loss = feat.new_zeros(())
    for hi, gi in zip(handles, targets):
        dist = (gi - hi).norm()
        if dist < 1.0:
            continue
        q = patch(hi, r1)
        loss = loss + len(q) * F.l1_loss(sample_at(feat, q + (gi - hi) / dist), sample_at(feat, q).detach())
    return loss


@torch.enable_grad()
def iterate_points(param: torch.Tensor, features: Callable, handles: torch.Tensor, targets: torch.Tensor,
                   iterations: int, lr: float, r1: int, r2: int, extra: Callable | None = None,
                   what: str = "drag", tracker: Callable | None = None) -> Iterator[dict]:
    """Motion supervision + point tracking on ``param`` (optimised with Adam at ``lr``). ``features(p)`` ->
    (anything, (1, C, H, W) features at image resolution); ``extra(p, aux, feat, handles)`` -> a loss added to the
    motion term (or None; ``handles`` are the tracked ones); ``tracker(p)`` -> the handles' positions, where the
    generator itself says where each source handle went (None: the paper's nearest-neighbour feature search).
    Yields after every update {"param", "handles",
    "iteration", "history", "done"}; stops when every
    tracked handle is within 1 px of its target or after ``iterations`` updates (the last yield has done=True)."""
    with torch.no_grad():
        _, f_orig = features(param)
        f0 = sample_at(f_orig, handles)
    p = param.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([p], lr=float(lr))
    hnd, used, history = handles.clone(), 0, [handles.clone()]
    for it in range(int(iterations)):
        check_deadline(what)
        aux, feat = features(p)
        if it > 0:
            hnd = track(feat.detach(), f0, hnd, r2) if tracker is None else tracker(p.detach())
            history.append(hnd.clone())
        if bool(((targets - hnd).norm(dim=1) < 1.0).all()):
            break
        loss = motion_loss(feat, hnd, targets, r1)
        if extra is not None:
            more = extra(p, aux, feat, hnd)
            if more is not None:
                loss = loss + more
        opt.zero_grad()
        loss.backward()
        opt.step()
        used = it + 1
        yield {"param": p.detach(), "handles": hnd, "iteration": used, "history": history, "done": False}
    yield {"param": p.detach(), "handles": hnd, "iteration": used, "history": history, "done": True}


def optimise_points(param: torch.Tensor, features: Callable, handles: torch.Tensor, targets: torch.Tensor,
                    iterations: int, lr: float, r1: int, r2: int, extra: Callable | None = None, what: str = "drag",
                    callback: Callable | None = None) -> tuple:
    """``iterate_points`` run to the end: (param, tracked handles, their history, iterations used); ``callback(used,
    iterations, handles)`` after every update."""
    state = None
    for state in iterate_points(param, features, handles, targets, iterations, lr, r1, r2, extra, what):
        if callback is not None and not state["done"]:
            callback(state["iteration"], int(iterations), state["handles"])
    return state["param"], state["handles"], state["history"], state["iteration"]


class ObjectTemplate:
    """FreeDrag's feature template (Ling, Chen, Zhang, Liu, Tang, Jiang 2023, "FreeDrag: Feature Dragging for
    Reliable Point-based Image Editing", arXiv:2307.04684) over the whole object: the source features F₀ at the
    object's pixels q are the template, and ``loss(feat, handles)`` pulls F(q + Δ + d) to F₀(q), with Δ the handles'
    mean tracked displacement and d the unit step towards the targets — every part of the object follows the
    handles, not only their neighbourhoods. Meant for drags that move an object (all handles by one vector)."""

    def __init__(self, source_features: torch.Tensor, object_mask: np.ndarray, handles: torch.Tensor,
                 targets: torch.Tensor, weight: float = 1.0, r1: int = 3):
        ys, xs = np.nonzero(np.asarray(object_mask, bool))
        self.points = torch.as_tensor(np.stack([xs, ys], 1), dtype=torch.float32)
        self.template = sample_at(source_features, self.points).detach()
        self.h0, self.targets = handles, targets
        self.weight = float(weight) * len(patch(handles[0], r1))  # on the motion term's scale (an L1 sum per patch)

    def loss(self, feat: torch.Tensor, handles: torch.Tensor) -> torch.Tensor:
        left = (self.targets - handles).mean(0)
        step = left / left.norm() if left.norm() >= 1 else torch.zeros(2)
        moved = self.points + (handles - self.h0).mean(0) + step
        return self.weight * F.l1_loss(sample_at(feat, moved), self.template)


def centroid_reduction(source_mask: np.ndarray, edited_mask: np.ndarray, handles: np.ndarray,
                       targets: np.ndarray) -> float:
    """1 − |c₁ − g| / |c₀ − g|: how much of the way the object's centroid went, with c₀ / c₁ the centroids of the
    source / edited masks and g = c₀ moved by the first handle's drag (NaN when the edit has no object)."""
    c0, c1 = centroid(source_mask), centroid(edited_mask)
    g = c0 + (np.asarray(targets[0]) - np.asarray(handles[0]))
    return float("nan") if c1 is None else float(1 - np.linalg.norm(c1 - g) / np.linalg.norm(c0 - g))


def drag_region(mask: np.ndarray, handles: np.ndarray, targets: np.ndarray, radius: int = 3) -> np.ndarray | None:
    """The region a drag may change: the object and its copy shifted by each drag, and discs around the points;
    None when that is the whole image."""
    from scipy import ndimage

    h, w = mask.shape
    region = np.zeros_like(mask, bool)
    yy, xx = np.mgrid[0:h, 0:w]
    for hp, tp in zip(handles, targets):
        dx, dy = int(round(tp[0] - hp[0])), int(round(tp[1] - hp[1]))
        region |= mask | ndimage.shift(mask.astype(np.uint8), (dy, dx), order=0, cval=0).astype(bool)
        for p in (hp, tp):
            region |= (xx - p[0]) ** 2 + (yy - p[1]) ** 2 <= radius ** 2
    region = ndimage.binary_dilation(region, iterations=2)
    return None if region.all() else region
