"""``python -m genmodels train distill [--from TEACHER] [--steps-from 64] [--steps-to 1]``: guided, then progressive
distillation of the tiny Stable Diffusion (papers: progressive.py).

Stage "w" (Meng et al. 2023, stage 1): a student with a w input (``time_cond_proj_dim``), initialised from the
teacher, learns the classifier-free-guided teacher's v for w ~ U[1, 8] at the timesteps of the ``steps_from`` grid
(one teacher call with the conditional and unconditional rows). Stages n = steps_from / 2 … steps_to (Salimans & Ho
2022, Algorithm 2; Meng et al.'s stage 2): a copy of the previous student learns two of its DDIM steps in one, at
the n-step grid's timesteps, v-space MSE (= SNR+1-weighted x-space MSE). The first grid point takes pure noise, as
the sampler does (the schedule's alpha-bar at t = 999 is 0.0047, not 0). Every stage is its own resumable run
(``runs/distill/<stage>/ckpt.pt``) and, when done, its own folder ``weights/distill/student-<n>`` (a diffusers
``UNet2DConditionModel`` + ``DDIMScheduler`` config, ``save_pretrained``, fp16); a finished stage is skipped when
the command runs again. While a stage trains, the student's FID_domain and caption accuracy at its step count are
logged with plain DDIM's at the same step count (``monitor.jsonl``), so a stage that does not beat DDIM shows early.

The full students stay in the run folder (``<run-dir>/students/student-<n>``, 12.7 MB each). What ships is a LoRA
per student (lora.py; LCM-LoRA's format, Luo et al. 2023): stage "lora-<n>" extracts the low-rank update of the full
n-step student over the teacher (SVD, ranks shared out under a 7.6 MB budget) and fine-tunes the LoRA factors alone
with stage n's progressive loss (its teacher per ``DistillRecipe.lora_teacher``), monitored as the full stages are;
it writes
``weights/distill/student-<n>`` (``pytorch_lora_weights.safetensors`` + the UNet config).
"""
from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ...training import TrainConfig, accelerator, infinite_batches, train
from . import evaluate as E
from . import progressive as P
from . import lora as L
from .students import OUT, SHIPPED, read_student, student_folder

RUNS = Path("runs") / "distill"


@dataclass(frozen=True)
class DistillRecipe:
    # optimisation steps per stage ("w" = the guided stage 1, then student step counts); later stages get more:
    # the fewer the steps, the further apart the two teacher steps a student step must learn (Salimans & Ho)
    stage_steps: dict = field(default_factory=lambda: {"w": 1200, 32: 300, 16: 400, 8: 600, 4: 900, 2: 1000,
                                                       1: 1000})
    batch: int = 64
    lr: float = 2e-4
    ema: float = 0.99
    n_train: int = 60_000
    monitor_every: int = 200
    monitor_n: int = 256
    # the LoRA stages (shipped students): fine-tune steps after extraction, learning rate, parameter budget
    lora_steps: dict = field(default_factory=lambda: {8: 300, 4: 900, 2: 400, 1: 400})
    # whose two steps a LoRA student learns: "cfg" = the original teacher with CFG on the 2n grid (where plain DDIM
    # at 2n steps beats the full 2n-step student: held-out FID 13.63 vs 16.55 at 8 steps), "student" = the full 2n
    # student (Salimans & Ho's chain), "shipped" = the 2n-step LoRA student this run made before it
    lora_teacher: dict = field(default_factory=lambda: {8: "cfg", 4: "shipped", 2: "student", 1: "student"})
    lora_lr: float = 1e-4
    lora_budget: int = L.BUDGET_PARAMS


RECIPE = DistillRecipe()


def stages(steps_from: int, steps_to: int) -> list[int]:
    """Student step counts from steps_from / 2 down to steps_to, halving."""
    if steps_from < 2 or steps_from & (steps_from - 1) or steps_to < 1 or steps_to & (steps_to - 1) \
            or steps_to >= steps_from:
        raise ValueError(f"--steps-from and --steps-to must be powers of two with steps-to < steps-from, got "
                         f"{steps_from} and {steps_to}")
    out, n = [], steps_from // 2
    while n >= steps_to:
        out.append(n)
        n //= 2
    return out


def save_scheduler(folder: Path) -> None:
    """The students' sampler config: DDIM on the trailing grid, the last step to alpha-bar = 1 (progressive.py)."""
    from diffusers import DDIMScheduler

    from ..diffusion import tiny_sd

    sched = DDIMScheduler.from_config(tiny_sd.default_scheduler().config, set_alpha_to_one=True,
                                      timestep_spacing="trailing")
    sched.save_pretrained(str(folder))


def save_student(unet, folder: Path, info: dict) -> None:
    from ..diffusion import tiny_sd

    folder.mkdir(parents=True, exist_ok=True)
    tiny_sd.save_fp16(unet, folder)
    save_scheduler(folder)
    (folder / "distill.json").write_text(json.dumps(info, indent=2) + "\n")


class _Monitor:
    """FID_domain / caption accuracy of the EMA student at its step count next to plain DDIM's (the CFG teacher at
    the same step count) and the teacher's at steps_from, on the first ``n`` test captions (w = 3)."""

    def __init__(self, pipe, n: int, steps_from: int, log: Path):
        self.pipe, self.n, self.log = pipe, n, log
        self.caps, _ = E.prompts(n)
        self._ddim: dict[int, dict] = {}
        self.logged: dict[tuple, dict] = {}
        self.teacher = self.ddim(steps_from)

    def ddim(self, steps: int) -> dict:
        if steps not in self._ddim:
            imgs = E.draw(self.pipe, lambda c, u: P.cfg_denoiser(self.pipe.unet, c, u, E.EVAL_W), steps, self.caps)
            self._ddim[steps] = E.score(imgs)
        return self._ddim[steps]

    def __call__(self, stage, steps: int, step: int, student, wall: float) -> dict:
        if (str(stage), step) in self.logged:  # the hook already read this step's EMA student
            return self.logged[(str(stage), step)]
        net = copy.deepcopy(student).cpu().eval()
        imgs = E.draw(self.pipe, lambda c, u: P.student_denoiser(net, c, E.EVAL_W), steps, self.caps)
        s, d = E.score(imgs), self.ddim(steps)
        rec = {"stage": str(stage), "student_steps": steps, "step": step, "wall_min": round(wall / 60, 2),
               "n": self.n, "w": E.EVAL_W, **{f"student {k}": v for k, v in s.items()},
               **{f"DDIM {k}": v for k, v in d.items()}, "teacher FID_domain": self.teacher["FID_domain"]}
        with open(self.log, "a") as f:
            f.write(json.dumps(rec) + "\n")
        print("monitor", rec, flush=True)
        self.logged[(str(stage), step)] = rec
        return rec


def stage_loss(stage, n: int, teacher_net, ac: torch.Tensor, hid: torch.Tensor, empty: torch.Tensor, seed: int,
               cfg_teacher: bool = False):
    """The loss of stage ``stage`` (``"w"``: match the CFG teacher's v for w ~ U[W_RANGE]; a step count n: the
    progressive target, two DDIM steps of ``teacher_net`` in one — a w-student, or with ``cfg_teacher`` the
    original UNet with classifier-free guidance at the same w) at the n-step grid's timesteps, v-space MSE."""
    grid_n = torch.tensor(P.grid(n)[:-1])

    def loss_fn(m, b, step):
        z0, cid = b
        dev = z0.device
        teacher_net.to(dev)
        g = torch.Generator().manual_seed(seed * 7919 + step)
        w = (P.W_RANGE[0] + (P.W_RANGE[1] - P.W_RANGE[0]) * torch.rand(len(z0), generator=g)).to(dev)
        k = torch.randint(0, n, (len(z0),), generator=g)
        t = grid_n[k].to(dev)
        noise = torch.randn(z0.shape, generator=g).to(dev)
        abar = P.abar_at(ac, grid_n[k]).view(-1, 1, 1, 1).to(dev)
        first = (k == 0).view(-1, 1, 1, 1).to(dev)
        zt = torch.where(first, noise, abar.sqrt() * z0 + (1 - abar).sqrt() * noise)
        cond = hid.to(dev)[cid]
        if stage == "w":
            with torch.no_grad():
                target = P.cfg_denoiser(teacher_net, cond, empty.to(dev), w)(zt, t)
        else:
            two = P.cfg_denoiser(teacher_net, cond, empty.to(dev), w) if cfg_teacher else \
                P.student_denoiser(teacher_net, cond, w)
            target = P.progressive_target(two, zt, k, n, ac)
        pred = P.student_denoiser(m, cond, w)(zt, t)
        loss = (pred - target).pow(2).mean()
        return loss, {"loss": loss.detach()}

    return loss_fn


def train_distill(steps: int | None = None, out=None, seed: int = 0, run_dir=None, teacher: str | None = None,
                  steps_from: int = 64, steps_to: int = 1, recipe: DistillRecipe = RECIPE,
                  n_train: int | None = None, monitor: bool = True) -> dict:
    """Run the missing stages. ``steps``: optimisation steps for every stage (default: the recipe's per stage);
    ``teacher``: 'embedded' (the f = 4 tiny-sd, the default) or a pipeline folder in the SD 1.x layout
    (v-prediction)."""
    from ..diffusion import service
    from ..diffusion.common import caption_table, text_hidden, train_latents

    plan = ["w"] + stages(steps_from, steps_to)
    out, runs = Path(out) if out else OUT, Path(run_dir) if run_dir else RUNS
    teacher = teacher or service.EMBEDDED
    pipe = service.load_pipeline(teacher)
    if pipe.scheduler.config.prediction_type != "v_prediction":
        raise ValueError(f"the teacher must be a v-prediction model (Salimans & Ho); '{teacher}' predicts "
                         f"{pipe.scheduler.config.prediction_type}")
    ac = pipe.scheduler.alphas_cumprod.float()
    n_train = n_train or recipe.n_train
    uniq, cap_ids, _ = caption_table(n_train)
    lat = train_latents(pipe.vae, service.resolve_source(teacher, service.EMBEDDED_PIPE), n_train)
    hid = text_hidden(pipe.text_encoder, pipe.tokenizer, uniq + [""])
    empty = hid[-1:]
    runs.mkdir(parents=True, exist_ok=True)
    mon = _Monitor(pipe, recipe.monitor_n, steps_from, runs / "monitor.jsonl") if monitor else None
    done: dict = {}
    full_root = runs / "students"
    fulls: dict = {}
    prev, prev_steps = None, steps_from
    for stage in plan:
        dest = student_folder(stage, full_root)
        n = steps_from if stage == "w" else stage
        if (dest / "distill.json").exists():
            done[str(stage)] = json.loads((dest / "distill.json").read_text())
            prev, prev_steps = read_student(dest), n
            fulls[n if stage != "w" else "w"] = prev
            continue
        student = P.make_w_student(pipe.unet) if stage == "w" else copy.deepcopy(prev)
        student.train().requires_grad_(True)
        if stage == "w":
            teacher_net = pipe.unet.requires_grad_(False)
        else:
            teacher_net = prev.eval().requires_grad_(False)

        loss_fn = stage_loss(stage, n, teacher_net, ac, hid, empty, seed)

        n_steps = steps or recipe.stage_steps[stage]
        cfg = TrainConfig(steps=n_steps, lr=recipe.lr, weight_decay=0.0, warmup=min(50, n_steps), ckpt_every=100,
                          seed=seed, ema=recipe.ema)
        hook = None
        if mon is not None:
            def hook(step, net, wall, stage=stage, n=n):
                mon(stage, n, step, net, wall)
        t0 = time.perf_counter()
        res = train(student, loss_fn, infinite_batches((lat, cap_ids), recipe.batch, seed), cfg, runs / str(stage),
                    desc=f"distill-{stage}", hook=hook, hook_every=recipe.monitor_every if mon else 0)
        student.load_state_dict(res["state_dict"])
        student.eval()
        final = mon(stage, n, res["steps"], student, res["wall_s"]) if mon is not None else {}
        info = {"stage": str(stage), "student_steps": n, "teacher_steps": prev_steps if stage != "w" else n,
                "teacher": "CFG teacher (w input learned)" if stage == "w" else
                ("student-w" if prev_steps == steps_from else f"student-{prev_steps}"),
                "w_range": list(P.W_RANGE), "train_steps": res["steps"], "wall_min": round(res["wall_s"] / 60, 2),
                "wall_min_with_monitor": round((time.perf_counter() - t0) / 60, 2), "batch": recipe.batch,
                "lr": recipe.lr, "ema": recipe.ema, "n_train": n_train, "seed": seed,
                "device": str(accelerator().device), "monitor_at_end": final,
                "recipe": {k: (v if not isinstance(v, dict) else {str(a): b for a, b in v.items()})
                           for k, v in asdict(recipe).items()}}
        save_student(student, dest, info)
        _copy_monitor(runs, out)
        done[str(stage)] = info
        prev, prev_steps = student, n
        fulls[n if stage != "w" else "w"] = student
    for n in [n for n in SHIPPED if n in plan]:
        dest = student_folder(n, out)
        if (dest / "distill.json").exists() and (dest / L.LORA_WEIGHTS).exists():
            done[f"lora-{n}"] = json.loads((dest / "distill.json").read_text())
            continue
        done[f"lora-{n}"] = lora_stage(n, fulls[n], lora_teacher(n, recipe, fulls, out, pipe), pipe, ac, hid, empty,
                                       seed, recipe, steps, (lat, cap_ids), runs, dest, mon, teacher)
        _copy_monitor(runs, out)
    return {k: {"steps": v["train_steps"], "wall_min": v["wall_min"]} for k, v in done.items()}


def _copy_monitor(runs: Path, out: Path) -> None:
    if (runs / "monitor.jsonl").exists():
        out.mkdir(parents=True, exist_ok=True)
        (out / "monitor.jsonl").write_text((runs / "monitor.jsonl").read_text())


def lora_teacher(n: int, recipe: DistillRecipe, fulls: dict, out: Path, pipe) -> tuple[str, str, object]:
    """(kind, name, net) of whose two steps the n-step LoRA student learns (``recipe.lora_teacher``): the CFG
    teacher on the 2n grid, the 2n-step LoRA student shipped before it, or the full 2n-step student (student-w
    when 2n is the teacher's step count)."""
    kind = recipe.lora_teacher.get(n, "student")
    if kind == "cfg":
        return kind, f"CFG teacher, {2 * n} DDIM steps", pipe.unet
    if kind == "shipped" and 2 * n in SHIPPED:
        return kind, f"student-{2 * n} (LoRA, shipped)", read_student(student_folder(2 * n, out))
    if 2 * n in fulls:
        return "student", f"student-{2 * n} (full)", fulls[2 * n]
    return "student", "student-w (full)", fulls["w"]


def lora_stage(n: int, full, prev: tuple, pipe, ac, hid, empty, seed: int, recipe: DistillRecipe, steps: int | None,
               data: tuple, runs: Path, dest: Path, mon, teacher: str) -> dict:
    """The shipped n-step student as a LoRA on the teacher (lora.py): extraction from the full student, then the
    LoRA factors alone fine-tuned with stage n's progressive loss, ``prev`` = (kind, name, net) from
    ``lora_teacher``. Returns (and writes into ``dest``) its card info."""
    t0 = time.perf_counter()
    kind, prev_name, prev_net = prev
    base = L.base_unet(pipe.unet)
    ranks, factors, stats = L.extract(full, base, recipe.lora_budget)
    student = L.attach(base, ranks, factors)
    student.requires_grad_(False)
    params = L.lora_parameters(student)
    for p in params:
        p.requires_grad_(True)
    student.train()
    stage = f"lora-{n}" + ("" if kind == "student" else f"-{kind}")
    if mon is not None:
        mon(stage, n, 0, student, 0.0)  # the extracted LoRA before any fine-tune
    n_steps = steps or recipe.lora_steps[n]
    cfg = TrainConfig(steps=n_steps, lr=recipe.lora_lr, weight_decay=0.0, warmup=min(50, n_steps), ckpt_every=100,
                      seed=seed + n, ema=recipe.ema)
    hook = None
    if mon is not None:
        def hook(step, net, wall):
            mon(stage, n, step, net, wall)
    res = train(student, stage_loss(n, n, prev_net.eval().requires_grad_(False), ac, hid, empty, seed + n,
                                    cfg_teacher=kind == "cfg"),
                infinite_batches(data, recipe.batch, seed + n), cfg, runs / stage, params=params,
                desc=f"distill-{stage}", hook=hook, hook_every=recipe.monitor_every if mon else 0)
    student.load_state_dict(res["state_dict"])
    student.eval()
    final = mon(stage, n, res["steps"], student, res["wall_s"]) if mon is not None else {}
    size = L.save_lora_student(student, dest)
    full_info = student_folder(n, runs / "students") / "distill.json"
    save_scheduler(dest)
    info = {"stage": stage, "student_steps": n, "format": "LoRA on the teacher (pytorch_lora_weights.safetensors)",
            "teacher": prev_name, "base_pipeline": teacher, "extraction": stats, "lora_bytes": size,
            "ranks": {"min": min(ranks.values()), "max": max(ranks.values()), "layers": len(ranks)},
            "train_steps": res["steps"], "wall_min": round(res["wall_s"] / 60, 2),
            "wall_min_with_monitor": round((time.perf_counter() - t0) / 60, 2), "batch": recipe.batch,
            "lr": recipe.lora_lr, "ema": recipe.ema, "seed": seed, "device": str(accelerator().device),
            "monitor_at_end": final, "full_student": (json.loads(full_info.read_text()) if full_info.exists()
                                                      else None)}
    (dest / "distill.json").write_text(json.dumps(info, indent=2) + "\n")
    return info
