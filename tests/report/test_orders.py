"""The report reads statuses, stages and severities in the one order `auditor.models` keeps
beside each enum: totals, per-control counts, chart rows and legends, and the status filter."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest
import report_synthetic

from auditor.models import ROLLUP_ORDER, SEVERITY_ORDER, STAGE_ORDER, STATUS_ORDER
from auditor.report.view import ReportView, build_view

SVG = "{http://www.w3.org/2000/svg}"
STATUSES = [str(s) for s in STATUS_ORDER]


@pytest.fixture(scope="module")
def view() -> ReportView:
    syn = report_synthetic.build(60, failing=20)
    return build_view(
        syn.result,
        report_id="AUD-2026-Q4-v1-00000000",
        period_label="2026-Q4",
        version=1,
        generated_at=datetime(2027, 1, 2, tzinfo=UTC),
        tool_version="0.1.0",
        supersedes=None,
        signed=False,
        history=(),
        snapshot_hashes={},
    )


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
    _, legend = chart_rows_and_legend(str(view.charts["frameworks"]))
    assert legend == [str(s).replace("_", " ") for s in ROLLUP_ORDER]
