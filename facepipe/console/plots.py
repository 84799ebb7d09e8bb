"""Plots as inline SVG, drawn on the server: no chart library, no frontend build, readable without script."""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape

from facepipe.console.views import Series

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]
W, H, LEFT, RIGHT, TOP, BOTTOM = 760, 250, 52, 16, 30, 34


def _frame(y_max: float, y_label: str, start: datetime, end: datetime) -> list[str]:
    parts = [f'<rect x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}" height="{H - TOP - BOTTOM}" class="plot-bg"/>']
    for i in range(5):
        value = y_max * i / 4
        y = H - BOTTOM - (H - TOP - BOTTOM) * i / 4
        parts.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value:.3g}</text>')
    span = (end - start).total_seconds()
    for i in range(7):
        moment = start + timedelta(seconds=span * i / 6)
        x = LEFT + (W - LEFT - RIGHT) * i / 6
        parts.append(f'<text x="{x:.1f}" y="{H - 12}" text-anchor="middle">{moment:%H:%M}</text>')
    parts.append(f'<text x="{LEFT}" y="{TOP - 12}" class="axis-label">{escape(y_label)}</text>')
    return parts


def _x(moment: datetime, start: datetime, end: datetime) -> float:
    span = max(1.0, (end - start).total_seconds())
    return LEFT + (W - LEFT - RIGHT) * (moment - start).total_seconds() / span


def _y(value: float, y_max: float) -> float:
    return H - BOTTOM - (H - TOP - BOTTOM) * min(value, y_max) / y_max


def latency_svg(series: list[Series], start: datetime, end: datetime) -> str:
    """Capture-to-answer latency (s) per device over [start, end]: one line and its points per device."""
    values = [v for s in series for _, v in s.points]
    y_max = max(1.0, max(values, default=0) * 1.1)
    parts = _frame(y_max, "latency (s)", start, end)
    legend = []
    for n, s in enumerate(series):
        colour = COLOURS[n % len(COLOURS)]
        points = [(_x(t, start, end), _y(v, y_max)) for t, v in s.points if start <= t <= end]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        parts.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2" fill="{colour}"/>' for x, y in points)
        legend.append(
            f'<text x="{LEFT + 110 + 150 * n}" y="{TOP - 12}" style="fill: {colour}" class="legend">'
            f"{escape(s.name)} ({len(points)} clips)</text>"
        )
    body = "".join(parts + legend)
    return (
        f'<svg class="plot" data-plot="latency" viewBox="0 0 {W} {H}" role="img" '
        f'aria-label="latency over the last hour per device">{body}</svg>'
    )


def per_minute_svg(counts: list[tuple[datetime, int]]) -> str:
    """Results per minute: one bar a minute."""
    if not counts:
        return ""
    start, end = counts[0][0], counts[-1][0] + timedelta(minutes=1)
    highest = max(c for _, c in counts)
    y_max = max(4, -(-highest // 4) * 4)  # whole numbers on the four grid lines
    parts = _frame(float(y_max), "results / minute", start, end)
    width = (W - LEFT - RIGHT) / len(counts)
    for minute, count in counts:
        if count:
            x, y = _x(minute, start, end), _y(count, y_max)
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(1.0, width - 1):.1f}" height="{H - BOTTOM - y:.1f}" '
                f'class="bar"><title>{minute:%H:%M} {count}</title></rect>'
            )
    body = "".join(parts)
    return (
        f'<svg class="plot" data-plot="per-minute" viewBox="0 0 {W} {H}" role="img" '
        f'aria-label="results per minute">{body}</svg>'
    )
