"""genmodels/validate.py, genmodels/hub/guard.py and genmodels/limits.py on the bad-input corpus (tests/corpus.py), without a server:
every item is refused with a sentence or converted with a note; model paths stay under the models root; the time
budget stops loops; Gradio's own preprocessing answers with a sentence once guard_inputs wrapped it."""
import math
import zipfile

import gradio as gr
import numpy as np
import pytest
from corpus import header_bomb_png, image_files, zip_files

from genmodels import limits
from genmodels.data.folders import load_images
from genmodels import validate as V
from genmodels.hub.guard import guard_inputs


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    return {**image_files(root / "images"), **zip_files(root / "zips")}


@pytest.mark.parametrize("name, match", [
    ("truncated.png", "truncated or damaged"), ("zero-byte.png", "empty file"),
    ("text-named.png", "not an image"), ("header-bomb-20000.png", "too large|limit is 4096×4096"),
])
def test_unreadable_and_oversized_files_are_refused_with_a_sentence(corpus, name, match):
    with pytest.raises(V.InputError, match=match) as e:
        V.open_image(corpus[name], "upload")
    assert str(corpus[name].parent) not in str(e.value)  # never the server path


@pytest.mark.parametrize("name, note", [
    ("one-pixel.png", ""), ("sixteen-bit.png", "converted from I;16 to RGB (16-bit values rescaled"), ("cmyk.jpg", "CMYK"),
    ("animated.gif", "first of its 3 frames"), ("rgba.png", "converted from RGBA to RGB (transparency composited on white)"),
])
def test_odd_but_valid_images_are_converted_and_the_conversion_is_stated(corpus, name, note):
    img, said = V.open_image(corpus[name], "upload")
    assert img.mode == "RGB"
    assert note in said if note else said == ""
    a, msg = V.image_32(str(corpus[name]), 0, "upload")
    assert a.shape == (32, 32, 3) and a.dtype == np.uint8
    assert "32×32" in msg


def test_sixteen_bit_values_are_rescaled_not_clipped(corpus):
    img, _ = V.open_image(corpus["sixteen-bit.png"])
    a = np.asarray(img)
    assert a.max() > 200 and a.min() < 20  # the full 16-bit range maps onto 0..255


def test_the_header_is_checked_before_decoding(tmp_path, monkeypatch):
    p = tmp_path / "big.png"
    p.write_bytes(header_bomb_png(5000, 5000))  # 25 M pixels: above 4096², below Pillow's own bomb error
    decoded = []
    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", lambda self: decoded.append(1))
    with pytest.raises(V.InputError, match="5000×5000"):
        V.open_image(p)
    assert decoded == []


def test_arrays_with_nan_or_wrong_shape_are_refused():
    with pytest.raises(V.InputError, match="NaN"):
        V.open_image(np.full((8, 8, 3), np.nan))
    with pytest.raises(V.InputError, match="shape"):
        V.open_image(np.zeros((8, 8, 7), np.uint8))


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "abc", None])
def test_numbers_refuse_nan_inf_and_text(value):
    with pytest.raises(V.InputError):
        V.parse_number(value, 0, 10, "Scale")
    with pytest.raises(V.InputError):
        V.parse_seed(value)
    with pytest.raises(V.InputError):
        V.clamp_count(value, 1, 8)


def test_ranges_and_clamping():
    assert V.parse_number("2.5", 0, 10, "x") == 2.5
    with pytest.raises(V.InputError, match="between 0 and 10"):
        V.parse_number(11, 0, 10, "x")
    assert V.clamp_count(1e12, 1, 8) == (8, "The batch size was capped at 8 on this server.")
    assert V.clamp_count(-7, 1, 8)[0] == 1
    with pytest.raises(V.InputError, match="between 0 and 4294967295"):
        V.parse_seed(-7)
    assert isinstance(V.InputError("x"), ValueError) and isinstance(V.InputError("x"), gr.Error)


def test_zip_bomb_is_refused_and_traversal_entries_are_skipped(corpus):
    with zipfile.ZipFile(corpus["zip-bomb.zip"]) as zf, pytest.raises(limits.LimitError, match="zip bomb"):
        limits.check_zip(zf)
    with pytest.raises(ValueError, match="zip bomb"):
        load_images(corpus["zip-bomb.zip"])
    got = load_images(corpus["traversal.zip"], warn=False)
    assert got.names == ["ok.png"]
    assert limits.unsafe_member("../x.png") and limits.unsafe_member("/etc/x.png") and limits.unsafe_member("C:x")
    assert not limits.unsafe_member("a/b.png")


def test_model_sources(tmp_path, monkeypatch):
    monkeypatch.setenv("GENMODELS_MODELS_DIR", str(tmp_path))
    (tmp_path / "mine").mkdir()
    assert V.model_source(" embedded ") == "embedded" and V.model_source(None) == "embedded"
    assert V.model_source("runwayml/stable-diffusion-v1-5") == "runwayml/stable-diffusion-v1-5"
    assert V.model_source(str(tmp_path / "mine")) == str((tmp_path / "mine").resolve())
    for bad in ("/etc", "../../../../etc/passwd", "~/.ssh/id_rsa", str(tmp_path / "mine" / ".." / "..")):
        with pytest.raises(V.InputError, match="outside the models root") as e:
            V.model_source(bad)
        assert "/etc" not in str(e.value) and str(tmp_path) not in str(e.value)
    with pytest.raises(V.InputError, match="no 'nothing' under"):
        V.model_source(str(tmp_path / "nothing"))
    for bad in ("a\x00b", "x" * 400, "owner/na me/x"):
        with pytest.raises(V.InputError):
            V.model_source(bad)


def test_local_paths_are_off_on_a_space(monkeypatch):
    monkeypatch.delenv("GENMODELS_MODELS_DIR", raising=False)
    monkeypatch.setenv("SPACE_ID", "someone/genmodels")
    with pytest.raises(V.InputError, match="off on this server"):
        V.model_source("/tmp")
    assert V.model_source("owner/name") == "owner/name"


def test_the_time_budget_stops_a_loop():
    with limits.Deadline(0.05):
        limits.check_deadline()
        import time

        time.sleep(0.06)
        with pytest.raises(limits.BudgetExceeded, match="GENMODELS_TIME_BUDGET"):
            limits.check_deadline()
    limits.check_deadline()  # outside a request: no budget


def test_user_errors_gives_generators_one_budget(monkeypatch):
    from genmodels.hub.widgets import user_errors

    monkeypatch.setenv("GENMODELS_TIME_BUDGET", "0.05")

    @user_errors
    def slow():
        import time

        for i in range(100):
            time.sleep(0.01)
            limits.check_deadline()
            yield i

    with pytest.raises(gr.Error, match="Stopped sampling"):
        list(slow())


def test_guard_inputs_turns_preprocessing_failures_into_sentences(corpus):
    from gradio.data_classes import FileData

    with gr.Blocks() as demo:
        img = gr.Image(label="Picture")
        num = gr.Number(label="Seed")
        txt = gr.Textbox(label="Prompt")
        out = gr.Textbox()
        gr.Button().click(lambda *a: "ok", [img, num, txt], out)
    guard_inputs(demo)
    for name, match in (("text-named.png", "not an image"), ("zero-byte.png", "empty file"),
                        ("header-bomb-20000.png", "limit is|too large")):
        with pytest.raises(gr.Error, match=match):
            img.preprocess(FileData(path=str(corpus[name])))
    for bad, match in (("abc", "must be a number"), (math.nan, "finite"), (math.inf, "finite")):
        with pytest.raises(gr.Error, match=match):
            num.preprocess(bad)
    with pytest.raises(gr.Error, match="2,000"):
        txt.preprocess("x" * 5000)
    assert txt.preprocess("a red star") == "a red star"


def test_a_closed_stream_stops_its_sampler_thread():
    """A visitor who leaves mid-stream: the diffusion sampler thread stops at its next step (Deadline.cancel)."""
    import time

    from genmodels.families.diffusion import tab

    steps = []

    def work(report):
        for i in range(2000):
            limits.check_deadline()
            steps.append(i)
            report(("step", i))
            time.sleep(0.002)
        return "finished"

    with limits.Deadline(60):
        stream = tab._stream(work)
        assert next(stream) == ("step", 0)
        stream.close()
    tab._SAMPLER.submit(lambda: None).result(timeout=30)  # one sampler thread: waits for the cancelled job to end
    assert len(steps) < 2000
