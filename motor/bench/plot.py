"""A small line chart written with Pillow (already a dependency): no plotting stack just for one PNG.

``line_chart(series, path, ...)`` draws one line per named series of (x, y) points on shared
axes, a dashed zero line, tick labels and a legend. Plotly's static export would need kaleido
and a browser; matplotlib is not installed.
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39"]


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi == lo:
        return [lo]
    return [lo + (hi - lo) * i / (n - 1) for i in range(n)]


def _wrap(d: ImageDraw.ImageDraw, text: str, font, width: float) -> list[str]:
    """Break ``text`` at spaces into lines no wider than ``width`` pixels (a long title would run off the image)."""
    lines: list[str] = []
    for word in text.split():
        if lines and d.textlength(f"{lines[-1]} {word}", font=font) <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return lines


def line_chart(series: dict[str, list[tuple[float, float]]], path: Path, title: str, xlabel: str, ylabel: str,
               size: tuple[int, int] = (1000, 620), log_x: bool = False, emphasis: str | None = None) -> Path:
    """Write the chart as a PNG; x ticks at the distinct x values of the data (``log_x``: log-scaled x);
    the series named ``emphasis`` (e.g. a median) is drawn thick and black, over the others."""
    points = [p for pts in series.values() for p in pts]
    if not points:
        raise ValueError("nothing to plot")
    xs = sorted({x for x, _ in points})
    y_lo, y_hi = min(0.0, *(y for _, y in points)), max(0.0, *(y for _, y in points))
    pad = (y_hi - y_lo) * 0.08 or 0.01
    y_lo, y_hi = y_lo - pad, y_hi + pad
    w, h = size
    left, right, top, bottom = 90, 200, 50, 70
    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default()

    def fx(x: float) -> float:
        return math.log(x) if log_x else x

    def px(x: float) -> float:
        span = (fx(xs[-1]) - fx(xs[0])) or 1.0
        return left + (fx(x) - fx(xs[0])) / span * (w - left - right)

    def py(y: float) -> float:
        return top + (y_hi - y) / (y_hi - y_lo) * (h - top - bottom)

    d.rectangle([left, top, w - right, h - bottom], outline="black")
    for y in _ticks(y_lo, y_hi):
        d.line([left - 4, py(y), left, py(y)], fill="black")
        d.text((8, py(y) - 6), f"{y:+.3f}", fill="black", font=font)
    for x in xs:
        d.line([px(x), h - bottom, px(x), h - bottom + 4], fill="black")
        d.text((px(x) - 10, h - bottom + 8), f"{x:g}", fill="black", font=font)
    zero = py(0.0)
    for x0 in range(left, w - right, 12):
        d.line([x0, zero, min(x0 + 6, w - right), zero], fill="#888888")
    d.multiline_text((left, 6), "\n".join(_wrap(d, title, font, w - left - 20)), fill="black", font=font, spacing=3)
    d.text(((left + w - right) / 2 - 60, h - 30), xlabel, fill="black", font=font)
    d.text((8, top - 25), ylabel, fill="black", font=font)
    order = sorted(enumerate(series.items()), key=lambda e: e[1][0] == emphasis)  # the emphasised one on top
    for i, (name, pts) in order:
        bold = name == emphasis
        color = "black" if bold else PALETTE[i % len(PALETTE)]
        pts = sorted(pts)
        coords = [(px(x), py(y)) for x, y in pts]
        if len(coords) > 1:
            d.line(coords, fill=color, width=5 if bold else 2)
        r = 5 if bold else 3
        for cx, cy in coords:
            d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color)
        ly = top + 16 * i
        d.line([w - right + 12, ly + 6, w - right + 32, ly + 6], fill=color, width=5 if bold else 3)
        d.text((w - right + 38, ly), name, fill="black", font=font)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path
