"""The one registry of report output formats: a name, the file it writes, and a renderer.

A renderer turns the view model into bytes; `write_report` knows nothing about HTML or PDF beyond
this table, so a new format (say, OSCAL) is one `@register_format` away.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from auditor.errors import UserError
from auditor.report.view import ReportView

Renderer = Callable[[ReportView], bytes]


@dataclass(frozen=True)
class OutputFormat:
    name: str
    filename: str
    media_type: str
    render: Renderer


_FORMATS: dict[str, OutputFormat] = {}
# The formats this package ships, by the module whose import registers each renderer: their
# names are known without importing WeasyPrint, so auditor.yaml and --formats are checked
# against this registry (the one list of report formats) before anything renders.
BUILT_IN: Mapping[str, str] = {"html": "auditor.report.html", "pdf": "auditor.report.pdf"}


def register_format(name: str, filename: str, media_type: str) -> Callable[[Renderer], Renderer]:
    """Decorator: `@register_format("html", "report.html", "text/html")` on a renderer."""

    def decorate(render: Renderer) -> Renderer:
        _FORMATS[name] = OutputFormat(name, filename, media_type, render)
        return render

    return decorate


def get_format(name: str) -> OutputFormat:
    if name not in _FORMATS and name in BUILT_IN:
        importlib.import_module(BUILT_IN[name])  # registers it
    try:
        return _FORMATS[name]
    except KeyError:
        known = ", ".join(available_formats())
        raise UserError(f"unknown report format '{name}'; expected one of: {known}") from None


def available_formats() -> tuple[str, ...]:
    """Every report format's name, sorted (what "all formats" means by default)."""
    return tuple(sorted({*_FORMATS, *BUILT_IN}))
