"""Small charts drawn on the server as inline SVG: a line chart and a bar chart.

Each chart carries its own `<title>` and `<desc>` (what it shows, then its highest and
latest values in words) for screen readers, labels on both axes, and the numbers it was
drawn from in a `<details>` table beneath, for anyone who would rather read than look.
Nothing is fetched: the colours are attributes, the page's CSS only lays them out.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 14, 52  # room for tick labels and the axis labels
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
MAX_X_TICKS = 8
MAX_BAR = 56  # a lone bar stays a bar, not a wall
# Colour-blind-safe (Okabe-Ito), each series also dashed differently.
PALETTE = ["#0072b2", "#d55e00", "#009e73", "#cc79a7"]
DASHES = ["", "6 3", "2 3", "8 3 2 3"]

Number = float | int | None
MISSING = "\u2013"  # an en dash in the table where a value is missing


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[Number]


def count_format(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def percent_format(value: float) -> str:
    return f"{value:.1%}"


def _nice_top(value: float) -> float:
    """The smallest of 1, 2 or 5 times a power of ten at or above `value` (at least 1):
    a scale whose grid lines fall on whole numbers."""
    if value <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= value))


def _steps(top: float) -> int:
    """How many grid intervals divide `top` into round numbers: 0, 5, 10, 15, 20 for 20."""
    leading = round(top / 10 ** math.floor(math.log10(top)))
    if top < 10:
        return max(1, leading)  # 1 -> 0, 1; 2 -> 0, 1, 2; 5 -> 0 .. 5
    return {1: 5, 2: 4, 5: 5}.get(leading, 4)


def _num(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _y(value: float, top: float) -> float:
    return TOP + PLOT_H - (value / top) * PLOT_H


def _summary(series: Sequence[Series], labels: Sequence[str], fmt: Callable) -> str:
    parts = []
    for one in series:
        known = [(v, label) for v, label in zip(one.values, labels, strict=True) if v is not None]
        if not known:
            parts.append(f"{one.label}: no values.")
            continue
        high, high_at = max(known, key=lambda item: item[0])
        last, last_at = known[-1]
        parts.append(
            f"{one.label}: highest {fmt(high)} ({high_at}), latest {fmt(last)} ({last_at})."
        )
    return " ".join(parts)


def _axes(labels: Sequence[str], top: float, fmt: Callable, x_of: Callable) -> str:
    """Grid lines with y ticks, x tick labels (at most MAX_X_TICKS) and the baseline."""
    out = []
    steps = 4 if fmt is percent_format else _steps(top)
    for step in range(steps + 1):
        value = top * step / steps
        y = _num(_y(value, top))
        out.append(
            f'<line class="dash-grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}" '
            f'stroke="#e2e5ea"/>'
            f'<text class="dash-tick" x="{LEFT - 6}" y="{y}" text-anchor="end" '
            f'dominant-baseline="middle">{escape(fmt(value))}</text>'
        )
    every = max(1, math.ceil(len(labels) / MAX_X_TICKS))
    for index, label in enumerate(labels):
        if index % every == 0:
            out.append(
                f'<text class="dash-tick" x="{_num(x_of(index))}" y="{TOP + PLOT_H + 16}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    base = TOP + PLOT_H
    out.append(
        f'<line class="dash-axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{base}" y2="{base}" '
        f'stroke="#6b7280"/>'
    )
    return "".join(out)


def _frame(chart: "Chart", series: Sequence[Series], body: str) -> SafeString:
    key, title, x_label = chart.key, chart.title, chart.x_label
    fmt = chart.fmt
    title_id, desc_id = f"chart-{key}-title", f"chart-{key}-desc"
    desc = f"{chart.description} {_summary(series, chart.labels, fmt)}".strip()
    svg = (
        f'<svg class="dash-svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{title_id} {desc_id}" focusable="false">'
        f'<title id="{title_id}">{escape(title)}</title>'
        f'<desc id="{desc_id}">{escape(desc)}</desc>'
        f"{body}"
        f'<text class="dash-axis-label" x="{LEFT + PLOT_W / 2:.0f}" y="{HEIGHT - 8}" '
        f'text-anchor="middle">{escape(x_label)}</text>'
        f'<text class="dash-axis-label" x="14" y="{TOP + PLOT_H / 2:.0f}" text-anchor="middle" '
        f'transform="rotate(-90 14 {TOP + PLOT_H / 2:.0f})">{escape(chart.y_label)}</text>'
        "</svg>"
    )
    legend = ""
    if len(series) > 1:
        legend = '<ul class="dash-legend">' + "".join(
            f'<li><svg width="28" height="10" aria-hidden="true"><line x1="0" x2="28" y1="5" '
            f'y2="5" stroke="{PALETTE[i % len(PALETTE)]}" stroke-width="3" '
            f'stroke-dasharray="{DASHES[i % len(DASHES)]}"/></svg> {escape(one.label)}</li>'
            for i, one in enumerate(series)
        )
        legend += "</ul>"
    head = "".join(f'<th scope="col">{escape(one.label)}</th>' for one in series)
    rows = "".join(
        f'<tr><th scope="row">{escape(label)}</th>'
        + "".join(
            f"<td>{MISSING if one.values[i] is None else escape(fmt(one.values[i]))}</td>"
            for one in series
        )
        + "</tr>"
        for i, label in enumerate(chart.labels)
    )
    table = (
        f'<details class="dash-numbers"><summary>The numbers: {escape(title)}</summary>'
        f'<table class="grid" data-chart-table="{escape(key)}"><thead><tr>'
        f'<th scope="col">{escape(x_label)}</th>{head}</tr></thead><tbody>{rows}</tbody>'
        "</table></details>"
    )
    return mark_safe(
        f'<figure class="dash-chart" data-chart="{escape(key)}">{svg}{legend}{table}</figure>'
    )


@dataclass(frozen=True)
class Chart:
    """What a chart shows: `key` names it on the page (ids, data-chart), `labels` are the
    x axis's points; values are counts, or shares from 0 to 1 when `percent`."""

    key: str
    title: str
    description: str
    x_label: str
    y_label: str
    labels: Sequence[str]
    percent: bool = False

    @property
    def fmt(self) -> Callable[[float], str]:
        return percent_format if self.percent else count_format

    def top(self, values: Sequence[Number]) -> float:
        return (
            1.0 if self.percent else _nice_top(max((v for v in values if v is not None), default=0))
        )


def line_chart(chart: Chart, series: Sequence[Series]) -> SafeString:
    """One line per series over the labels; a missing value (None) breaks its line."""
    labels, fmt = chart.labels, chart.fmt
    top = chart.top([v for one in series for v in one.values])

    def x_of(index: int) -> float:
        if len(labels) == 1:
            return LEFT + PLOT_W / 2
        return LEFT + index * PLOT_W / (len(labels) - 1)

    body = [_axes(labels, top, fmt, x_of)]
    for n, one in enumerate(series):
        colour, dash = PALETTE[n % len(PALETTE)], DASHES[n % len(DASHES)]
        path, pen_down, dots = [], False, []
        for index, value in enumerate(one.values):
            if value is None:
                pen_down = False
                continue
            x, y = _num(x_of(index)), _num(_y(value, top))
            path.append(f"{'L' if pen_down else 'M'}{x} {y}")
            pen_down = True
            dots.append(
                f'<circle cx="{x}" cy="{y}" r="2.5" fill="{colour}">'
                f"<title>{escape(labels[index])}: {escape(fmt(value))}</title></circle>"
            )
        if path:
            body.append(
                f'<path class="dash-line" data-series="{n}" d="{" ".join(path)}" fill="none" '
                f'stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/>'
            )
        body.append(f'<g class="dash-dots">{"".join(dots)}</g>')
    return _frame(chart, series, "".join(body))


def bar_chart(chart: Chart, values: Sequence[Number]) -> SafeString:
    """One bar per label; a missing value (None) leaves its place empty."""
    labels, fmt = chart.labels, chart.fmt
    top = chart.top(values)
    band = PLOT_W / max(len(labels), 1)
    width = min(band * 0.7, MAX_BAR)

    def x_of(index: int) -> float:
        return LEFT + band * (index + 0.5)

    bars = []
    for index, value in enumerate(values):
        if value is None:
            continue
        y = _y(value, top)
        bars.append(
            f'<rect class="dash-bar" x="{_num(x_of(index) - width / 2)}" y="{_num(y)}" '
            f'width="{_num(width)}" height="{_num(TOP + PLOT_H - y)}" fill="{PALETTE[0]}">'
            f"<title>{escape(labels[index])}: {escape(fmt(value))}</title></rect>"
        )
    body = _axes(labels, top, fmt, x_of) + "".join(bars)
    return _frame(chart, [Series(chart.y_label, values)], body)
