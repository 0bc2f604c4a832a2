"""Inline SVG charts for the HTML report, written as text (no plotting library, no script).

Every label goes through `html.escape`; numbers are formatted here. Each function returns one
`<svg class="chart">` element with a `<title>` and `role="img"` for screen readers; no `xmlns`:
inline SVG in HTML needs none, and the page carries no URL at all.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

__all__ = ["PALETTE", "donut", "grouped_bars", "stacked_bars"]

PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac")  # fmt: skip
_FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def _svg(width: float, height: float, title: str, body: list[str]) -> str:
    return (f'<svg class="chart" width="{width:.0f}" '
            f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
            f'aria-label="{escape(title)}" {_FONT}><title>{escape(title)}</title>'
            + "".join(body) + "</svg>")  # fmt: skip


def _num(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


def donut(segments: Sequence[tuple[str, float]], *, title: str, colors: Sequence[str] = PALETTE,
          empty: str = "none") -> str:  # fmt: skip
    """Shares of a whole as a ring (the paper's Figure 4 pies), with a legend of counts and %."""
    size, radius, width = 180.0, 62.0, 34.0
    cx = cy = size / 2
    total = sum(max(0.0, v) for _, v in segments)
    circumference = 2 * math.pi * radius
    body = [f'<text x="{cx}" y="16" text-anchor="middle" font-weight="600">{escape(title)}</text>']
    ring = (f'<circle cx="{cx}" cy="{cy + 10}" r="{radius}" fill="none" stroke="{{color}}" '
            f'stroke-width="{width}" stroke-dasharray="{{dash}}" stroke-dashoffset="{{offset}}" '
            f'transform="rotate(-90 {cx} {cy + 10})">{{tip}}</circle>')  # fmt: skip
    if total <= 0:
        body.append(ring.format(color="#ddd", dash=f"{_num(circumference)} 0", offset=0, tip=""))
        body.append(f'<text x="{cx}" y="{cy + 14}" text-anchor="middle">{escape(empty)}</text>')
    else:
        offset = 0.0
        for i, (label, value) in enumerate(segments):
            if value <= 0:
                continue
            length = circumference * value / total
            tip = f"<title>{escape(label)}: {value:g} ({100 * value / total:.1f}%)</title>"
            dash = f"{_num(length)} {_num(circumference)}"
            body.append(ring.format(color=colors[i % len(colors)], dash=dash, offset=_num(-offset), tip=tip))
            offset += length
        body.append(f'<text x="{cx}" y="{cy + 8}" text-anchor="middle" font-weight="600">{total:g}</text>'
                    f'<text x="{cx}" y="{cy + 24}" text-anchor="middle" fill="#555">counted</text>')
    legend_x = size + 10
    for i, (label, value) in enumerate(segments):
        y = 34 + 20 * i
        share = f"{100 * value / total:.1f}%" if total > 0 else "-"
        color = colors[i % len(colors)]
        body.append(f'<rect x="{legend_x}" y="{y - 10}" width="12" height="12" fill="{color}"/>'
                    f'<text x="{legend_x + 18}" y="{y}">{escape(label)}</text>'
                    f'<text x="{legend_x + 190}" y="{y}" text-anchor="end">{value:g}</text>'
                    f'<text x="{legend_x + 245}" y="{y}" text-anchor="end" fill="#555">{share}</text>')
    height = max(size + 20, 34 + 20 * len(segments))
    return _svg(legend_x + 255, height, title, body)


def stacked_bars(categories: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], *, title: str,
                 colors: Sequence[str] = PALETTE, stacked: bool = True) -> str:  # fmt: skip
    """One horizontal bar per category, stacked by series (parts of a whole, e.g. splits) with the
    total at the end; `stacked=False` puts the series side by side (e.g. runs to compare)."""
    if not stacked:
        return _side_by_side(categories, series, title=title, colors=colors)
    label_w, bar_w, row_h = 110.0, 300.0, 22.0
    totals = [sum(values[i] for _, values in series) for i in range(len(categories))]
    top = max(totals, default=0) or 1
    body = [f'<text x="0" y="14" font-weight="600">{escape(title)}</text>']
    legend_x = label_w
    for j, (name, _) in enumerate(series):
        body.append(f'<rect x="{legend_x}" y="22" width="10" height="10" fill="{colors[j % len(colors)]}"/>'
                    f'<text x="{legend_x + 14}" y="31">{escape(name)}</text>')  # fmt: skip
        legend_x += 24 + 7 * len(name)
    y0 = 44.0
    for i, category in enumerate(categories):
        y = y0 + i * row_h
        body.append(f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{escape(category)}</text>')
        x = label_w
        for j, (name, values) in enumerate(series):
            w = bar_w * values[i] / top
            if w > 0:
                body.append(f'<rect x="{_num(x)}" y="{y + 3}" width="{_num(w)}" height="{row_h - 6}" '
                            f'fill="{colors[j % len(colors)]}"><title>{escape(category)}, {escape(name)}: '
                            f'{values[i]:g}</title></rect>')  # fmt: skip
            x += w
        body.append(f'<text x="{_num(x + 5)}" y="{y + 14}">{totals[i]:g}</text>')
    return _svg(label_w + bar_w + 60, y0 + row_h * len(categories) + 6, title, body)


def _legend(series_names: Sequence[str], x: float, colors: Sequence[str]) -> tuple[list[str], float]:
    body = []
    for j, name in enumerate(series_names):
        body.append(f'<rect x="{_num(x)}" y="22" width="10" height="10" fill="{colors[j % len(colors)]}"/>'
                    f'<text x="{_num(x + 14)}" y="31">{escape(name)}</text>')  # fmt: skip
        x += 24 + 7 * len(name)
    return body, x


def _side_by_side(categories: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], *, title: str,
                  colors: Sequence[str]) -> str:  # fmt: skip
    label_w, bar_w, bar_h = 110.0, 300.0, 12.0
    row_h = bar_h * max(1, len(series)) + 8
    top = max((v for _, values in series for v in values), default=0) or 1
    legend, right = _legend([name for name, _ in series], label_w, colors)
    body = [f'<text x="0" y="14" font-weight="600">{escape(title)}</text>', *legend]
    y0 = 44.0
    for i, category in enumerate(categories):
        y = y0 + i * row_h
        body.append(f'<text x="{label_w - 6}" y="{_num(y + row_h / 2 + 2)}" text-anchor="end">'
                    f"{escape(category)}</text>")  # fmt: skip
        for j, (name, values) in enumerate(series):
            w = bar_w * values[i] / top
            by = y + 4 + j * bar_h
            if w > 0:
                body.append(f'<rect x="{label_w}" y="{_num(by)}" width="{_num(w)}" height="{bar_h - 2}" '
                            f'fill="{colors[j % len(colors)]}"><title>{escape(category)}, {escape(name)}: '
                            f'{values[i]:g}</title></rect>')  # fmt: skip
            body.append(f'<text x="{_num(label_w + w + 4)}" y="{_num(by + bar_h - 3)}" font-size="10">'
                        f"{values[i]:g}</text>")  # fmt: skip
    return _svg(max(label_w + bar_w + 60, right), y0 + row_h * len(categories) + 6, title, body)


def grouped_bars(metrics: Sequence[str], series: Sequence[tuple[str, Sequence[float | None],
                 Sequence[Sequence[float] | None]]], *, title: str,
                 colors: Sequence[str] = PALETTE) -> str:  # fmt: skip
    """Vertical bars on a 0..1 axis, one group per metric and one bar per series, with the
    95% interval as a whisker; a missing value is marked n/a."""
    left, top, plot_h = 36.0, 46.0, 180.0
    bar = max(6.0, min(22.0, 90.0 / max(1, len(series))))
    group_w = max(bar * len(series) + 14, 60.0)  # room for the metric's name under the group
    pad = (group_w - 14 - bar * len(series)) / 2
    width = left + group_w * len(metrics) + 10
    body = [f'<text x="0" y="14" font-weight="600">{escape(title)}</text>']
    legend_x = left
    for j, (name, _, _) in enumerate(series):
        color = colors[j % len(colors)]
        body.append(f'<rect x="{_num(legend_x)}" y="22" width="10" height="10" fill="{color}"/>'
                    f'<text x="{_num(legend_x + 14)}" y="31">{escape(name)}</text>')
        legend_x += 24 + 7 * len(name)
    width = max(width, legend_x)

    def y_of(v: float) -> float:
        return top + plot_h * (1 - max(0.0, min(1.0, v)))

    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = y_of(tick)
        body.append(f'<line x1="{left}" x2="{_num(width - 4)}" y1="{_num(y)}" y2="{_num(y)}" '
                    f'stroke="#e3e3e3"/><text x="{left - 4}" y="{_num(y + 4)}" text-anchor="end" '
                    f'fill="#555">{tick:g}</text>')
    for i, metric in enumerate(metrics):
        gx = left + 7 + i * group_w
        for j, (name, values, intervals) in enumerate(series):
            x = gx + pad + j * bar
            value = values[i]
            if value is None:
                body.append(f'<text x="{_num(x + bar / 2)}" y="{_num(y_of(0) - 4)}" text-anchor="middle" '
                            f'font-size="9" fill="#888">n/a</text>')  # fmt: skip
                continue
            y = y_of(value)
            tip = f"{escape(name)}, {escape(metric)}: {value:.4f}"
            interval = intervals[i] if i < len(intervals) else None
            if interval:
                tip += f" (95% CI {interval[0]:.4f}-{interval[1]:.4f})"
            body.append(f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(bar - 2)}" '
                        f'height="{_num(y_of(0) - y)}" fill="{colors[j % len(colors)]}">'
                        f"<title>{tip}</title></rect>")
            if interval:
                mid, lo, hi = x + (bar - 2) / 2, y_of(interval[0]), y_of(interval[1])
                body.append(f'<path d="M{_num(mid)} {_num(lo)}V{_num(hi)}M{_num(mid - 3)} {_num(lo)}h6'
                            f'M{_num(mid - 3)} {_num(hi)}h6" stroke="#222" fill="none"/>')  # fmt: skip
        body.append(f'<text x="{_num(gx + (group_w - 14) / 2)}" y="{_num(top + plot_h + 16)}" '
                    f'text-anchor="middle">{escape(metric)}</text>')  # fmt: skip
    return _svg(width, top + plot_h + 26, title, body)
