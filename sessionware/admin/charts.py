"""The analytics charts, drawn on the server as inline SVG.

No chart library and no script: each function returns an ``<svg>`` string
(every label escaped) whose colours come from classes in ``console.css``, so
the charts work offline and under a CSP that allows no inline style. Each
chart is an ``img`` with a title and a text summary for screen readers.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from ..analytics import SIZE_BINS, Analytics
from .render import size

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 14, 34


@dataclass(frozen=True, slots=True)
class Chart:
    """One chart of the analytics page: its heading, a caption and the SVG."""

    key: str
    heading: str
    caption: str
    svg: str


def all_charts(stats: Analytics) -> list[Chart]:
    """Every chart of the analytics page, in page order."""
    hours = [moment.strftime("%H:00") for moment in stats.hours]
    bounds = [size(stats.max_payload_bytes * (i + 1) // SIZE_BINS) for i in range(SIZE_BINS)]
    return [
        Chart(
            "active",
            "Active sessions over time",
            f"Active sessions at the end of each hour (UTC); now {stats.concurrent_now}.",
            line_chart("Active sessions over time", hours, stats.active),
        ),
        Chart(
            "new",
            "New sessions per hour",
            f"{sum(stats.new)} sessions created in the window.",
            bar_chart("New sessions per hour", hours, stats.new),
        ),
        Chart(
            "sizes",
            "Payload size against the limit",
            f"Active sessions by payload size, in tenths of max_payload_bytes "
            f"({size(stats.max_payload_bytes)}); largest {size(stats.largest_bytes)}.",
            bar_chart("Payload size distribution", bounds, stats.size_bins, limit=True),
        ),
        Chart(
            "apps",
            "Sessions per app",
            f"{len(stats.by_app)} app{'' if len(stats.by_app) == 1 else 's'}.",
            hbar_chart("Sessions per app", stats.by_app),
        ),
        Chart(
            "statuses",
            "Sessions per status",
            "Active, expired and revoked (tombstones).",
            hbar_chart("Sessions per status", stats.by_status, classes=True),
        ),
    ]


def _frame(title: str, summary: str, body: list[str], height: int = HEIGHT) -> str:
    label = escape(f"{title}: {summary}")
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{label}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        + "".join(body)
        + "</svg>"
    )


def _nice_max(values: Sequence[int]) -> int:
    """A round axis maximum at or above every value: four equal whole ticks of 1, 2 or 5
    times a power of ten."""
    top = max([*values, 1])
    power = 1
    while True:
        for step in (power, 2 * power, 5 * power):
            if 4 * step >= top:
                return 4 * step
        power *= 10


def _axes(top: int, labels: Sequence[str], every: int) -> list[str]:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = []
    for i in range(5):
        y = TOP + plot_h * i / 4
        value = round(top * (4 - i) / 4)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" '
            f'y2="{y:.1f}"/><text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" '
            f'text-anchor="end">{value}</text>'
        )
    slot = plot_w / max(1, len(labels))
    for i, label in enumerate(labels):
        if i % every == 0:
            x = LEFT + slot * (i + 0.5)
            parts.append(
                f'<text class="tick" x="{x:.1f}" y="{HEIGHT - BOTTOM + 18}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    parts.append(
        f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
        f'y1="{TOP + plot_h}" y2="{TOP + plot_h}"/>'
    )
    return parts


def line_chart(title: str, labels: Sequence[str], values: Sequence[int]) -> str:
    """A filled line over ``labels`` (one point per label)."""
    top, plot_h = _nice_max(values), HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(values))
    points = [
        (LEFT + slot * (i + 0.5), TOP + plot_h * (1 - value / top))
        for i, value in enumerate(values)
    ]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    base = TOP + plot_h
    area = f"{points[0][0]:.1f},{base} {path} {points[-1][0]:.1f},{base}" if points else ""
    body = [*_axes(top, labels, max(1, len(labels) // 8))]
    body.append(f'<polygon class="area" points="{area}"/><polyline class="line" points="{path}"/>')
    body += [f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="2.5"/>' for x, y in points]
    return _frame(title, f"latest {values[-1] if values else 0}", body)


def bar_chart(
    title: str, labels: Sequence[str], values: Sequence[int], *, limit: bool = False
) -> str:
    """Vertical bars; with ``limit``, the right edge is marked as the payload limit."""
    top, plot_h = _nice_max(values), HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(values))
    body = _axes(top, labels, max(1, len(labels) // 8 if not limit else 2))
    for i, value in enumerate(values):
        h = plot_h * value / top
        x = LEFT + slot * i + slot * 0.15
        body.append(
            f'<rect class="bar" x="{x:.1f}" y="{TOP + plot_h - h:.1f}" '
            f'width="{slot * 0.7:.1f}" height="{h:.1f}"><title>{escape(labels[i])}: '
            f"{value}</title></rect>"
        )
    if limit:
        x = WIDTH - RIGHT
        body.append(
            f'<line class="limit" x1="{x}" x2="{x}" y1="{TOP}" y2="{TOP + plot_h}"/>'
            f'<text class="limit-label" x="{x - 4}" y="{TOP + 12}" '
            'text-anchor="end">max_payload_bytes</text>'
        )
    return _frame(
        title, ", ".join(f"{lab}: {v}" for lab, v in zip(labels, values, strict=True)), body
    )


LABEL_CHARS = 22  # a horizontal bar's label: longer names are cut, with an ellipsis


def _cut(name: str) -> str:
    """``name`` in :data:`LABEL_CHARS` columns (a wide character takes two), cut with an
    ellipsis between whole characters: never inside a joined emoji, nor before an accent."""
    widths = [2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in name]
    if sum(widths) <= LABEL_CHARS:
        return name
    end, width = 0, 0
    while width + widths[end] <= LABEL_CHARS - 1:  # (one column for the ellipsis)
        width += widths[end]
        end += 1
    while end > 0 and (
        unicodedata.combining(name[end]) or name[end] in _JOINERS or name[end - 1] in _JOINERS
    ):
        end -= 1  # (back to the start of the character the cut fell in)
    return name[:end] + "…"


_JOINERS = "\u200d\ufe0f\ufe0e"


def hbar_chart(title: str, counts: dict[str, int], *, classes: bool = False) -> str:
    """Horizontal bars, one per key, biggest first as given; ``classes`` colours by key."""
    rows = list(counts.items())[:12]
    row_h, label_w = 28, 150
    height = TOP + row_h * max(1, len(rows)) + 8
    top = max([v for _, v in rows] + [1])
    clip = "labels-" + "".join(c if c.isascii() and c.isalnum() else "-" for c in title.lower())
    body = [  # labels start at the left and never run past their column, whatever the font
        f'<clipPath id="{clip}"><rect x="0" y="0" width="{label_w - 10}" height="{height}"/>'
        "</clipPath>"
    ]
    for i, (name, value) in enumerate(rows):
        y = TOP + row_h * i
        w = (WIDTH - label_w - RIGHT - 60) * value / top
        kind = f" status-{escape(name)}" if classes else ""
        body.append(  # (a cut name says so, and its title gives it whole on hover)
            f'<text class="tick" x="8" y="{y + 17}" clip-path="url(#{clip})">'
            f"<title>{escape(name)}: {value}</title>{escape(_cut(name))}</text>"
            f'<rect class="bar{kind}" x="{label_w}" y="{y + 4}" '
            f'width="{max(w, 1):.1f}" height="{row_h - 8}"/><text class="value" '
            f'x="{label_w + w + 6:.1f}" y="{y + 17}">{value}</text>'
        )
    if not rows:
        body.append(f'<text class="tick" x="{LEFT}" y="{TOP + 17}">no sessions</text>')
    return _frame(title, ", ".join(f"{k}: {v}" for k, v in rows), body, height)
