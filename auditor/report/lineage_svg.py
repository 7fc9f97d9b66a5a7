"""The ML lineage of a framework's scope as inline SVG, laid out by hand in columns.

Data stores -> pipelines (jobs) -> models -> endpoints, left to right, with the flows between them.
Like `charts.py`: no JavaScript, no external reference, every label through `markupsafe.escape`,
arrowheads drawn as polygons (no <marker>), so HTML and WeasyPrint PDF render the same picture.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

COLUMNS: tuple[tuple[str, str], ...] = (
    ("data", "Data stores"),
    ("pipeline", "Pipelines (jobs)"),
    ("model", "Models"),
    ("endpoint", "Endpoints"),
)
_FILL = {"data": "#e3f2fd", "pipeline": "#fff3e0", "model": "#ede7f6", "endpoint": "#e8f5e9"}
_FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"'
BOX_W, BOX_H, GAP_X, GAP_Y, TOP = 170, 36, 46, 10, 40
MAX_PER_COLUMN = 14


@dataclass(frozen=True)
class LineageNode:
    id: str
    name: str
    kind: str  # "training job", "S3 bucket": the second line of the box
    role: str  # one of the COLUMNS keys


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text(x: float, y: float, label: str, *, size: int = 10, bold: bool = False) -> str:
    weight = ' font-weight="bold"' if bold else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" {_FONT} font-size="{size}"{weight}>{escape(label)}</text>'
    )


def lineage_svg(
    title: str, nodes: Sequence[LineageNode], edges: Sequence[tuple[str, str, str]]
) -> Markup:
    """`edges` are (source id, target id, relation). Nodes beyond MAX_PER_COLUMN in a column
    are summarised in one "+N more" box so the picture stays legible on an A4 page."""
    placed: dict[str, tuple[float, float]] = {}
    boxes: list[str] = []
    rows = 1
    upstream: dict[str, list[str]] = {}
    for source, target, _ in edges:
        upstream.setdefault(target, []).append(source)
    for column, (role, heading) in enumerate(COLUMNS):
        x = column * (BOX_W + GAP_X)
        boxes.append(_text(x, TOP - 8, heading, size=11, bold=True))
        members = sorted(
            (n for n in nodes if n.role == role),
            key=lambda n: (_barycentre(n.id, upstream, placed), n.name),
        )
        shown = members[:MAX_PER_COLUMN]
        for row, node in enumerate(shown):
            y = TOP + row * (BOX_H + GAP_Y)
            placed[node.id] = (x, y)
            boxes.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{BOX_W}" height="{BOX_H}" rx="4" '
                f'fill="{_FILL[role]}" stroke="#546e7a" stroke-width="0.8"/>'
            )
            boxes.append(_text(x + 6, y + 15, _short(node.name, 28), size=10, bold=True))
            boxes.append(_text(x + 6, y + 29, _short(node.kind, 30), size=9))
        extra = len(members) - len(shown)
        if extra > 0:
            y = TOP + len(shown) * (BOX_H + GAP_Y)
            boxes.append(_text(x + 6, y + 14, f"+{extra} more", size=10))
        rows = max(rows, len(shown) + (1 if extra > 0 else 0))
    lines: list[str] = []
    for source, target, relation in edges:
        if source not in placed or target not in placed or source == target:
            continue
        (sx, sy), (tx, ty) = placed[source], placed[target]
        if tx > sx:
            x1, y1, x2, y2 = sx + BOX_W, sy + BOX_H / 2, tx, ty + BOX_H / 2
        elif tx < sx:  # back to the left: a job writing into a data store
            x1, y1, x2, y2 = sx, sy + BOX_H / 2 + 6, tx + BOX_W, ty + BOX_H / 2 + 6
        else:
            continue  # same column (endpoint config -> endpoint): listed, not drawn
        colour = "#ef6c00" if relation in ("writes", "captures") else "#37474f"
        lines.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            f'stroke="{colour}" stroke-width="1"/>'
        )
        direction = 1 if x2 > x1 else -1
        lines.append(
            f'<polygon points="{x2:.1f},{y2:.1f} {x2 - 7 * direction:.1f},{y2 - 3.5:.1f} '
            f'{x2 - 7 * direction:.1f},{y2 + 3.5:.1f}" fill="{colour}"/>'
        )
    width = len(COLUMNS) * (BOX_W + GAP_X) - GAP_X
    height = TOP + rows * (BOX_H + GAP_Y) + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart lineage" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
        f"<title>{escape(title)}</title>",
        *lines,
        *boxes,
        "</svg>",
    ]
    return Markup("".join(parts))  # noqa: S704 - every label above went through escape()


def _barycentre(
    node: str, upstream: Mapping[str, list[str]], placed: Mapping[str, tuple[float, float]]
) -> float:
    """Mean height of what feeds a node from the columns to its left: fewer crossing lines."""
    heights = [placed[s][1] for s in upstream.get(node, ()) if s in placed]
    return sum(heights) / len(heights) if heights else float("inf")


def kind_of(resource_type: str) -> str:
    """`AWS::SageMaker::TrainingJob` -> `SageMaker TrainingJob`; `aiplatform.googleapis.com/
    CustomJob` -> `aiplatform CustomJob`: short enough for a box."""
    if resource_type.startswith("AWS::"):
        return resource_type.removeprefix("AWS::").replace("::", " ")
    service, _, kind = resource_type.partition("/")
    return f"{service.split('.', 1)[0]} {kind}".strip()


def lineage_nodes(
    decisions: Sequence[Mapping[str, str]], kinds: Mapping[str, str] | None = None
) -> list[LineageNode]:
    """Nodes from scope decisions (dicts with resource_id, name, resource_type, role)."""
    wanted = {role for role, _ in COLUMNS}
    return [
        LineageNode(
            d["resource_id"],
            d["name"],
            (kinds or {}).get(d["resource_type"], kind_of(d["resource_type"])),
            d["role"],
        )
        for d in decisions
        if d["role"] in wanted
    ]
