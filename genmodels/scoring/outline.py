"""Outline reader: names the shape in each image from its object's outline alone — an independent check, no CNN.

Why: CNN classifiers can agree on textures a person would not name (FACTS.md); the outline cannot be fooled that
way. Steps, per image:

1. Segment without labels. Backgrounds are grey, objects saturated: a plane per channel fitted on the grey border
   pixels models the background; each pixel is unmixed by least squares as ``a * colour + b * background`` (colour =
   direction of the most chromatic pixels), and ``1 - b`` is its coverage, so both stripe tones (the colour and the
   colour times a shade) count as object. Coverage >= 0.5, holes filled; ``pieces`` counts the components of at
   least ``MIN_PIECE`` px, the largest one is the object (none if under ``MIN_OBJECT`` px or degenerate).
2. Describe the mask: solidity (area over the convex hull of the pixel squares; regionprops rasterises that hull
   and reads ~0.03 higher), extent, eccentricity, circularity 4 pi A / P^2 and Hu's first two invariants (-log10)
   from ``skimage.measure.regionprops`` (Hu 1962, "Visual pattern recognition by moment invariants", IRE
   Trans. Information Theory 8(2)); on the sub-pixel outline (0.5 iso-line of the coverage,
   ``skimage.measure.find_contours``): polygon solidity, rectangularity (area over the minimum-area bounding
   rectangle, searched in 1 degree steps) and the magnitudes of harmonics 1-6 of the centroid-distance signature
   over the DC term (rotation invariant; they count lobes: 3 triangle, 4 square / cross, 5 star, 1-3 heart). The
   holes that were filled (1 - Euler number of the unfilled object) are reported, not used for the class.
3. Classify by linear discriminant analysis: nearest class mean in Mahalanobis distance under one pooled
   covariance of the standardised descriptors, fitted on TRAIN items only by ``fit_outline_reader`` and stored in
   ``outline_reader.json`` (loaded on first use, never refitted implicitly).

Measured (``fit_outline_reader(n_train=3000)``, TEST items 0-1999):
``python -c "from genmodels.data.dataset import shapes_arrays as s; from genmodels.scoring.outline import
outline_accuracy as o; a = s('test', 2000); print(o(a['images'], a['labels']))"``
-> accuracy 1.000 (2000 / 2000), per class circle / square / triangle / star / cross / heart all 1.000 (339, 317,
353, 338, 336, 317 items), multi_piece 0.000, no_object 0.000 (FACTS.md expected ~98-99 %). Nearest-class distance:
median 2.9, 99th percentile 8.0, max 11.9 on those items. Robustness (150 test items + Gaussian pixel noise):
sigma 8 -> 96.7 % read, 8 % multi-piece (noise specks); sigma 16 -> 87.3 %, 30 %. Gaussian-blurred red discs read
as circles (60 / 60). Cost ~3 ms of CPU per image. Limits: one object per image is assumed; a grey or
unsaturated object is invisible to it (no object); colour noise adds pieces; extent depends on rotation.

Input (``as_outline_images``): uint8 (N, H, W, 3) or one (H, W, 3) image, or float (N, 3, H, W) in [-1, 1] (the
scoring module's convention; numpy or torch); anything else is refused with a ValueError / TypeError that says
what was given (a float image in [0, 1] or channels-last, greyscale, RGBA, NaN). Sizes from ``MIN_SIDE`` to
``MAX_SIDE`` px are read natively — the descriptors are scale-free; 120 test items rendered at 16 / 24 / 48 / 64 / 96
px read 98.3 / 100 / 100 / 100 / 100 % — with the pixel thresholds scaled by the image area over 32 x 32. An image
the reader cannot segment gets shape -1 and a ``reason`` ("no object found: ..."); ``read_outline`` (one image)
raises ``NoObjectFound`` with that reason instead.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from genmodels.data.shapes import SHAPES

__all__ = ["DESCRIPTORS", "SHAPES", "NoObjectFound", "as_outline_images", "coverage", "segment", "describe",
           "read_outline", "read_outlines", "outline_accuracy", "shape_labels", "fit_outline_reader"]

PARAMS_PATH = Path(__file__).with_name("outline_reader.json")
CHROMA_GREY = 25.0  # max - min over RGB below which a pixel is grey (the gradient's tint reaches ~18)
MIN_PIECE = 3  # px: coloured components smaller than this are specks, not pieces
MIN_OBJECT = 6  # px: a largest component smaller than this is no object
MIN_SIDE, MAX_SIDE = 16, 256  # px: image sides the reader accepts (measured from 16 to 96, see the docstring)
NO_OBJECT = "no object found"
N_FOURIER = 6
DESCRIPTORS = ("solidity", "extent", "eccentricity", "circularity", "hu1", "hu2", "poly_solidity",
               "rectangularity", *(f"fourier{k}" for k in range(1, N_FOURIER + 1)))


def coverage(image: np.ndarray) -> np.ndarray:
    """Object coverage in [0, 1] of each pixel of one (H, W, 3) image (step 1 of the module docstring)."""
    img = np.asarray(image, np.float64)
    h, w = img.shape[:2]
    flat, chroma = img.reshape(-1, 3), (img.max(-1) - img.min(-1)).ravel()
    if chroma.max() < CHROMA_GREY:
        return np.zeros((h, w))
    yy, xx = np.mgrid[0:h, 0:w]
    ring = np.zeros((h, w), bool)
    ring[[0, -1], :] = ring[:, [0, -1]] = True
    design = np.stack([np.ones(h * w), xx.ravel() / w, yy.ravel() / h], 1)
    grey = ring.ravel() & (chroma < CHROMA_GREY)
    if grey.sum() >= 8:
        bg = design @ np.linalg.lstsq(design[grey], flat[grey], rcond=None)[0]
    else:
        bg = np.broadcast_to(np.median(flat[ring.ravel()], 0), flat.shape)
    f = flat[chroma >= np.percentile(chroma, 98)].mean(0)
    f /= np.linalg.norm(f)
    fb, bb, pf, pb = bg @ f, (bg * bg).sum(1), flat @ f, (flat * bg).sum(1)
    beta = (pb - fb * pf) / np.maximum(bb - fb * fb, 1e-6)  # normal equations of p = a f + b bg, |f| = 1
    return np.clip(1.0 - beta, 0.0, 1.0).reshape(h, w)


class NoObjectFound(ValueError):
    """The outline reader could not segment an object in the image; the message says why."""


def as_outline_images(images) -> np.ndarray:
    """Images the reader accepts, as uint8 (N, H, W, 3); a ValueError / TypeError saying what is wrong otherwise.

    Accepted: uint8 (N, H, W, 3) or (H, W, 3); integer arrays of that shape with values in [0, 255]; float
    (N, 3, H, W) or (3, H, W) in [-1, 1] (the scoring module's convention), numpy or torch. Sides of ``MIN_SIDE`` ..
    ``MAX_SIDE`` px."""
    if type(images).__module__.startswith("torch"):
        images = images.detach().cpu().numpy()
    if not isinstance(images, np.ndarray):
        raise TypeError(f"images must be a numpy array or torch tensor, got {type(images).__name__}")
    a = images
    if a.ndim < 2:
        raise ValueError(f"images must be uint8 (N, H, W, 3) or float (N, 3, H, W), got shape {a.shape}")
    if a.dtype == bool or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise TypeError(f"images must be uint8 (N, H, W, 3) or float (N, 3, H, W) in [-1, 1], got dtype {a.dtype}")
    if np.issubdtype(a.dtype, np.floating):
        a = a[None] if a.ndim == 3 else a
        if a.ndim != 4 or a.shape[1] != 3:
            hint = " (channels-last: pass uint8 (N, H, W, 3) instead)" if a.ndim == 4 and a.shape[-1] == 3 else ""
            raise ValueError(f"float images must be (N, 3, H, W) in [-1, 1], got shape {tuple(images.shape)}{hint}")
        if not np.isfinite(a).all():
            raise ValueError("images contain NaN or Inf")
        if a.size and (a.min() < -1.001 or a.max() > 1.001):
            raise ValueError(f"float images must be in [-1, 1], got values in [{a.min():.4g}, {a.max():.4g}] "
                             "(uint8 images: pass them as uint8)")
        a = np.rint((np.clip(a, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8).transpose(0, 2, 3, 1)
    else:
        if a.ndim == 3 and a.shape[-1] == 3:
            a = a[None]
        if a.ndim != 4 or a.shape[-1] != 3:
            hint = ""
            if a.shape[-1] == 4:
                hint = " (RGBA: composite the images on their background first)"
            elif a.ndim in (2, 3) or a.shape[-1] == 1:
                hint = " (greyscale? the reader finds coloured objects on grey backgrounds: pass RGB)"
            raise ValueError(f"uint8 images must be RGB (N, H, W, 3) or (H, W, 3), got shape {tuple(a.shape)}{hint}")
        if a.dtype != np.uint8:
            if a.size and (a.min() < 0 or a.max() > 255):
                raise ValueError(f"integer images must hold values in [0, 255], got [{a.min()}, {a.max()}]")
            a = a.astype(np.uint8)
    h, w = a.shape[1:3]
    if min(h, w) < MIN_SIDE or max(h, w) > MAX_SIDE:
        raise ValueError(f"the outline reader reads images of {MIN_SIDE} to {MAX_SIDE} px a side, got {h}x{w}"
                         + (" (resize it down first)" if max(h, w) > MAX_SIDE else " (too small to have an outline)"))
    return a


def _thresholds(shape: tuple[int, ...]) -> tuple[int, int]:
    """(MIN_PIECE, MIN_OBJECT) in px for an image of ``shape``: the 32 x 32 values, scaled up by area above it."""
    scale = max(1.0, shape[0] * shape[1] / 1024.0)
    return int(round(MIN_PIECE * scale)), int(round(MIN_OBJECT * scale))


def _segment(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, int, str]:
    """``segment`` plus the reason when no object is found ('' otherwise)."""
    min_piece, min_object = _thresholds(np.shape(image))
    cov = coverage(image)
    raw = cov >= 0.5
    labels, n = ndi.label(ndi.binary_fill_holes(raw))
    if n == 0:
        img = np.asarray(image, np.float64)
        why = ("no saturated pixel (a grey, black or white image)" if (img.max(-1) - img.min(-1)).max() < CHROMA_GREY
               else "no pixel is mostly object colour")
        return cov, np.zeros_like(raw), 0, 0, f"{NO_OBJECT}: {why}"
    sizes = ndi.sum(np.ones_like(raw), labels, range(1, n + 1))
    mask = labels == 1 + int(np.argmax(sizes))
    if mask.sum() < min_object:
        return (cov, np.zeros_like(raw), int((sizes >= min_piece).sum()), 0,
                f"{NO_OBJECT}: the largest coloured area has {int(mask.sum())} px (fewer than {min_object})")
    return cov, mask, int((sizes >= min_piece).sum()), int(ndi.label(mask & ~raw)[1]), ""


def segment(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(coverage, object mask, pieces, holes) of one uint8 (H, W, 3) image; the mask is empty when no object is
    found (``read_outlines`` says why)."""
    return _segment(image)[:4]


def _outline(cov: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Sub-pixel outline (K, 2) of the object: the 0.5 iso-line of its coverage, other pieces removed."""
    from skimage.measure import find_contours

    near = ndi.binary_dilation(mask)
    soft = np.where(near & ~(~mask & (cov >= 0.5)), cov, 0.0)
    soft[mask & (cov < 0.5)] = 1.0  # filled holes count as inside
    return max(find_contours(np.pad(soft, 1), 0.5), key=len) - 1.0


def describe(cov: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The ``DESCRIPTORS`` of one non-empty object mask and its coverage map."""
    from scipy.spatial import ConvexHull
    from skimage.measure import regionprops

    p = regionprops(mask.astype(np.uint8))[0]
    ys, xs = np.nonzero(mask)  # pixel solidity: area over the hull of the pixel squares' corners
    corners = np.concatenate([np.stack([ys + dy, xs + dx], 1) for dy in (-0.5, 0.5) for dx in (-0.5, 0.5)])
    solidity = p.area / ConvexHull(corners).volume
    hu = -np.log10(np.abs(p.moments_hu[:2]) + 1e-12)
    poly = _outline(cov, mask)
    x, y = poly[:, 1], poly[:, 0]
    area = 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
    hull = ConvexHull(poly)
    t = np.deg2rad(np.arange(0.0, 90.0, 1.0))
    u = poly[hull.vertices] @ np.stack([np.cos(t), np.sin(t)])
    v = poly[hull.vertices] @ np.stack([-np.sin(t), np.cos(t)])
    rectangularity = area / float((np.ptp(u, 0) * np.ptp(v, 0)).min())
    closed = np.vstack([poly, poly[:1]])
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(closed, axis=0), axis=1))])
    t = np.linspace(0.0, s[-1], 64, endpoint=False)  # centroid distance at 64 even steps along the outline
    pts = np.stack([np.interp(t, s, closed[:, 0]), np.interp(t, s, closed[:, 1])], 1)
    spec = np.abs(np.fft.rfft(np.linalg.norm(pts - pts.mean(0), axis=1)))
    return np.array([solidity, p.extent, p.eccentricity, 4 * np.pi * p.area / max(p.perimeter, 1.0) ** 2, *hu,
                     area / hull.volume, rectangularity, *(spec[1:N_FOURIER + 1] / spec[0])])


def _measure(images) -> dict:
    a = as_outline_images(images)
    out = {"pieces": np.zeros(len(a), np.int64), "holes": np.zeros(len(a), np.int64),
           "mask_area": np.zeros(len(a), np.int64), "descriptor": np.full((len(a), len(DESCRIPTORS)), np.nan),
           "reason": np.full(len(a), "", dtype=object)}
    for i, im in enumerate(a):
        cov, mask, out["pieces"][i], out["holes"][i], out["reason"][i] = _segment(im)
        if mask.any():
            try:
                out["descriptor"][i] = describe(cov, mask)
                out["mask_area"][i] = mask.sum()
            except (ValueError, RuntimeError):  # degenerate outline: no contour / flat hull (QhullError) -> no object
                out["reason"][i] = f"{NO_OBJECT}: the object's outline is degenerate (a line or a point)"
    return out


@lru_cache(maxsize=4)
def _params(path: str) -> dict:
    p = json.loads(Path(path).read_text())
    return {k: np.asarray(v) if isinstance(v, list) else v for k, v in p.items()}


def read_outlines(images, params_path: str | Path = PARAMS_PATH) -> dict:
    """Read images (see ``as_outline_images``; bad input raises). Per image: ``shape`` (index into ``SHAPES``, -1
    when no object), ``reason`` ('' when read, else "no object found: <why>"), ``pieces``, ``holes``, ``mask_area``
    (px), ``descriptor`` (N, len(DESCRIPTORS); NaN without object) and ``distance`` (Mahalanobis distance to the
    nearest class mean; real test items: median 2.9, max 11.9 — far above that, the object is unlike every class
    even if ``shape`` names one)."""
    out = _measure(images)
    p = _params(str(params_path))
    z = (out["descriptor"] - p["mean"]) / p["scale"]
    d = z[:, None, :] - p["class_means"][None]
    d2 = np.einsum("nkd,de,nke->nk", d, p["precision"], d)
    ok = ~np.isnan(d2).any(1)
    out["shape"] = np.where(ok, np.argmin(np.nan_to_num(d2, nan=np.inf), 1), -1)
    out["distance"] = np.where(ok, np.sqrt(np.nan_to_num(d2, nan=np.inf).min(1)), np.nan)
    return out


def read_outline(image, params_path: str | Path = PARAMS_PATH) -> dict:
    """One image's reading — ``shape`` (its name), ``index``, ``pieces``, ``holes``, ``mask_area``, ``distance`` — or
    ``NoObjectFound`` with the reason when the reader cannot segment an object in it."""
    a = as_outline_images(image)
    if len(a) != 1:
        raise ValueError(f"read_outline reads one image, got {len(a)}: use read_outlines")
    r = read_outlines(a, params_path)
    if r["shape"][0] < 0:
        raise NoObjectFound(r["reason"][0])
    return {"shape": SHAPES[int(r["shape"][0])], "index": int(r["shape"][0]), "pieces": int(r["pieces"][0]),
            "holes": int(r["holes"][0]), "mask_area": int(r["mask_area"][0]), "distance": float(r["distance"][0])}


def shape_labels(labels, n: int) -> np.ndarray:
    """(n,) shape indices from ``labels``: (n,) indices or (n, 5) rows in ``LABEL_COLUMNS`` order (numpy or torch);
    a ValueError when their number or range does not fit."""
    if type(labels).__module__.startswith("torch"):
        labels = labels.detach().cpu().numpy()
    y = np.asarray(labels)
    y = y[:, 0] if y.ndim == 2 else y
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"need one shape label per image: {n} images, labels of shape {np.shape(labels)}")
    if not np.issubdtype(y.dtype, np.integer) or (n and (y.min() < 0 or y.max() >= len(SHAPES))):
        raise ValueError(f"shape labels must be integers in [0, {len(SHAPES)}) (indices into SHAPES)")
    return y.astype(np.int64)


def outline_accuracy(images, labels, params_path: str | Path = PARAMS_PATH) -> dict:
    """Shares of images whose outline reads as the label's shape (``labels``: (N,) shape indices or (N, 5) rows in
    ``LABEL_COLUMNS`` order), that fall into more than one piece, and with no object (counted as not read); plus
    per-class accuracy."""
    r = read_outlines(images, params_path)
    if len(r["shape"]) == 0:
        raise ValueError("no images to read")
    y = shape_labels(labels, len(r["shape"]))
    hit = r["shape"] == y
    return {"accuracy": float(hit.mean()), "multi_piece": float((r["pieces"] > 1).mean()),
            "no_object": float((r["shape"] < 0).mean()), "n": int(len(y)),
            "per_class": {SHAPES[k]: float(hit[y == k].mean()) for k in range(len(SHAPES)) if (y == k).any()}}


def _fit(descriptors: np.ndarray, shapes: np.ndarray, ridge: float = 1e-3) -> dict:
    """LDA parameters from TRAIN descriptors (rows with NaN dropped)."""
    ok = ~np.isnan(descriptors).any(1)
    x, y = descriptors[ok], np.asarray(shapes)[ok]
    mean, scale = x.mean(0), x.std(0) + 1e-9
    z = (x - mean) / scale
    class_means = np.stack([z[y == k].mean(0) for k in range(len(SHAPES))])
    r = z - class_means[y]
    precision = np.linalg.inv(r.T @ r / len(r) + ridge * np.eye(z.shape[1]))
    return {"model": "LDA: nearest class mean, pooled covariance, standardised descriptors",
            "descriptors": list(DESCRIPTORS), "shapes": list(SHAPES), "n_train": int(len(y)), "split": "train",
            "mean": mean.tolist(), "scale": scale.tolist(), "class_means": class_means.tolist(),
            "precision": precision.tolist()}


def fit_outline_reader(n_train: int = 3000, path: str | Path | None = PARAMS_PATH) -> dict:
    """Fit the reader on TRAIN items 0 .. n_train-1 and write the JSON to ``path`` (None: do not write)."""
    from genmodels.data.dataset import shapes_arrays

    a = shapes_arrays("train", n_train)
    params = _fit(_measure(a["images"])["descriptor"], a["labels"][:, 0])
    if path is not None:
        Path(path).write_text(json.dumps(params, indent=1) + "\n")
        _params.cache_clear()
    return params
