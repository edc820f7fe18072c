"""A small training loop every ``python -m genmodels train <model>`` command shares.

Seeds fixed, tqdm progress, ``accelerate`` (so ``accelerate launch -m genmodels train ...`` runs the same code on
several GPUs), AdamW with warm-up + cosine decay, an optional EMA copy, and resumable checkpoints: the loop saves
model / optimiser / step every ``ckpt_every`` steps to ``run_dir/ckpt.pt`` (tensors only, loaded back with
``torch.load(weights_only=True)``) and picks up from there when started again. Under ``accelerate launch`` every
rank trains and rank 0 alone writes the checkpoint and the monitor lines (trainers check :func:`is_main_process`
before writing weights and cards).
"""
from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch
from tqdm.auto import tqdm

from .checkpoints import safe_load

# Subnormal floats (e.g. sigmoid tails of a sharp likelihood in the backward pass) run many times slower on x86
# CPUs: a PixelCNN++ run slowed from 0.6 to 2.1 s/step within 150 steps. Flushing them to zero must happen before
# the intra-op thread pool starts (the flag is per thread), hence at import.
torch.set_flush_denormal(True)


@dataclass
class TrainConfig:
    steps: int
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup: int = 100
    ckpt_every: int = 200
    seed: int = 0
    ema: float | None = None
    grad_clip: float | None = 1.0
    log_every: int = 50


# ``python -m genmodels train all --budget-minutes M`` sets a wall-clock deadline per model: every training loop
# checks it, checkpoints and stops cleanly (a later run resumes from the checkpoint).
_DEADLINE: float | None = None


def set_deadline(seconds_from_now: float | None) -> None:
    global _DEADLINE
    _DEADLINE = None if seconds_from_now is None else time.monotonic() + seconds_from_now


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float, step: int | None = None) -> None:
    """ema ← decay · ema + (1 − decay) · model for the parameters; buffers (batch-norm statistics) copied. With
    ``step``, the decay ramps up as min(decay, (1 + step) / (10 + step)) so early averages are not dominated by the
    initial weights (the GAN trainers' schedule)."""
    if step is not None:
        decay = min(decay, (1 + step) / (10 + step))
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.lerp_(pm, 1 - decay)
    for be, bm in zip(ema.buffers(), model.buffers()):
        be.copy_(bm)


def out_of_time() -> bool:
    return _DEADLINE is not None and time.monotonic() >= _DEADLINE


def accelerator():
    """The accelerate ``Accelerator`` every trainer uses. ``GENMODELS_DEVICE`` = ``cpu`` forces the CPU, ``cuda``
    requires a GPU (set by ``train --device``); unset: a GPU when torch sees one."""
    from accelerate import Accelerator

    want = os.environ.get("GENMODELS_DEVICE", "auto")
    if want == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: torch sees no CUDA device on this machine")
    return Accelerator(cpu=want == "cpu" or not torch.cuda.is_available())


def is_main_process() -> bool:
    """Whether this process writes files: rank 0 under ``accelerate launch`` / ``torchrun`` (every rank trains; the
    checkpoint, monitor lines, weights and card come from one), the only process otherwise."""
    from accelerate import PartialState

    return PartialState().is_main_process


def lr_lambda(cfg: TrainConfig) -> Callable[[int], float]:
    def f(step: int) -> float:
        if step < cfg.warmup:
            return (step + 1) / cfg.warmup
        t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

    return f


def continue_from_card(src: str | Path, run: str | Path) -> tuple[int, float]:
    """A training stage on top of committed weights whose run checkpoint is gone: copy their ``monitor.jsonl`` into
    the run (so the new card keeps the whole curve) and return (step, wall seconds) of its last line."""
    import json

    lines = [line for line in (Path(src) / "monitor.jsonl").read_text().splitlines() if line.strip()]
    (Path(run) / "monitor.jsonl").write_text("\n".join(lines) + "\n")
    last = json.loads(lines[-1])
    return int(last["step"]), float(last["wall_min"]) * 60


NO_STAGE = {"step": 0, "wall_s": 0.0}


def begin_stage(src: str | Path, run: str | Path) -> dict:
    """Start a stage on the committed weights in ``src`` (its run checkpoint gone): the first time, copy their monitor
    history into ``run`` (``continue_from_card``) and record where it ended in ``run/stage.json``, so a resumed stage
    logs the same way. Returns that record: {"from", "step", "wall_s"}."""
    import json

    run = Path(run)
    stage = run / "stage.json"
    if not stage.exists():
        run.mkdir(parents=True, exist_ok=True)
        src = Path(src)
        step0, wall0 = continue_from_card(src, run) if (src / "monitor.jsonl").exists() else (0, 0.0)
        stage.write_text(json.dumps({"from": str(src), "step": step0, "wall_s": wall0}))
    return json.loads(stage.read_text())


def stage_offset(run: str | Path) -> dict:
    """The record ``begin_stage`` wrote in ``run`` ({"step": 0, "wall_s": 0.0} for a run that is not a stage)."""
    import json

    stage = Path(run) / "stage.json"
    return json.loads(stage.read_text()) if stage.exists() else dict(NO_STAGE)


def offset_hook(hook: Callable | None, offset: dict) -> Callable | None:
    """``hook(step, net, wall)`` called with the stage's step and wall clock continuing its history's."""
    if hook is None or not (offset["step"] or offset["wall_s"]):
        return hook

    def shifted(step, net, wall):
        return hook(step + offset["step"], net, wall + offset["wall_s"])

    return shifted


def stage_sentence(offset: dict, steps: int, command: str, root: Path | None = None) -> str | None:
    """The model card's line for a stage (None when the run was not one): where it started and how to repeat it;
    ``root``: the folder the weights path is shown relative to (the repository)."""
    if not offset["step"] and "from" not in offset:
        return None
    shown = Path(offset.get("from", ""))
    if root is not None and shown.is_relative_to(root):
        shown = shown.relative_to(root)
    return (f"continued from the weights in `{shown}` (step {offset['step']:,} of their monitor, "
            f"{offset['wall_s'] / 60:.1f} min) for {steps:,} more steps, fresh optimiser and schedule "
            f"(`{command}`); `monitor.jsonl` holds both stages")


def infinite_batches(tensors: tuple[torch.Tensor, ...], batch: int, seed: int) -> Callable[[int], tuple]:
    """``get(step)`` -> a batch of rows; the order is a pure function of (seed, step), so resuming is exact."""
    n = len(tensors[0])
    per_epoch = max(1, n // batch)

    def get(step: int) -> tuple:
        epoch, k = divmod(step, per_epoch)
        g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        idx = torch.randperm(n, generator=g)[k * batch:(k + 1) * batch]
        return tuple(t[idx] for t in tensors)

    return get


def sync_ranks(net: torch.nn.Module, world: int) -> None:
    """Data parallel by hand: average every gradient over the ranks (all-reduce, then / world) and give every rank
    rank 0's buffers (batch-norm statistics), as DistributedDataParallel does around its forward."""
    import torch.distributed as dist

    for p in net.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad.div_(world)
    for b in net.buffers():
        dist.broadcast(b, 0)


def shard_batch(batch: tuple, rank: int, world: int) -> tuple:
    """Rank ``rank``'s rows of a global batch (rows rank, rank + world, ...): the ranks see disjoint data."""
    return tuple(t[rank::world] for t in batch)


def train(model: torch.nn.Module, loss_fn: Callable[[torch.nn.Module, tuple, int], tuple[torch.Tensor, dict]],
          get_batch: Callable[[int], tuple], cfg: TrainConfig, run_dir: str | Path,
          params: Iterator[torch.nn.Parameter] | None = None, desc: str = "train",
          hook: Callable[[int, torch.nn.Module, float], None] | None = None, hook_every: int = 0) -> dict:
    """Run ``cfg.steps`` optimisation steps (resuming from ``run_dir``); returns the EMA (or plain) state_dict,
    wall time and the last logged losses. ``hook(step, ema_or_model, wall_s)`` runs every ``hook_every`` steps
    (e.g. a conditioning monitor); its time is not counted as training wall time."""
    from accelerate.utils import set_seed

    set_seed(cfg.seed)
    acc = accelerator()
    if acc.num_processes > 1:
        acc.print(f"{desc}: {acc.num_processes} processes ({acc.distributed_type.value}), rank 0 writes the files")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    opt = torch.optim.AdamW(list(params) if params is not None else model.parameters(), lr=cfg.lr,
                            weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg))
    ema = copy.deepcopy(model).eval().requires_grad_(False) if cfg.ema else None
    step, wall = 0, 0.0
    ckpt = run_dir / "ckpt.pt"
    if ckpt.exists():
        state = safe_load(ckpt)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        if ema is not None and "ema" in state:
            ema.load_state_dict(state["ema"])
        step, wall = int(state["step"]), float(state["wall"])
        acc.print(f"resuming {desc} from step {step} ({wall / 60:.1f} min so far)")
    model, opt = acc.prepare(model, opt)
    start = step
    if ema is not None:
        ema.to(acc.device)

    def save() -> None:
        if not acc.is_main_process:  # several ranks: rank 0 alone writes the (identical) state
            return
        state = {"model": acc.unwrap_model(model).state_dict(), "opt": opt.state_dict(),
                 "sched": sched.state_dict(), "step": torch.tensor(step), "wall": torch.tensor(wall)}
        if ema is not None:
            state["ema"] = ema.state_dict()
        tmp = ckpt.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(ckpt)

    logs: dict = {}
    bar = tqdm(total=cfg.steps, initial=step, desc=desc, disable=not acc.is_main_process)
    model.train()
    while step < cfg.steps and not out_of_time():
        t0 = time.perf_counter()
        batch = get_batch(step)
        if acc.num_processes > 1:  # data parallel: each rank takes its rows of the global batch (DDP averages the
            batch = shard_batch(batch, acc.process_index, acc.num_processes)  # gradients = the full batch's)
            if step == start:
                print(f"{desc}: rank {acc.process_index} trains on {len(batch[0])} rows of each batch", flush=True)
        batch = tuple(b.to(acc.device) for b in batch)
        # several ranks: the loss functions call model methods (``training_loss`` …) that a DistributedDataParallel
        # wrapper does not have, so they get the bare module and the gradients are averaged here (what DDP does)
        net = acc.unwrap_model(model) if acc.num_processes > 1 else model
        loss, logs = loss_fn(net, batch, step)
        opt.zero_grad(set_to_none=True)
        acc.backward(loss)
        if acc.num_processes > 1:
            sync_ranks(net, acc.num_processes)
        if cfg.grad_clip:
            acc.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        sched.step()
        if ema is not None:
            ema_update(ema, acc.unwrap_model(model), cfg.ema)
        step += 1
        wall += time.perf_counter() - t0
        bar.update(1)
        if step % cfg.log_every == 0:
            bar.set_postfix({k: f"{float(v):.4g}" for k, v in logs.items()})
        if step % cfg.ckpt_every == 0 or step == cfg.steps:
            save()
        if hook is not None and hook_every and step % hook_every == 0 and acc.is_main_process:
            net = ema if ema is not None else acc.unwrap_model(model)
            hook(step, net, wall)
            model.train()
    bar.close()
    save()
    final = ema if ema is not None else acc.unwrap_model(model)
    if acc.num_processes > 1:  # the ranks' weights (and EMA) must agree: the checksum makes a drift visible
        checksum = sum(float(p.double().sum()) for p in final.state_dict().values() if p.is_floating_point())
        print(f"{desc}: rank {acc.process_index} finished at step {step}, weights checksum {checksum:.10e}",
              flush=True)
    return {"state_dict": final.state_dict(), "wall_s": wall, "steps": step,
            "logs": {k: float(v) for k, v in logs.items()}}


def image_gradient_l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """L1 between horizontal and vertical finite differences of two image batches: keeps corners and edges sharp
    where L1 / L2 alone average them away (used by the decoder fine-tunes of the diffusion and VAE families)."""
    dx = lambda x: x[..., :, 1:] - x[..., :, :-1]
    dy = lambda x: x[..., 1:, :] - x[..., :-1, :]
    return (dx(a) - dx(b)).abs().mean() + (dy(a) - dy(b)).abs().mean()
