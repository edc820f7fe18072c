"""Line charts as plain SVG for docs/benchmarks.md (no plotting library is a dependency of the project)."""
from __future__ import annotations

import html
import math

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 5, 10) if m * step >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


def _panel(series: dict[str, list[tuple[float, float]]], title: str, x0: float, w: float, h: float,
           log2_x: bool) -> list[str]:
    left, right, top, bottom = 52, 12, 28, 34
    pts = [p for s in series.values() for p in s]
    fx = (lambda v: math.log2(v)) if log2_x else (lambda v: v)
    xs, ys = [fx(x) for x, _ in pts], [y for _, y in pts]
    xlo, xhi = min(xs), max(xs)
    ylo, yhi = min(ys), max(ys)
    pad = (yhi - ylo) * 0.08 or abs(yhi) * 0.1 or 1.0
    ylo, yhi = ylo - pad, yhi + pad

    def px(x):
        return x0 + left + (fx(x) - xlo) / ((xhi - xlo) or 1) * (w - left - right)

    def py(y):
        return top + (yhi - y) / (yhi - ylo) * (h - top - bottom)

    out = [f'<text x="{x0 + w / 2:.1f}" y="16" text-anchor="middle" font-weight="bold">{html.escape(title)}</text>',
           f'<rect x="{x0 + left}" y="{top}" width="{w - left - right}" height="{h - top - bottom}" fill="none" '
           'stroke="#999"/>']
    for t in _ticks(ylo, yhi):
        out.append(f'<text x="{x0 + left - 4}" y="{py(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
        out.append(f'<line x1="{x0 + left}" x2="{x0 + w - right}" y1="{py(t):.1f}" y2="{py(t):.1f}" '
                   'stroke="#eee"/>')
    for x in sorted({x for x, _ in pts}):
        out.append(f'<text x="{px(x):.1f}" y="{h - bottom + 14}" text-anchor="middle">{x:g}</text>')
    out.append(f'<text x="{x0 + w / 2:.1f}" y="{h - 4}" text-anchor="middle">steps</text>')
    for i, (name, s) in enumerate(series.items()):
        c = COLOURS[i % len(COLOURS)]
        s = sorted(s)
        out.append(f'<polyline fill="none" stroke="{c}" stroke-width="2" points="'
                   + " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in s) + '"/>')
        out += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{c}"/>' for x, y in s]
    return out


def line_charts_svg(panels: dict[str, dict[str, list[tuple[float, float]]]], width: int = 330, height: int = 240,
                    log2_x: bool = True) -> str:
    """One SVG with a panel per title: {title: {series name: [(x, y), ...]}}, a shared legend below."""
    names = list(dict.fromkeys(n for p in panels.values() for n in p))
    total_w, legend_h = width * len(panels), 22
    body = []
    for i, (title, series) in enumerate(panels.items()):
        body += _panel(series, title, i * width, width, height, log2_x)
    for i, name in enumerate(names):
        x = 60 + i * 260
        body.append(f'<rect x="{x}" y="{height + 6}" width="14" height="4" fill="{COLOURS[i % len(COLOURS)]}"/>')
        body.append(f'<text x="{x + 20}" y="{height + 12}">{html.escape(name)}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{height + legend_h}" '
            f'font-family="sans-serif" font-size="11"><rect width="100%" height="100%" fill="white"/>'
            + "".join(body) + "</svg>\n")
