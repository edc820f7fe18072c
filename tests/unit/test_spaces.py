"""One Hugging Face Space per family (genmodels/hub/spaces.py, spaces/<key>/, ``export-space``): the committed files
are what the exporter writes, the front-matter is valid, an export holds only what its tabs load, and the exported
app builds from its own folder, not from the repository's package."""
from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from genmodels.__main__ import main
from genmodels.hub import spaces

ROOT = Path(__file__).resolve().parents[2]
COLOURS = {"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"}
# Module -> distribution where the names differ; pandas and tokenizers come with gradio and transformers.
DIST = {"PIL": "pillow", "skimage": "scikit-image", "huggingface_hub": "huggingface-hub", "pandas": "gradio",
        "tokenizers": "transformers", "torch_fidelity": "torch-fidelity"}
TRAINING_ONLY = {"accelerate"}  # imported inside the trainers' functions only


def _front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def _pins(text: str) -> dict[str, str]:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith(("#", "-"))]
    return {re.split(r"[=<>~!]", ln)[0].lower(): ln for ln in lines}


@pytest.fixture(scope="module")
def gan_space(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("spaces") / "gan"
    return out, spaces.export_space("gan", out)


def test_committed_space_files_are_what_export_writes(tmp_path):
    assert [p.relative_to(tmp_path) for p in spaces.write_repo_spaces(tmp_path)][:2] == \
        [Path("spaces/data/README.md"), Path("spaces/data/app.py")]
    assert sorted(p.name for p in (ROOT / "spaces").iterdir() if p.is_dir()) == sorted(spaces.space_keys())
    assert "metrics" not in spaces.space_keys() and "data" in spaces.space_keys()
    for key in spaces.space_keys():
        folder = ROOT / "spaces" / key
        assert (folder / "README.md").read_text(encoding="utf-8") == spaces.readme(key), \
            f"spaces/{key}/README.md drifted: run genmodels.hub.spaces.write_repo_spaces()"
        assert (folder / "app.py").read_text(encoding="utf-8") == spaces.app_py(key), \
            f"spaces/{key}/app.py drifted: run genmodels.hub.spaces.write_repo_spaces()"


@pytest.mark.parametrize("key", spaces.space_keys())
def test_front_matter_parses_with_the_required_keys(key):
    root = _front_matter((ROOT / "README.md").read_text(encoding="utf-8"))
    fm = _front_matter(spaces.readme(key))
    assert fm == spaces.front_matter(key)  # the hand-rolled YAML reads back as written
    assert fm["sdk"] == "gradio" and fm["sdk_version"] == root["sdk_version"] and fm["app_file"] == "app.py"
    assert fm["license"] == root["license"] and fm["title"] and fm["emoji"]
    assert {fm["colorFrom"], fm["colorTo"]} <= COLOURS
    assert 0 < len(fm["short_description"]) <= 60
    assert fm["tags"] and all(isinstance(t, str) and t == t.lower() for t in fm["tags"])
    assert fm["python_version"] == "3.11"
    body = spaces.readme(key).split("---\n", 2)[2]
    fam = spaces.families([key])[0]
    assert all(p in body for p in fam.papers) and f"build([\"{key}\", \"metrics\"])" in spaces.app_py(key)


def test_pins_and_hub_ids_match_the_repository():
    from genmodels.scoring.clip_models import STANDARD_CLIP

    root = _pins((ROOT / "requirements.txt").read_text())
    assert root["gradio"] == f"gradio=={spaces.SDK_VERSION}"
    for key in spaces.space_keys():
        for name, line in _pins(spaces.requirements(key)).items():
            assert name in root, f"{name} is not a root requirement"
            assert line == root[name] or "==" not in root[name], (line, root[name])
    assert "-e" not in spaces.requirements("gan") and "diffusers" in spaces.requirements("diffusion")
    assert "diffusers" not in spaces.requirements("gan")
    assert spaces.HUB_MODELS == (STANDARD_CLIP,)


def _family_files(key: str) -> list[Path]:
    pkg = spaces.PACKAGE
    own = pkg / "families" / key if (pkg / "families" / key).is_dir() else pkg / key
    return sorted(own.glob("*.py"))


@pytest.mark.parametrize("key", spaces.space_keys())
def test_requirements_cover_what_the_space_imports(key):
    pkg = spaces.PACKAGE
    files = [*_family_files(key), *pkg.glob("scoring/*.py"), *pkg.glob("data/*.py"), pkg / "training.py",
             *(p for p in pkg.glob("hub/*.py") if p.name != "screenshots.py")]  # screenshots: a dev tool
    if key == "vae":
        files += _family_files("autoregressive")  # the code priors reuse the PixelCNN implementation
    mods = set()
    for f in files:
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                mods |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods.add(node.module.split(".")[0])
    third = {m for m in mods if m not in sys.stdlib_module_names and m != "genmodels"} - TRAINING_ONLY
    listed = set(_pins(spaces.requirements(key)))
    assert {DIST.get(m, m.replace("_", "-")).lower() for m in third} <= listed


@pytest.mark.parametrize("key", spaces.space_keys())
def test_runtime_weights_cover_the_names_the_tab_loads(key):
    names = {p.name for p in spaces.WEIGHTS.iterdir() if p.is_dir()}
    # trainers, sweeps and recipes (the weight names there are training / experiment inputs, never loaded by a tab)
    runtime = [f for f in _family_files(key) if not f.name.endswith(("train.py", "_sweep.py"))
               and f.name not in ("projected.py", "recipes.py")]
    used = {m for f in runtime for m in re.findall(r'"([a-z0-9-]+)"', f.read_text()) if m in names}
    parts = {p.name for w in spaces.runtime_weights(key) for p in (spaces.WEIGHTS / w).iterdir() if p.is_dir()}
    used -= parts  # "vae" in the diffusion code is the pipeline's vae/ part, not the VAE tab's model
    assert used <= set(spaces.runtime_weights(key)), used - set(spaces.runtime_weights(key))
    assert "gan-guide-robust" not in spaces.runtime_weights("gan")  # the robust guide stays training-only


def test_gan_export_holds_only_what_it_needs(gan_space):
    out, res = gan_space
    for name in ("app.py", "README.md", "requirements.txt", ".gitattributes", "genmodels/__init__.py",
                 "genmodels/registry.py", "genmodels/hub/build.py", "genmodels/families/diffusion/service.py"):
        assert (out / name).is_file(), name
    weights = sorted(p.name for p in (out / "genmodels" / "weights").iterdir())
    need = sorted(["dcgan", "cgan", "stylegan", "biggan", "stackgan", "gan-encoder", "gan-guide", "shapes-classifier",
                   "shapes-clip"])  # gan-guide: the attribute edit's recognition net; no gan-guide-robust, tiny-sd
    assert weights == need == sorted(res["weights"])
    assert (out / "genmodels/weights/stylegan/model.safetensors").is_file()
    assert (out / "genmodels/weights/shapes-clip/tokenizer.json").is_file()
    assert not list(out.rglob("__pycache__")) and not list(out.rglob("*.pyc"))
    assert (out / "app.py").read_text() == spaces.app_py("gan")
    assert (out / "requirements.txt").read_text() == spaces.requirements("gan")
    src = {p.relative_to(spaces.PACKAGE) for p in spaces.PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}
    assert src == {p.relative_to(out / "genmodels") for p in (out / "genmodels").rglob("*.py")}
    assert res["bytes"] == sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) and res["files"] > 100


def test_export_refuses_unknown_keys_and_non_empty_folders(tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown family 'nope'; choose one of data, gan"):
        spaces.export_space("nope", tmp_path / "a")
    with pytest.raises(ValueError, match="part of every Space"):
        spaces.export_space("metrics", tmp_path / "a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="not empty"):
        spaces.export_space("data", tmp_path / "b")
    with pytest.raises(ValueError, match="overlaps the genmodels package"):
        spaces.export_space("data", ROOT, force=True)
    assert main(["export-space", "nope", str(tmp_path / "c")]) == 2
    assert main(["export-space", "data", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and err[0].startswith("error: unknown family") and "--force" in err[1]
    assert main(["export-space", "data", str(tmp_path / "b"), "--force"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1].startswith("total ") and any("genmodels/weights/shapes-clip" in ln for ln in out)
    assert (tmp_path / "b" / "keep.txt").exists() and (tmp_path / "b" / "app.py").exists()
    assert sorted(p.name for p in (tmp_path / "b" / "genmodels" / "weights").iterdir()) == \
        ["shapes-classifier", "shapes-clip"]


def _build_app(cwd: Path, app: Path, pythonpath: str | None) -> str:
    """Import ``app`` (which builds its Blocks, without launching) in a clean interpreter; return its report."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(PYTHONNOUSERSITE="1", GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1")
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    code = ("import runpy; ns = runpy.run_path(%r, run_name='space'); "
            "import genmodels; print(genmodels.__file__); print(type(ns['demo']).__name__); "
            "print(sorted(t.elem_id for t in ns['demo'].blocks.values() if type(t).__name__ == 'Tab' and t.elem_id))"
            ) % str(app)
    r = subprocess.run([sys.executable, "-s", "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def test_exported_app_builds_from_its_own_folder(gan_space):
    out, _ = gan_space
    file, kind, tabs = _build_app(out, out / "app.py", str(out)).strip().splitlines()[-3:]
    assert Path(file).resolve().is_relative_to(out.resolve()), file  # not the repository's editable install
    assert kind == "Blocks" and tabs == "['tab-gan', 'tab-metrics']"


@pytest.mark.parametrize("key", spaces.space_keys())
def test_repo_space_app_builds_with_the_repository_package(key):
    folder = ROOT / "spaces" / key
    file, kind, tabs = _build_app(folder, folder / "app.py", None).strip().splitlines()[-3:]
    assert Path(file).resolve().is_relative_to(ROOT) and kind == "Blocks"
    assert tabs == str(sorted([f"tab-{key}", "tab-metrics"]))
