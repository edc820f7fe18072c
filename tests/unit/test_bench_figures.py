"""``python -m genmodels bench``: a case's figure is linked under the table, kept when other cases run alone, and
the SVG line chart holds one polyline per series."""
import genmodels.bench as B
from genmodels.bench.plot import line_charts_svg


def test_figures_are_linked_and_kept_across_only_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(B, "_load_cases", lambda: None)
    monkeypatch.setattr(B, "FIGURES", [])

    def drawn(quick):
        B.FIGURES.append(("drawn", "![a curve](curve.svg)"))
        return [("drawn", "x", 1.0, "", "")]

    monkeypatch.setitem(B.CASES, "drawn", drawn)
    monkeypatch.setitem(B.CASES, "plain", lambda quick: [("plain", "y", 2.0, "", "")])
    out = tmp_path / "bench.md"
    B.run(only=["drawn"], out=str(out))
    text = out.read_text()
    assert "## Figures" in text and "![a curve](curve.svg) <!-- case: drawn -->" in text
    B.FIGURES.clear()
    B.run(only=["plain"], out=str(out))
    text = out.read_text()
    assert "| plain | y |" in text and "(earlier run)" in text and text.count("![a curve](curve.svg)") == 1


def test_svg_line_chart():
    svg = line_charts_svg({"FID": {"teacher": [(1, 600.0), (4, 215.0), (64, 252.0)], "student": [(1, 300.0),
                                                                                                (4, 255.0)]},
                           "accuracy": {"teacher": [(1, 0.1), (64, 0.25)]}})
    assert svg.startswith("<svg") and svg.count("<polyline") == 3 and ">FID<" in svg and ">student<" in svg
