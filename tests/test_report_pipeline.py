"""The report's honest conclusions wired through the pipeline, on the bundled GCP sample (no
cloud): evidence references (`auditor evidence show`, the HTML's inline documents), the
previous period's comparison in a period's first version, and the auditor.yaml settings that
feed them (schedule.interval, report.classification, organisation.management_assertion)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from auditor import pipeline
from auditor.cli import run
from auditor.config import load_config
from auditor.errors import UserError
from auditor.resources import data_dir

SAMPLE = data_dir() / "gcp" / "sample_export.ndjson"


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One GCP snapshot in 2026-Q3 and one in 2026-Q4 of the bundled sample, and each
    quarter's report (HTML only) written by the pipeline into the same folder."""
    root = tmp_path_factory.mktemp("estate")
    store = pipeline.open_store(str(root / "store"))
    catalog = pipeline.load_catalog()
    for taken in (datetime(2026, 9, 10, tzinfo=UTC), datetime(2026, 10, 10, tzinfo=UTC)):
        collector = pipeline.gcp_collector(store, asset_export=SAMPLE)
        pipeline.take_snapshot(store, collector, catalog.sha256, taken_at=taken)
    out = root / "reports"
    folders = {}
    for label in ("2026-Q3", "2026-Q4"):
        period = pipeline.period_for(label)
        snapshots = pipeline.select_snapshots(store, pipeline.Selection(period=period))
        result = pipeline.run_evaluation(
            catalog,
            snapshots,
            frameworks=("gdpr",),
            period=period,
            on=(period.end - timedelta(days=1)).date(),
            metadata={"classification": "Internal"},
        )
        folders[label] = pipeline.write_report(result, out, formats=("html",), store=store)
    return {"store": str(root / "store"), "out": out, "folders": folders, "result": result}


def _findings(folder: Path) -> list[dict[str, Any]]:
    return list(json.loads((folder / "findings.json").read_text())["findings"])


def test_every_document_finding_names_its_snapshot_and_evidence(estate: dict[str, Any]) -> None:
    findings = _findings(estate["folders"]["2026-Q4"])
    from_documents = [f for f in findings if f["resource_type"] and f["status"] != "MANUAL"]
    assert from_documents
    assert all(f["snapshot_id"] for f in from_documents)
    assert all(len(f["evidence_sha256"] or "") == 64 for f in from_documents)
    header = (estate["folders"]["2026-Q4"] / "findings.csv").read_text().splitlines()[0]
    assert header.endswith(",snapshot_id,waiver,scope,evidence_sha256")


def test_evidence_show_prints_the_stored_document(
    estate: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    failing = next(f for f in _findings(estate["folders"]["2026-Q4"]) if f["status"] == "FAIL")
    capsys.readouterr()
    assert run(["--store", estate["store"], "evidence", "show", failing["evidence_sha256"]]) == 0
    by_sha = json.loads(capsys.readouterr().out)
    assert by_sha["resource_id"] == failing["resource_id"]
    args = ["evidence", "show", failing["resource_id"], "--snapshot", failing["snapshot_id"]]
    assert run(["--store", estate["store"], *args]) == 0
    assert json.loads(capsys.readouterr().out) == by_sha
    assert run(["--store", estate["store"], "evidence", "show", "0" * 64]) == 2
    assert "no evidence document with sha256" in capsys.readouterr().err
    assert run(["--store", estate["store"], "evidence", "show", "//nothing/here"]) == 2


def test_the_html_embeds_the_evidence_of_failing_findings_only(estate: dict[str, Any]) -> None:
    html = (estate["folders"]["2026-Q4"] / "report.html").read_text()
    start = html.index('<script type="application/json" id="evidence-data">') + len(
        '<script type="application/json" id="evidence-data">'
    )
    embedded = json.loads(html[start : html.index("</script>", start)])
    findings = _findings(estate["folders"]["2026-Q4"])
    failing = {f["evidence_sha256"] for f in findings if f["status"] in ("FAIL", "ERROR")}
    passing = {f["evidence_sha256"] for f in findings if f["status"] == "PASS"} - failing
    assert set(embedded) == failing - {None}
    assert not set(embedded) & passing
    assert '<div class="classification" id="classification">Internal</div>' in html


def test_a_periods_first_version_is_compared_with_the_previous_period(
    estate: dict[str, Any],
) -> None:
    q3, q4 = estate["folders"]["2026-Q3"], estate["folders"]["2026-Q4"]
    assert "No previous version was compared" in (q3 / "report.html").read_text()
    html = (q4 / "report.html").read_text()
    assert "From <strong>2026-Q3 v1</strong> to <strong>this version</strong>" in html
    assert "Findings by status: previous period against this one" in html
    assert pipeline.previous_period_report(estate["out"], pipeline.period_for("2026-Q4")) == q3
    assert pipeline.previous_period_report(estate["out"], pipeline.period_for("2026-Q3")) is None


def test_schedule_classification_and_assertion_settings(tmp_path: Path) -> None:
    config_file = tmp_path / "auditor.yaml"
    config_file.write_text(
        "version: 1\n"
        "organisation:\n"
        "  name: Acme\n"
        "  management_assertion:\n"
        "    name: Dana Example\n"
        "    title: CISO\n"
        "    wording: Management asserts the controls operated effectively.\n"
        "report:\n"
        "  classification: Confidential\n"
        "schedule:\n"
        "  interval: 2w\n",
        encoding="utf-8",
    )
    config = load_config(config_file)
    assert pipeline.schedule_interval(config) == timedelta(days=14)
    meta = pipeline.report_metadata(config)
    assert meta["classification"] == "Confidential"
    assert meta["management_assertion"] == {
        "name": "Dana Example",
        "title": "CISO",
        "wording": "Management asserts the controls operated effectively.",
    }
    config_file.write_text("version: 1\nschedule:\n  interval: fortnightly\n", encoding="utf-8")
    with pytest.raises(UserError) as caught:
        load_config(config_file)
    assert caught.value.field == "schedule.interval" and caught.value.line == 3
    assert pipeline.schedule_interval(None) is None
    config_file.write_text(
        "version: 1\norganisation:\n  management_assertion: We assert.\n", encoding="utf-8"
    )
    assert pipeline.report_metadata(load_config(config_file))["management_assertion"] == {
        "name": "",
        "title": "",
        "wording": "We assert.",
    }
