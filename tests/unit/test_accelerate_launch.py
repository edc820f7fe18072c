"""``accelerate launch`` with two CPU processes (gloo) runs the real ``python -m genmodels train`` command: both ranks
train every step, and rank 0 alone writes the checkpoint, the weights and the model card.

accelerate's own multi-CPU launch (``--cpu --num_processes 2``) needs mpirun, which this machine lacks: without it
accelerate starts one process. Its torchrun launcher (``--multi_gpu``) starts two, and ``train --device cpu`` puts
them on the CPU (accelerate then picks gloo). The model is the VAE on a folder of eight 32×32 images (``--data``: no
shapes rendering, no held-out evaluation in the card), three steps.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
STEPS = 3

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(tmp_path: Path, *launcher_args: str) -> subprocess.CompletedProcess:
    data = tmp_path / "images"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(data / f"{i}.png")
    from genmodels.data.dataset import shapes_arrays

    shapes_arrays("test", 256)  # the trainer's held-out batch, cached once here instead of rendered by each rank
    # -m genmodels.__main__: the CLI entry point that -m genmodels runs
    cmd = [sys.executable, "-m", "accelerate.commands.launch", *launcher_args, "--num_processes", "2",
           "--main_process_port", str(_free_port()), "-m", "genmodels.__main__", "train", "vae", "--device", "cpu",
           "--steps", str(STEPS), "--data", str(data), "--out", str(tmp_path / "out"), "--run-dir",
           str(tmp_path / "run")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_two_cpu_ranks_train_and_rank_0_alone_writes(tmp_path):
    r = _launch(tmp_path, "--multi_gpu")
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-3000:]
    assert "vae: 2 processes (MULTI_CPU)" in log, log[-3000:]
    sums = set()
    for rank in (0, 1):
        assert f"vae: rank {rank} trains on 4 rows of each batch" in log, log[-3000:]  # 8 images, sharded
        m = re.search(rf"vae: rank {rank} finished at step {STEPS}, weights checksum (\S+)", log)
        assert m, log[-3000:]
        sums.add(m.group(1))
    assert len(sums) == 1, sums  # the ranks' EMA weights agree
    run, out = tmp_path / "run", tmp_path / "out"
    assert sorted(p.name for p in run.iterdir()) == ["ckpt.pt"]  # one checkpoint, no temporary file left
    assert int(torch.load(run / "ckpt.pt", weights_only=True)["step"]) == STEPS
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "metrics.json", "model.safetensors"]
    assert (out / "README.md").read_text().count("# vae") == 1
