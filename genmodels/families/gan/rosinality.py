"""Load StyleGAN2 generator weights in the format of rosinality/stylegan2-pytorch (https://github.com/rosinality/
stylegan2-pytorch, ``model.py``): a ``g_ema`` state_dict whose keys are ``style.{i}.weight/bias``, ``input.input``,
``conv1.*``, ``to_rgb1.*``, ``convs.{i}.*``, ``to_rgbs.{i}.*`` and ``noises.noise_{i}``. Its ``train.py`` saves
``{"g", "d", "g_ema", "g_optim", "d_optim", "args", "ada_aug_p"}`` and its ``convert_weight.py`` saves
``{"g_ema", "latent_avg", ...}``; a bare state_dict, or a ``.safetensors`` file of one, is accepted too.

Only tensor data is read: ``torch.load(weights_only=True)``, with one class let through: ``argparse.Namespace``, the
type of ``train.py``'s ``args`` (its fields are rebuilt from plain values by torch's restricted unpickler; nothing is
imported or called). Any other pickled object is refused. ``args.size`` / ``latent`` (our ``style_dim``) / ``n_mlp`` /
``channel_multiplier`` are checked against the tensors and, when they agree, used for the generator's config.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import torch

from ...checkpoints import PICKLE, CheckpointRefused, safe_load
from .stylegan import Generator, resolve_channels

REFUSED = ("contains non-tensor objects / was saved as a pickle with code; only tensor state_dicts are accepted "
           "(re-save with torch.save({'g_ema': ckpt['g_ema']}, path))")
# rosinality's ``args`` fields that fix the generator's shape -> our Generator's argument names
ARGS_FIELDS = {"size": "size", "latent": "style_dim", "n_mlp": "n_mlp", "channel_multiplier": "channel_multiplier"}


def _read(path: Path) -> tuple[dict, torch.Tensor | None, dict]:
    """-> (g_ema state_dict, latent_avg or None, the fields of train.py's ``args`` ({} when there are none))."""
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):  # train.py's args; nothing else
            obj = safe_load(path)  # genmodels.checkpoints: safetensors, or torch.load(weights_only=True)
    except CheckpointRefused as e:
        if e.kind != PICKLE:
            raise
        raise CheckpointRefused(f"{path.name} {REFUSED}; torch.load(weights_only=True): {e.reason}", e.name, e.reason,
                                e.kind) from None
    if path.suffix.lower() == ".safetensors" and any(k.startswith("g_ema.") for k in obj):
        obj = {"g_ema": {k[6:]: v for k, v in obj.items() if k.startswith("g_ema.")},
               "latent_avg": obj.get("latent_avg")}
    if not isinstance(obj, dict):
        raise ValueError(f"{path} holds a {type(obj).__name__}, not a state_dict or a checkpoint dict")
    latent_avg, args = None, {}
    if "g_ema" in obj:
        if isinstance(obj.get("args"), argparse.Namespace):
            args = vars(obj["args"])
        obj, latent_avg = obj["g_ema"], obj.get("latent_avg")
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path}: its g_ema {REFUSED}")
    if latent_avg is not None and not isinstance(latent_avg, torch.Tensor):
        raise ValueError(f"{path}: its latent_avg {REFUSED}")
    return obj, latent_avg, args


def _indices(sd: dict, pattern: str) -> list[int]:
    return sorted({int(m.group(1)) for k in sd if (m := re.fullmatch(pattern, k))})


def _tensor_config(sd: dict) -> dict:
    """size, style_dim, n_mlp and the channels per resolution, read from the key shapes."""
    mlp, rgbs = _indices(sd, r"style\.(\d+)\.weight"), _indices(sd, r"to_rgbs\.(\d+)\.conv\.weight")
    if not mlp or "input.input" not in sd:
        raise ValueError("not a StyleGAN2 generator state_dict: no style.{i}.weight / input.input keys")
    size = 2 ** (len(rgbs) + 2)
    channels = {4: sd["input.input"].shape[1]}
    channels.update({2 ** (j + 3): sd[f"to_rgbs.{j}.conv.weight"].shape[2] for j in rgbs})
    return {"size": size, "style_dim": sd[f"style.{mlp[0]}.weight"].shape[0], "n_mlp": len(mlp), "channels": channels}


def infer_config(sd: dict) -> dict:
    """Generator kwargs that the key shapes determine (size, style_dim, n_mlp, channels, n_classes)."""
    cfg = _tensor_config(sd)
    size, channels = cfg["size"], cfg["channels"]
    for cm in (2, 1, 4):  # rosinality's table with some channel multiplier: record it as such
        if resolve_channels(size, cm) == channels:
            cfg.update(channel_multiplier=cm, channels=None)
            break
    if "class_embed.weight" in sd:
        cfg["n_classes"] = sd["class_embed.weight"].shape[0]
    return cfg


def config_from_args(sd: dict, args: dict, name: str = "the checkpoint") -> dict:
    """``infer_config(sd)`` with size / style_dim / n_mlp / channel_multiplier taken from rosinality's ``args``
    fields where present; a ``ValueError`` naming every field that disagrees with the tensors."""
    cfg, seen = infer_config(sd), _tensor_config(sd)
    said = {ours: args[theirs] for theirs, ours in ARGS_FIELDS.items() if theirs in args}
    wrong = [f"args.{theirs} is {args[theirs]!r}, the tensors say {seen[ours]}"
             for theirs, ours in ARGS_FIELDS.items() if ours in said and ours != "channel_multiplier"
             and said[ours] != seen[ours]]
    cm = said.get("channel_multiplier")
    if cm is not None and (not isinstance(cm, int) or resolve_channels(seen["size"], cm) != seen["channels"]):
        wrong.append(f"args.channel_multiplier is {cm!r}, which gives other channels than the tensors' "
                     f"{seen['channels']}")
    if wrong:
        raise ValueError(f"{name} was not loaded: its training args disagree with its g_ema tensors "
                         f"({'; '.join(wrong)}).")
    if cm is not None:
        cfg.update(channel_multiplier=cm, channels=None)
    return cfg


def load_rosinality_g_ema(path, **generator_kwargs) -> Generator:
    """Build a ``Generator`` from a rosinality-format checkpoint (``.pt`` / ``.pth`` / ``.safetensors``) and load it
    strictly. ``generator_kwargs`` override what is inferred from the shapes (e.g. ``lr_mlp``, ``blur_kernel``,
    which shapes do not determine; rosinality's defaults 0.01 and [1, 3, 3, 1] are ours too). ``w_avg``, which
    rosinality does not store, is taken from ``latent_avg`` when present, else from ``mean_latent(4096)`` (seed 0)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no StyleGAN2 checkpoint at {path}")
    sd, latent_avg, args = _read(path)
    cfg = {**config_from_args(sd, args, path.name), **generator_kwargs}
    model = Generator(**cfg)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    has_w_avg = "w_avg" in sd
    if not has_w_avg:
        sd = {**sd, "w_avg": model.w_avg if latent_avg is None else latent_avg.reshape(-1).float()}
    missing, unexpected = [k for k in expected if k not in sd], [k for k in sd if k not in expected]
    wrong = [f"{k}: {tuple(sd[k].shape)} vs {v}" for k, v in expected.items() if k in sd and tuple(sd[k].shape) != v]
    if missing or unexpected or wrong:
        raise ValueError(f"{path} does not match Generator({cfg}): missing keys {missing[:10]}"
                         f"{' ...' if len(missing) > 10 else ''}, unexpected keys {unexpected[:10]}"
                         f"{' ...' if len(unexpected) > 10 else ''}, shape mismatches {wrong[:10]}")
    model.load_state_dict(sd, strict=True)
    if not has_w_avg and latent_avg is None:
        g = torch.Generator().manual_seed(0)
        labels = list(range(model.n_classes)) if model.n_classes else None
        model.w_avg.copy_(model.mean_latent(4096, labels, g).mean(0))
    return model.eval()
