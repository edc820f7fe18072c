"""Diffusion Autoencoders on the tiny Stable Diffusion: a semantic code + the inverted noise, and attribute edits by
moving the code along a linear classifier's direction.

Preechakul, Chatthee, Wizadwongsa & Suwajanakorn 2022, "Diffusion Autoencoders: Toward a Meaningful and Decodable
Representation", arXiv:2111.15640. An image x is encoded twice: a *semantic* code z_sem = Enc(x) that conditions a
DDIM decoder, and a *stochastic* code x_T found by running that conditional DDIM backwards from x (what z_sem leaves
out: here mostly the layout — position, rotation, size of the object). Decoding (z_sem, x_T) with DDIM gives x back;
an attribute is changed by moving z_sem along the normal of a linear classifier trained in z_sem space (the paper's
CelebA-HQ attribute manipulation, §5.2) and decoding with the same x_T.

Departures, for a CPU budget and one shared model:
- The decoder is the tiny Stable Diffusion's UNet (latent space, v-prediction), **frozen**; the semantic encoder
  maps the image into the UNet's cross-attention input — 16 states of the text encoder's width — so z_sem speaks the
  language the UNet already reads (a per-image learned caption, as textual inversion learns one per concept: Gal et
  al. 2022, arXiv:2208.01618). The paper trains its decoder jointly; a frozen one keeps the family's one UNet and
  trains in minutes. The states start as the text states of a plain caption plus a zero-initialised projection of
  z_sem (ControlNet's zero-init, Zhang et al. 2023, arXiv:2302.05543), so training starts from the UNet as it is.
- Loss: the UNet's own training objective (v-prediction, min-SNR-5 weights), gradients reaching the encoder only,
  plus ``align`` x the squared distance between the semantic states and the text encoder's states of the item's
  caption. Without it (the paper's unsupervised form) 750 steps gave a code that a linear classifier reads the shape
  from 27 % of the time and colour swaps recognised 18 % of the time (docs/experiments/diffae-no-align-monitor.jsonl):
  through a frozen decoder the diffusion loss says little about the conditioning per step. With it the states start
  out speaking the caption's attributes and the diffusion loss adds what a caption does not say.
- Classifiers: multinomial logistic regression (``_logistic``, L-BFGS) on standardised z_sem of train items, one per
  attribute (shape, colour, fill, size, background). An edit from class a to class b moves z_sem along w_b - w_a until
  the classifier's logit margin of b over a is the source's margin of a over b (a mirror image; ``strength`` scales it).
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from huggingface_hub import PyTorchModelHubMixin

from ...data import shapes
from ...data.dataset import to_tensor
from ...limits import check_deadline
from ...loading import serial_load
from ..diffusion import tiny_sd
from .readouts import ATTRIBUTES, NAMES

WEIGHTS = tiny_sd.WEIGHTS / "edit-diffae"
BASE_CAPTION = "a medium red solid circle on a light background"  # where the semantic states start (zero-init)


def _down(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.GroupNorm(8, cout), nn.SiLU(),
                         nn.Conv2d(cout, cout, 4, 2, 1), nn.GroupNorm(8, cout), nn.SiLU())


class SemanticEncoder(nn.Module, PyTorchModelHubMixin):
    """32x32 RGB in [-1, 1] -> z_sem (``z_dim``) -> (``tokens``, ``text_dim``) cross-attention states. ``trunk``:
    "guide" reads the 4x4 feature map of a copy of the GAN family's guide network (a separately trained shapes
    net, frozen; never the scoring classifier) and trains an MLP on it; None: a small CNN of its own."""

    def __init__(self, z_dim: int = 64, tokens: int = 16, text_dim: int = tiny_sd.TEXT_DIM, width: int = 32,
                 trunk: str | None = None):
        super().__init__()
        self.z_dim, self.tokens, self.text_dim = z_dim, tokens, text_dim
        self.trunk = None
        if trunk == "guide":
            from ..gan.projected import GuideNet

            self.trunk = GuideNet().requires_grad_(False)
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(self.trunk.widths[-1] * 16, 256), nn.SiLU(),
                                     nn.Linear(256, z_dim))
        elif trunk is not None:
            raise ValueError(f"unknown trunk {trunk!r}; choose 'guide' or None")
        else:
            self.net = nn.Sequential(_down(3, width), _down(width, 2 * width), _down(2 * width, 4 * width),  # 32->4
                                     nn.Flatten(), nn.Linear(4 * width * 16, 256), nn.SiLU(), nn.Linear(256, z_dim))
        self.base = nn.Parameter(torch.zeros(tokens, text_dim))
        self.to_states = nn.Linear(z_dim, tokens * text_dim)
        nn.init.zeros_(self.to_states.weight)
        nn.init.zeros_(self.to_states.bias)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.trunk is not None:
            self.trunk.eval()  # frozen
        return self

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, 3, 32, 32) in [-1, 1] -> z_sem (N, z_dim)."""
        if self.trunk is not None:
            with torch.no_grad():
                x = self.trunk.features(x)[-1]
        return self.net(x)

    def states(self, z: torch.Tensor) -> torch.Tensor:
        """z_sem (N, z_dim) -> the UNet's encoder_hidden_states (N, tokens, text_dim)."""
        return self.base + self.to_states(z).view(len(z), self.tokens, self.text_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.states(self.encode(x))


# ---- the linear classifiers in z_sem space ---------------------------------------------------------------------

def _logistic(zs: torch.Tensor, y: torch.Tensor, classes: int, l2: float = 1e-3, iters: int = 200):
    """Multinomial logistic regression by L-BFGS (softmax cross-entropy + ``l2`` x ||W||^2): (W, b)."""
    W = torch.zeros(classes, zs.shape[1], requires_grad=True)
    b = torch.zeros(classes, requires_grad=True)
    opt = torch.optim.LBFGS([W, b], lr=1, max_iter=iters, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(zs @ W.T + b, y) + l2 * W.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return W.detach(), b.detach()


def fit_directions(z: np.ndarray, labels: np.ndarray) -> dict:
    """Standardise z_sem and fit one multinomial logistic regression per attribute (as the paper's linear
    classifiers). Returns a JSON-able dict: mean, std, and per attribute W (classes, z_dim), b (classes,) and the
    training accuracy. A class absent from ``labels`` gets a bias of -1e4: it is never predicted."""
    mean, std = z.mean(0), z.std(0) + 1e-6
    zs = torch.from_numpy((z - mean) / std).float()
    out = {"mean": mean.tolist(), "std": std.tolist(), "attributes": {}}
    with torch.enable_grad():
        for a in ATTRIBUTES:
            y = torch.from_numpy(labels[:, shapes.LABEL_COLUMNS.index(a)].astype(np.int64))
            k = len(NAMES[a])
            W, b = _logistic(zs, y, k)
            b[torch.bincount(y, minlength=k) == 0] = -1e4
            acc = float(((zs @ W.T + b).argmax(1) == y).float().mean())
            out["attributes"][a] = {"W": W.tolist(), "b": b.tolist(), "train_accuracy": acc}
    return out


def classify(directions: dict, z: torch.Tensor, attribute: str) -> torch.Tensor:
    """Logits (N, classes) of ``attribute``'s linear classifier on raw z_sem."""
    d = directions["attributes"][attribute]
    zs = (z - torch.tensor(directions["mean"])) / torch.tensor(directions["std"])
    return zs @ torch.tensor(d["W"], dtype=z.dtype).T + torch.tensor(d["b"], dtype=z.dtype)


def move(directions: dict, z: torch.Tensor, attribute: str, target: int, strength: float = 1.0,
         keep_others: bool = True) -> torch.Tensor:
    """z_sem moved along w_target - w_source (source: the classifier's reading of each row) until the target's logit
    margin over the source is ``strength`` x the source's margin over the target (at least 1 logit). With
    ``keep_others`` the direction is first projected orthogonal to every other attribute's classifier weights, so
    their logits do not move (conditional manipulation, Shen et al. 2020, InterFaceGAN, arXiv:2005.09635)."""
    d = directions["attributes"][attribute]
    std = torch.tensor(directions["std"], dtype=z.dtype)
    W = torch.tensor(d["W"], dtype=z.dtype)
    others = torch.cat([torch.tensor(directions["attributes"][a]["W"], dtype=z.dtype) for a in ATTRIBUTES
                        if a != attribute]) if keep_others else None
    logits = classify(directions, z, attribute)
    src = logits.argmax(1)
    out = z.clone()
    for i in range(len(z)):
        s = int(src[i])
        if s == target:
            continue
        grad = W[target] - W[s]  # d(margin)/d(standardised z)
        dirn = grad - others.T @ torch.linalg.lstsq(others.T, grad[:, None]).solution[:, 0] \
            if others is not None else grad
        margin = float(logits[i, target] - logits[i, s])  # < 0
        want = max(1.0, -margin) * float(strength)
        step = (want - margin) / float(grad @ dirn)
        out[i] = z[i] + step * dirn * std  # back to raw z_sem units
    return out


# ---- encode / decode -------------------------------------------------------------------------------------------

def depth_steps(steps: int, depth: float) -> int:
    """How many of ``steps`` DDIM steps are inverted and re-run at ``depth`` (1: all, x_T as in the paper)."""
    return max(1, min(int(steps), int(round(float(depth) * int(steps)))))


@torch.no_grad()
def encode(pipe, encoder: SemanticEncoder, images: np.ndarray, steps: int, depth: float = 1.0) -> dict:
    """uint8 images (N, H, W, 3) -> z_sem, its states and the stochastic code: the latents DDIM-inverted under those
    states for ``depth`` of the ``steps`` (1: x_T)."""
    from ..diffusion import lab
    from .inversion import invert

    z = encoder.encode(to_tensor(images))
    cond = encoder.states(z)
    z0 = lab.encode_images(pipe, images)
    k = depth_steps(steps, depth)
    return {"z_sem": z, "states": cond, "z0": z0, "x_T": invert(pipe, z0, cond, steps, upto=k)[-1], "k": k}


@torch.no_grad()
def decode(pipe, encoder: SemanticEncoder, z_sem: torch.Tensor, x_T: torch.Tensor, steps: int,
           depth: float = 1.0) -> torch.Tensor:
    """(z_sem, stochastic code) -> the clean latent by DDIM at guidance 1 (the decoder is conditional only), from the
    step ``depth`` of the way back."""
    from .inversion import denoise

    k = depth_steps(steps, depth)
    return denoise(pipe, x_T, encoder.states(z_sem), None, steps, 1.0, start=int(steps) - k)


def load(folder: str | Path | None = None) -> tuple[SemanticEncoder, dict]:
    """The semantic encoder (eval, frozen) and its linear classifiers (``directions.json``)."""
    folder = Path(folder or WEIGHTS)
    if not (folder / "config.json").exists():
        raise FileNotFoundError(f"no Diffusion Autoencoder in {folder}: run `python -m genmodels train diffae`")
    enc = SemanticEncoder.from_pretrained(str(folder)).eval().requires_grad_(False)
    return enc, json.loads((folder / "directions.json").read_text())


@lru_cache(maxsize=1)
@serial_load
def load_embedded() -> tuple[SemanticEncoder, dict]:
    return load(WEIGHTS)


# ---- held-out edits (the monitor, the evaluation) ------------------------------------------------------------

def edit_batch(pipe, encoder, directions, images: np.ndarray, labels: np.ndarray, steps: int,
               attribute: str = "colour", strength: float = 1.0, batch: int = 50,
               targets: np.ndarray | None = None, depth: float = 1.0) -> dict:
    """Reconstruct and edit a batch of test items: ``attribute`` moved to ``targets`` (default: each item's class + 3,
    the colour swap the Edit evaluation asks of every method). Returns uint8 reconstructions, edits, targets."""
    from .common import decode as decode_latents

    col = shapes.LABEL_COLUMNS.index(attribute)
    targets = (labels[:, col] + 3) % len(NAMES[attribute]) if targets is None else np.asarray(targets)
    recs, edits = [], []
    for i in range(0, len(images), batch):
        check_deadline("Diffusion Autoencoder edits")
        code = encode(pipe, encoder, images[i:i + batch], steps, depth)
        z = code["z_sem"]
        z_new = torch.cat([move(directions, z[j:j + 1], attribute, int(targets[i + j]), strength)
                           for j in range(len(z))])
        lat = torch.cat([decode(pipe, encoder, z, code["x_T"], steps, depth),
                         decode(pipe, encoder, z_new, code["x_T"], steps, depth)])
        r, e = np.split(decode_latents(pipe, lat), 2)
        recs.append(r)
        edits.append(e)
    return {"reconstructions": np.concatenate(recs), "edits": np.concatenate(edits), "targets": targets}


def edit_scores(images: np.ndarray, labels: np.ndarray, out: dict, attribute: str = "colour") -> dict:
    """New attribute recognised, the other attributes kept, object-mask IoU with the source, reconstruction PSNR."""
    from ...scoring.backbones import get_backbone
    from ...scoring.pixel import psnr
    from .readouts import mask_iou, object_mask

    pred = get_backbone("shapes").attribute_predictions(out["edits"])
    others = [a for a in ("shape", "colour", "fill", "background") if a != attribute]
    kept = np.all([pred[a] == labels[:, shapes.LABEL_COLUMNS.index(a)] for a in others], 0)
    return {"new_recognised": float((pred[attribute] == out["targets"]).mean()), "others_kept": float(kept.mean()),
            **{f"{a}_kept": float((pred[a] == labels[:, shapes.LABEL_COLUMNS.index(a)]).mean()) for a in others},
            "iou": float(np.mean([mask_iou(object_mask(a), object_mask(b)) for a, b in zip(images, out["edits"])])),
            "rec_psnr": float(np.mean([psnr(a[None], b[None]) for a, b in zip(images, out["reconstructions"])]))}
