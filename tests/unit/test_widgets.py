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


def test_on_open_runs_the_default_once_privately_and_skips_deep_links():
    import asyncio
    import concurrent.futures
    from types import SimpleNamespace

    from genmodels.hub.widgets import on_open

    calls = []

    def handler(text, n, scale=1):
        calls.append((text, n, scale))
        return text * n, n * scale

    def broken():
        raise FileNotFoundError("weights not trained here")

    with gr.Blocks() as demo:
        box = gr.Textbox("ab")
        num = gr.Number(2.0, precision=0)
        out, out2, out3 = gr.Textbox(), gr.Number(), gr.Textbox()
        go = gr.Button()
        on_open(broken, [out3], slow=True)
        on_open(handler, [out, out2], [box, num], cancel_on=[go], scale=3)
    opens = [f for f in demo.fns.values() if (f.name or "").startswith("open_")]
    assert [f.name for f in opens] == ["open_broken", "open_handler"]
    assert all(f.api_visibility == "private" for f in opens)
    def run(coro):  # on a thread of its own: in the full suite Playwright's sync API keeps a loop running here
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, coro).result()

    fail, show = (lambda request, f=f: run(f.fn(request)) for f in opens)
    plain = SimpleNamespace(query_params={})
    assert show(SimpleNamespace(query_params={"deep_link": "x"})) == (gr.skip(), gr.skip())
    assert calls == []  # nothing runs before a page opens (fast start-up)
    assert show(plain) == ("abab", 6) and show(plain) == ("abab", 6)
    assert calls == [("ab", 2, 3)]  # the opening values, preprocessed (2.0 -> 2); computed once
    assert fail(plain) == gr.skip()  # an empty output and a logged warning — no error toast on page open
    cancels = [f for f in demo.fns.values() if f.fn is None]
    assert cancels, "the button cancels a pending open event"
