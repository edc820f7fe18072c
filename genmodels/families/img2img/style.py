"""Neural style transfer by optimisation (Gatys, Ecker, Bethge 2016, "Image Style Transfer Using Convolutional
Neural Networks", CVPR; arXiv:1508.06576): an image is optimised so that its deep features match those of a content
image at one layer and its Gram matrices match those of a style image at several layers.

Feature networks:
- **VGG-19** (Simonyan & Zisserman 2014, arXiv:1409.1556) when torchvision's ImageNet weights are in the torch hub
  cache: style at conv1_1 … conv5_1, content at conv4_2, as in the paper (max pooling kept; the paper's average
  pooling is a small change we leave out).
- Offline, a **fixed random multi-scale network**: Ustyuzhaninov, Brendel, Gatys, Bethge 2017, "What does it take to
  generate natural textures?", ICLR (arXiv:1606.00021) showed that Gram matrices of random, untrained filters of
  several sizes synthesise textures well. Here: four stages, each a bank of 3×3, 5×5 and 9×9 random filters
  (seeded, fixed, He-scaled) + ReLU, average pooling between stages; style on every stage, content on stage 3.

The Gram matrices and the style distance are the scoring module's (``scoring.style``). The optimiser is L-BFGS,
as in the paper; the image starts from the content image. Added to the paper's loss: a total-variation smoothness
term (Mahendran & Vedaldi 2015, arXiv:1412.0035; as in Johnson et al. 2016), which the random network needs — its
untrained filters leave high-frequency colour noise otherwise. ``transfer`` is a generator that yields intermediate
images, so a UI can stream them.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ...checkpoints import load_state_dict
from ...loading import serial_load
from ...limits import check_deadline
from ...scoring.style import gram_matrix

VGG19_FILE = "vgg19-dcbb9e9d.pth"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class RandomMultiScaleNet(nn.Module):
    """Fixed random filters (no training, no download); (N, 3, H, W) in [0, 1] -> list of 4 feature maps."""

    name = "random multi-scale conv net (Ustyuzhaninov et al. 2017), fixed seed, offline"

    def __init__(self, widths=(48, 96, 128, 128), kernels=(3, 5, 9), seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.stages = nn.ModuleList()
        cin = 3
        for w in widths:
            bank = nn.ModuleList()
            per = w // len(kernels)
            for k in kernels:
                conv = nn.Conv2d(cin, per, k, padding=k // 2, padding_mode="replicate")
                with torch.no_grad():
                    conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * math.sqrt(2.0 / (cin * k * k)))
                    conv.bias.zero_()
                bank.append(conv)
            self.stages.append(bank)
            cin = per * len(kernels)
        self.requires_grad_(False).eval()
        self.style_layers, self.content_layer = (0, 1, 2, 3), 2

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = (x - 0.5) / 0.25
        out = []
        for i, bank in enumerate(self.stages):
            if i:
                h = F.avg_pool2d(h, 2)
            h = F.relu(torch.cat([c(h) for c in bank], 1))
            out.append(h)
        return out


class VGG19Features(nn.Module):
    """torchvision VGG-19 features; returns conv1_1, conv2_1, conv3_1, conv4_1, conv4_2, conv5_1 (after ReLU)."""

    name = "VGG-19 (ImageNet weights from the torch hub cache)"
    TAPS = (1, 6, 11, 20, 22, 29)  # relu indices in torchvision's vgg19().features

    def __init__(self, weights_file: Path):
        super().__init__()
        from torchvision.models import vgg19

        net = vgg19()
        sd = load_state_dict(weights_file)
        net.load_state_dict(sd)
        self.body = net.features[: self.TAPS[-1] + 1].requires_grad_(False).eval()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN)[:, None, None])
        self.register_buffer("std", torch.tensor(IMAGENET_STD)[:, None, None])
        self.style_layers, self.content_layer = (0, 1, 2, 3, 5), 4

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = (x - self.mean) / self.std
        out = []
        for i, layer in enumerate(self.body):
            h = layer(h)
            if i in self.TAPS:
                out.append(h)
        return out


def vgg19_weights() -> Path | None:
    p = Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE
    return p if p.is_file() else None


@serial_load  # built per request: not beside another thread's from_pretrained (loading.py)
def feature_net(prefer: str = "auto") -> nn.Module:
    """``auto``: VGG-19 when its weights are cached, else the random network; ``vgg19`` / ``random`` force one
    (``vgg19`` without cached weights raises a ValueError that says where the file is expected)."""
    if prefer not in ("auto", "vgg19", "random"):
        raise ValueError(f"feature network must be auto, vgg19 or random, got {prefer!r}")
    w = vgg19_weights()
    if prefer == "vgg19" and w is None:
        raise ValueError(f"VGG-19 weights are not cached on this server (torch hub cache, {VGG19_FILE}) and it cannot "
                         "download them — choose the random multi-scale network")
    if prefer != "random" and w is not None:
        return VGG19Features(w)
    return RandomMultiScaleNet()


@dataclass
class StyleStep:
    iteration: int
    image: np.ndarray  # (H, W, 3) uint8
    loss: float
    style_loss: float
    content_loss: float
    seconds: float


def _to01(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.require(img, requirements=("C", "W"))).permute(2, 0, 1)[None].float() / 255.0


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    return (x[0].detach().clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def transfer(content: np.ndarray, style: np.ndarray, iterations: int = 100, style_weight: float = 1e4,
             content_weight: float = 1.0, net: nn.Module | None = None, every: int = 10,
             seed: int = 0, tv_weight: float = 1.0) -> Iterator[StyleStep]:
    """Yield a ``StyleStep`` every ``every`` L-BFGS iterations (and at the end). ``content`` and ``style`` are uint8
    (H, W, 3) arrays; the style image may have any size (Gram matrices do not depend on position)."""
    for name, v in (("style weight", style_weight), ("content weight", content_weight), ("smoothness weight", tv_weight)):
        if not math.isfinite(v) or v < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {v}")
    if style_weight == 0 and content_weight == 0:
        raise ValueError("style weight and content weight cannot both be 0")
    if not 1 <= int(iterations) <= 2000:
        raise ValueError(f"iterations must be between 1 and 2000, got {iterations}")
    torch.manual_seed(seed)
    net = net or feature_net()
    c, s = _to01(content), _to01(style)
    with torch.no_grad():
        fc = net(c)
        target_content = fc[net.content_layer]
        target_grams = [gram_matrix(f) for i, f in enumerate(net(s)) if i in net.style_layers]
    x = c.clone().contiguous().requires_grad_(True)
    opt = torch.optim.LBFGS([x], lr=1.0, max_iter=every, history_size=20, line_search_fn="strong_wolfe")
    t0, done = time.perf_counter(), 0
    last = {}

    def closure():
        opt.zero_grad()
        feats = net(x)
        sl = sum(F.mse_loss(gram_matrix(f), g, reduction="sum") / g.shape[-1] ** 2
                 for f, g in zip((f for i, f in enumerate(feats) if i in net.style_layers), target_grams))
        sl = sl / len(target_grams)
        cl = F.mse_loss(feats[net.content_layer], target_content)
        tv = (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()
        loss = style_weight * sl + content_weight * cl + tv_weight * tv
        loss.backward()
        last.update(loss=loss.item(), style=sl.item(), content=cl.item())
        return loss

    while done < iterations:
        check_deadline("sampling")
        opt.param_groups[0]["max_iter"] = min(every, iterations - done)
        opt.step(closure)
        with torch.no_grad():
            x.clamp_(0, 1)
        done += opt.param_groups[0]["max_iter"]
        yield StyleStep(done, _to_uint8(x), last["loss"], last["style"], last["content"], time.perf_counter() - t0)
