"""Readouts: a metric's value with its interval, N, backbone and better-direction — what every tab shows.

Set metrics (``score_sets``): FID (Heusel et al. 2017, arXiv:1706.08500), KID (Bińkowski et al. 2018,
arXiv:1801.01401), IS (Salimans et al. 2016, arXiv:1606.03498), precision / recall (Kynkäänniemi et al. 2019,
arXiv:1904.06991). Pair metrics (``score_pairs``): SSIM, PSNR, LPIPS, PD, style distance. ``score_clip``: CLIP
score. Intervals are 95 % percentile bootstraps; what was resampled is stated in ``interval_kind``:

- FID / KID / IS: the generated set's rows, the reference fixed (FID's bootstrap is biased upward at small N —
  the interval can sit above the point value; compare FIDs only at equal N).
- precision / recall: the per-sample indicators (inside the other set's k-NN manifold), manifolds fixed.
- pair / CLIP metrics: the per-pair values.

Shape readings (``read_shapes`` / ``shape_readouts``): the shape of each image read twice — by the scoring classifier
(a CNN) and from the object's outline alone (``outline.py``, no CNN: 100 % on the 2,000 real test items) — with the
share of objects in pieces and of images with no object. Classifiers agree on textures a person would not name; the
outline does not (ReFL-style splats: the classifier reads the asked shape on 19 of 24, the outline on 6; see
tests/reference/test_ref_shape_reading.py). Every tab, card and the leaderboard reports the two side by side.
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field

import numpy as np

from .backbones import as_float_images, file_hash, get_backbone, resolve_backbone
from .bootstrap import bootstrap_interval, mean_interval
from .fid import fid_from_features
from .inception_score import inception_score_from_probs
from .kid import kid_from_features
from .precision_recall import precision_recall_masks
from .reference import reference_stats

SET_METRICS = ("fid", "kid", "is", "precision", "recall")
LEVEL = 0.95


@dataclass
class Readout:
    metric: str
    value: float
    backbone: str
    n: int
    higher_is_better: bool | None
    interval: tuple[float, float] | None = None
    interval_kind: str = ""
    n_ref: int | None = None
    level: float = LEVEL
    warning: str = ""
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["interval"] = list(self.interval) if self.interval else None
        return d

    def __str__(self) -> str:
        ci = f" [{self.interval[0]:.4g}, {self.interval[1]:.4g}]" if self.interval else ""
        arrow = {True: " ↑", False: " ↓", None: ""}[self.higher_is_better]
        n = f"N={self.n}" + (f" vs {self.n_ref}" if self.n_ref else "")
        warn = f"  ⚠ {self.warning}" if self.warning else ""
        return f"{self.metric}{arrow} {self.value:.4g}{ci} ({self.backbone}, {n}){warn}"


def _check_set(x, what: str):
    if isinstance(x, str):
        return x
    x = as_float_images(x)
    if len(x) < 2:
        raise ValueError(f"the {what} set needs at least 2 images, got {len(x)}")
    return x


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def score_sets(generated, reference="shapes-test", metrics=SET_METRICS, backbone: str = "shapes",
               n_boot: int = 50, k: int = 3, seed: int = 0) -> list[Readout]:
    """Set-vs-set readouts of ``generated`` against ``reference`` (images, or "shapes-test" for the cached test
    split). Images: uint8 (N, H, W, 3) or float (N, 3, H, W) in [-1, 1]."""
    unknown = [m for m in metrics if m not in SET_METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(SET_METRICS)}")
    gen = _check_set(generated, "generated")
    bb, note = resolve_backbone(backbone)
    g_feat = bb.features(gen)
    if not np.isfinite(g_feat).all():
        raise ValueError("the backbone's features of the generated set contain NaN or Inf")
    if isinstance(reference, str):
        if reference != "shapes-test":
            raise ValueError(f"unknown reference {reference!r}: pass images or 'shapes-test'")
        ref = reference_stats(bb)
        r_feat, r_probs = ref["features"], ref["probs"]
    else:
        r_img = _check_set(reference, "reference")
        r_feat, r_probs = bb.features(r_img), None
    n, n_ref = len(g_feat), len(r_feat)
    out: list[Readout] = []
    boot = f"95 % bootstrap over the generated set ({n_boot} resamples)"

    def add(metric, value, hib, interval=None, kind="", warning="", n_ref_=n_ref, **extra):
        out.append(Readout(metric, float(value), bb.name, n, hib, interval, kind, n_ref_,
                           warning=_join(note, warning), extra=extra))

    if "fid" in metrics:
        warn = ""
        if min(n, n_ref) < g_feat.shape[1]:
            warn = (f"small N: N < feature dim {g_feat.shape[1]}, the covariance is singular and FID is biased high; "
                    "compare FIDs only at equal N")
        elif min(n, n_ref) < 2000:
            warn = "FID is biased upward at small N: compare FIDs only at equal N"
        add("FID", fid_from_features(g_feat, r_feat), False,
            bootstrap_interval(lambda g: fid_from_features(g, r_feat), g_feat, n_boot=n_boot, seed=seed), boot, warn)
    if "kid" in metrics:
        subset = min(1000, n, n_ref)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mean, std = kid_from_features(g_feat, r_feat, subset_size=subset, n_subsets=100, seed=seed)
            ci = bootstrap_interval(lambda g: kid_from_features(g, r_feat, subset_size=subset, n_subsets=5,
                                                                seed=seed)[0], g_feat, n_boot=n_boot, seed=seed)
        add("KID", mean, False, ci, boot, f"subsets of {subset} < 1000" if subset < 1000 else "", std=std)
    if "is" in metrics:
        probs = bb.class_probs(gen)
        splits = 10 if n >= 1000 else 1
        value, std = inception_score_from_probs(probs, splits=splits)
        ci = bootstrap_interval(lambda p: inception_score_from_probs(p)[0], probs, n_boot=n_boot, seed=seed)
        warn = "IS from fewer than 500 samples is noisy" if n < 500 else ""
        if r_probs is not None:
            add("IS", value, True, ci, boot, warn, n_ref_=None, std=std, splits=splits,
                real_data_is=inception_score_from_probs(r_probs, splits=10)[0])
        else:
            add("IS", value, True, ci, boot, warn, n_ref_=None, std=std, splits=splits)
    if "precision" in metrics or "recall" in metrics:
        if min(n, n_ref) <= k:
            raise ValueError(f"precision/recall need more than k={k} images in each set")
        p_mask, r_mask = precision_recall_masks(r_feat, g_feat, k=k)
        warn = f"precision/recall with N < 500 and k={k} are unreliable" if min(n, n_ref) < 500 else ""
        kind = "95 % bootstrap of the per-sample indicators (manifolds fixed)"
        if "precision" in metrics:
            add("precision", p_mask.mean(), True, mean_interval(p_mask.astype(float), n_boot=500, seed=seed), kind,
                warn, k=k)
        if "recall" in metrics:
            add("recall", r_mask.mean(), True, mean_interval(r_mask.astype(float), n_boot=500, seed=seed), kind,
                warn, k=k)
    return out


SHAPE_CLASSIFIER = "requested shape recognised"
SHAPE_OUTLINE = "shape by outline"
SHAPE_OUTLINE_UNCONDITIONAL = "shape by outline = classifier's reading"
IN_PIECES = "objects in pieces"
NO_OBJECT = "no object found"
# Directions of named readouts, for tables whose rows carry values only (model cards' metrics.json).
DIRECTIONS = {"FID": False, "KID": False, "IS": True, "precision": True, "recall": True, "confident shape": True,
              SHAPE_CLASSIFIER: True, "shape recognised": True, SHAPE_OUTLINE: True, IN_PIECES: False,
              NO_OBJECT: False}


def known_direction(metric: str) -> bool | None:
    """Whether a higher value of the readout named ``metric`` is better (True / False), None when not known. A name
    that continues a known one with " (", " =" or "," (e.g. "requested shape recognised (N = 2000)") counts as it."""
    for name in sorted(DIRECTIONS, key=len, reverse=True):
        if metric == name or any(metric.startswith(name + sep) for sep in (" (", ",", " =")):
            return DIRECTIONS[name]
    return None


@dataclass
class ShapeReading:
    """Each image's shape read by the scoring classifier and by the outline reader (-1: no object found, ``reasons``
    says why), and the outline's piece count. ``requested``: the shapes asked for, None for unconditional images —
    the outline is then compared with the classifier's reading."""

    classifier: np.ndarray
    outline: np.ndarray
    pieces: np.ndarray
    reasons: np.ndarray
    requested: np.ndarray | None
    backbone: str
    reader: str

    @property
    def n(self) -> int:
        return len(self.outline)

    @property
    def classifier_hits(self) -> np.ndarray | None:
        return None if self.requested is None else self.classifier == self.requested

    @property
    def outline_hits(self) -> np.ndarray:
        """Outline names the asked shape (the classifier's reading when nothing was asked); no object = not read."""
        return self.outline == (self.classifier if self.requested is None else self.requested)

    @property
    def in_pieces(self) -> np.ndarray:
        return self.pieces > 1

    @property
    def no_object(self) -> np.ndarray:
        return self.outline < 0

    def summary(self) -> dict:
        """classifier accuracy (None when nothing was asked), outline accuracy, pieces and no-object fractions."""
        hits = self.classifier_hits
        return {"n": self.n, "classifier": None if hits is None else float(hits.mean()),
                "outline": float(self.outline_hits.mean()), "pieces": float(self.in_pieces.mean()),
                "no_object": float(self.no_object.mean()), "no_object_count": int(self.no_object.sum())}

    def as_dict(self, digits: int | None = 4, classifier: bool = True) -> dict:
        """Named values for a model card / metrics.json: ``SHAPE_CLASSIFIER`` (conditional, unless ``classifier`` is
        False), ``SHAPE_OUTLINE`` (``SHAPE_OUTLINE_UNCONDITIONAL`` when nothing was asked), ``IN_PIECES``,
        ``NO_OBJECT`` — all shares of the N images."""
        s = self.summary()
        r = (lambda v: round(v, digits)) if digits is not None else float
        out = {SHAPE_CLASSIFIER: r(s["classifier"])} if classifier and s["classifier"] is not None else {}
        out[SHAPE_OUTLINE if self.requested is not None else SHAPE_OUTLINE_UNCONDITIONAL] = r(s["outline"])
        out[IN_PIECES], out[NO_OBJECT] = r(s["pieces"]), r(s["no_object"])
        return out

    def readouts(self, seed: int = 0, classifier: bool = True) -> list[Readout]:
        """The same as ``Readout``s with 95 % bootstrap intervals over images (no object found: counted as not read,
        and said in the outline readout's warning)."""
        kind = "95 % bootstrap over images"
        k = int(self.no_object.sum())
        none = f"{k} of {self.n} images: no object found (counted as not read)" if k else ""

        def one(metric, values, backbone, hib, warning=""):
            v = values.astype(float)
            ci = mean_interval(v, n_boot=500, seed=seed) if len(v) > 1 else None
            return Readout(metric, float(v.mean()), backbone, len(v), hib, ci, kind if ci else "", warning=warning)

        out = []
        if classifier and self.requested is not None:
            out.append(one(SHAPE_CLASSIFIER, self.classifier_hits, self.backbone, True))
        name = SHAPE_OUTLINE if self.requested is not None else SHAPE_OUTLINE_UNCONDITIONAL
        out += [one(name, self.outline_hits, self.reader, True, none),
                one(IN_PIECES, self.in_pieces, self.reader, False),
                one(NO_OBJECT, self.no_object, self.reader, False, none)]
        return out


def read_shapes(images, requested=None) -> ShapeReading:
    """Read the shape of every image with the scoring classifier and with the outline reader.

    ``images``: uint8 (N, H, W, 3) or float (N, 3, H, W) in [-1, 1] (numpy or torch; bad input raises a ValueError
    that says why); ``requested``: (N,) shape indices or (N, 5) label rows (``shapes.LABEL_COLUMNS`` order), or
    None for unconditional images."""
    from .outline import PARAMS_PATH, as_outline_images, read_outlines, shape_labels

    imgs = as_outline_images(images)
    if len(imgs) == 0:
        raise ValueError("no images to read")
    y = None if requested is None else shape_labels(requested, len(imgs))
    bb = get_backbone("shapes")
    o = read_outlines(imgs)
    return ShapeReading(classifier=bb.attribute_predictions(imgs)["shape"].astype(np.int64), outline=o["shape"],
                        pieces=o["pieces"], reasons=o["reason"], requested=y, backbone=bb.name,
                        reader=f"outline reader@{file_hash([PARAMS_PATH])} (no CNN)")


def shape_readouts(images, requested=None, seed: int = 0, classifier: bool = True) -> list[Readout]:
    """``read_shapes(images, requested).readouts(seed, classifier)``: the classifier's shape reading beside the
    outline's, objects in pieces and images with no object, each with a 95 % bootstrap interval."""
    return read_shapes(images, requested).readouts(seed, classifier)


def per_pair_readout(metric: str, values: np.ndarray, backbone: str, higher_is_better: bool | None,
                     warning: str = "", seed: int = 0) -> Readout:
    """Mean of per-pair values with a bootstrap interval when there is more than one pair."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    value = float(values.mean()) if len(finite) == len(values) else float(np.mean(values))
    ci = mean_interval(values, n_boot=500, seed=seed) if len(values) > 1 and len(finite) == len(values) else None
    return Readout(metric, value, backbone, len(values), higher_is_better, ci,
                   "95 % bootstrap over pairs" if ci else "", warning=warning)


def _uint8_nhwc(x) -> np.ndarray:
    return as_float_images(x).clamp(-1, 1).add(1).mul(127.5).round().byte().permute(0, 2, 3, 1).numpy()


def score_pairs(a, b, backbone: str = "shapes", lpips_net: str | None = "alex", seed: int = 0) -> list[Readout]:
    """Pair readouts of aligned image sets a[i] <-> b[i]: SSIM, PSNR, LPIPS (when its trunk is available), PD and
    style distance (on ``backbone``). Images as in ``score_sets``; both sets must have the same shape."""
    from .perceptual import LPIPSUnavailable, lpips, perceptual_distance, style_distance
    from .pixel import psnr, ssim

    ua, ub = _uint8_nhwc(a), _uint8_nhwc(b)
    if ua.shape != ub.shape:
        raise ValueError(f"the two images (sets) differ in size: {ua.shape[1:3]} vs {ub.shape[1:3]}")
    if min(ua.shape[1:3]) < 7:
        raise ValueError(f"images must be at least 7×7 pixels for SSIM's 11×11 window, got {ua.shape[1:3]}")
    out = [per_pair_readout("SSIM", np.array([ssim(x, y) for x, y in zip(ua, ub)]), "pixels (σ=1.5, 11×11)", True,
                            seed=seed)]
    p = np.array([psnr(x, y) for x, y in zip(ua, ub)])
    out.append(per_pair_readout("PSNR (dB)", p, "pixels (data range 255)", True,
                                "identical images: PSNR is infinite" if np.isinf(p).any() else "", seed=seed))
    if lpips_net:
        try:
            out.append(per_pair_readout(f"LPIPS", lpips(ua, ub, lpips_net), f"lpips-{lpips_net} v0.1", False,
                                        seed=seed))
        except LPIPSUnavailable as e:
            out.append(Readout("LPIPS", float("nan"), f"lpips-{lpips_net}", len(ua), False,
                               warning=f"{e}; see PD for a perceptual distance on the shapes backbone"))
    bb, note = resolve_backbone(backbone)
    out.append(per_pair_readout("PD", perceptual_distance(ua, ub, bb.key), bb.name, False, note, seed=seed))
    out.append(per_pair_readout("style distance", style_distance(ua, ub, bb.key), bb.name, False, note, seed=seed))
    return out


def score_clip(images, texts: list[str], model: str = "shapes", seed: int = 0) -> Readout:
    """CLIP score readout: mean over pairs of 100 · max(cos(image, text), 0)."""
    from .clip_models import resolve_clip

    if isinstance(texts, str):
        texts = [texts]
    if not texts or any(not isinstance(t, str) or not t.strip() for t in texts):
        raise ValueError("every image needs a non-empty text")
    enc, note = resolve_clip(model)
    return per_pair_readout("CLIP score", enc.score(images, list(texts)), enc.name, True, note, seed=seed)
