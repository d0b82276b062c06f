"""Bar and line charts as SVG, written by hand.

Every label, tick and value is a real ``<text>`` element in the CJK heading font, so a
chart inlined in a report stays searchable (and extractable) text in the PDF, not
outlines; nothing is random and numbers are formatted one way, so the same figures give
the same bytes. Plotting libraries either draw text as paths or bring a heavy dependency
for two chart types; these are a page of arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

FONT = "Noto Sans CJK SC"
# A quiet palette that survives grey-scale printing (dark to light).
PALETTE = ("#1f4e79", "#c0504d", "#4f8a3c", "#8064a2", "#d49a2a")
AXIS = "#444444"
GRID = "#d9d9d9"
TEXT = "#222222"


def text_width(text: str, size: float) -> float:
    """Rough advance width of ``text``: a CJK character is one em, ASCII about half."""
    return sum(size if ord(char) > 0x2E7F else 0.56 * size for char in text)


def nice_ceiling(value: float, ticks: int = 5) -> tuple[float, float]:
    """An axis maximum ≥ ``value`` and its tick step, both 1, 2 or 5 × 10ⁿ (step ≥ 1)."""
    if value <= 0:
        return float(ticks), 1.0
    raw = value / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        step = factor * power
        if step >= raw:
            break
    step = max(step, 1.0)
    return step * math.ceil(value / step), step


def number(value: float) -> str:
    """Integers without a decimal point, others with one decimal (never 1e+03)."""
    return str(round(value)) if float(value).is_integer() else f"{value:.1f}"


def _coord(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") if value % 1 else str(int(value))


@dataclass
class _Svg:
    width: float
    height: float
    parts: list[str]

    def text(self, x: float, y: float, content: str, *, size: float = 11, anchor: str = "start", **attrs: str) -> None:
        extra = "".join(f" {name.replace('_', '-')}={quoteattr(value)}" for name, value in attrs.items())
        self.parts.append(
            f'<text x="{_coord(x)}" y="{_coord(y)}" font-size="{_coord(size)}" text-anchor="{anchor}"'
            f"{extra}>{escape(content)}</text>"
        )

    def line(self, x1: float, y1: float, x2: float, y2: float, stroke: str = AXIS, width: float = 1) -> None:
        self.parts.append(
            f'<line x1="{_coord(x1)}" y1="{_coord(y1)}" x2="{_coord(x2)}" y2="{_coord(y2)}" '
            f'stroke="{stroke}" stroke-width="{_coord(width)}"/>'
        )

    def rect(self, x: float, y: float, w: float, h: float, fill: str) -> None:
        self.parts.append(
            f'<rect x="{_coord(x)}" y="{_coord(y)}" width="{_coord(max(w, 0))}" height="{_coord(max(h, 0))}" '
            f'fill="{fill}"/>'
        )

    def render(self, title: str) -> str:
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{_coord(self.width)}" height="{_coord(self.height)}" '
            f'viewBox="0 0 {_coord(self.width)} {_coord(self.height)}" font-family="{FONT}" fill="{TEXT}" '
            f'role="img" aria-label={quoteattr(title)}>'
        )
        return head + f"<title>{escape(title)}</title>" + "".join(self.parts) + "</svg>"


def bar_chart(
    items: Sequence[tuple[str, float]],
    *,
    title: str,
    unit: str = "件",
    width: float = 480,
    bar_height: float = 16,
    maximum: float | None = None,
    color: str = PALETTE[0],
) -> str:
    """Horizontal bars, one per (label, value), labels on the left, values at the bar ends.

    Horizontal so that long Chinese labels (劳动争议（欠薪）) read on one line. ``maximum``
    fixes the axis (100 for percentages).
    """
    size = 11
    label_width = max((text_width(label, size) for label, _ in items), default=0) + 8
    left, right, top, bottom = label_width + 4, 44, 28, 24
    gap = bar_height * 0.5
    plot_height = max(len(items), 1) * (bar_height + gap)
    height = top + plot_height + bottom
    plot_width = width - left - right
    svg = _Svg(width, height, [])
    svg.text(width / 2, 16, title, size=13, anchor="middle")
    top_value, step = nice_ceiling(max((value for _, value in items), default=0) if maximum is None else maximum)
    scale = plot_width / top_value
    tick = 0.0
    while tick <= top_value + 1e-9:
        x = left + tick * scale
        svg.line(x, top, x, top + plot_height, GRID)
        svg.text(x, top + plot_height + 14, number(tick), size=9, anchor="middle")
        tick += step
    for index, (label, value) in enumerate(items):
        y = top + index * (bar_height + gap) + gap / 2
        svg.text(left - 6, y + bar_height * 0.75, label, size=size, anchor="end")
        svg.rect(left, y, value * scale, bar_height, color)
        svg.text(left + value * scale + 4, y + bar_height * 0.75, f"{number(value)}{unit}", size=10)
    svg.line(left, top, left, top + plot_height)
    if not items:
        svg.text(left + plot_width / 2, top + plot_height / 2 + 4, "本期无数据", size=size, anchor="middle")
    return svg.render(title)


def line_chart(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    title: str,
    unit: str = "件",
    width: float = 480,
    height: float = 220,
) -> str:
    """Lines over shared x labels, one per (name, values), with a legend above the plot.

    With many steps (a month's days) every label still exists as text, but only every
    few are drawn large enough to read; the rest are omitted to keep the axis legible.
    """
    size = 9
    left, right, top, bottom = 36, 12, 44, 28
    plot_width = width - left - right
    plot_height = height - top - bottom
    svg = _Svg(width, height, [])
    svg.text(width / 2, 16, title, size=13, anchor="middle")
    legend_x = left + 12
    for index, (name, _) in enumerate(series):
        color = PALETTE[index % len(PALETTE)]
        svg.rect(legend_x, 25, 14, 4, color)
        svg.text(legend_x + 18, 31, name, size=10)
        legend_x += 30 + text_width(name, 10)
    peak = max((value for _, values in series for value in values), default=0)
    top_value, step = nice_ceiling(peak)
    y_of = lambda value: top + plot_height - value / top_value * plot_height  # noqa: E731
    tick = 0.0
    while tick <= top_value + 1e-9:
        svg.line(left, y_of(tick), left + plot_width, y_of(tick), GRID)
        svg.text(left - 4, y_of(tick) + 3, number(tick), size=size, anchor="end")
        tick += step
    count = len(labels)
    x_of = lambda index: left + (plot_width * (index + 0.5) / count if count else 0)  # noqa: E731
    every = max(1, math.ceil(count / 12))
    for index, label in enumerate(labels):
        if index % every == 0 or index == count - 1:
            svg.text(x_of(index), top + plot_height + 14, label, size=size, anchor="middle")
    svg.line(left, top + plot_height, left + plot_width, top + plot_height)
    svg.line(left, top, left, top + plot_height)
    for index, (_name, values) in enumerate(series):
        color = PALETTE[index % len(PALETTE)]
        points = " ".join(f"{_coord(x_of(i))},{_coord(y_of(value))}" for i, value in enumerate(values))
        if points:
            svg.parts.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="1.6"/>')
        for i, value in enumerate(values):
            svg.parts.append(f'<circle cx="{_coord(x_of(i))}" cy="{_coord(y_of(value))}" r="1.8" fill="{color}"/>')
    svg.text(left - 4, top - 10, unit, size=size, anchor="end")
    return svg.render(title)
