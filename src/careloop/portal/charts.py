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
