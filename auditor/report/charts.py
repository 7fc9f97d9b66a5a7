"""Charts as inline SVG built in Python: no JavaScript library, no CDN, identical in HTML and PDF.

Every label goes through `markupsafe.escape`, so a category name can never become markup; the
returned `Markup` is the only place the templates accept pre-built HTML.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

# One colour per status, shared by every chart and the stylesheet's status badges.
STATUS_COLOURS: Mapping[str, str] = {
    "PASS": "#2e7d32",
    "FAIL": "#c62828",
    "ERROR": "#6a1b9a",
    "NOT_APPLICABLE": "#9e9e9e",
    "WAIVED": "#ef6c00",
    "MANUAL": "#1565c0",
    "ATTESTED": "#00838f",
    "compliant": "#2e7d32",
    "non_compliant": "#c62828",
    "inconclusive": "#6a1b9a",
    "manual": "#1565c0",
    "not_covered": "#9e9e9e",
}

_FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"'


@dataclass(frozen=True)
class Series:
    """One row of a stacked bar: a label and a count per key."""

    label: str
    counts: Mapping[str, int]


def _text(x: float, y: float, label: object, *, size: int = 11, anchor: str = "start") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" {_FONT} font-size="{size}" '
        f'text-anchor="{anchor}">{escape(str(label))}</text>'
    )


def _legend(keys: Sequence[str], y: float, width: float) -> list[str]:
    parts: list[str] = []
    x = 0.0
    for key in keys:
        item_width = 18 + 7.2 * len(key) + 14
        if x + item_width > width:
            x = 0.0
            y += 16
        parts.append(
            f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" '
            f'fill="{STATUS_COLOURS.get(key, "#607d8b")}"/>'
        )
        parts.append(_text(x + 14, y, key.replace("_", " "), size=10))
        x += item_width
    return parts


def stacked_bars(
    title: str, rows: Sequence[Series], keys: Sequence[str], *, width: int = 640
) -> Markup:
    """Horizontal stacked bars, one per row, each scaled to the row's own total (shares)."""
    label_width = 150
    bar_width = width - label_width - 70
    bar_height = 18
    top = 24
    height = top + len(rows) * (bar_height + 8) + 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
        f"<title>{escape(title)}</title>",
        _text(0, 14, title, size=13),
    ]
    y = float(top)
    for row in rows:
        total = sum(row.counts.get(k, 0) for k in keys)
        parts.append(_text(0, y + 13, row.label, size=11))
        x = float(label_width)
        for key in keys:
            count = row.counts.get(key, 0)
            if count <= 0 or total == 0:
                continue
            segment = bar_width * count / total
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{segment:.1f}" height="{bar_height}" '
                f'fill="{STATUS_COLOURS.get(key, "#607d8b")}">'
                f"<title>{escape(row.label)}: {escape(key)} {count}</title></rect>"
            )
            x += segment
        if total == 0:
            parts.append(_text(label_width, y + 13, "no findings", size=10))
        parts.append(_text(label_width + bar_width + 6, y + 13, total, size=10))
        y += bar_height + 8
    parts.extend(_legend(keys, y + 16, width))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every label above went through escape()


def stacked_columns(
    title: str, columns: Sequence[Series], keys: Sequence[str], *, width: int = 640
) -> Markup:
    """Vertical stacked columns with absolute counts: the trend across snapshots."""
    height = 240
    left, bottom, top = 40, 60, 26
    plot_height = height - bottom - top
    totals = [sum(c.counts.get(k, 0) for k in keys) for c in columns]
    peak = max(totals, default=0) or 1
    slot = (width - left) / max(len(columns), 1)
    column_width = max(min(slot * 0.6, 40), 2)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height + 20}" width="{width}" height="{height + 20}">',
        f"<title>{escape(title)}</title>",
        _text(0, 14, title, size=13),
        f'<line x1="{left}" y1="{top + plot_height}" x2="{width}" y2="{top + plot_height}" '
        f'stroke="#555" stroke-width="1"/>',
        _text(left - 4, top + 8, peak, size=9, anchor="end"),
        _text(left - 4, top + plot_height, 0, size=9, anchor="end"),
    ]
    label_every = max(1, math.ceil(len(columns) * 64 / (width - left)))
    for index, column in enumerate(columns):
        x = left + index * slot + (slot - column_width) / 2
        y = float(top + plot_height)
        for key in keys:
            count = column.counts.get(key, 0)
            if count <= 0:
                continue
            segment = plot_height * count / peak
            y -= segment
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{column_width:.1f}" '
                f'height="{segment:.1f}" fill="{STATUS_COLOURS.get(key, "#607d8b")}">'
                f"<title>{escape(column.label)}: {escape(key)} {count}</title></rect>"
            )
        if index % label_every == 0:
            parts.append(
                _text(
                    x + column_width / 2,
                    top + plot_height + 14,
                    column.label,
                    size=9,
                    anchor="middle",
                )
            )
    parts.extend(_legend(keys, height + 4, width))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every label above went through escape()
