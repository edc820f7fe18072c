"""LoRA students: each few-step student shipped as a low-rank update of its teacher, in diffusers' LoRA layout.

Papers: Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models", arXiv:2106.09685 (W = W0 + B A,
rank r, scale alpha / r); Luo et al. 2023, "LCM-LoRA: A Universal Stable-Diffusion Acceleration Module",
arXiv:2311.05556 (a few-step distilled sampler shipped as a LoRA on its teacher, loaded with ``load_lora_weights``);
the distillation losses are progressive.py's (Salimans & Ho 2022; Meng et al. 2023).

How a LoRA student is made from a full one (``train distill`` does it after the full stages, ``compress``):
1. The base is the teacher UNet with the students' w input added at zero (``progressive.make_w_student``), so it is a
   pure function of the shipped tiny Stable Diffusion.
2. Extraction: for every Linear / Conv2d of the UNet, the truncated SVD of (student - base) (a conv's kernel as an
   out x (in k k) matrix: lora_A the k x k conv to r channels, lora_B the 1 x 1 conv back). The ranks are shared out
   over the layers under one parameter budget: singular values are taken greedily by energy per parameter
   (sigma^2 / (rows + cols)), which minimises the total Frobenius error for that budget.
3. A fine-tune of the LoRA factors alone (the base frozen) with the stage's own progressive-distillation loss (its
   teacher per train.py's ``DistillRecipe.lora_teacher``: the CFG teacher, the shipped 2n-step LoRA student or the
   full 2n-step student): extraction drops the residual directions and the student's bias / norm changes;
   the fine-tune lets the low-rank student re-learn the two-steps-in-one map instead of copying weights.

Stored: ``pytorch_lora_weights.safetensors`` (keys ``unet.…lora_A/B.weight``, fp16, the LoraConfig with its
rank_pattern in the safetensors metadata, as diffusers' ``save_lora_weights`` writes it) beside the student's UNet
``config.json``; ``read_lora_student`` rebuilds the base, ``load_lora_adapter`` + ``fuse_lora`` (plain diffusers).
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import torch

from . import progressive as P

LORA_WEIGHTS = "pytorch_lora_weights.safetensors"
# 8 MB per student (the bar) less the config / metadata: 3.8 M fp16 parameters = 7.6 MB
BUDGET_PARAMS = 3_800_000


def base_unet(teacher_unet):
    """The LoRA students' base: the teacher with a zero w input (a new module; the teacher is not touched)."""
    return P.make_w_student(teacher_unet).float().eval()


def lora_targets(unet) -> dict[str, torch.nn.Module]:
    """The UNet's Linear and Conv2d layers by name (what a LoRA can update)."""
    return {n: m for n, m in unet.named_modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))}


def _matrix(w: torch.Tensor) -> torch.Tensor:
    return w.reshape(w.shape[0], -1)


def allocate_ranks(singular: dict[str, torch.Tensor], shapes: dict[str, tuple[int, int]], budget: int) \
        -> dict[str, int]:
    """Ranks per layer under ``budget`` LoRA parameters: the singular values with the most energy per parameter
    first (within a layer sigma falls, so each layer gets a prefix of its spectrum); layers left at rank 0 are
    dropped."""
    cand = []
    top = max((float(s.max()) for s in singular.values() if len(s)), default=0.0)
    for name, s in singular.items():
        rows, cols = shapes[name]
        cost = rows + cols
        cand += [(float(v) ** 2 / cost, name, cost) for v in s if float(v) > 1e-6 * top]  # zero directions: none
    cand.sort(key=lambda c: -c[0])
    ranks: Counter = Counter()
    used = 0
    for _, name, cost in cand:
        if used + cost > budget:
            continue
        ranks[name] += 1
        used += cost
    return {n: r for n, r in ranks.items() if r > 0}


@torch.no_grad()
def extract(student, base, budget: int = BUDGET_PARAMS) -> tuple[dict[str, int], dict[str, tuple], dict]:
    """(ranks, {layer: (A, B)}, stats) with B @ A the best rank-r approximation of each layer's (student - base)
    under the shared budget; stats: relative Frobenius error of the whole update and the parameter count."""
    s_mods, b_mods = lora_targets(student), lora_targets(base)
    if s_mods.keys() != b_mods.keys():
        raise ValueError("student and base UNets differ in their layers")
    svd, shapes, total = {}, {}, 0.0
    for name, m in s_mods.items():
        d = _matrix(m.weight.float() - b_mods[name].weight.float())
        total += float(d.pow(2).sum())
        u, s, vh = torch.linalg.svd(d, full_matrices=False)
        svd[name], shapes[name] = (u, s, vh), tuple(d.shape)
    ranks = allocate_ranks({n: v[1] for n, v in svd.items()}, shapes, budget)
    factors, kept = {}, 0.0
    for name, r in ranks.items():
        u, s, vh = svd[name]
        root = s[:r].sqrt()
        factors[name] = (root[:, None] * vh[:r], u[:, :r] * root[None, :])  # A (r, in·k·k), B (out, r)
        kept += float(s[:r].pow(2).sum())
    params = sum(r * sum(shapes[n]) for n, r in ranks.items())
    return ranks, factors, {"relative error": round(max(total - kept, 0.0) ** 0.5 / max(total, 1e-12) ** 0.5, 4),
                            "lora parameters": params, "layers": len(ranks)}


def lora_config(ranks: dict[str, int]):
    """A peft LoraConfig for these per-layer ranks, scale 1 (alpha = r) everywhere."""
    from peft import LoraConfig

    common = Counter(ranks.values()).most_common(1)[0][0]
    return LoraConfig(r=common, lora_alpha=common, target_modules=sorted(ranks), init_lora_weights=True,
                      rank_pattern={n: r for n, r in ranks.items() if r != common},
                      alpha_pattern={n: r for n, r in ranks.items() if r != common})


@torch.no_grad()
def attach(unet, ranks: dict[str, int], factors: dict[str, tuple] | None = None):
    """Add the LoRA (diffusers' ``add_adapter``) and, with ``factors``, set it to the extracted update."""
    unet.add_adapter(lora_config(ranks))
    if factors:
        mods = dict(unet.named_modules())
        for name, (a, b) in factors.items():
            layer = mods[name]
            la, lb = layer.lora_A["default"].weight, layer.lora_B["default"].weight
            la.copy_(a.reshape(la.shape))
            lb.copy_(b.reshape(lb.shape))
    return unet


def lora_parameters(unet) -> list[torch.nn.Parameter]:
    return [p for n, p in unet.named_parameters() if "lora_" in n]


def save_lora_student(unet, folder: Path) -> int:
    """Write the LoRA (fp16) in diffusers' layout and the student's UNet config; returns the file's size in bytes."""
    from diffusers import StableDiffusionPipeline
    from peft.utils import get_peft_model_state_dict

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float16).contiguous()
             for k, v in get_peft_model_state_dict(unet).items()}  # peft keys, as save_lora_adapter writes
    meta = unet.peft_config["default"].to_dict()
    StableDiffusionPipeline.save_lora_weights(str(folder), unet_lora_layers=state, unet_lora_adapter_metadata=meta,
                                              safe_serialization=True)
    unet.save_config(str(folder))
    for stale in ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors"):
        (folder / stale).unlink(missing_ok=True)
    return (folder / LORA_WEIGHTS).stat().st_size


def read_lora_student(folder: Path, teacher_unet):
    """The student of ``folder``: the base (teacher + zero w input) with its LoRA loaded and fused (float32)."""
    from diffusers import UNet2DConditionModel

    cfg = UNet2DConditionModel.load_config(str(folder))
    base = base_unet(teacher_unet)
    if cfg.get("time_cond_proj_dim") != base.config.time_cond_proj_dim or \
            cfg.get("block_out_channels") != list(base.config.block_out_channels):
        raise ValueError(f"the LoRA student in {folder} was made for another teacher (its UNet config differs from "
                         "the teacher's)")
    base.load_lora_adapter(str(folder), prefix="unet", adapter_name="student", weight_name=LORA_WEIGHTS,
                           use_safetensors=True)
    base.fuse_lora()
    base.unload_lora()
    return base.float().eval().requires_grad_(False)
