"""Small inline SVG charts for the batch report (pure; no plotting library, no CDN).

matplotlib would add tens of MB for three kinds of chart; these are a few lines
of SVG each, scale with the page, and print. Every label is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 24, 34
BAR = "#3b6ea5"
LINE = "#c0504d"


def bars(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    y_label: str,
    line: Sequence[float | None] | None = None,
    line_label: str = "",
    every: int = 1,
) -> str:
    """A bar chart of ``values`` (with an optional line over it, same scale)."""
    top = max([*values, *(v for v in (line or []) if v is not None), 0.0])
    scale = _nice(top)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = max(len(values), 1)
    step = plot_w / n
    parts = [_frame(title, y_label, scale)]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = plot_h * value / scale if scale else 0
        x = LEFT + i * step
        parts.append(
            f'<rect x="{x + step * 0.1:.1f}" y="{TOP + plot_h - h:.1f}" '
            f'width="{step * 0.8:.1f}" height="{h:.1f}" fill="{BAR}">'
            f"<title>{escape(label)}: {value:,.4g}</title></rect>"
        )
        if i % every == 0:
            parts.append(
                f'<text x="{x + step / 2:.1f}" y="{HEIGHT - BOTTOM + 14}" '
                f'text-anchor="middle" class="tick">{escape(label)}</text>'
            )
    if line:
        points = [
            f"{LEFT + (i + 0.5) * step:.1f},{TOP + plot_h - plot_h * v / scale:.1f}"
            for i, v in enumerate(line)
            if v is not None and scale
        ]
        if points:
            parts.append(
                f'<polyline points="{" ".join(points)}" fill="none" stroke="{LINE}" '
                f'stroke-width="2"><title>{escape(line_label)}</title></polyline>'
            )
    return _svg(title, parts)


def hbars(labels: Sequence[str], values: Sequence[float], *, title: str, unit: str) -> str:
    """Horizontal bars (long labels: zone names)."""
    height = TOP + 18 * max(len(values), 1) + 10
    label_w = 250
    plot_w = WIDTH - label_w - 70
    top = max([*values, 0.0]) or 1.0
    parts = [f'<text x="4" y="10" class="title">{escape(title)}</text>']
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = TOP + 18 * i
        w = plot_w * value / top
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end" class="tick">'
            f"{escape(label[:40])}</text>"
            f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="13" fill="{BAR}"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + 12}" class="tick">'
            f"{value:,.0f} {escape(unit)}</text>"
        )
    return _svg(title, parts, height)


def _frame(title: str, y_label: str, scale: float) -> str:
    plot_h = HEIGHT - TOP - BOTTOM
    lines = [f'<text x="4" y="10" class="title">{escape(title)}</text>']
    for k in range(5):
        value = scale * k / 4
        y = TOP + plot_h - plot_h * k / 4
        lines.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
            f"{value:,.4g}</text>"
        )
    lines.append(f'<text x="{LEFT}" y="{HEIGHT - 4}" class="tick">{escape(y_label)}</text>')
    return "".join(lines)


def _svg(title: str, parts: list[str], height: int = HEIGHT) -> str:
    return (
        f'<svg viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>'
    )


def _nice(top: float) -> float:
    """The axis maximum: ``top`` rounded up to 1, 2, 2.5 or 5 times a power of ten."""
    if not top > 0:
        return 1.0
    power = 10 ** len(str(int(top))) / 10 if top >= 1 else 1.0
    while power > top:
        power /= 10
    for mult in (1, 2, 2.5, 5, 10):
        if power * mult >= top:
            return power * mult
    return power * 10
