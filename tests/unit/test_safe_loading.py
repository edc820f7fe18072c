"""Every checkpoint the package reads goes through genmodels.checkpoints: a pickle that would run code is refused
before anything in it runs, a file that is not a checkpoint is refused with one sentence, real weights load."""
import ast
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from genmodels import checkpoints
from genmodels.checkpoints import CheckpointRefused, load_state_dict, safe_load

PACKAGE = Path(checkpoints.__file__).resolve().parent


class Evil:
    """Unpickling this calls open(marker, "w"): the marker file appearing means the pickle ran code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture()
def evil(tmp_path):
    """(marker, [evil.pt, evil.pth, evil.bin]) — each file holds a tensor and an object whose unpickling runs code."""
    marker = tmp_path / "marker-was-created"
    paths = [tmp_path / f"evil{suffix}" for suffix in (".pt", ".pth", ".bin")]
    for p in paths:
        torch.save({"weight": torch.zeros(1), "evil": Evil(marker)}, p)
    assert not marker.exists()
    return marker, paths


def _assert_refused(call, path: Path, marker: Path, exc=CheckpointRefused, says="refused"):
    with pytest.raises(exc) as e:
        call(path)
    msg = str(e.value)
    assert path.name in msg and says in msg and "\n" not in msg, msg
    assert str(path.parent) not in msg, msg  # the file's name, never the server path
    assert not marker.exists(), f"loading {path.name} ran the pickled code"
    return msg


def test_the_payload_really_runs_code_without_the_safe_loader(evil):
    marker, paths = evil
    for p in paths:
        code = f"import torch; torch.load({str(p)!r}, weights_only=False)"
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert marker.exists(), "the malicious pickle did not run, so the refusal tests below would prove nothing"
        marker.unlink()


def test_safe_load_and_load_state_dict_refuse_the_payload(evil):
    marker, paths = evil
    for p in paths:
        for call in (safe_load, load_state_dict):
            msg = _assert_refused(call, p, marker)
            assert "only tensors are loaded" in msg and "io.open" in msg and "safetensors" in msg
    with pytest.raises(CheckpointRefused) as e:
        safe_load(paths[0])
    assert e.value.kind == checkpoints.PICKLE and e.value.name == "evil.pt"
    assert isinstance(e.value, ValueError)


def test_gan_stylegan_loaders_refuse_the_payload(evil):
    from genmodels.families.gan import service
    from genmodels.families.gan.rosinality import load_rosinality_g_ema

    marker, paths = evil
    for p in paths:
        says = "non-tensor objects / was saved as a pickle with code"  # the adapter's own wording, kept
        msg = _assert_refused(load_rosinality_g_ema, p, marker, CheckpointRefused, says)
        assert "Unsupported global: GLOBAL io.open" in msg
        _assert_refused(lambda q: service.load_generator("stylegan", str(q)), p, marker, CheckpointRefused, says)


def test_img2img_loaders_refuse_the_payload(evil, tmp_path):
    from genmodels.families.img2img import service
    from genmodels.families.img2img.networks import CheckpointError, read_state_dict

    marker, paths = evil
    ref = tmp_path / "latest_net_G.pth"  # the reference pix2pix / CycleGAN file name
    ref.write_bytes(paths[1].read_bytes())
    for p in [ref, *paths]:
        _assert_refused(read_state_dict, p, marker, CheckpointError)
        _assert_refused(service.load_generator_file, p, marker, CheckpointError)
    _assert_refused(lambda q: service.load_pix2pix(str(q)), ref, marker, CheckpointError)
    _assert_refused(lambda q: service.load_cyclegan(str(q)), ref, marker, CheckpointError)


def test_style_transfer_weights_file_is_refused(evil, tmp_path, monkeypatch):
    import torchvision.models

    from genmodels.families.img2img.style import VGG19_FILE, VGG19Features

    monkeypatch.setattr(torchvision.models, "vgg19", torch.nn.Module)  # skip building 140M random parameters
    marker, paths = evil
    vgg = tmp_path / VGG19_FILE  # the torch hub cache file name
    vgg.write_bytes(paths[1].read_bytes())
    _assert_refused(VGG19Features, vgg, marker)


def test_training_resume_loaders_refuse_the_payload(evil, tmp_path):
    from genmodels.families.img2img.train import _load_ckpt
    from genmodels.training import TrainConfig, train

    marker, paths = evil
    run = tmp_path / "run"
    run.mkdir()
    (run / "ckpt.pt").write_bytes(paths[0].read_bytes())
    model = torch.nn.Linear(2, 1)
    def loss_fn(m, batch, step):
        return m(batch[0]).sum(), {}

    _assert_refused(lambda _: train(model, loss_fn, lambda step: (torch.zeros(1, 2),), TrainConfig(steps=1), run),
                    run / "ckpt.pt", marker)
    _assert_refused(lambda p: _load_ckpt(p, {"G": model}, {}), run / "ckpt.pt", marker)


def _real_ckpt(tmp_path) -> Path:
    p = tmp_path / "real.pt"
    torch.save(torch.nn.Linear(64, 64).state_dict(), p)
    return p


@pytest.mark.parametrize("make, says", [
    (lambda d: (d / "zero.pt").write_bytes(b""), "is empty (0 bytes)"),
    (lambda d: (d / "notes.pt").write_text("these are not weights\n"), "is not a readable checkpoint"),
    (lambda d: (d / "cut.pth").write_bytes(_real_ckpt(d).read_bytes()[:700]), "is not a readable checkpoint"),
    (lambda d: (d / "junk.safetensors").write_bytes(b"not a safetensors file"), "is not a readable safetensors file"),
    (lambda d: (d / "zero.safetensors").write_bytes(b""), "is empty (0 bytes)"),
    (lambda d: (d / "weights.pkl").write_bytes(_real_ckpt(d).read_bytes()),
     "accepted: .safetensors, .pt, .pth, .bin, .ckpt"),
    (lambda d: (d / "weights").write_bytes(_real_ckpt(d).read_bytes()), "no suffix is not a checkpoint type"),
])
def test_files_that_are_not_checkpoints_are_refused_with_a_sentence(tmp_path, make, says):
    make(tmp_path)
    path = next(p for p in tmp_path.iterdir() if p.name != "real.pt")
    for call in (safe_load, load_state_dict):
        with pytest.raises(CheckpointRefused) as e:
            call(path)
        msg = str(e.value)
        assert msg.startswith(path.name) and says in msg and msg.endswith(".") and "\n" not in msg, msg
        assert str(tmp_path) not in msg and "Traceback" not in msg


def test_missing_file_and_non_state_dict_contents(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint file nothing.pt"):
        safe_load(tmp_path / "nothing.pt")
    torch.save({"w": torch.zeros(1), "step": 3}, tmp_path / "mixed.pt")
    assert safe_load(tmp_path / "mixed.pt")["step"] == 3  # a training checkpoint may hold plain numbers
    with pytest.raises(CheckpointRefused, match=r"mixed.pt is not a state_dict of tensors: its entry 'step' is a int"):
        load_state_dict(tmp_path / "mixed.pt")
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    with pytest.raises(CheckpointRefused, match="holds a Tensor, not a state_dict"):
        load_state_dict(tmp_path / "tensor.pt")
    torch.save({}, tmp_path / "empty.pt")
    with pytest.raises(CheckpointRefused, match="empty state_dict"):
        load_state_dict(tmp_path / "empty.pt")


def test_a_real_state_dict_loads_identically_from_torch_save_and_safetensors(tmp_path):
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.Linear(4, 2))
    sd = {k: v.clone() for k, v in net.state_dict().items()}
    torch.save(sd, tmp_path / "w.pt")
    torch.save({"state_dict": sd}, tmp_path / "wrapped.pth")
    torch.save({"g_ema": sd, "latent_avg": torch.zeros(4)}, tmp_path / "g.ckpt")
    torch.save(sd, tmp_path / "pytorch_model.bin")
    save_file(sd, str(tmp_path / "w.safetensors"))
    for name in ("w.pt", "wrapped.pth", "g.ckpt", "pytorch_model.bin", "w.safetensors"):
        got = load_state_dict(tmp_path / name)
        assert list(got) == list(sd) if name != "w.safetensors" else sorted(got) == sorted(sd)
        for k, v in sd.items():
            assert got[k].dtype == v.dtype and torch.equal(got[k], v), (name, k)
    assert torch.equal(safe_load(tmp_path / "w.pt")["0.weight"], safe_load(tmp_path / "w.safetensors")["0.weight"])
    # our own training checkpoints (ckpt.pt: nested optimiser state, step and wall tensors) load back
    opt = torch.optim.AdamW(net.parameters())
    net(torch.zeros(1, 3, 6, 6)).sum().backward()
    opt.step()
    torch.save({"model": net.state_dict(), "opt": opt.state_dict(), "step": torch.tensor(7)}, tmp_path / "ckpt.pt")
    st = safe_load(tmp_path / "ckpt.pt")
    torch.optim.AdamW(net.parameters()).load_state_dict(st["opt"])
    assert int(st["step"]) == 7


def _sources():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_no_source_file_turns_the_safety_off():
    assert len(_sources()) > 20
    banned = re.compile(r"weights_only\s*=\s*False|trust_remote_code\s*=\s*True|allow_pickle\s*=\s*True|"
                        r"\bpickle\.loads?\(|\bdill\b|\bjoblib\.load\(")
    hits = [f"{p.relative_to(PACKAGE.parent)}:{i}: {line.strip()}" for p in _sources()
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if banned.search(line)]
    assert not hits, "\n".join(hits)


def test_torch_load_is_called_only_in_the_safe_loader():
    calls = []
    for p in _sources():
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load" \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id in ("torch", "pickle"):
                calls.append((p.relative_to(PACKAGE).as_posix(), node))
    assert [c[0] for c in calls] == ["checkpoints.py"], calls
    kw = {k.arg: k.value for k in calls[0][1].keywords}
    assert isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True


def test_the_refusal_message_is_user_readable(tmp_path):
    deep = tmp_path / "srv" / "models" / "private"
    deep.mkdir(parents=True)
    p = deep / "x.pt"
    torch.save({"w": torch.zeros(1), "obj": textwrap.TextWrapper()}, p)
    with pytest.raises(CheckpointRefused) as e:
        safe_load(p)
    assert str(e.value) == ("x.pt was refused: only tensors are loaded (torch.load weights_only=True) and this file "
                            "pickles Python objects (Unsupported global: GLOBAL textwrap.TextWrapper). Convert it to "
                            "safetensors or save a plain state_dict.")


def test_the_shared_training_loop_resumes_through_the_safe_loader(tmp_path, capsys):
    from genmodels.training import TrainConfig, train

    def loss_fn(m, batch, step):
        return (m(batch[0]) - 1).pow(2).mean(), {}

    def batches(step):
        return (torch.ones(4, 2),)

    torch.manual_seed(0)
    train(torch.nn.Linear(2, 1), loss_fn, batches, TrainConfig(steps=2, warmup=1, log_every=1), tmp_path)
    assert int(safe_load(tmp_path / "ckpt.pt")["step"]) == 2
    train(torch.nn.Linear(2, 1), loss_fn, batches, TrainConfig(steps=3, warmup=1, log_every=1), tmp_path)
    assert "resuming train from step 2" in capsys.readouterr().out
    assert int(safe_load(tmp_path / "ckpt.pt")["step"]) == 3
