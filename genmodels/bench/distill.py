"""Bench case of the distilled sampler: the issue's acceptance run (``evaluate.run_all``) — FID_domain, caption
accuracy and CLIP score of the 64-step CFG teacher, plain DDIM at 32 … 1 steps and each student, N = 2,000 test
captions (200 with --quick), and the 4-step student's wall-time speedup over the 64-step teacher. It also writes the
tab's curve (weights/distill/curve.json) and the students' cards."""
from __future__ import annotations

from pathlib import Path

from . import FIGURES, Row, case
from .plot import line_charts_svg

FIGURE = Path("docs") / "distill_curve.svg"


@case("distill")
def distill(quick: bool) -> list[Row]:
    from ..families.distill import evaluate as E
    from ..families.distill.service import available

    if not available():
        return [("distill", "students", float("nan"), "", "not trained here: python -m genmodels train distill")]
    n = 200 if quick else 2000
    data = E.run_all(n)
    rows: list[Row] = []
    for name, col in data["columns"].items():
        for metric in ("FID_domain", "FID to the teacher's samples", "caption accuracy", "CLIP score"):
            if metric in col:
                rows.append(("distill", f"{name}: {metric}", col[metric], "", f"N = {n}, w = 3"))
        for metric, goal in (("FID / teacher-64 FID", "goal at 4 steps ≤ 1.2, at 1 step ≤ 1.5"),
                             ("FID / plain DDIM FID (same steps)", "goal at 4 steps < 1")):
            if metric in col:
                rows.append(("distill", f"{name}: {metric}", col[metric], "×", goal))
    panels = {}
    for metric in ("FID_domain", "FID to the teacher's samples", "caption accuracy", "CLIP score"):
        series: dict[str, list] = {}
        for r in data["rows"]:
            if r["metric"] == metric:
                series.setdefault(r["sampler"], []).append((r["steps"], r["value"]))
        panels[metric] = series
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    FIGURE.write_text(line_charts_svg(panels))
    FIGURES.append(("distill", f"![Distilled sampler: quality vs steps, N = {n}, w = 3 (teacher DDIM with CFG vs the "
                               f"distilled students)]({FIGURE.name})"))
    if data["timing"]:
        t = data["timing"]
        rows.append(("distill", "4-step student speedup vs 64-step teacher", t["speedup"], "×",
                     f"wall time of {t['n']} images ({t['teacher_s']:.2f} s vs {t['student_s']:.3f} s), text "
                     f"encoder + VAE decode included, median of {t['rounds']}; goal ≥ 12"))
    return rows
