"""The outline reading (scoring.readout.read_shapes) where shape readings are shown: leaderboard columns and rows,
the readout table's directions, and the model cards written by the GAN and pix2pix evaluations."""
import json

import numpy as np
import pytest
import torch

from genmodels.hub import contenders as C
from genmodels.hub import leaderboard as L
from genmodels.hub.widgets import readout_table


def _v(value, lo, hi, **extra):
    return {"value": value, "interval": [lo, hi], **extra}


def _result(rows):
    return {"version": L.VERSION, "computed": "2026-12-06 10:00 UTC", "commit": "abc1234", "machine": "x86_64, cpu",
            "protocol": {"n": 500, "slow_n": 12, "slow_models": ["pixelcnn"], "seed": 0, "reference": "shapes test",
                         "backbone": "shapes", "batch": 64, "conditions": "labels", "intervals": "95 % bootstrap"},
            "rows": rows}


ROW_NEW = {"model": "cgan", "label": "CGAN", "family": "gan", "takes": "shape + colour", "n": 500,
           "ms_per_image": 0.4, "FID": _v(273.1, 265.8, 298.6), "condition accuracy": _v(0.96, 0.94, 0.98),
           "shape by outline": _v(0.412, 0.37, 0.455, against="the asked shape"),
           "objects in pieces": _v(0.03, 0.016, 0.046), "no object found": _v(0.004, 0.0, 0.01)}
ROW_UNCOND = {"model": "dcgan", "label": "DCGAN", "family": "gan", "takes": "nothing", "n": 500, "ms_per_image": 0.28,
              "confident shape": _v(0.768, 0.734, 0.808),
              "shape by outline": _v(0.5, 0.46, 0.54, against="the classifier's reading"),
              "objects in pieces": _v(0.1, 0.08, 0.12), "no object found": _v(0.0, 0.0, 0.0)}
ROW_OLD = {"model": "vae", "label": "VAE", "family": "vae", "takes": "nothing", "n": 500, "ms_per_image": 0.1,
           "FID": _v(400.0, 390.0, 410.0)}


def test_leaderboard_columns_render():
    heads = L.HEADERS
    assert heads[-3:] == ["shape by outline ↑", "objects in pieces ↓", "ms / image"]
    rows = {r[0]: dict(zip(heads, r)) for r in L.table_rows(_result([ROW_NEW, ROW_UNCOND, ROW_OLD]))}
    assert rows["CGAN"]["shape by outline ↑"] == "0.412 [0.37, 0.455] · 2 of 500 no object"
    assert rows["CGAN"]["objects in pieces ↓"] == "0.03 [0.016, 0.046]"
    assert rows["DCGAN"]["shape by outline ↑"] == "0.5 [0.46, 0.54] vs classifier"
    assert rows["VAE"]["shape by outline ↑"] == "—" and rows["VAE"]["objects in pieces ↓"] == "—"
    md = L.markdown(_result([ROW_NEW, ROW_OLD]))
    assert "| shape by outline ↑ | objects in pieces ↓ | ms / image |" in md
    assert "0.412 [0.37, 0.455] · 2 of 500 no object" in md and "Shape by outline: the object's outline" in md


def test_the_committed_leaderboard_still_renders():
    res = L.load()
    if not res:
        pytest.skip("no leaderboard.json in this checkout")
    rows = L.table_rows(res)
    assert rows and all(len(r) == len(L.HEADERS) for r in rows)


def test_shape_cells_on_real_items():
    from genmodels.data.dataset import shapes_arrays

    images = shapes_arrays("test", 60)["images"]
    labels = C.test_labels()[:60]
    cells = L.shape_cells(C.get("cgan"), images, labels)  # a model asked for the shape: against the asked shape
    assert cells["shape by outline"]["value"] == 1.0 and cells["shape by outline"]["against"] == "the asked shape"
    assert cells["objects in pieces"]["value"] == 0.0 and cells["no object found"]["value"] == 0.0
    assert cells["shape by outline"]["backbone"].startswith("outline reader@")
    shuffled = L.shape_cells(C.get("cgan"), images, np.roll(labels, 1, axis=0))
    assert shuffled["shape by outline"]["value"] < 0.5
    uncond = L.shape_cells(C.get("dcgan"), images, labels)
    assert uncond["shape by outline"]["against"] == "the classifier's reading"
    assert uncond["shape by outline"]["value"] >= 0.98


def test_update_shape_readings_adds_cells_and_keeps_the_rest(tmp_path, monkeypatch):
    if not C.available(["cgan"]):
        pytest.skip("the CGAN weights are not in this checkout")
    monkeypatch.setattr(L, "RESULTS", tmp_path / "leaderboard.json")
    monkeypatch.setattr(L, "DOC", tmp_path / "leaderboard.md")
    old = dict(ROW_OLD, model="cgan", label="CGAN", family="gan", honours=["shape", "colour"], n=60)
    L.RESULTS.write_text(json.dumps(_result([old])))
    res = L.update_shape_readings(["cgan"], log=lambda *a: None)
    row = res["rows"][0]
    assert row["FID"] == old["FID"] and row["n"] == 60
    assert 0 <= row["shape by outline"]["value"] <= 1 and "interval" in row["objects in pieces"]
    assert L.load()["rows"][0]["shape by outline"] == row["shape by outline"]
    assert "shape by outline ↑" in L.DOC.read_text() and res["outline_readings"]["models"] == ["cgan"]
    again = L.update_shape_readings(["cgan"], log=lambda *a: None)["rows"][0]  # same seeds, same images
    assert again["shape by outline"] == row["shape by outline"]


def test_readout_table_knows_the_directions_of_card_rows():
    html = readout_table({"CGAN": [{"metric": "shape by outline", "value": 0.4},
                                   {"metric": "objects in pieces (N = 2000)", "value": 0.03},
                                   {"metric": "ELBO", "value": 3.0}]})
    assert "shape by outline ↑" in html and "objects in pieces (N = 2000) ↓" in html
    assert "ELBO</th>" in html


@pytest.mark.parametrize("kind", ["cgan", "dcgan"])
def test_gan_card_reports_the_outline_beside_the_classifier(tmp_path, kind):
    from genmodels.families.gan.dcgan import DCGANGenerator
    from genmodels.families.gan.evaluate import write_model_card

    torch.manual_seed(0)
    G = DCGANGenerator(width=16, n_classes=(6, 6) if kind == "cgan" else ())
    m = write_model_card(kind, G, tmp_path, steps=1, wall_s=1.0, n_train=100, data=None, n_eval=36)
    card = (tmp_path / "README.md").read_text()
    assert json.loads((tmp_path / "metrics.json").read_text()) == pytest.approx(m)
    if kind == "cgan":
        keys = list(m)
        i = keys.index("requested shape recognised")
        assert keys[i:i + 5] == ["requested shape recognised", "shape by outline", "objects in pieces",
                                 "no object found", "requested colour recognised"]
        assert "| shape by outline | " in card
    else:
        assert "shape by outline = classifier's reading" in m and "objects in pieces" in m
    assert all(0 <= m[k] <= 1 for k in m if "outline" in k or k in ("objects in pieces", "no object found"))
    assert "*Shape by outline*: the shape named from the object's outline alone" in card
    assert "| no object found | " in card


def test_gan_card_without_metrics_has_no_outline_note(tmp_path):
    from genmodels.families.gan.dcgan import DCGANGenerator
    from genmodels.families.gan.evaluate import write_model_card

    write_model_card("dcgan", DCGANGenerator(width=16), tmp_path, steps=1, wall_s=1.0, n_train=0, data="folder/")
    assert "Shape by outline" not in (tmp_path / "README.md").read_text()


def test_pix2pix_evaluation_reports_the_outline():
    from genmodels.families.img2img.evaluate import evaluate_pix2pix
    from genmodels.families.img2img.networks import UnetGenerator

    torch.manual_seed(0)
    G = UnetGenerator(input_nc=13, output_nc=3, num_downs=5, ngf=4)
    res = evaluate_pix2pix(G, n=12, quick=True)
    keys = list(res)
    assert keys[:4] == ["shape recognised", "shape by outline", "objects in pieces", "no object found"]
    assert all(0 <= res[k] <= 1 for k in keys[:4])
