"""``python -m genmodels sample``: a grid from a GAN, identical bytes for the same seed in separate processes, and
one-line errors for bad weights (missing, wrong, pickled code) and bad options."""
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from genmodels.__main__ import main
from genmodels.families.gan.stylegan import Generator

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sg(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-gan")
    torch.manual_seed(0)
    Generator(size=32, style_dim=32, n_mlp=2, channels=[16, 16, 16, 16], n_classes=36).save_pretrained(root / "sg")
    return root


def _run(*args):
    return subprocess.run([sys.executable, "-m", "genmodels", "sample", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_same_seed_same_bytes_across_processes(sg):
    outs = [sg / "a.png", sg / "b.png"]
    for out in outs:
        r = _run("stylegan", out, "--weights", sg / "sg", "--n", 3, "--seed", 5, "--shape", "star", "--colour", "red",
                 "--psi", 0.7)
        assert r.returncode == 0, r.stderr
        assert "seeds 5..7" in r.stdout
    assert outs[0].read_bytes() == outs[1].read_bytes()


@pytest.mark.parametrize("weights, msg", [
    ("/no/such/folder", "could not load stylegan"),
    ("pickled", "could not load stylegan.*non-tensor objects.*Unsupported global"),
    ("wrong", "could not load stylegan.*not a StyleGAN2 generator"),
])
def test_bad_weights_one_line_error(sg, capsys, weights, msg):
    if weights == "pickled":
        path = sg / "evil.pt"
        torch.save({"g_ema": {"w": torch.zeros(1)}, "obj": textwrap.TextWrapper()}, path)
        weights = str(path)
    elif weights == "wrong":
        path = sg / "wrong.pt"
        torch.save({"g_ema": {"conv.weight": torch.zeros(3, 3)}}, path)
        weights = str(path)
    assert main(["sample", "stylegan", str(sg / "x.png"), "--weights", weights]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    import re

    assert re.search(msg, err, re.I), err


@pytest.mark.parametrize("args, msg", [
    (["--n", "0"], "--n must be in"),
    (["--seed", "-1"], "--seed must be in"),
    (["--psi", "2.5"], "--psi must be in"),
    (["--shape", "blob"], "unknown shape 'blob'"),
])
def test_bad_options(sg, capsys, args, msg):
    assert main(["sample", "stylegan", str(sg / "x.png"), "--weights", str(sg / "sg"), *args]) == 2
    assert msg in capsys.readouterr().err
