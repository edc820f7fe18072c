import csv
import subprocess
import sys

import pytest

from genmodels import registry
from genmodels.__main__ import main
from genmodels.data.sampling import find_items, validate_filters
from genmodels.data import shapes


def test_builtin_families_registered_in_order():
    fams = registry.families()
    keys = [f.key for f in fams]
    assert keys[:2] == ["compare", "data"] and len(keys) == len(set(keys))  # the hub opens on Compare
    for f in fams:
        assert f.title and f.summary and f.papers and callable(f.build_tab)
    assert [f.key for f in registry.families(["data"])] == ["data"]
    with pytest.raises(KeyError, match="unknown family"):
        registry.families(["nope"])


def test_family_key_must_be_identifier():
    with pytest.raises(ValueError):
        registry.Family("Bad Key", "t", "s", ("p",), lambda ctx: None)


def test_importing_the_registry_loads_no_heavy_modules():
    code = ("import sys; from genmodels.registry import families; families(); "
            "print(sorted(m for m in ('gradio', 'torch', 'diffusers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_find_items_matches_filters_and_is_seeded():
    f = {"shape": "star", "colour": "any", "fill": "striped", "background": "any"}
    a = find_items("test", f, 10, seed=3)
    assert a == find_items("test", f, 10, seed=3) and a != find_items("test", f, 10, seed=4)
    for i in a:
        p = shapes.scene_params("test", i)
        assert shapes.SHAPES[p.shape] == "star" and shapes.FILLS[p.fill] == "striped"
    assert "Unknown colour 'pink'" in validate_filters("test", {"colour": "pink"})
    assert "Unknown split" in validate_filters("nope", {})


def test_cli_data_export(tmp_path, capsys):
    assert main(["data", "export", str(tmp_path / "out"), "--split", "test", "--n", "7"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "out" / "labels.csv")))
    assert len(rows) == 7 and rows[3]["caption"] == shapes.scene_params("test", 3).caption()
    assert (tmp_path / "out" / rows[0]["file"]).exists()


@pytest.mark.parametrize("args, msg", [
    (["--n", "0"], "--n must be > 0"),
    (["--n", "-3"], "--n must be > 0"),
    (["--n", "5", "--start", "1998"], "the test split has 2000 items"),
])
def test_cli_data_export_bad_input(tmp_path, capsys, args, msg):
    assert main(["data", "export", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and len(err.splitlines()) == 1


def test_cli_data_export_bad_path(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["data", "export", str(f), "--n", "2"]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert main(["data", "export", str(f / "below"), "--n", "2"]) == 2


def test_cli_list(capsys):
    assert main(["list"]) == 0
    assert "data" in capsys.readouterr().out


def test_cli_score_json(tmp_path, capsys):
    import json

    assert main(["data", "export", str(tmp_path / "a"), "--split", "val", "--n", "12"]) == 0
    capsys.readouterr()
    assert main(["score", str(tmp_path / "a"), "shapes-test", "--metrics", "fid,pr", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["metric"] for r in out["readouts"]] == ["FID", "precision", "recall"]
    assert out["readouts"][0]["n"] == 12 and out["readouts"][0]["n_ref"] == 2000
    assert out["readouts"][0]["backbone"].startswith("shapes-classifier@")


@pytest.mark.parametrize("args, msg", [
    (["missing-folder", "shapes-test"], "no such folder"),
    (["shapes-test", "shapes-test", "--metrics", "fid,bogus"], "unknown metric 'bogus'"),
    (["shapes-test", "shapes-test", "--backbone", "vgg"], "--backbone must be"),
])
def test_cli_score_bad_input(capsys, args, msg):
    assert main(["score", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and len(err.splitlines()) == 1
