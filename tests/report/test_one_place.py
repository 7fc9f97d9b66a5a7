"""The report keeps no copies of shared facts: statuses, stages and severities in the one order
`auditor.models` keeps beside each enum (totals, per-control counts, chart rows and legends, the
status filter); title and assertion defaults from config; report formats from the registry."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from auditor import pipeline
from auditor.config import DEFAULT_ASSERTION_NOTE, DEFAULT_REPORT_TITLE, Config, load_config
from auditor.models import ROLLUP_ORDER, SEVERITY_ORDER, STAGE_ORDER, STATUS_ORDER, AuditResult
from auditor.report.view import ReportView
from devtools import report_synthetic

SVG = "{http://www.w3.org/2000/svg}"
STATUSES = [str(s) for s in STATUS_ORDER]


@pytest.fixture(scope="module")
def synthetic() -> AuditResult:
    return report_synthetic.build(60, failing=20).result


@pytest.fixture(scope="module")
def view(synthetic: AuditResult) -> ReportView:
    return report_synthetic.view_of(synthetic)


def chart_rows_and_legend(svg: str) -> tuple[list[str], list[str]]:
    """Row labels (font-size 11) and legend labels (font-size 10, not a number) of a bar chart."""
    root = ET.fromstring(svg)
    texts = [(t.get("font-size"), t.text or "") for t in root.iter(f"{SVG}text")]
    rows = [text for size, text in texts if size == "11"]
    legend = [
        text
        for size, text in texts
        if size == "10" and not text.isdigit() and text != "no findings"
    ]
    return rows, legend


def test_status_totals_and_control_counts_follow_the_models_order(view: ReportView) -> None:
    assert list(view.totals) == STATUSES
    assert view.controls and all(list(c.counts) == STATUSES for c in view.controls)
    shown = list(view.filter_values["status"])
    assert shown and shown == [s for s in STATUSES if s in shown]


def test_charts_follow_the_models_orders(view: ReportView) -> None:
    legend_of_statuses = [s.replace("_", " ") for s in STATUSES]
    rows, legend = chart_rows_and_legend(str(view.charts["stages"]))
    assert rows == [str(s) for s in STAGE_ORDER] and legend == legend_of_statuses
    rows, legend = chart_rows_and_legend(str(view.charts["severities"]))
    assert rows == [str(s) for s in SEVERITY_ORDER] and legend == legend_of_statuses
    trend = ET.fromstring(str(view.charts["trend"]))
    trend_legend = [t.text for t in trend.iter(f"{SVG}text") if t.get("font-size") == "10"]
    assert trend_legend == [
        s.replace("_", " ") for s in STATUSES if s in ("PASS", "FAIL", "ERROR", "WAIVED")
    ]
    _, legend = chart_rows_and_legend(str(view.charts["frameworks"]))
    assert legend == [str(s).replace("_", " ") for s in ROLLUP_ORDER]


def test_title_and_assertion_defaults_come_from_config_with_or_without_auditor_yaml(
    synthetic: AuditResult, tmp_path: Path
) -> None:
    bare = tmp_path / "auditor.yaml"
    bare.write_text("version: 1\norganisation: {name: Acme}\n", encoding="utf-8")
    without, with_file = pipeline.report_metadata(None), pipeline.report_metadata(load_config(bare))
    for meta in (without, with_file):
        assert meta["title"] == DEFAULT_REPORT_TITLE
        assert meta["management_assertion"] == {"name": "", "title": "", "wording": ""}
        assert meta["assertion_note"] == DEFAULT_ASSERTION_NOTE
        shown = report_synthetic.view_of(replace(synthetic, metadata=meta))
        assert shown.title == DEFAULT_REPORT_TITLE
        assert shown.assertion["notes"] == (DEFAULT_ASSERTION_NOTE,)
        assert "exception(s) listed in section" in shown.management_assertion
    configured = pipeline.report_metadata(
        Config.model_validate({"organisation": {"report_title": "Q4 ML audit"}})
    )
    assert report_synthetic.view_of(replace(synthetic, metadata=configured)).title == "Q4 ML audit"


def test_report_formats_are_the_registry_everywhere() -> None:
    from auditor.report import available_formats, get_format

    names = available_formats()
    assert names == ("html", "pdf") == pipeline.report_formats()
    assert Config().report.formats == list(names)
    assert [get_format(n).filename for n in names] == ["report.html", "report.pdf"]
