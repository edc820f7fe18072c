"""The image-to-image family's own models and their recipes, shared by ``train.py``, ``evaluate.py`` and
``service.py``: ``Recipe`` / ``RECIPES`` (the hyper-parameters of the embedded pix2pix and CycleGAN), the networks a
recipe builds (``networks.py``, the reference layout), and ``CycleGAN``, the saved pair of generators.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .networks import NLayerDiscriminator, ResnetGenerator, UnetGenerator


@dataclass
class Recipe:
    steps: int
    batch: int
    ngf: int
    ndf: int = 32
    n_layers_d: int = 2
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    n_train: int = 20_000
    monitor_every: int = 200
    monitor_n: int = 300
    # pix2pix
    l1: float = 100.0
    # store the weights in float16 (loaded back into float32 parameters): keeps a wider G under the 8 MB cap
    save_half: bool = False
    # CycleGAN
    net_g: str = "resnet"  # "resnet" (ResnetGenerator, n_blocks, instance norm) or "unet" (UnetGenerator, batch norm)
    n_blocks: int = 6
    cycle: float = 10.0
    identity: float = 0.5
    # The reference's separate lambda_B (the B -> A -> B cycle) as stages ((from_step, lambda_B), ...); before the
    # first stage lambda_B = ``cycle``. Striped -> solid -> striped must carry the stripes' phase through a solid
    # image, and that cycle's PSNR was the one still short of the bar at 18,000 steps with lambda_B = 10 (26.9 dB,
    # +0.2 dB per 6,000 steps); lambda_B = 20 for 18,000 -> 24,000 gave 27.3 dB.
    cycle_b: tuple[tuple[int, float], ...] = ()
    pool: int = 50
    # Steps at the start in which both generators only learn to reproduce their input (L1 on both domains, no D):
    # a ResNet G without skip connections first has to learn the identity through its 8×8 bottleneck, and until it
    # can, cycle and identity losses stay high and every output is a blur (plain recipe: cycle L1 0.18, shape kept
    # 25 %, SSIM vs twin 0.60 at step 2,000; docs/experiments). Starting from the identity, the adversarial term
    # only has to change the fill.
    warmup_identity: int = 0


RECIPES = {"pix2pix": Recipe(steps=20_000, batch=32, ngf=16, n_train=20_000),
           # U-Net generators (the reference's --netG unet_*): with the ResNet G (ngf 24, 5 blocks, batch 8) the
           # outputs were still blurs at step 2,000 (shape kept 25 / 34 %, SSIM vs twin 0.60, cycle PSNR 22.7 dB), and
           # as blurry with 1,000 identity warm-up steps first (docs/experiments); the U-Net's skips carry the
           # geometry, as they did for pix2pix.
           # steps: the shipped weights' total; they were trained in resumed stages (card), a fresh run does one
           # schedule
           "cyclegan": Recipe(steps=66_000, batch=8, ngf=16, net_g="unet", n_train=20_000, monitor_every=500,
                              warmup_identity=300, save_half=True,
                              cycle_b=((18_000, 20.0), (24_000, 40.0), (54_000, 60.0)))}


def build_pix2pix(recipe: Recipe, input_nc: int, output_nc: int = 3):
    G = UnetGenerator(input_nc, output_nc, num_downs=5, ngf=recipe.ngf, norm="batch")
    D = NLayerDiscriminator(input_nc + output_nc, recipe.ndf, recipe.n_layers_d, norm="batch")
    return G, D


def build_cyclegan(recipe: Recipe):
    def g():
        if recipe.net_g == "unet":
            return UnetGenerator(3, 3, num_downs=5, ngf=recipe.ngf, norm="batch")
        if recipe.net_g == "resnet":
            return ResnetGenerator(3, 3, recipe.ngf, norm="instance", n_blocks=recipe.n_blocks)
        raise ValueError(f"unknown CycleGAN generator {recipe.net_g!r}; choose resnet or unet")

    def d():
        return NLayerDiscriminator(3, recipe.ndf, recipe.n_layers_d, norm="instance")

    return g(), g(), d(), d()


class CycleGAN:
    """The two generators of a CycleGAN: ``G_AB`` (A → B; on shapes solid → striped) and ``G_BA``. Saved as
    ``G_A/`` and ``G_B/`` sub-folders (each ``config.json`` + ``model.safetensors``), the reference's
    ``latest_net_G_A`` / ``latest_net_G_B`` naming."""

    def __init__(self, G_AB: ResnetGenerator, G_BA: ResnetGenerator):
        self.G_AB, self.G_BA = G_AB.eval(), G_BA.eval()

    def save(self, folder: str | Path, recipe: Recipe | None = None, half: bool = False) -> None:
        folder = Path(folder)
        for G, name in ((self.G_AB, "G_A"), (self.G_BA, "G_B")):
            (G.half() if half else G).save_pretrained(folder / name)
            G.float()
        if recipe is not None:
            (folder / "recipe.json").write_text(json.dumps(asdict(recipe), indent=1))

    @staticmethod
    def load_generator(folder: str | Path):
        """A saved generator folder: U-Net or ResNet, told apart by its config.json."""
        cfg = json.loads((Path(folder) / "config.json").read_text())
        cls = UnetGenerator if "num_downs" in cfg else ResnetGenerator
        return cls.from_pretrained(folder).eval()

    @classmethod
    def load(cls, folder: str | Path) -> "CycleGAN":
        folder = Path(folder)
        return cls(cls.load_generator(folder / "G_A"), cls.load_generator(folder / "G_B"))

    @torch.no_grad()
    def translate(self, x: torch.Tensor, direction: str = "AB") -> torch.Tensor:
        if direction not in ("AB", "BA"):
            raise ValueError(f"direction must be 'AB' or 'BA', got {direction!r}")
        return (self.G_AB if direction == "AB" else self.G_BA)(x)
