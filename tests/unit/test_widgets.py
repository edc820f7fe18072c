import gradio as gr
import pytest

from genmodels.hub.context import HubContext
from genmodels.hub.widgets import clamp_count, parse_seed, readout_table


@pytest.mark.parametrize("v, ok", [(0, 0), (7.0, 7), ("12", 12), (2**32 - 1, 2**32 - 1)])
def test_parse_seed_valid(v, ok):
    assert parse_seed(v) == ok


@pytest.mark.parametrize("v, msg", [(-1, "between 0"), (2**32, "between 0"), (1.5, "whole number"),
                                    ("abc", "whole number"), (float("nan"), "whole number"), (None, "whole number")])
def test_parse_seed_invalid(v, msg):
    with pytest.raises(gr.Error, match=msg):
        parse_seed(v)


def test_clamp_count():
    assert clamp_count(5, 1, 10) == (5, "")
    n, note = clamp_count(500, 1, 10)
    assert n == 10 and "capped at 10" in note
    with pytest.raises(gr.Error):
        clamp_count("x", 1, 10)


def test_context_from_env(monkeypatch):
    monkeypatch.setenv("SPACE_ID", "someone/space")
    monkeypatch.delenv("GENMODELS_MAX_BATCH", raising=False)
    assert HubContext.from_env() == HubContext(max_batch=16, on_space=True)
    monkeypatch.setenv("GENMODELS_MAX_BATCH", "5000")
    assert HubContext.from_env().max_batch == 1024


def test_readout_table_side_by_side():
    html = readout_table({"A": [{"metric": "FID", "value": 1.5, "interval": (1.0, 2.0), "higher_is_better": False}],
                          "B": [{"metric": "FID", "value": 3.0}, {"metric": "IS", "value": 2.0,
                                                                  "higher_is_better": True}]}, "backbone: x, N=10")
    assert html.count("<tr>") == 3 and "FID ↓" in html and "IS ↑" in html and "[1, 2]" in html and "—" in html
