"""README pictures cannot go stale silently (issue 34): every picture the README shows is one the screenshots command
makes (``docs/screenshots/<tab key>.png``), every tab has one, and each is stamped in docs/screenshots/manifest.json
with the tabs its hub had — which must be the registry's tabs now, in order, under the same titles. The stamp's
SHA-256 must match the file, so a picture replaced by hand (or by an old run) without a new stamp is caught too.

A failure names the pictures and the command that re-makes them (``python -m genmodels screenshots --tabs KEY ...``).
No Gradio, no browser: this reads files only.
"""
import re
from pathlib import Path

import pytest

from genmodels.hub import screenshots as ss
from genmodels.registry import families

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "screenshots"
README = ROOT / "README.md"
_IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|<img\b[^>]*\bsrc=[\"']([^\"']+)[\"']")
TRANSCRIBED = "transcribed from the picture's tab strip"  # the one-off stamps of pictures older than the stamping


def readme_pictures() -> list[str]:
    """Every picture the README shows (markdown images and <img> tags), as repository-relative paths, in order."""
    found = []
    for m in _IMAGE.finditer(README.read_text()):
        path = (m.group(1) or m.group(2)).split("#")[0]
        if path not in found:
            found.append(path)
    return found


def registry_tabs() -> list[dict[str, str]]:
    return [{"key": f.key, "title": f.title} for f in families()]


def made_by_command() -> dict[str, str]:
    """Repository-relative path → tab key, for every picture ``python -m genmodels screenshots`` writes by default."""
    made = {f"docs/screenshots/{ss.picture_name(f.key)}": f.key for f in families()}
    return {**made, **{f"docs/screenshots/{ss.picture_name(k)}": k for k in ss.SUB_TABS}}


def test_the_readme_shows_pictures():
    assert readme_pictures(), "found no picture in README.md — has the tour of the tabs moved?"


def test_every_readme_picture_is_made_by_the_screenshots_command():
    made = made_by_command()
    foreign = [p for p in readme_pictures() if p not in made]
    assert not foreign, (f"README.md shows {', '.join(foreign)}, which `python -m genmodels screenshots` does not "
                         f"make (it writes {', '.join(sorted(made))}); the tour says every picture is made by it")
    missing = [p for p in readme_pictures() if not (ROOT / p).is_file()]
    assert not missing, f"README.md shows {', '.join(missing)}, which do not exist"


def test_every_tab_has_a_picture_in_the_readme():
    shown = set(readme_pictures())
    lacking = [key for path, key in made_by_command().items() if path not in shown]
    assert not lacking, (f"tab(s) {', '.join(lacking)} have no picture in the README tour; make them with "
                         f"`python -m genmodels screenshots --tabs {' '.join(lacking)}` and add them to the table")


@pytest.mark.parametrize("path", [p for p in readme_pictures() if p in made_by_command()])
def test_each_picture_is_stamped_with_the_registrys_tabs(path):
    key = made_by_command()[path]
    remake = f"re-make it: `python -m genmodels screenshots --tabs {key}`"
    stamp = ss.read_manifest(SHOTS).get("pictures", {}).get(Path(path).name)
    assert stamp is not None, f"{path} has no stamp in {SHOTS.name}/{ss.MANIFEST}; {remake}"
    assert stamp["stamped_by"] == ss.STAMPED_BY or stamp["stamped_by"].startswith(TRANSCRIBED), stamp["stamped_by"]
    assert stamp["tab"] == key, f"{path} is stamped as the picture of tab {stamp['tab']!r}; {remake}"
    assert stamp["sha256"] == ss.sha256(ROOT / path), (
        f"{path} is not the picture that was stamped (SHA-256 differs): it was replaced without the command; {remake}")
    have, want = stamp["hub_tabs"], registry_tabs()
    assert have == want, (
        f"{path} is stale: its hub had the tabs {[t['title'] for t in have]}, the registry now has "
        f"{[t['title'] for t in want]}; {remake}")


def test_the_manifest_stamps_only_pictures_the_command_makes():
    names = {Path(p).name for p in made_by_command()}
    extra = sorted(set(ss.read_manifest(SHOTS).get("pictures", {})) - names)
    assert not extra, f"{ss.MANIFEST} stamps pictures no registered tab makes: {', '.join(extra)}"


def test_write_manifest_merges_and_reads_back(tmp_path):
    a = {"tab": "gan", "hub_tabs": [{"key": "gan", "title": "GAN"}], "sha256": "0" * 64}
    ss.write_manifest(tmp_path, {"gan.png": a})
    b = {**a, "tab": "vae"}
    ss.write_manifest(tmp_path, {"vae.png": b})
    assert ss.read_manifest(tmp_path)["pictures"] == {"gan.png": a, "vae.png": b}
    ss.write_manifest(tmp_path, {"gan.png": {**a, "sha256": "1" * 64}})
    assert ss.read_manifest(tmp_path)["pictures"]["gan.png"]["sha256"] == "1" * 64
    assert "about" in ss.read_manifest(tmp_path)


def test_hub_tabs_from_config_keeps_top_level_tabs_in_order():
    comps = [{"id": 1, "type": "tabs", "props": {}},
             {"id": 2, "type": "tabitem", "props": {"label": "GAN", "id": "gan", "elem_id": "tab-gan"}},
             {"id": 3, "type": "tabitem", "props": {"label": "Sub", "id": "sub", "elem_id": None}},
             {"id": 4, "type": "tabitem", "props": {"label": "x", "id": "other", "elem_id": "tab-gan"}},
             {"id": 5, "type": "tabitem", "props": {"label": "VAE / VQ-VAE", "id": "vae", "elem_id": "tab-vae"}}]
    assert ss.hub_tabs_from_config({"components": comps}) == [{"key": "gan", "title": "GAN"},
                                                              {"key": "vae", "title": "VAE / VQ-VAE"}]
