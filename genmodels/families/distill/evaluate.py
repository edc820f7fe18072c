"""Held-out evaluation of the distilled students: ``python -m genmodels.families.distill.evaluate``.

Protocol (the issue's): prompts = captions of the first N items of the shapes test split, image i from the initial
noise of seed i (the same noise for the teacher, plain DDIM and every student); the teacher is the diffusion tab's
tiny Stable Diffusion with classifier-free guidance at w; FID_domain on the shapes backbone vs the 2,000-item test
split, caption accuracy = class, colour and fill all read by the scoring module's shapes classifier, CLIP score with
the scoring module's CLIP. The teacher's images are a deterministic function of its weights, the step count, w and
N, so they are kept in the cache (keyed by a hash of the UNet's weights) and the 64-step teacher is drawn once.
"""
from __future__ import annotations

import hashlib
import json
import time

import numpy as np
import torch

from ...data.dataset import cache_dir
from . import progressive as P
from .students import STUDENT_STEPS

TEACHER_STEPS = 64
EVAL_W = 3.0  # the diffusion tab's default CFG scale


def weights_key(module: torch.nn.Module) -> str:
    h = hashlib.sha1()
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().half().numpy().tobytes())
    return h.hexdigest()[:16]


def initial_noise(start: int, n: int, shape=(4, 16, 16)) -> torch.Tensor:
    """Image i's initial latent: ``randn`` from a generator seeded with i (as the diffusion tab's samplers)."""
    return torch.cat([torch.randn((1, *shape), generator=torch.Generator().manual_seed(start + i))
                      for i in range(n)])


def latent_shape(pipe) -> tuple[int, int, int]:
    c, size = pipe.unet.config.in_channels, pipe.unet.config.sample_size
    return c, size, size


def prompts(n: int, start: int = 0):
    from ..diffusion import lab

    caps, labels, _ = lab.test_prompts(n, start)
    return caps, labels


@torch.no_grad()
def draw(pipe, make, steps: int, caps: list[str], start: int = 0, batch: int = 250) -> np.ndarray:
    """uint8 images for ``caps`` (image i from seed start + i); ``make(cond, uncond)`` -> a denoiser."""
    from ..diffusion import lab

    uncond, _ = lab.encode_text(pipe, [""])
    shape = latent_shape(pipe)
    out = []
    for a in range(0, len(caps), batch):
        cond, _ = lab.encode_text(pipe, caps[a:a + batch])
        z = P.sample(make(cond, uncond), initial_noise(start + a, len(cond), shape), steps,
                     pipe.scheduler.alphas_cumprod)
        out.append(lab.decode(pipe, z))
    return np.concatenate(out)


def teacher_images(pipe, steps: int, n: int, w: float = EVAL_W) -> np.ndarray:
    """The CFG teacher's images for the first n test captions (cached per UNet weights, steps, w, n)."""
    path = cache_dir() / "distill" / f"teacher-{weights_key(pipe.unet)}-s{steps}-w{w:g}-n{n}.npy"
    if path.exists():
        return np.load(path)
    caps, _ = prompts(n)
    images = draw(pipe, lambda c, u: P.cfg_denoiser(pipe.unet, c, u, w), steps, caps)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path.with_suffix(".tmp.npy"), images)
    path.with_suffix(".tmp.npy").replace(path)
    return images


def student_images(pipe, student, steps: int, n: int, w: float = EVAL_W) -> np.ndarray:
    caps, _ = prompts(n)
    return draw(pipe, lambda c, u: P.student_denoiser(student, c, w), steps, caps)


def score(images: np.ndarray, n_boot: int = 0, teacher: np.ndarray | None = None) -> dict:
    """FID_domain, caption accuracy, shape accuracy and CLIP score of images drawn for the first len(images) test
    captions; with ``teacher`` (the 64-step teacher's images for the same captions and noise) also the FID to the
    teacher's samples — how close a few-step sampler's distribution is to the one it stands in for."""
    from ...scoring.readout import score_clip, score_sets
    from ..diffusion import lab

    caps, labels = prompts(len(images))
    hits = lab.attribute_hits(images, labels)
    fid = score_sets(images, "shapes-test", metrics=["fid"], n_boot=max(n_boot, 1))[0]
    out = {"FID_domain": round(float(fid.value), 2),
           "caption accuracy": round(float(hits["class+colour+fill"].mean()), 4),
           "shape": round(float(hits["shape"].mean()), 4),
           "CLIP score": round(float(score_clip(images, caps).value), 2)}
    if teacher is not None:
        to_teacher = score_sets(images, teacher, metrics=["fid"], n_boot=max(n_boot, 1))[0]
        out["FID to the teacher's samples"] = round(float(to_teacher.value), 2)
    return out


def timed(fn) -> tuple[object, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def speedup(pipe, student, student_steps: int = 4, n: int = 8, rounds: int = 5, w: float = EVAL_W) -> dict:
    """Wall time of one request of n images (text encoder + sampling + VAE decode), teacher at 64 CFG steps vs the
    student, alternated round by round; medians."""
    import statistics
    from functools import partial

    caps, _ = prompts(n)
    teacher = partial(draw, pipe, lambda c, u: P.cfg_denoiser(pipe.unet, c, u, w), TEACHER_STEPS, caps)
    fast = partial(draw, pipe, lambda c, u: P.student_denoiser(student, c, w), student_steps, caps)
    teacher(), fast()  # warm-up
    tt, ts = [], []
    for _ in range(rounds):
        tt.append(timed(teacher)[1])
        ts.append(timed(fast)[1])
    t, s = statistics.median(tt), statistics.median(ts)
    return {"teacher_s": t, "student_s": s, "speedup": t / s, "n": n, "rounds": rounds}


def run_all(n: int = 2000, out=None) -> dict:
    """The issue's acceptance run: teacher (CFG w = 3) at 64 steps and plain DDIM at every student step count, each
    student at w = 3, N test captions; the 4-step speedup; writes ``metrics.json`` (cards) and ``curve.json`` (the
    tab's plots) into the students' folder and a README card per student."""
    from pathlib import Path

    from ..diffusion import service as sd
    from .students import OUT, TEACHER, available, load_student

    root = Path(out) if out else OUT
    pipe = sd.load_pipeline(str(TEACHER))
    rows, cols, t0 = [], {}, time.perf_counter()

    reference = teacher_images(pipe, TEACHER_STEPS, n)

    def add(sampler, steps, images):
        sc = score(images, teacher=None if steps == TEACHER_STEPS and sampler.startswith("teacher") else reference)
        for metric, value in sc.items():
            rows.append({"sampler": sampler, "steps": steps, "metric": metric, "value": value, "n": len(images)})
        return sc

    cols[f"teacher, {TEACHER_STEPS} steps"] = add("teacher, DDIM (CFG)", TEACHER_STEPS, reference)
    steps_here = available(root)
    for k in sorted(set(STUDENT_STEPS) | set(steps_here), reverse=True):
        cols[f"plain DDIM, {k} steps"] = add("teacher, DDIM (CFG)", k, teacher_images(pipe, k, n))
        print(json.dumps({"DDIM": k, **cols[f"plain DDIM, {k} steps"]}), flush=True)
    for k in steps_here:
        student = load_student(k, str(root))
        cols[f"student, {k} steps"] = add("distilled student", k, student_images(pipe, student, k, n))
        print(json.dumps({"student": k, **cols[f"student, {k} steps"]}), flush=True)
    timing = speedup(pipe, load_student(4, str(root))) if 4 in steps_here else {}
    teacher_fid = cols[f"teacher, {TEACHER_STEPS} steps"]["FID_domain"]
    for k in steps_here:
        c = cols[f"student, {k} steps"]
        c["FID / teacher-64 FID"] = round(c["FID_domain"] / teacher_fid, 3)
        ddim = cols[f"plain DDIM, {k} steps"]["FID_domain"]
        c["FID / plain DDIM FID (same steps)"] = round(c["FID_domain"] / ddim, 3)
    if timing:
        cols["student, 4 steps"]["speedup vs teacher-64 (wall, 8 images)"] = round(timing["speedup"], 1)
    data = {"columns": cols, "timing": timing, "seconds": round(time.perf_counter() - t0, 1), "rows": rows,
            "footnote": (f"N = {n} test-split captions, image i from seed i (the same initial noise for every "
                         f"sampler), w = {EVAL_W:g} (CFG for the teacher and plain DDIM, the w input for the "
                         "students); FID_domain on the shapes backbone vs the 2,000-item test split; caption accuracy "
                         "= class, colour and fill recognised by the scoring classifier; CLIP score with the scoring "
                         "module's CLIP. Speedup: median wall time of 5 alternated requests of 8 images, text encoder "
                         "and VAE decode included. `python -m genmodels bench --only distill`")}
    root.mkdir(parents=True, exist_ok=True)
    (root / "metrics.json").write_text(json.dumps({k: v for k, v in data.items() if k != "rows"}, indent=2) + "\n")
    (root / "curve.json").write_text(json.dumps({"rows": rows, "footnote": data["footnote"]}, indent=1) + "\n")
    write_cards(root, data)
    return data


def _made(info: dict) -> dict:
    """How a student was made, for the overview table: its teacher, optimisation steps and wall minutes (a LoRA
    student: its full student's training plus the LoRA fine-tune)."""
    full = info.get("full_student")
    if not full:
        return {"teacher": info["teacher"], "steps": info["train_steps"], "wall_min": info["wall_min"]}
    return {"teacher": f"{full['teacher']}; LoRA: {info['teacher']}",
            "steps": f"{full['train_steps']} + {info['train_steps']}",
            "wall_min": round(full["wall_min"] + info["wall_min"], 2)}


def write_cards(root, data: dict) -> None:
    """README.md per student folder: what it is, how it was made (stage, teacher, steps, wall time) and the
    held-out numbers of the last acceptance run; and the folder's own README.md, the overview."""
    infos = {}
    for folder in sorted(root.glob("student-*")):
        if (folder / "distill.json").exists():
            infos[folder.name] = json.loads((folder / "distill.json").read_text())
    order = sorted(infos, key=lambda k: -infos[k]["student_steps"] - (1000 if infos[k]["stage"] == "w" else 0))
    head = ["---", "license: apache-2.0", "library_name: diffusers", "tags: [genmodels, distillation, shapes]", "---",
            "# distill: few-step students of the tiny Stable Diffusion", "",
            "Guided distillation (Meng et al. 2023, arXiv:2210.03142) then progressive distillation (Salimans & Ho "
            "2022, arXiv:2202.00512) of the embedded tiny Stable Diffusion `genmodels/weights/tiny-sd` (f = 4, "
            "8×8×8 latents; v-prediction, CFG), trained here on CPU. One folder per student: a LoRA on the "
            "teacher's UNet in diffusers' layout (`pytorch_lora_weights.safetensors`, as LCM-LoRA, Luo et al. "
            "2023, arXiv:2311.05556) + the student's `UNet2DConditionModel` config (w input: `time_cond_proj_dim`) "
            "+ `DDIMScheduler` config + `distill.json` (how it was made) + its card. Reproduce everything with "
            "`python -m genmodels train distill` (resumable per stage); numbers with "
            "`python -m genmodels bench --only distill`.", "",
            "| student | steps | distilled from | training steps | wall min | FID_domain | caption accuracy | "
            "CLIP score |", "|---|---|---|---|---|---|---|---|"]
    total = 0.0
    for name in order:
        i = infos[name]
        made = _made(i)
        total += made["wall_min"]
        held = data["columns"].get(f"student, {i['student_steps']} steps", {}) if i["stage"] != "w" else {}
        head.append(f"| [{name}]({name}/README.md) | {i['student_steps']} | {made['teacher']} | {made['steps']} | "
                    f"{made['wall_min']} | {held.get('FID_domain', '—')} | {held.get('caption accuracy', '—')} | "
                    f"{held.get('CLIP score', '—')} |")
    teacher = data["columns"].get(f"teacher, {TEACHER_STEPS} steps", {})
    head += ["", f"The listed students' own stages: {total:.1f} min of training loop on this machine (2 CPU threads, "
             "one job; a LoRA student: its full stage + its LoRA fine-tune; the stages before them are in "
             "docs/models.md). Teacher "
             f"(CFG w = {EVAL_W:g}, {TEACHER_STEPS} DDIM steps), same run: " +
             ", ".join(f"{m} {v}" for m, v in teacher.items()) + ".", "", data.get("footnote", ""), ""]
    (root / "README.md").write_text("\n".join(head) + "\n")
    for folder in sorted(root.glob("student-*")):
        info_path = folder / "distill.json"
        if not info_path.exists():
            continue
        info = json.loads(info_path.read_text())
        k = info["student_steps"]
        held = data["columns"].get(f"student, {k} steps", {}) if info["stage"] != "w" else {}
        lora = info.get("full_student") is not None or str(info["stage"]).startswith("lora")
        full = info.get("full_student") or info
        lines = ["---", "license: apache-2.0", "library_name: diffusers", "tags: [genmodels, distillation, shapes]",
                 "---", f"# {folder.name}", "",
                 ("Guided-distillation stage 1 (Meng et al. 2023): the w-conditioned student of the tiny Stable "
                  "Diffusion, sampled with 64 DDIM steps; the starting point of the progressive stages."
                  if info["stage"] == "w" else
                  f"Progressive distillation (Salimans & Ho 2022) of the w-conditioned student: {k} DDIM step"
                  f"{'s' if k > 1 else ''}, distilled from {full['teacher']} ({full['teacher_steps']} steps)."), ""]
        if lora:
            ex = info["extraction"]
            lines += ["A **LoRA** on the teacher's UNet (Hu et al. 2021; shipped as LCM-LoRA is, Luo et al. 2023), "
                      f"{info['lora_bytes'] / 1e6:.1f} MB fp16: ranks {info['ranks']['min']}–{info['ranks']['max']} "
                      f"on {info['ranks']['layers']} Linear / Conv2d layers (ranks shared out by singular-value "
                      f"energy per parameter; {ex['lora parameters']:,} parameters). Base: the teacher UNet of "
                      "`genmodels/weights/tiny-sd` with the w input (`time_cond_proj_dim` 256, LCM's guidance "
                      "embedding) added at zero; `config.json` is that UNet's config. Load: "
                      "`genmodels.families.distill.lora.read_lora_student` (the base, then diffusers' "
                      "`load_lora_adapter` + `fuse_lora`).", "",
                      "- **Reproduce:** `python -m genmodels train distill` (every stage, resumable; a finished "
                      "stage is skipped)",
                      f"- **Full student:** {full['train_steps']} steps at batch {full['batch']}, lr {full['lr']}, "
                      f"EMA {full['ema']}, w ~ U[{full['w_range'][0]:g}, {full['w_range'][1]:g}], "
                      f"{full['n_train']:,} train latents; {full['wall_min']} min of training loop, {full['device']}",
                      f"- **LoRA:** SVD extraction of (full student − base) (relative Frobenius error of the update "
                      f"{ex['relative error']}), then {info['train_steps']} fine-tune steps of the LoRA factors alone "
                      f"with this stage's progressive loss ({info['teacher']} as teacher), batch {info['batch']}, lr "
                      f"{info['lr']}, EMA {info['ema']}; {info['wall_min']} min ({info['wall_min_with_monitor']} with "
                      f"the monitor), {info['device']}, the only training job on the machine",
                      f"- **Monitor:** the rows of stages {k} and {info['stage']} in `../monitor.jsonl` (student vs "
                      "plain DDIM at the same steps, N = 256; step 0 = the extracted LoRA before fine-tuning)"]
            lines += [f"- **Note:** {info['note']}", ""] if info.get("note") else [""]
        else:
            lines += ["A diffusers `UNet2DConditionModel` (`time_cond_proj_dim` 256: the guidance weight w, embedded "
                      "as LCM's) and a `DDIMScheduler` config (trailing timesteps, v-prediction). It uses the VAE and "
                      "text encoder of `genmodels/weights/tiny-sd`. Sampler: "
                      "`genmodels.families.distill.progressive.sample`.",
                      "", "- **Reproduce:** `python -m genmodels train distill` (every stage, resumable; a finished "
                      "stage is skipped)",
                      f"- **Training:** {info['train_steps']} steps at batch {info['batch']}, lr {info['lr']}, EMA "
                      f"{info['ema']}, w ~ U[{info['w_range'][0]:g}, {info['w_range'][1]:g}], {info['n_train']:,} "
                      f"train latents; {info['wall_min']} min of training loop ({info['wall_min_with_monitor']} min "
                      f"with the monitor), {info['device']}, the only training job on the machine (other processes "
                      "sharing it: docs/models.md)",
                      "- **Monitor:** the stage's rows of `../monitor.jsonl` (student vs plain DDIM at the same "
                      "steps, N = 256, every 200 steps)", ""]
        if held:
            lines += ["## Held-out (acceptance run)", "", data["footnote"], "", "| metric | value |", "|---|---|"]
            lines += [f"| {m} | {v} |" for m, v in held.items()]
            ddim = data["columns"].get(f"plain DDIM, {k} steps", {})
            lines += ["", f"Plain DDIM of the teacher at {k} steps, same run: " +
                      ", ".join(f"{m} {v}" for m, v in ddim.items()), ""]
        (folder / "README.md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--teacher-only", action="store_true", help="draw (and cache) the 64-step teacher only")
    a = ap.parse_args(argv)
    torch.set_num_threads(2)
    from ..diffusion import service

    if not a.teacher_only:
        print(json.dumps(run_all(a.n), indent=1))
        return
    from .students import TEACHER

    pipe = service.load_pipeline(str(TEACHER))
    images, wall = timed(lambda: teacher_images(pipe, TEACHER_STEPS, a.n))
    print(json.dumps({"teacher_steps": TEACHER_STEPS, "n": a.n, "seconds": round(wall, 1), **score(images)}),
          flush=True)


if __name__ == "__main__":
    main()
