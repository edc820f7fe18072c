"""One short GPU window, used well: train several embedded-model recipes side by side on one large GPU.

``python scripts/gpu_round.py --seconds 400 --out DIR`` pre-renders the shapes arrays and the SD latents once, then
starts one process per job (2 CPU threads each; the GPU is shared) with a wall-clock deadline, and packs each job's
weights, monitor curves and log into ``DIR/<job>.tar.gz``. Jobs are the recipes of ``python -m genmodels train``
(genmodels/families/*/train.py) with a larger batch; variants differ in one setting each. Evaluation at N = 2,000
happens afterwards on any machine (``python -m genmodels`` model cards), not here: GPU minutes are for training.

``python scripts/gpu_round.py --job NAME --seconds S --out DIR`` runs one job (what the launcher starts).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# name -> (kind, recipe overrides); "plain" = the pixel-D recipe (_PLAIN) instead of the projected / guided one
GAN_JOBS = {
    "cgan-g1": ("cgan", {"batch": 128, "monitor_every": 1000}),
    "cgan-g03": ("cgan", {"batch": 128, "monitor_every": 1000, "guide_weight": 0.3}),
    "cgan-plain": ("cgan", {"plain": True, "batch": 128, "monitor_every": 1000}),
    "stylegan-g1": ("stylegan", {"batch": 64, "monitor_every": 1000}),
    "stylegan-plain": ("stylegan", {"plain": True, "batch": 64, "monitor_every": 1000}),
    "dcgan": ("dcgan", {"plain": True, "batch": 128, "monitor_every": 1000}),
}
SD_JOBS = {"sd-base": {"text_time": False}, "sd-texttime": {"text_time": True}}
N_TRAIN_GAN, N_TRAIN_SD = 100_000, 60_000
SMOKE = bool(os.environ.get("GPU_ROUND_SMOKE"))  # a CPU check of every code path: tiny batches, monitors often


def prerender() -> None:
    """Render every array the jobs read (and the SD latents) once, so the jobs do not race on the cache."""
    import torch

    from genmodels.data import shapes
    from genmodels.data.dataset import shapes_arrays
    from genmodels.families.diffusion.common import PIPE, WEIGHTS, load_part, train_latents

    w = min(16, os.cpu_count() or 1)
    torch.set_num_threads(w)
    shapes_arrays("train", N_TRAIN_GAN, workers=w)
    shapes_arrays("train", N_TRAIN_SD, workers=w)
    shapes_arrays("train", N_TRAIN_SD, full=True, workers=w)
    shapes_arrays("test", shapes.TEST_SPLIT_SIZE, workers=w)
    train_latents(load_part("vae", WEIGHTS / PIPE), WEIGHTS / PIPE, N_TRAIN_SD)


def run_gan(name: str, seconds: float, out: Path) -> None:
    from genmodels.families.gan import evaluate, train as gt
    from genmodels.training import set_deadline

    kind, over = GAN_JOBS[name]
    over = dict(over, bf16=False)  # float32 as on the CPU: the step is launch-bound at this size anyway
    base = gt._PLAIN[kind] if over.pop("plain", False) else gt.RECIPES[kind]
    if SMOKE:
        over.update(batch=8, monitor_every=3)
    gt.RECIPES[kind] = dataclasses.replace(base, **over)
    record = {}

    def no_card(kind_, G, folder, steps, wall_s, **kw):  # cards are written later at N = 2,000, off the GPU
        record.update(kind=kind_, steps=steps, wall_s=round(wall_s, 1),
                      recipe=dataclasses.asdict(gt.RECIPES[kind]))
        return record

    evaluate.write_model_card = no_card
    set_deadline(seconds)
    dest = out / name / "weights"
    gt.train_gan(kind, steps=1_000_000, n_train=N_TRAIN_GAN, out=str(dest), run_dir=str(out / name / "run"))
    (out / name / "job.json").write_text(json.dumps(record, indent=2) + "\n")


def run_sd(name: str, seconds: float, out: Path) -> None:
    from genmodels.families.diffusion import common as dt, control, unet
    from genmodels.training import set_deadline

    pipe = out / name / "tiny-sd"
    shutil.copytree(dt.WEIGHTS / dt.PIPE, pipe)
    set_deadline(seconds * 0.62)
    unet = unet.train_sd_unet(steps=100_000, batch=8 if SMOKE else 512, n_train=N_TRAIN_SD, out=str(pipe),
                            run_dir=str(out / name / "run-unet"), monitor_every=3 if SMOKE else 1500, lr=1e-3,
                            **SD_JOBS[name])
    set_deadline(seconds * 0.38 - 15)
    cn = control.train_controlnet(steps=100_000, batch=8 if SMOKE else 256, n_train=N_TRAIN_SD, out=str(out / name / "controlnet"),
                             run_dir=str(out / name / "run-cn"), pipe=str(pipe))
    (out / name / "job.json").write_text(json.dumps({"unet": unet, "controlnet": cn}, indent=2) + "\n")


def job(name: str, seconds: float, out: Path) -> None:
    import torch

    torch.set_num_threads(2)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    (out / name).mkdir(parents=True, exist_ok=True)
    (run_gan if name in GAN_JOBS else run_sd)(name, seconds, out)


def pack(name: str, work: Path, dest: Path) -> None:
    """weights + monitor curves + log of one job -> dest/<name>.tar.gz (checkpoints stay behind)."""
    with tarfile.open(dest / f"{name}.tar.gz", "w:gz") as tar:
        for p in sorted((work / name).rglob("*")):
            if p.is_file() and p.suffix not in (".pt", ".tmp") and "ckpt" not in p.name:
                tar.add(p, arcname=str(p.relative_to(work)))
        log = work / f"{name}.log"
        if log.exists():
            tar.add(log, arcname=f"{name}/{name}.log")


def launch(seconds: float, work: Path, dest: Path, jobs: list[str]) -> None:
    t0 = time.monotonic()
    prerender()
    print(f"pre-rendered in {time.monotonic() - t0:.0f} s", flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "PYTHONUNBUFFERED": "1",
           "TQDM_MININTERVAL": "30"}
    procs = {}
    for name in jobs:
        log = open(work / f"{name}.log", "w")
        procs[name] = subprocess.Popen([sys.executable, __file__, "--job", name, "--seconds", str(seconds),
                                        "--out", str(work)], stdout=log, stderr=subprocess.STDOUT, env=env)
    hard = time.monotonic() + seconds + 60  # deadline + final saves; then whatever is on disk is packed
    while procs and time.monotonic() < hard:
        for name, p in list(procs.items()):
            if p.poll() is not None:
                print(f"{name}: exit {p.returncode} at {time.monotonic() - t0:.0f} s", flush=True)
                pack(name, work, dest)
                del procs[name]
        time.sleep(2)
    for name, p in procs.items():
        p.kill()
        print(f"{name}: killed at the hard deadline", flush=True)
        pack(name, work, dest)
    for name in jobs:  # the last lines of each log, for the caller's output
        text = (work / f"{name}.log").read_text(errors="replace").replace("\r", "\n").splitlines()
        print(f"== {name}", *[ln for ln in text if ln.strip()][-6:], sep="\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=400)
    ap.add_argument("--out", required=True)
    ap.add_argument("--job")
    ap.add_argument("--jobs", default=",".join([*GAN_JOBS, *SD_JOBS]))
    a = ap.parse_args()
    out = Path(a.out)
    if a.job:
        job(a.job, a.seconds, out)
        return
    work = Path(os.environ.get("GPU_ROUND_WORK", "/tmp/gpu-round"))
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    launch(a.seconds, work, out, a.jobs.split(","))


if __name__ == "__main__":
    main()
