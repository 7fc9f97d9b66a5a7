"""Jinja2 rendering of the report, and the HTML edition with its Content-Security-Policy.

Autoescaping is on for every `.html.j2` template and undefined names fail loudly. The HTML edition
inlines the one stylesheet and the small filter script, and allows exactly those two by hash: the
file works offline and a browser will neither load nor run anything else.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from auditor.errors import RunError
from auditor.models import neutralise_text
from auditor.report.formats import register_format
from auditor.report.view import ReportView
from auditor.resources import templates_dir

TEMPLATE = "report.html.j2"
STYLESHEET = "assets/report.css"
FILTER_SCRIPT = "assets/filter.js"


@lru_cache(maxsize=4)
def environment(root: Path | None = None) -> Environment:
    return Environment(
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
    )


@register_format("html", "report.html", "text/html; charset=utf-8")
def render_html(view: ReportView) -> bytes:
    return render_markup(view, pdf=False).encode("utf-8")
