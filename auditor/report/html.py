"""Jinja2 rendering of the report, and the HTML edition with its Content-Security-Policy.

Autoescaping is on for every `.html.j2` template and undefined names fail loudly. The HTML edition
inlines the one stylesheet and the small filter script, and allows exactly those two by hash: the
file works offline and a browser will neither load nor run anything else.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from auditor.errors import RunError
from auditor.models import neutralise_text
from auditor.report.formats import register_format
from auditor.report.view import ReportView
from auditor.resources import templates_dir

TEMPLATE = "report.html.j2"
STYLESHEET = "assets/report.css"
FILTER_SCRIPT = "assets/filter.js"


_ID_BOUNDARY = re.compile(r"((?<!&lt;)/|[:.\-])")  # not inside an escaped "</"
_WBR = "<wbr>"


def id_breaks(value: Any) -> Markup:
    """An identifier (ARN, resource name) escaped, with a line-break opportunity after each
    `/`, `:`, `.` and `-`, so a table cell wraps it there and never inside a word."""
    return Markup(_ID_BOUNDARY.sub(r"\1" + _WBR, str(escape(str(value)))))  # noqa: S704


_SPACE = re.compile(r"(\s+)")


_TIMESTAMP = re.compile(r"^\W*\d{4}-\d{2}-\d{2}(T[\d:.]+Z?)?\W*$")


def prose(value: Any) -> Markup:
    """Free text (a finding's reason) escaped, with the identifiers in it kept whole: a word
    with a hyphen or a parenthesis (a control or requirement ID, a region, a date) does not
    wrap; a long path-like word (an
    ARN, a URL, a resource name with `/` or `:`) wraps only after `/`, `:`, `.` or `-`."""
    out = []
    for part in _SPACE.split(str(value)):
        if not part or part.isspace():
            out.append(str(escape(part)))
        elif _TIMESTAMP.match(part):  # "2026-12-02T08:07:10Z," stays whole
            out.append(f'<span class="nw">{escape(part)}</span>')
        elif len(part) > 20 and ("/" in part or ":" in part):
            out.append(str(id_breaks(part)))
        elif "-" in part or "(" in part:  # "ML-DATA-001", "164.308(a)(1)(ii)(D)"
            out.append(f'<span class="nw">{escape(part)}</span>')
        else:
            out.append(str(escape(part)))
    return Markup("".join(out))  # noqa: S704 - every piece escaped above


def requirement_key(value: Any) -> Markup:
    """ "hipaa:164.308(a)(1)(ii)(B)": the framework and the requirement ID each stay whole; the
    line may break after the colon."""
    framework, sep, requirement = str(value).partition(":")
    if not sep:
        return Markup('<span class="nw">%s</span>') % framework
    return Markup('<span class="nw">%s:</span><wbr><span class="nw">%s</span>') % (
        framework,
        requirement,
    )


def when(value: Any) -> Markup:
    """An ISO timestamp whose date and time each stay whole; the line may break between them."""
    text = str(value)
    day, sep, clock = text.partition("T")
    if not sep or not clock:
        return Markup('<span class="nw">%s</span>') % text
    return Markup('<span class="nw">%s</span><wbr><span class="nw">T%s</span>') % (day, clock)


def hash_breaks(value: Any, every: int = 16) -> Markup:
    """A hex digest escaped, breakable only between groups of `every` characters."""
    text = str(escape(str(value)))
    return Markup(_WBR.join(text[i : i + every] for i in range(0, len(text), every)))  # noqa: S704


def id_list(value: Any) -> Markup:
    """ "A-1, B-2" as IDs that each stay whole, breakable only after the commas."""
    items = (
        value
        if isinstance(value, Iterable) and not isinstance(value, str)
        else (str(value).split(", ") if value else [])
    )
    return Markup(", ").join(Markup('<span class="nw">%s</span>') % item for item in items)


def json_data(value: Any) -> Markup:
    """JSON for a `<script type="application/json">` block: `<`, `>` and `&` are written as
    JSON unicode escapes, so no value can close the element or open a comment."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))  # noqa: S704


FINDING_COLUMNS = (
    "control_id",
    "status",
    "severity",
    "stage",
    "account",
    "region",
    "resource_type",
    "resource_id",
    "reason",
    "requirements",
    "waiver",
    "frameworks",
    "snapshot_id",
    "evidence_sha256",
)


# Columns whose values repeat across findings are sent once, as a table of distinct values, and
# each row holds an index into it: half the bytes, and filters compare small integers.
UNIQUE_COLUMNS = frozenset({"resource_id", "reason", "evidence_sha256"})


def findings_data(view: ReportView) -> dict[str, Any]:
    """Every finding as columns and rows, for the HTML's virtualised table."""
    tables: dict[str, dict[str, int]] = {c: {} for c in FINDING_COLUMNS if c not in UNIQUE_COLUMNS}
    rows = []
    for finding in view.findings:
        row: list[Any] = []
        for column in FINDING_COLUMNS:
            value = getattr(finding, column)
            table = tables.get(column)
            row.append(value if table is None else table.setdefault(value, len(table)))
        rows.append(row)
    return {
        "columns": list(FINDING_COLUMNS),
        "values": {column: list(table) for column, table in tables.items()},
        "rows": rows,
    }


@lru_cache(maxsize=4)
def environment(root: Path | None = None) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(root or templates_dir())),
        autoescape=select_autoescape(
            enabled_extensions=("html", "htm", "xml", "html.j2", "svg.j2"),
            default_for_string=True,
            default=True,
        ),
        undefined=StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
        finalize=_neutralise,
    )
    env.filters.update(
        id_breaks=id_breaks,
        hash_breaks=hash_breaks,
        id_list=id_list,
        prose=prose,
        when=when,
        requirement_key=requirement_key,
    )
    return env


def _neutralise(value: object) -> object:
    """Every value the template prints: bidi overrides and control characters shown as `\\uXXXX`
    (models.neutralise_text), so a resource name cannot reorder or hide text in HTML or PDF."""
    return neutralise_text(value) if isinstance(value, str) else value


def bundled_asset(name: str, closing_tag: str) -> str:
    """A bundled asset's text for inlining; refuses one that could close its own element."""
    text = (templates_dir() / name).read_text(encoding="utf-8")
    if closing_tag in text.lower():
        raise RunError(f"bundled asset {name} contains '{closing_tag}' and cannot be inlined")
    return text


def csp_source_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def content_security_policy(style: str, script: str) -> str:
    """Nothing may load; only our inline style and script (by hash) may apply and run."""
    return (
        "default-src 'none'; "
        f"script-src {csp_source_hash(script)}; "
        f"style-src {csp_source_hash(style)}; "
        "img-src 'none'; font-src 'none'; connect-src 'none'; media-src 'none'; "
        "object-src 'none'; frame-src 'none'; base-uri 'none'; form-action 'none'"
    )


def render_markup(view: ReportView, *, pdf: bool) -> str:
    """The report as HTML text: the print edition (`pdf=True`) or the interactive one."""
    template = environment().get_template(TEMPLATE)
    if pdf:
        return template.render(r=view, pdf=True)
    style = bundled_asset(STYLESHEET, "</style")
    script = bundled_asset(FILTER_SCRIPT, "</script")
    return template.render(
        r=view,
        pdf=False,
        style=Markup(style),  # noqa: S704 - bundled file, checked above, never data
        script=Markup(script),  # noqa: S704 - bundled file, checked above, never data
        csp=content_security_policy(style, script),
        findings_data=json_data(findings_data(view)),
        evidence_data=json_data(dict(view.evidence_documents)),
    )


@register_format("html", "report.html", "text/html; charset=utf-8")
def render_html(view: ReportView) -> bytes:
    return render_markup(view, pdf=False).encode("utf-8")
