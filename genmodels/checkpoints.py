"""The one way this package reads a checkpoint file: tensors only, never code.

What it guarantees:

- ``.safetensors`` files are read with ``safetensors.torch.load_file``; the format is a JSON header and raw tensor
  bytes, nothing in it can run.
- ``.pt`` / ``.pth`` / ``.bin`` / ``.ckpt`` files (our own resumable training checkpoints are ``ckpt.pt``) are read
  with ``torch.load(weights_only=True)``, passed explicitly (so ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` cannot turn it
  off): torch's restricted unpickler rebuilds tensors and plain containers (dict, list, tuple, str, numbers) and
  refuses every global outside its allowlist. A file that would import or
  call something (an ``argparse.Namespace``, a model object, ``os.system``, ``open``) is refused *before* anything
  in it runs. Nothing in the package turns ``weights_only`` off or unpickles with ``pickle`` itself; the rosinality
  StyleGAN2 adapter alone lets ``argparse.Namespace`` through, with ``torch.serialization.safe_globals`` around its
  own ``safe_load`` call.
- Every failure is a ``CheckpointRefused`` (a ``ValueError``) with a one-line message a person can act on: it names
  the file by its name only (never the full server path) and says why — pickled Python objects, not a checkpoint
  at all (empty, text, truncated), an unknown suffix, or not a state_dict of tensors. A missing file is a
  ``FileNotFoundError``.

``safe_load`` returns what the file holds (a state_dict, a training checkpoint dict, a tensor); ``load_state_dict``
also unwraps the usual ``{"state_dict": ...}`` / ``{"g_ema": ...}`` containers and checks that every value is a
tensor.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import torch

SAFETENSORS_SUFFIXES = (".safetensors",)
TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")
ACCEPTED_SUFFIXES = SAFETENSORS_SUFFIXES + TORCH_SUFFIXES
# Containers that hold a state_dict one level down: {"state_dict": sd} (many training scripts), {"g_ema": sd, ...}
# (rosinality's StyleGAN2 checkpoints).
STATE_DICT_CONTAINERS = ("state_dict", "g_ema")

# Kinds of refusal (``CheckpointRefused.kind``).
PICKLE, UNREADABLE, SUFFIX, CONTENT = "pickle", "unreadable", "suffix", "content"

_WHY = (r"Unsupported global: (?:GLOBAL )?[\w.]+", r"Unsupported operand \d+", r"[\w.]+ must be [\w.]+ to load",
        r"whose module \S+ is blocked")


class CheckpointRefused(ValueError):
    """A checkpoint file that was not loaded. ``str(e)`` is one user-readable line naming the file (name only);
    ``name`` is that file name, ``reason`` the short technical cause (e.g. ``Unsupported global: GLOBAL
    argparse.Namespace``) and ``kind`` one of ``pickle`` (it pickles Python objects), ``unreadable`` (not a
    checkpoint at all), ``suffix`` (not a checkpoint file type) or ``content`` (not a state_dict of tensors)."""

    def __init__(self, message: str, name: str = "", reason: str = "", kind: str = UNREADABLE):
        super().__init__(message)
        self.name, self.reason, self.kind = name, reason, kind


def _short(e: BaseException, path: Path) -> str:
    """One line of ``e`` for a message: the refused global / operand when torch names one, else the first line of
    the error with the server path taken out."""
    text = str(e)
    for m in (re.search(p, text) for p in _WHY):
        if m:
            return m.group(0)
    for full in (str(path.resolve()), str(path)):
        text = text.replace(full, path.name)
    for folder in (str(path.resolve().parent), str(path.parent)):
        if len(folder) > 1:
            text = text.replace(folder, "…")
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return f"{type(e).__name__}: {line[:200]}" if line else type(e).__name__


def _refused_pickle(path: Path, reason: str) -> CheckpointRefused:
    return CheckpointRefused(f"{path.name} was refused: only tensors are loaded (torch.load weights_only=True) and "
                             f"this file pickles Python objects ({reason}). Convert it to safetensors or save a "
                             "plain state_dict.", path.name, reason, PICKLE)


def safe_load(path: str | Path, *, map_location: str | torch.device | None = "cpu") -> object:
    """What the checkpoint at ``path`` holds, read with tensors-only loaders (see the module docstring). Raises
    ``CheckpointRefused`` for anything that is not a tensors-only checkpoint, ``FileNotFoundError`` if there is no
    such file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path.name} is a folder, not a checkpoint file" if path.is_dir()
                                else f"no checkpoint file {path.name}")
    suffix = path.suffix.lower()
    if suffix not in ACCEPTED_SUFFIXES:
        raise CheckpointRefused(f"{path.name} was refused: {suffix or 'no suffix'} is not a checkpoint type this "
                                f"package reads; accepted: {', '.join(ACCEPTED_SUFFIXES)}.", path.name,
                                f"suffix {suffix!r}", SUFFIX)
    if path.stat().st_size == 0:
        raise CheckpointRefused(f"{path.name} is empty (0 bytes), not a checkpoint.", path.name, "0 bytes", UNREADABLE)
    if suffix in SAFETENSORS_SUFFIXES:
        from safetensors.torch import load_file

        device = "cpu" if map_location is None else str(map_location)
        try:
            return load_file(str(path), device=device)
        except Exception as e:  # header / size errors of a corrupt or non-safetensors file
            why = _short(e, path)
            raise CheckpointRefused(f"{path.name} is not a readable safetensors file ({why}).", path.name, why,
                                    UNREADABLE) from None
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - every failure becomes one sentence
        why = _short(e, path)
        if "Weights only load failed" in str(e) or "Unsupported global" in str(e):  # torch's tensors-only refusal
            raise _refused_pickle(path, why) from None
        raise CheckpointRefused(f"{path.name} is not a readable checkpoint ({why}); expected a file written by "
                                "torch.save or a safetensors file.", path.name, why, UNREADABLE) from None


def load_state_dict(path: str | Path, *, map_location: str | torch.device | None = "cpu") -> dict[str, torch.Tensor]:
    """The ``{name: tensor}`` state_dict in ``path`` (``safe_load``), unwrapped from a ``{"state_dict": …}`` or
    ``{"g_ema": …}`` container; ``CheckpointRefused`` unless every key is a string and every value a tensor."""
    path = Path(path)
    obj = safe_load(path, map_location=map_location)
    if isinstance(obj, Mapping):
        for key in STATE_DICT_CONTAINERS:
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping):
        raise CheckpointRefused(f"{path.name} holds a {type(obj).__name__}, not a state_dict of tensors.", path.name,
                                type(obj).__name__, CONTENT)
    if not obj:
        raise CheckpointRefused(f"{path.name} holds an empty state_dict (no tensors).", path.name, "empty", CONTENT)
    bad = next(((k, v) for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)), None)
    if bad is not None:
        k, v = bad
        raise CheckpointRefused(f"{path.name} is not a state_dict of tensors: its entry {str(k)[:80]!r} is a "
                                f"{type(v).__name__}.", path.name, f"{type(v).__name__} value", CONTENT)
    return dict(obj)
