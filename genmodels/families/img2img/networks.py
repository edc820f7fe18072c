"""pix2pix / CycleGAN networks with the module layout (and so the state_dict keys) of the reference PyTorch
implementation, so that its ``latest_net_G.pth`` files load here.

- pix2pix: Isola, Zhu, Zhou, Efros 2017, "Image-to-Image Translation with Conditional Adversarial Networks",
  arXiv:1611.07004 — U-Net generator with skip connections, PatchGAN discriminator.
- CycleGAN: Zhu, Park, Isola, Efros 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial
  Networks", arXiv:1703.10593 — ResNet generator (after Johnson et al. 2016, arXiv:1603.08155).

Written for this project; the layout (``nn.Sequential`` indices, ``conv_block``, nested ``model``) follows the
reference repository so that keys such as ``model.10.conv_block.1.weight`` (ResNet G) or
``model.model.1.model.3.model.1.weight`` (U-Net G) mean the same tensors. Norm layers are named by a string
("batch", "instance", "none") so the constructors are JSON-configurable (``PyTorchModelHubMixin``).
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn as nn
from huggingface_hub import PyTorchModelHubMixin

from ...checkpoints import CheckpointRefused, load_state_dict

NORMS = ("batch", "instance", "none")


def norm_layer(kind: str, channels: int) -> nn.Module:
    """The reference's ``get_norm_layer``: batch (affine, running stats), instance (no affine, no running stats —
    as in the reference since 2019), none."""
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; choose one of {', '.join(NORMS)}")


def _uses_bias(norm: str) -> bool:
    # The reference: convolutions before a norm carry a bias only with instance norm (batch norm has its own shift).
    # With "none" the reference's Identity norm leaves use_bias False as well; kept for key compatibility.
    return norm == "instance"


class ResnetBlock(nn.Module):
    def __init__(self, dim: int, padding_type: str = "reflect", norm: str = "instance", use_dropout: bool = False,
                 use_bias: bool = True):
        super().__init__()
        layers: list[nn.Module] = []
        for second in (False, True):
            p = 0
            if padding_type == "reflect":
                layers.append(nn.ReflectionPad2d(1))
            elif padding_type == "replicate":
                layers.append(nn.ReplicationPad2d(1))
            elif padding_type == "zero":
                p = 1
            else:
                raise ValueError(f"padding {padding_type!r} is not implemented")
            layers += [nn.Conv2d(dim, dim, kernel_size=3, padding=p, bias=use_bias), norm_layer(norm, dim)]
            if not second:
                layers.append(nn.ReLU(True))
                if use_dropout:
                    layers.append(nn.Dropout(0.5))
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module, PyTorchModelHubMixin):
    """c7s1-ngf, d(2ngf), d(4ngf), n_blocks × R(4ngf), u(2ngf), u(ngf), c7s1-output_nc, tanh."""

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 64, norm: str = "instance",
                 use_dropout: bool = False, n_blocks: int = 9, padding_type: str = "reflect"):
        super().__init__()
        if n_blocks < 0:
            raise ValueError("n_blocks must be >= 0")
        bias = _uses_bias(norm)
        model: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, kernel_size=7, padding=0, bias=bias),
                                  norm_layer(norm, ngf), nn.ReLU(True)]
        n_down = 2
        for i in range(n_down):
            mult = 2 ** i
            model += [nn.Conv2d(ngf * mult, ngf * mult * 2, kernel_size=3, stride=2, padding=1, bias=bias),
                      norm_layer(norm, ngf * mult * 2), nn.ReLU(True)]
        mult = 2 ** n_down
        model += [ResnetBlock(ngf * mult, padding_type, norm, use_dropout, bias) for _ in range(n_blocks)]
        for i in range(n_down):
            mult = 2 ** (n_down - i)
            model += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, kernel_size=3, stride=2, padding=1,
                                         output_padding=1, bias=bias),
                      norm_layer(norm, ngf * mult // 2), nn.ReLU(True)]
        model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, kernel_size=7, padding=0), nn.Tanh()]
        self.model = nn.Sequential(*model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class UnetSkipConnectionBlock(nn.Module):
    """x → [down → submodule → up] concatenated with x (the outermost block returns the up path alone)."""

    def __init__(self, outer_nc: int, inner_nc: int, input_nc: int | None = None,
                 submodule: nn.Module | None = None, outermost: bool = False, innermost: bool = False,
                 norm: str = "batch", use_dropout: bool = False):
        super().__init__()
        self.outermost = outermost
        bias = _uses_bias(norm)
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=bias)
        downrelu, uprelu = nn.LeakyReLU(0.2, True), nn.ReLU(True)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            model = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=bias)
            model = [downrelu, downconv, uprelu, upconv, norm_layer(norm, outer_nc)]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1, bias=bias)
            model = [downrelu, downconv, norm_layer(norm, inner_nc), submodule, uprelu, upconv,
                     norm_layer(norm, outer_nc)]
            if use_dropout:
                model.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module, PyTorchModelHubMixin):
    """U-Net with ``num_downs`` halvings (32² → 1² at 5, 256² → 1² at 8); dropout in the innermost 8ngf blocks."""

    def __init__(self, input_nc: int = 3, output_nc: int = 3, num_downs: int = 8, ngf: int = 64, norm: str = "batch",
                 use_dropout: bool = False):
        super().__init__()
        if num_downs < 5:
            raise ValueError("num_downs must be >= 5 (the reference's smallest U-Net)")
        self.num_downs = num_downs
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, innermost=True, norm=norm)
        for _ in range(num_downs - 5):
            block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, submodule=block, norm=norm, use_dropout=use_dropout)
        block = UnetSkipConnectionBlock(ngf * 4, ngf * 8, submodule=block, norm=norm)
        block = UnetSkipConnectionBlock(ngf * 2, ngf * 4, submodule=block, norm=norm)
        block = UnetSkipConnectionBlock(ngf, ngf * 2, submodule=block, norm=norm)
        self.model = UnetSkipConnectionBlock(output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True,
                                             norm=norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        side = 2 ** self.num_downs
        if x.shape[-1] % side or x.shape[-2] % side:
            raise ValueError(f"this U-Net needs height and width divisible by {side}, got {tuple(x.shape[-2:])}")
        return self.model(x)


class NLayerDiscriminator(nn.Module, PyTorchModelHubMixin):
    """PatchGAN: a grid of real / fake logits, each over one receptive-field patch (70×70 at n_layers = 3)."""

    def __init__(self, input_nc: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "batch"):
        super().__init__()
        bias = _uses_bias(norm)
        seq: list[nn.Module] = [nn.Conv2d(input_nc, ndf, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2 ** n, 8)
            seq += [nn.Conv2d(ndf * prev, ndf * mult, kernel_size=4, stride=2, padding=1, bias=bias),
                    norm_layer(norm, ndf * mult), nn.LeakyReLU(0.2, True)]
        prev, mult = mult, min(2 ** n_layers, 8)
        seq += [nn.Conv2d(ndf * prev, ndf * mult, kernel_size=4, stride=1, padding=1, bias=bias),
                norm_layer(norm, ndf * mult), nn.LeakyReLU(0.2, True),
                nn.Conv2d(ndf * mult, 1, kernel_size=4, stride=1, padding=1)]
        self.model = nn.Sequential(*seq)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class CheckpointError(ValueError):
    """A checkpoint that does not fit the network: names the missing and unexpected keys."""


_INSTANCE_NORM_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.pth`` / ``.pt`` (``torch.load(weights_only=True)``: a pickle that would run code is refused)
    or ``.safetensors`` file. A ``{"state_dict": …}`` wrapper is unwrapped."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {path}")
    try:
        return load_state_dict(path)  # genmodels.checkpoints: tensors only, {"state_dict": …} unwrapped
    except CheckpointRefused as e:
        raise CheckpointError(str(e)) from None


def load_reference_state_dict(net: nn.Module, sd: Mapping[str, torch.Tensor]) -> nn.Module:
    """Load a reference-layout state_dict into ``net`` strictly. Keys of a ``DataParallel`` save (``module.``) are
    unprefixed; instance-norm running statistics that old (PyTorch < 0.4) saves carry are dropped, as the reference's
    own loader does. Any other mismatch raises ``CheckpointError`` naming the keys and shapes."""
    sd = {k.removeprefix("module."): v for k, v in sd.items()}
    modules = dict(net.named_modules())
    own = net.state_dict()
    clean = {}
    for k, v in sd.items():
        owner, _, leaf = k.rpartition(".")
        if leaf in _INSTANCE_NORM_BUFFERS and isinstance(modules.get(owner), nn.InstanceNorm2d) and k not in own:
            continue
        clean[k] = v
    missing = sorted(set(own) - set(clean))
    unexpected = sorted(set(clean) - set(own))
    wrong = sorted(k for k in set(own) & set(clean) if own[k].shape != clean[k].shape)
    if missing or unexpected or wrong:
        def few(keys):
            return ", ".join(keys[:6]) + (f" … ({len(keys)} in all)" if len(keys) > 6 else "")

        parts = []
        if missing:
            parts.append(f"missing keys: {few(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {few(unexpected)}")
        if wrong:
            parts.append("shape mismatch: " + few([f"{k} {tuple(clean[k].shape)} vs {tuple(own[k].shape)}"
                                                    for k in wrong]))
        raise CheckpointError(f"the checkpoint does not fit {type(net).__name__}: " + "; ".join(parts))
    net.load_state_dict(clean, strict=True)
    return net
