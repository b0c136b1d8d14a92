"""Small bar charts drawn on the server as inline SVG: no script, no inline style (CSP),
readable without colour (each bar is labelled with its figure), and described for screen
readers (role="img" with a title and a description)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

WIDTH = 360
HEIGHT = 180
_TOP = 22
_BOTTOM = 30
_LEFT = 34
_RIGHT = 8


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float | None  # None: nothing to count that period
    caption: str  # the figure as read aloud, e.g. "92 % (46 of 50)"


def rate_chart(
    chart_id: str, title: str, bars: Sequence[Bar], *, target: float | None = None
) -> Markup:
    """Bars of rates between 0 and 1, with an optional target line."""
    plot_h = HEIGHT - _TOP - _BOTTOM
    plot_w = WIDTH - _LEFT - _RIGHT
    step = plot_w / max(len(bars), 1)
    bar_w = step * 0.62
    parts = [
        f'<svg class="chart" id="{chart_id}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" width="100%" '
        f'preserveAspectRatio="xMidYMid meet">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(_describe(bars))}</desc>',
    ]
    for fraction in (0.0, 0.5, 1.0):
        y = _TOP + plot_h * (1 - fraction)
        parts.append(
            f'<line class="grid" x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text class="axis" x="{_LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">'
            f"{int(fraction * 100)}%</text>"
        )
    for index, bar in enumerate(bars):
        x = _LEFT + index * step + (step - bar_w) / 2
        parts.append(
            f'<text class="axis" x="{x + bar_w / 2:.1f}" y="{HEIGHT - 10}" '
            f'text-anchor="middle">{escape(bar.label)}</text>'
        )
        if bar.value is None:
            parts.append(
                f'<text class="none" x="{x + bar_w / 2:.1f}" y="{_TOP + plot_h - 4}" '
                f'text-anchor="middle">–</text>'
            )
            continue
        h = max(plot_h * min(max(bar.value, 0.0), 1.0), 1.0)
        y = _TOP + plot_h - h
        low = target is not None and bar.value < target
        parts.append(
            f'<rect class="bar{" low" if low else ""}" x="{x:.1f}" y="{y:.1f}" '
            f'width="{bar_w:.1f}" height="{h:.1f}"><title>{escape(bar.caption)}</title></rect>'
        )
        parts.append(
            f'<text class="value" x="{x + bar_w / 2:.1f}" y="{y - 4:.1f}" '
            f'text-anchor="middle">{round(bar.value * 100)}</text>'
        )
    if target is not None:
        y = _TOP + plot_h * (1 - target)
        parts.append(
            f'<line class="target" x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped


def _describe(bars: Sequence[Bar]) -> str:
    return "; ".join(f"{bar.label}: {bar.caption}" for bar in bars)


@dataclass(frozen=True, slots=True)
class Point:
    label: str
    value: float | None  # None: nothing counted that period
    caption: str


def trend_chart(
    chart_id: str,
    title: str,
    points: Sequence[Point],
    *,
    rate: bool,
    target: float | None = None,
) -> Markup:
    """A line over the periods (rates between 0 and 1, or hours and counts from 0 to
    the largest value), each point labelled with its figure, the target drawn as a
    dashed line. Periods with nothing counted break the line."""
    plot_h = HEIGHT - _TOP - _BOTTOM
    plot_w = WIDTH - _LEFT - _RIGHT
    values = [p.value for p in points if p.value is not None]
    top = 1.0 if rate else max([*values, target or 0.0, 1.0]) * 1.15
    step = plot_w / max(len(points), 1)
    described = "; ".join(f"{p.label}: {p.caption}" for p in points)

    def y_of(value: float) -> float:
        return _TOP + plot_h * (1 - min(max(value / top, 0.0), 1.0))

    parts = [
        f'<svg class="chart trend" id="{chart_id}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" width="100%" '
        f'preserveAspectRatio="xMidYMid meet">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(described)}</desc>',
    ]
    for fraction in (0.0, 0.5, 1.0):
        y = _TOP + plot_h * (1 - fraction)
        tick = f"{int(fraction * 100)}%" if rate else _short(top * fraction)
        parts.append(
            f'<line class="grid" x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{_LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>'
        )
    if target is not None:
        y = y_of(target)
        parts.append(
            f'<line class="target" x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
    segment: list[str] = []
    every = max(1, round(len(points) / 8))
    for index, point in enumerate(points):
        x = _LEFT + index * step + step / 2
        if index % every == 0:
            parts.append(
                f'<text class="axis" x="{x:.1f}" y="{HEIGHT - 10}" text-anchor="middle">'
                f"{escape(point.label)}</text>"
            )
        if point.value is None:
            if len(segment) > 1:
                parts.append(f'<polyline class="trend-line" points="{" ".join(segment)}"/>')
            segment = []
            continue
        y = y_of(point.value)
        segment.append(f"{x:.1f},{y:.1f}")
        parts.append(
            f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="3">'
            f"<title>{escape(point.label)}: {escape(point.caption)}</title></circle>"
        )
    if len(segment) > 1:
        parts.append(f'<polyline class="trend-line" points="{" ".join(segment)}"/>')
    last = next((p for p in reversed(points) if p.value is not None), None)
    if last is not None:
        parts.append(
            f'<text class="value" x="{WIDTH - _RIGHT}" y="{_TOP - 8}" text-anchor="end">'
            f"latest: {escape(last.caption)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped


def _short(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"
