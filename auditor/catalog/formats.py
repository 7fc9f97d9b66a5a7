"""The catalog as people and spreadsheets read it: rows, table, CSV, JSON, HTML.

Formatters return strings; the CLI decides where they go. CSV cells are neutralised against
formula injection and HTML is escaped, because an organisation's own control files and tag-like
text end up in these outputs too.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import jinja2
from rich.console import Console
from rich.table import Table

from auditor.models import Catalog, Control, neutralise_cell

CONTROL_COLUMNS = ("id", "title", "stage", "severity", "kind", "resource_types", "maps_to")
MATRIX_COLUMNS = (
    "framework",
    "requirement",
    "title",
    "coverage",
    "automated_controls",
    "manual_controls",
    "supporting_controls",
    "why",
)


def select_controls(
    catalog: Catalog, *, framework: str | None = None, stage: str | None = None
) -> list[Control]:
    """Controls mapped to `framework` and/or in `stage`, in ID order."""
    return [
        c
        for c in catalog.controls
        if (framework is None or c.maps_to.get(framework))
        and (stage is None or str(c.stage) == stage)
    ]


def control_row(control: Control) -> dict[str, Any]:
    return {
        "id": control.id,
        "title": control.title,
        "stage": str(control.stage),
        "severity": str(control.severity),
        "kind": "manual" if control.manual else "automated",
        "resource_types": list(control.resource_types),
        "maps_to": {fw: list(ids) for fw, ids in control.maps_to.items()},
    }


def control_document(control: Control) -> dict[str, Any]:
    """Everything about one control, JSON-ready (for `controls show --format json`)."""
    return {
        "id": control.id,
        "title": control.title,
        "stage": str(control.stage),
        "severity": str(control.severity),
        "manual": control.manual,
        "rationale": control.rationale,
        "resource_types": list(control.resource_types),
        "applies_if": control.applies_if,
        "rule": control.rule,
        "pass_reason": control.pass_reason,
        "fail_reason": control.fail_reason,
        "attestation_question": control.attestation_question,
        "params": [
            {
                "name": p.name,
                "value": p.value,
                "default": p.default,
                "floor": p.floor,
                "ceiling": p.ceiling,
                "description": p.description,
            }
            for p in control.params
        ],
        "remediation": {"text": control.remediation, "snippet": control.remediation_snippet},
        "references": list(control.references),
        "maps_to": {fw: list(ids) for fw, ids in control.maps_to.items()},
        "mappings": mapping_entries(control),
        "source": control.source,
        "digest": control.digest,
    }


def control_text(control: Control) -> str:
    """A readable page for `controls show`."""
    doc = control_document(control)
    lines = [f"{control.id}  {control.title}", ""]
    fields = [
        ("stage", doc["stage"]),
        ("severity", doc["severity"]),
        ("kind", "manual (attestation)" if control.manual else "automated"),
        ("resource types", ", ".join(control.resource_types) or "-"),
        ("applies if", control.applies_if or "-"),
        ("rule", control.rule or "-"),
        ("pass reason", control.pass_reason or "-"),
        ("fail reason", control.fail_reason or "-"),
        ("attestation", control.attestation_question or "-"),
        ("maps to", _requirements_text(control.maps_to) or "-"),
        ("source", control.source),
        ("digest", control.digest),
    ]
    width = max(len(name) for name, _ in fields)
    lines += [f"{name.ljust(width)}  {value}" for name, value in fields]
    for param in control.params:
        limits = ", ".join(
            f"{label} {value}"
            for label, value in (("floor", param.floor), ("ceiling", param.ceiling))
            if value is not None
        )
        lines.append(
            f"{'param'.ljust(width)}  {param.name} = {json.dumps(param.value)}"
            f" (default {json.dumps(param.default)}{'; ' + limits if limits else ''})"
            + (f": {param.description}" if param.description else "")
        )
    lines += ["", "Why:", f"  {control.rationale}"]
    entries = mapping_entries(control)
    if entries:
        lines += ["", "Mappings (why this control is evidence for each requirement):"]
        for entry in entries:
            role = " (supporting)" if entry["supporting"] else ""
            lines.append(f"  {entry['framework']} {entry['id']}{role}: {entry['why'] or '-'}")
    lines += ["", "Remediation:", f"  {control.remediation}"]
    if control.remediation_snippet:
        lines += ["", *("  " + line for line in control.remediation_snippet.rstrip().splitlines())]
    if control.references:
        lines += ["", "References:", *(f"  {ref}" for ref in control.references)]
    return "\n".join(lines) + "\n"


def mapping_entries(control: Control) -> list[dict[str, Any]]:
    """Each mapping of a control with its `why` and whether it only supports the requirement."""
    return [
        {
            "framework": framework,
            "id": requirement,
            "why": control.why(framework, requirement),
            "supporting": not control.decides(framework, requirement),
        }
        for framework, requirements in control.maps_to.items()
        for requirement in requirements
    ]


def controls_table(controls: Sequence[Control], *, width: int = 160) -> str:
    table = Table(show_lines=False, header_style="bold")
    for column in ("ID", "Title", "Stage", "Severity", "Kind", "Requirements"):
        table.add_column(column, overflow="fold")
    for control in controls:
        table.add_row(
            control.id,
            control.title,
            str(control.stage),
            str(control.severity),
            "manual" if control.manual else "automated",
            _requirements_text(control.maps_to),
            style=None,
        )
    console = Console(file=io.StringIO(), width=width, color_system=None, highlight=False)
    console.print(table, markup=False)
    output = console.file.getvalue()  # type: ignore[attr-defined]
    return str(output)


def controls_csv(controls: Sequence[Control]) -> str:
    rows = [control_row(c) for c in controls]
    for row in rows:
        row["resource_types"] = ";".join(row["resource_types"])
        row["maps_to"] = _requirements_text(row["maps_to"])
    return to_csv(rows, CONTROL_COLUMNS)


def controls_json(controls: Sequence[Control]) -> str:
    return json.dumps([control_document(c) for c in controls], indent=2, ensure_ascii=False) + "\n"


def matrix_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    flat = [
        {
            **row,
            "automated_controls": ";".join(row["automated_controls"]),
            "manual_controls": ";".join(row["manual_controls"]),
            "supporting_controls": ";".join(row.get("supporting_controls", ())),
            "why": " | ".join(f"{cid}: {why}" for cid, why in row.get("why", {}).items()),
        }
        for row in rows
    ]
    return to_csv(flat, MATRIX_COLUMNS)


_MATRIX_HTML = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
    """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Control coverage matrix</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;color:#1a1a1a}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f2f2f2}
.automated{background:#e6f4ea}.manual{background:#fff4e0}.none{background:#fde8e8}
.summary span{margin-right:1.5rem}
</style></head><body>
<h1>Control coverage matrix</h1>
<p>Catalog sha256 <code>{{ catalog_sha256 }}</code></p>
{% for fw in frameworks %}
<h2>{{ fw.name }} ({{ fw.id }} {{ fw.version }})</h2>
<p class="summary">{% for key, count in fw.counts.items() %}<span>{{ key }}: {{ count }}</span>{% endfor %}</p>
<table>
<thead><tr><th>Requirement</th><th>Title</th><th>Coverage</th><th>Automated controls</th><th>Manual controls</th><th>Supporting</th><th>Why</th></tr></thead>
<tbody>
{% for row in fw.rows %}<tr class="{{ row.coverage }}">
<td>{{ row.requirement }}</td><td>{{ row.title }}</td><td>{{ row.coverage }}</td>
<td>{{ row.automated_controls | join(", ") }}</td><td>{{ row.manual_controls | join(", ") }}</td>
<td>{{ row.supporting_controls | join(", ") }}</td>
<td>{% for cid, why in row.why.items() %}<div><b>{{ cid }}</b>: {{ why }}</div>{% endfor %}</td>
</tr>
{% endfor %}</tbody></table>
{% endfor %}
</body></html>
"""
)


def matrix_html(catalog: Catalog, rows: Sequence[Mapping[str, Any]]) -> str:
    """A self-contained page (no scripts, no external resources) with one table per framework."""
    frameworks = []
    for framework_id in dict.fromkeys(row["framework"] for row in rows):
        framework = catalog.frameworks[framework_id]
        fw_rows = [row for row in rows if row["framework"] == framework_id]
        counts = {
            key: sum(1 for r in fw_rows if r["coverage"] == key)
            for key in ("automated", "manual", "none")
        }
        frameworks.append(
            {
                "id": framework.id,
                "name": framework.name,
                "version": framework.version,
                "rows": fw_rows,
                "counts": counts,
            }
        )
    return _MATRIX_HTML.render(frameworks=frameworks, catalog_sha256=catalog.sha256)


def to_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([safe_cell(row.get(column)) for column in columns])
    return buffer.getvalue()


def safe_cell(value: Any) -> str:
    """Text a spreadsheet shows as text (`models.neutralise_cell`); None is empty, booleans lower."""
    if value is None:
        return ""
    return neutralise_cell(str(value).lower() if isinstance(value, bool) else str(value))


def _requirements_text(maps_to: Mapping[str, Iterable[str]]) -> str:
    return "; ".join(f"{fw}:{rid}" for fw, ids in maps_to.items() for rid in ids)


MAPPINGS_COMMAND = "auditor controls mappings --format md --out docs/mappings.md"


def mappings_markdown(catalog: Catalog, frameworks: Sequence[str]) -> str:
    """framework -> requirement -> controls (deciding, manual, supporting) -> why, as Markdown.

    `docs/mappings.md` is this function's output for the shipped catalog; a test compares the two,
    so the document cannot go stale. Cells are escaped for Markdown tables."""
    from auditor.catalog.matrix import coverage_matrix

    rows = coverage_matrix(catalog, frameworks)
    controls = {c.id: c for c in catalog.controls}
    out = [
        "# Control mappings",
        "",
        "<!-- Generated from the control catalog; do not edit by hand. Regenerate with:",
        f"     {MAPPINGS_COMMAND} -->",
        "",
        "Which controls give evidence for each requirement, and why. **Deciding** controls decide",
        "the requirement's roll-up; **manual** controls are attestations; **supporting** controls",
        "are shown beside the requirement but never decide it (hardening beyond what the text",
        "asks, or partial evidence). A requirement marked *attestation* is decided by its",
        "attestation whatever automated evidence adds.",
        "",
        f"Regenerate after changing `controls/`: `{MAPPINGS_COMMAND}`",
    ]
    for framework_id in frameworks:
        framework = catalog.frameworks[framework_id]
        fw_rows = [r for r in rows if r["framework"] == framework_id]
        out += ["", f"## {_md(framework.name)} ({_md(framework.id)} {_md(framework.version)})", ""]
        for row in fw_rows:
            heading = f"### {_md(row['requirement'])}: {_md(row['title'])}"
            out += [heading, ""]
            if row["requirement_manual"]:
                out += ["*Decided by attestation.*", ""]
            entries = [
                *(("deciding", cid) for cid in row["automated_controls"]),
                *(("manual", cid) for cid in row["manual_controls"]),
                *(("supporting", cid) for cid in row["supporting_controls"]),
            ]
            if not entries:
                out += ["No control in the catalog maps to this requirement.", ""]
                continue
            out += ["| Control | Role | Why |", "|---|---|---|"]
            for role, cid in entries:
                control = controls[cid]
                why = row["why"].get(cid) or "-"
                out.append(f"| {_md(cid)} {_md(control.title)} | {role} | {_md(why)} |")
            out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def _md(text: str) -> str:
    """Text safe inside a Markdown table cell or heading: no pipes, newlines or raw HTML."""
    cleaned = " ".join(str(text).split())
    for char, escaped in (("\\", "\\\\"), ("|", "\\|"), ("<", "&lt;"), (">", "&gt;")):
        cleaned = cleaned.replace(char, escaped)
    return cleaned
